/* Sugarcast — replaysrc. */
/**
 * SECTION:element-replaysrc
 * @title: replaysrc
 *
 * Plays a recording made by recordsink: the folder (or its manifest.json) in
 * #SugarcastReplaySrc:location, whole or from #SugarcastReplaySrc:start to
 * #SugarcastReplaySrc:stop, out of sometimes pads `video` (H.264, byte-stream)
 * and `audio` (AAC, ADTS), without re-encoding (but for the first GOP with
 * #SugarcastReplaySrc:frame-exact).
 *
 * A range's bytes run from the keyframe at or before `start` to the first
 * keyframe at or after `stop`, both found in the manifest's keyframe index (no
 * file is scanned); frames from `stop` on are dropped (in decode order: with
 * B-frames, those after the first frame from `stop` on go too, as they refer
 * to it, so the range ends up to the B-frames in a row before `stop`; with
 * frame-exact, the re-encoded head's DTS are offset by the source's reorder
 * delay so decode times only go up where the untouched rest joins it).
 * Inside, a byte reader
 * hands the segments' bytes to tsdemux as one seekable stream (each range
 * starts with its segment's PAT and PMT), so seeking (TIME, FLUSH) works as
 * tsdemux does on a file. With #SugarcastReplaySrc:live the output is paced
 * by the clock (clocksync) for a rebroadcast as a new live stream; otherwise
 * it goes as fast as downstream takes it.
 *
 * By default the output begins at that keyframe. With
 * #SugarcastReplaySrc:frame-exact it begins at the first frame at or after
 * `start`: a second reader gives the GOP `start` falls in to tsdemux,
 * h264parse and avdec_h264, the frames before `start` are dropped, the rest
 * is encoded again by x264enc (the source's profile, in-band SPS/PPS, an IDR
 * frame first), and concat joins it to the recording's own frames from the
 * next keyframe on. Every segment out has its running time 0 at `start`, so a
 * muxer writes `stop` - `start`; AAC frames wholly before `start` are dropped.
 * When `start` is a keyframe nothing is re-encoded.
 *
 * A multiqueue after tsdemux gives each stream its own thread, so a
 * downstream that blocks one branch on the other cannot stall the demuxer.
 * Audio is held until the first video frame has set the range's base; AAC
 * frames before it (or with wrapped timestamps, or none: tsdemux gives
 * none to late audio from before a segment's first PCR) are dropped, so
 * audio begins with video. Known limit: a range's audio may end up to the
 * recording's audio/video interleave lag before `stop`.
 *
 * Back in READY the element removes its pads and what the run built; the
 * next start plans the range again from the properties as they are then
 * and adds the pads again (link them in pad-added each time).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 replaysrc location=/tmp/recordings/20261202T120000Z start=2000000000 \
 *   stop=6000000000 name=r r.video ! queue ! mpegtsmux name=m ! filesink location=/tmp/cut.ts \
 *   r.audio ! queue ! m.
 * ]|
 * Frame-exact, into an MP4:
 * |[
 * gst-launch-1.0 replaysrc location=/tmp/recordings/20261202T120000Z start=2500000000 \
 *   stop=6500000000 frame-exact=true name=r mp4mux name=m ! filesink location=/tmp/cut.mp4 \
 *   r.video ! queue ! h264parse ! m. r.audio ! queue ! aacparse ! m.
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "replaysrc-private.h"

#include "makechild.h"
#include "manifest.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY(replay_src_debug);

using namespace sugarcast::record;

namespace {

/* What the multiqueue after tsdemux holds of each stream. */
constexpr guint64 kStreamsQueued = 3 * GST_SECOND;

} // namespace

/* ---- replaysrc ---- */

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_START,
  PROP_STOP,
  PROP_LIVE,
  PROP_FRAME_EXACT,
};

G_DEFINE_TYPE(SugarcastReplaySrc, sugarcast_replay_src, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE(replaysrc, "replaysrc", GST_RANK_NONE, SUGARCAST_TYPE_REPLAY_SRC)

static GstStaticPadTemplate video_src_template = GST_STATIC_PAD_TEMPLATE(
    "video", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("video/x-h264, stream-format=(string)byte-stream, alignment=(string)au"));
static GstStaticPadTemplate audio_src_template = GST_STATIC_PAD_TEMPLATE(
    "audio", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("audio/mpeg, mpegversion=(int)4, stream-format=(string)adts"));

/* Paces the output of LAST by the clock (live); returns the new last element. */
GstElement *add_clocksync(SugarcastReplaySrc *self, GstElement *last)
{
  GstElement *sync =
      sugarcast::make_child(GST_ELEMENT(self), "clocksync", "(GStreamer core) to pace live=true");
  if (!sync)
    return last;
  gst_bin_add(GST_BIN(self), sync);
  gst_element_link(last, sync);
  gst_element_sync_state_with_parent(sync);
  return sync;
}

void add_ghost(SugarcastReplaySrc *self, GstElement *last, bool video)
{
  g_autoptr(GstPad) src = gst_element_get_static_pad(last, "src");
  GstPad *ghost =
      gst_ghost_pad_new_from_template(video ? "video" : "audio", src,
                                      video ? gst_static_pad_template_get(&video_src_template)
                                            : gst_static_pad_template_get(&audio_src_template));
  gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(GST_ELEMENT(self), ghost);
}

/* The multiqueue's output for its new input SINK (a new reference). */
static GstPad *streams_output(GstPad *sink)
{
  GstPad *src = nullptr;
  g_autoptr(GstIterator) it = gst_pad_iterate_internal_links(sink);
  GValue item = G_VALUE_INIT;
  if (it && gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    src = GST_PAD(g_value_dup_object(&item));
    g_value_unset(&item);
  }
  return src;
}

static void on_demux_pad(GstElement *, GstPad *pad, gpointer data)
{
  auto *self = SUGARCAST_REPLAY_SRC(data);
  ReplayPrivate *p = self->priv;
  g_autoptr(GstCaps) caps = gst_pad_query_caps(pad, nullptr);
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  const bool video = gst_structure_has_name(s, "video/x-h264");
  const bool audio = gst_structure_has_name(s, "audio/mpeg");
  if (!video && !audio)
    return;
  bool live, exact, reencode;
  {
    std::lock_guard lk(p->lock);
    if ((video && p->have_video) || (audio && p->have_audio))
      return;
    (video ? p->have_video : p->have_audio) = true;
    live = p->live;
    exact = p->exact;
    reencode = p->reencode;
  }
  /* pad-added comes from tsdemux's streaming thread: nothing flows on PAD
   * until this returns, when the multiqueue's output is linked. */
  g_autoptr(GstPad) sink = gst_element_request_pad_simple(p->streams, "sink_%u");
  g_autoptr(GstPad) src = sink ? streams_output(sink) : nullptr;
  if (!src) {
    GST_ELEMENT_ERROR(self, CORE, PAD,
                      ("replaysrc: could not queue the %s stream", video ? "video" : "audio"),
                      ("no multiqueue pad"));
    return;
  }
  const bool linked =
      exact ? link_exact(self, src, video, live, reencode) : link_aligned(self, src, video, live);
  if (!linked) {
    gst_element_release_request_pad(p->streams, sink);
    return; /* reported; the pad stays unlinked */
  }
  gst_pad_link(pad, sink);
}

static void on_no_more_pads(GstElement *, gpointer data)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(data)->priv;
  {
    std::lock_guard lk(p->lock);
    if (!p->have_video)
      open_audio_gate(p); /* no video to wait for */
  }
  gst_element_no_more_pads(GST_ELEMENT(data));
}

/* Takes out what a run added, so that the next one starts from the bin
 * init made: the ghost pads, every child but the reader, tsdemux and the
 * multiqueue (each stream's parser, caps filter, clocksync, queue; a
 * frame-exact head's reader, decoder, encoder and concat), the multiqueue's
 * request pads, and what the run's probes kept. Without it a replaysrc set
 * to READY and started again built a second set of branches beside the
 * first. Called with the streaming threads stopped: after PAUSED to READY,
 * and before READY to PAUSED (a start that failed half-way may have left
 * some). */
static void replay_reset(SugarcastReplaySrc *self)
{
  ReplayPrivate *p = self->priv;
  std::vector<GstPad *> ghosts, requested;
  std::vector<GstElement *> added;
  GST_OBJECT_LOCK(self);
  for (GList *l = GST_ELEMENT(self)->srcpads; l; l = l->next)
    ghosts.push_back(GST_PAD(gst_object_ref(l->data)));
  for (GList *l = GST_BIN(self)->children; l; l = l->next)
    if (l->data != p->reader && l->data != p->demux && l->data != p->streams)
      added.push_back(GST_ELEMENT(gst_object_ref(l->data)));
  GST_OBJECT_UNLOCK(self);
  if (p->streams) {
    GST_OBJECT_LOCK(p->streams);
    for (GList *l = p->streams->sinkpads; l; l = l->next)
      requested.push_back(GST_PAD(gst_object_ref(l->data)));
    GST_OBJECT_UNLOCK(p->streams);
  }
  for (GstPad *ghost : ghosts) {
    gst_pad_set_active(ghost, FALSE);
    gst_element_remove_pad(GST_ELEMENT(self), ghost);
    gst_object_unref(ghost);
  }
  for (GstElement *child : added) {
    gst_element_set_state(child, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(self), child);
    gst_object_unref(child);
  }
  for (GstPad *sink : requested) {
    gst_element_release_request_pad(p->streams, sink);
    gst_object_unref(sink);
  }
  std::lock_guard lk(p->lock);
  p->have_video = p->have_audio = false;
  p->gate_open = false;
  if (p->audio_gate)
    gst_object_unref(p->audio_gate);
  p->audio_gate = nullptr;
  p->audio_gate_probe = 0;
  if (p->concat_rest)
    gst_object_unref(p->concat_rest);
  p->concat_rest = nullptr;
  p->encoded_caps = nullptr;
  p->video_out = nullptr;
  p->source_parameter_sets.clear();
}

/* Reads the manifest and plans the range; false (error posted) if it cannot. */
static bool replay_prepare(SugarcastReplaySrc *self)
{
  ReplayPrivate *p = self->priv;
  std::string location;
  gint64 start, stop;
  {
    std::lock_guard lk(p->lock);
    location = p->location;
    start = p->start;
    stop = p->stop;
  }
  if (location.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("replaysrc needs a location"),
                      ("set location to a recording folder or its manifest.json"));
    return false;
  }
  std::string folder = location;
  if (g_str_has_suffix(folder.c_str(), kManifestName))
    folder = folder.substr(0, folder.size() - strlen(kManifestName) - 1);
  std::string error;
  auto m = read_manifest(folder + "/" + kManifestName, error);
  if (!m) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("Could not read recording %s", folder.c_str()),
                      ("%s", error.c_str()));
    return false;
  }
  const std::string refused = range_error(*m, start, stop);
  if (!refused.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("replaysrc: cannot play recording %s: %s", folder.c_str(), refused.c_str()),
                      (nullptr));
    return false;
  }
  gint64 first_keyframe = 0;
  auto chunks = plan_range(folder, *m, start, stop, first_keyframe);
  bool frame_exact;
  {
    std::lock_guard plk(p->lock);
    frame_exact = p->frame_exact;
  }
  /* Frame-exact needs video to be exact to; the head is re-encoded only when
   * start is not a keyframe. */
  const bool exact = frame_exact && m->video;
  gint64 next_keyframe = -1;
  std::vector<Chunk> head;
  if (exact && start - first_keyframe > static_cast<gint64>(kSlack))
    head = plan_head(folder, *m, start, next_keyframe);
  {
    std::lock_guard plk(p->lock);
    p->trim = stop >= 0 && !exact ? stop - first_keyframe : -1;
    p->span = (stop >= 0 ? std::min(stop, m->duration()) : m->duration()) - first_keyframe;
    p->base = GST_CLOCK_TIME_NONE;
    p->exact = exact;
    p->reencode = !head.empty();
    p->cut_start = start;
    p->cut_stop = stop;
    p->k0 = first_keyframe;
    p->k1 = next_keyframe;
    p->main_base = p->head_base = GST_CLOCK_TIME_NONE;
  }
  if (!head.empty()) {
    GST_INFO_OBJECT(self,
                    "frame-exact from %" GST_STIME_FORMAT ": re-encoding %" GST_STIME_FORMAT
                    " to %" GST_STIME_FORMAT,
                    GST_STIME_ARGS(start), GST_STIME_ARGS(first_keyframe),
                    GST_STIME_ARGS(next_keyframe));
    if (!build_head(self, std::move(head), start))
      return false;
  }
  const uint64_t size = reader_set_chunks(p->reader, std::move(chunks));
  GST_INFO_OBJECT(self, "replaying %s from %" GST_STIME_FORMAT ": %" G_GUINT64_FORMAT " bytes",
                  folder.c_str(), GST_STIME_ARGS(start), size);
  return true;
}

static GstStateChangeReturn sugarcast_replay_src_change_state(GstElement *element,
                                                              GstStateChange transition)
{
  auto *self = SUGARCAST_REPLAY_SRC(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !self->priv->demux) {
    sugarcast::report_missing(element, "tsdemux", "(gstreamer1.0-plugins-bad) to read recordings");
    return GST_STATE_CHANGE_FAILURE;
  }
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !self->priv->streams) {
    sugarcast::report_missing(element, "multiqueue", "(GStreamer core) to read recordings");
    return GST_STATE_CHANGE_FAILURE;
  }
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    replay_reset(self);
    if (!replay_prepare(self))
      return GST_STATE_CHANGE_FAILURE;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(sugarcast_replay_src_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    replay_reset(self);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && ret == GST_STATE_CHANGE_SUCCESS &&
      self->priv->live)
    ret = GST_STATE_CHANGE_NO_PREROLL;
  return ret;
}

static void sugarcast_replay_src_set_property(GObject *object, guint id, const GValue *value,
                                              GParamSpec *pspec)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(object)->priv;
  std::lock_guard lk(p->lock);
  switch (id) {
  case PROP_LOCATION:
    p->location = g_value_get_string(value) ? g_value_get_string(value) : "";
    break;
  case PROP_START:
    p->start = g_value_get_int64(value);
    break;
  case PROP_STOP:
    p->stop = g_value_get_int64(value);
    break;
  case PROP_LIVE:
    p->live = g_value_get_boolean(value);
    break;
  case PROP_FRAME_EXACT:
    p->frame_exact = g_value_get_boolean(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void sugarcast_replay_src_get_property(GObject *object, guint id, GValue *value,
                                              GParamSpec *pspec)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(object)->priv;
  std::lock_guard lk(p->lock);
  switch (id) {
  case PROP_LOCATION:
    g_value_set_string(value, p->location.c_str());
    break;
  case PROP_START:
    g_value_set_int64(value, p->start);
    break;
  case PROP_STOP:
    g_value_set_int64(value, p->stop);
    break;
  case PROP_LIVE:
    g_value_set_boolean(value, p->live);
    break;
  case PROP_FRAME_EXACT:
    g_value_set_boolean(value, p->frame_exact);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void sugarcast_replay_src_finalize(GObject *object)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(object)->priv;
  if (p->audio_gate)
    gst_object_unref(p->audio_gate);
  if (p->concat_rest)
    gst_object_unref(p->concat_rest);
  delete p;
  G_OBJECT_CLASS(sugarcast_replay_src_parent_class)->finalize(object);
}

static void sugarcast_replay_src_class_init(SugarcastReplaySrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = SUGARCAST_GUARD(sugarcast_replay_src_set_property);
  gobject_class->get_property = SUGARCAST_GUARD(sugarcast_replay_src_get_property);
  gobject_class->finalize = SUGARCAST_GUARD(sugarcast_replay_src_finalize);
  const auto ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      gobject_class, PROP_LOCATION,
      g_param_spec_string("location", "Location",
                          "A recording's folder (or its manifest.json), as recordsink wrote it",
                          nullptr, ready));
  g_object_class_install_property(
      gobject_class, PROP_START,
      g_param_spec_int64("start", "Start",
                         "Where to begin (ns from the recording's start); the keyframe at or "
                         "before it",
                         0, G_MAXINT64, 0, ready));
  g_object_class_install_property(
      gobject_class, PROP_STOP,
      g_param_spec_int64("stop", "Stop",
                         "Where to end (ns from the recording's start; -1 = the end); the first "
                         "keyframe at or after it",
                         -1, G_MAXINT64, -1, ready));
  g_object_class_install_property(
      gobject_class, PROP_LIVE,
      g_param_spec_boolean("live", "Live",
                           "Pace the output by the clock (a rebroadcast) instead of as fast as "
                           "downstream takes it",
                           FALSE, ready));
  g_object_class_install_property(
      gobject_class, PROP_FRAME_EXACT,
      g_param_spec_boolean("frame-exact", "Frame exact",
                           "Begin at start exactly (the first frame at or after it) by "
                           "re-encoding only the GOP it falls in, instead of at the keyframe "
                           "before it",
                           FALSE, ready));
  element_class->change_state = SUGARCAST_GUARD(sugarcast_replay_src_change_state);
  gst_element_class_add_static_pad_template(element_class, &video_src_template);
  gst_element_class_add_static_pad_template(element_class, &audio_src_template);
  gst_element_class_set_static_metadata(
      element_class, "Replay source", "Source/File",
      "Plays a recording made by recordsink, whole or a range (keyframe-aligned, or frame-exact "
      "by re-encoding its first GOP), seekable, as fast as downstream takes it or paced live",
      "Sugarcast");
  GST_DEBUG_CATEGORY_INIT(replay_src_debug, "replaysrc", 0, "Sugarcast replay source");
}

static void sugarcast_replay_src_init(SugarcastReplaySrc *self)
{
  ReplayPrivate *p = new ReplayPrivate();
  self->priv = p;
  p->reader = GST_ELEMENT(g_object_new(SUGARCAST_TYPE_REPLAY_READER, nullptr));
  p->demux = gst_element_factory_make("tsdemux", nullptr);
  p->streams = gst_element_factory_make("multiqueue", nullptr);
  gst_bin_add(GST_BIN(self), p->reader);
  if (p->streams) {
    /* Bounded by time only (a few seconds of the recording, at any
     * bitrate): enough for the audio/video interleave and for the AAC
     * frames held until the first video frame. */
    g_object_set(p->streams, "max-size-buffers", 0u, "max-size-bytes", 0u, "max-size-time",
                 kStreamsQueued, nullptr);
    gst_bin_add(GST_BIN(self), p->streams);
  }
  if (p->demux) {
    gst_bin_add(GST_BIN(self), p->demux);
    gst_element_link(p->reader, p->demux);
    g_signal_connect(p->demux, "pad-added", G_CALLBACK(SUGARCAST_GUARD(on_demux_pad)), self);
    g_signal_connect(p->demux, "no-more-pads", G_CALLBACK(SUGARCAST_GUARD(on_no_more_pads)), self);
  }
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SOURCE);
}
