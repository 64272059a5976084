/* Sugarcast — replaysrc. */
/**
 * SECTION:element-replaysrc
 * @title: replaysrc
 *
 * Plays a recording made by recordsink: the folder (or its manifest.json) in
 * #SugarcastReplaySrc:location, whole or from #SugarcastReplaySrc:start to
 * #SugarcastReplaySrc:stop, out of sometimes pads `video` (H.264, byte-stream)
 * and `audio` (AAC, ADTS), without re-encoding.
 *
 * A range is keyframe-aligned: it begins at the keyframe at or before
 * `start` and ends at the first keyframe at or after `stop`, both found in
 * the manifest's keyframe index (no file is scanned). Inside, a byte reader
 * hands the segments' bytes to tsdemux as one seekable stream (each range
 * starts with its segment's PAT and PMT), so seeking (TIME, FLUSH) works as
 * tsdemux does on a file. With #SugarcastReplaySrc:live the output is paced
 * by the clock (clocksync) for a rebroadcast as a new live stream; otherwise
 * it goes as fast as downstream takes it.
 *
 * Frame-exact ranges (re-encoding the first GOP) are not offered.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 replaysrc location=/tmp/recordings/20261202T120000Z start=2000000000 \
 *   stop=6000000000 name=r r.video ! queue ! mpegtsmux name=m ! filesink location=/tmp/cut.ts \
 *   r.audio ! queue ! m.
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "guard.h"
#include "sugarcast-plugins-config.h"
#endif

#include "gstreplaysrc.h"

#include "manifest.h"

#include <gst/base/gstbasesrc.h>

#include <fcntl.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(replay_src_debug);
#define GST_CAT_DEFAULT replay_src_debug

using namespace sugarcast::record;

/* ---- the byte reader: the segments of a range as one stream ---- */

namespace {

struct Chunk
{
  std::string path;
  uint64_t from = 0; /* file offset */
  uint64_t size = 0;
  uint64_t at = 0; /* offset in the stream */
};

constexpr uint64_t kTables = 2 * 188; /* PAT and PMT at every segment start */

/* The chunks of [start, stop) (ns from the recording's start; stop < 0 = the
 * end) of manifest M in FOLDER. */
std::vector<Chunk> plan_range(const std::string &folder, const Manifest &m, int64_t start,
                              int64_t stop, int64_t &first_keyframe)
{
  first_keyframe = 0;
  std::vector<Chunk> out;
  uint64_t at = 0;
  auto add = [&](const Segment &s, uint64_t from, uint64_t to) {
    if (to <= from)
      return;
    out.push_back({folder + "/" + s.uri, from, to - from, at});
    at += to - from;
  };
  bool started = false;
  for (size_t i = 0; i < m.segments.size(); ++i) {
    const Segment &s = m.segments[i];
    const int64_t end = s.start + s.duration;
    if (!started && end <= start && i + 1 < m.segments.size())
      continue;
    uint64_t from = 0;
    if (!started) {
      /* The last keyframe at or before start. */
      first_keyframe = s.start;
      for (const auto &k : s.keyframes)
        if (k.time <= start) {
          from = k.offset;
          first_keyframe = k.time;
        }
      if (from <= kTables)
        from = 0; /* the segment's own start: its tables come with it */
      else
        add(s, 0, kTables);
      started = true;
    }
    if (stop >= 0 && end > stop) {
      /* The first keyframe at or after stop ends the range. */
      uint64_t to = s.bytes;
      for (const auto &k : s.keyframes)
        if (k.time >= stop && k.offset > from) {
          to = k.offset;
          break;
        }
      add(s, from, to);
      break;
    }
    add(s, from, s.bytes);
  }
  return out;
}

} // namespace

#define SUGARCAST_TYPE_REPLAY_READER (sugarcast_replay_reader_get_type())
G_DECLARE_FINAL_TYPE(SugarcastReplayReader, sugarcast_replay_reader, SUGARCAST, REPLAY_READER,
                     GstBaseSrc)

struct ReaderPrivate
{
  std::mutex lock;
  std::vector<Chunk> chunks;
  uint64_t size = 0;
  int fd = -1;
  size_t fd_chunk = SIZE_MAX;
};

struct _SugarcastReplayReader
{
  GstBaseSrc parent;
  ReaderPrivate *priv;
};

G_DEFINE_TYPE(SugarcastReplayReader, sugarcast_replay_reader, GST_TYPE_BASE_SRC)

static GstStaticPadTemplate reader_src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                            GST_STATIC_CAPS("video/mpegts, systemstream=(boolean)true, "
                                            "packetsize=(int)188"));

static gboolean reader_get_size(GstBaseSrc *src, guint64 *size)
{
  auto *self = SUGARCAST_REPLAY_READER(src);
  std::lock_guard lk(self->priv->lock);
  *size = self->priv->size;
  return TRUE;
}

static gboolean reader_is_seekable(GstBaseSrc *)
{
  return TRUE;
}

static gboolean reader_stop(GstBaseSrc *src)
{
  auto *self = SUGARCAST_REPLAY_READER(src);
  std::lock_guard lk(self->priv->lock);
  if (self->priv->fd >= 0)
    close(self->priv->fd);
  self->priv->fd = -1;
  self->priv->fd_chunk = SIZE_MAX;
  return TRUE;
}

static GstFlowReturn reader_fill(GstBaseSrc *src, guint64 offset, guint length, GstBuffer *buf)
{
  auto *self = SUGARCAST_REPLAY_READER(src);
  ReaderPrivate *p = self->priv;
  std::lock_guard lk(p->lock);
  if (offset >= p->size)
    return GST_FLOW_EOS;
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_WRITE))
    return GST_FLOW_ERROR;
  size_t done = 0;
  const size_t want = std::min<uint64_t>(length, p->size - offset);
  while (done < want) {
    const uint64_t pos = offset + done;
    size_t c = 0;
    while (c + 1 < p->chunks.size() && p->chunks[c + 1].at <= pos)
      ++c;
    const Chunk &chunk = p->chunks[c];
    if (p->fd_chunk != c) {
      if (p->fd >= 0)
        close(p->fd);
      p->fd = open(chunk.path.c_str(), O_RDONLY | O_CLOEXEC);
      p->fd_chunk = p->fd >= 0 ? c : SIZE_MAX;
      if (p->fd < 0) {
        gst_buffer_unmap(buf, &map);
        GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                          ("Could not open recording segment %s", chunk.path.c_str()),
                          ("%s", g_strerror(errno)));
        return GST_FLOW_ERROR;
      }
    }
    const uint64_t in_chunk = pos - chunk.at;
    const size_t n = std::min<uint64_t>(want - done, chunk.size - in_chunk);
    const ssize_t r = pread(p->fd, map.data + done, n, static_cast<off_t>(chunk.from + in_chunk));
    if (r <= 0) {
      gst_buffer_unmap(buf, &map);
      GST_ELEMENT_ERROR(self, RESOURCE, READ,
                        ("Could not read recording segment %s (shorter than its manifest says?)",
                         chunk.path.c_str()),
                        ("%s", r < 0 ? g_strerror(errno) : "end of file"));
      return GST_FLOW_ERROR;
    }
    done += static_cast<size_t>(r);
  }
  gst_buffer_unmap(buf, &map);
  gst_buffer_set_size(buf, done);
  GST_BUFFER_OFFSET(buf) = offset;
  GST_BUFFER_OFFSET_END(buf) = offset + done;
  return GST_FLOW_OK;
}

static void sugarcast_replay_reader_finalize(GObject *object)
{
  delete SUGARCAST_REPLAY_READER(object)->priv;
  G_OBJECT_CLASS(sugarcast_replay_reader_parent_class)->finalize(object);
}

static void sugarcast_replay_reader_class_init(SugarcastReplayReaderClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSrcClass *base_class = GST_BASE_SRC_CLASS(klass);
  gobject_class->finalize = SUGARCAST_GUARD(sugarcast_replay_reader_finalize);
  base_class->get_size = SUGARCAST_GUARD(reader_get_size);
  base_class->is_seekable = SUGARCAST_GUARD(reader_is_seekable);
  base_class->stop = SUGARCAST_GUARD(reader_stop);
  base_class->fill = SUGARCAST_GUARD(reader_fill);
  gst_element_class_add_static_pad_template(element_class, &reader_src_template);
  gst_element_class_set_static_metadata(element_class, "Replay reader", "Source/File",
                                        "The segments of a recording as one MPEG-TS stream "
                                        "(inside replaysrc)",
                                        "Sugarcast");
}

static void sugarcast_replay_reader_init(SugarcastReplayReader *self)
{
  self->priv = new ReaderPrivate();
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_BYTES);
}

/* ---- replaysrc ---- */

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_START,
  PROP_STOP,
  PROP_LIVE,
};

struct ReplayPrivate
{
  std::mutex lock;
  std::string location;
  gint64 start = 0;
  gint64 stop = -1;
  bool live = false;
  GstElement *reader = nullptr;
  GstElement *demux = nullptr;
  bool have_video = false;
  bool have_audio = false;
  /* Frames at or after this much from the range's first keyframe are
   * dropped (the bytes end at the keyframe after stop); -1 = none. */
  gint64 trim = -1;
  GstClockTime base = GST_CLOCK_TIME_NONE; /* PTS of the first video frame */
};

struct _SugarcastReplaySrc
{
  GstBin parent;
  ReplayPrivate *priv;
};

G_DEFINE_TYPE(SugarcastReplaySrc, sugarcast_replay_src, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE(replaysrc, "replaysrc", GST_RANK_NONE, SUGARCAST_TYPE_REPLAY_SRC)

static GstStaticPadTemplate video_src_template = GST_STATIC_PAD_TEMPLATE(
    "video", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("video/x-h264, stream-format=(string)byte-stream, alignment=(string)au"));
static GstStaticPadTemplate audio_src_template = GST_STATIC_PAD_TEMPLATE(
    "audio", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("audio/mpeg, mpegversion=(int)4, stream-format=(string)adts"));

/* Ends the range at `stop` exactly (to the frame) rather than at the next
 * keyframe: cutting the end needs no keyframe. */
template <bool video>
GstPadProbeReturn trim_probe(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(data)->priv;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  const GstClockTime pts = GST_BUFFER_PTS(buf);
  if (!GST_CLOCK_TIME_IS_VALID(pts))
    return GST_PAD_PROBE_OK;
  std::lock_guard lk(p->lock);
  if (p->trim < 0)
    return GST_PAD_PROBE_OK;
  if (!GST_CLOCK_TIME_IS_VALID(p->base)) {
    if (!video)
      return GST_PAD_PROBE_OK;
    p->base = pts;
  }
  return static_cast<gint64>(pts) - static_cast<gint64>(p->base) >= p->trim ? GST_PAD_PROBE_DROP
                                                                            : GST_PAD_PROBE_OK;
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
  bool live;
  {
    std::lock_guard lk(p->lock);
    if ((video && p->have_video) || (audio && p->have_audio))
      return;
    (video ? p->have_video : p->have_audio) = true;
    live = p->live;
  }
  GstElement *parse = gst_element_factory_make(video ? "h264parse" : "aacparse", nullptr);
  GstElement *filter = gst_element_factory_make("capsfilter", nullptr);
  g_autoptr(GstCaps) out =
      gst_caps_from_string(video ? "video/x-h264, stream-format=byte-stream, alignment=au"
                                 : "audio/mpeg, mpegversion=4, stream-format=adts");
  g_object_set(filter, "caps", out, nullptr);
  GstElement *last = filter;
  gst_bin_add_many(GST_BIN(self), parse, filter, nullptr);
  gst_element_link(parse, filter);
  if (live) {
    GstElement *sync = gst_element_factory_make("clocksync", nullptr);
    gst_bin_add(GST_BIN(self), sync);
    gst_element_link(filter, sync);
    last = sync;
    gst_element_sync_state_with_parent(sync);
  }
  gst_element_sync_state_with_parent(filter);
  gst_element_sync_state_with_parent(parse);
  g_autoptr(GstPad) sink = gst_element_get_static_pad(parse, "sink");
  gst_pad_link(pad, sink);
  {
    g_autoptr(GstPad) trimmed = gst_element_get_static_pad(filter, "src");
    gst_pad_add_probe(trimmed, GST_PAD_PROBE_TYPE_BUFFER,
                      video ? SUGARCAST_GUARD(trim_probe<true>)
                            : SUGARCAST_GUARD(trim_probe<false>),
                      self, nullptr);
  }
  g_autoptr(GstPad) src = gst_element_get_static_pad(last, "src");
  GstPad *ghost =
      gst_ghost_pad_new_from_template(video ? "video" : "audio", src,
                                      video ? gst_static_pad_template_get(&video_src_template)
                                            : gst_static_pad_template_get(&audio_src_template));
  gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(GST_ELEMENT(self), ghost);
}

static void on_no_more_pads(GstElement *, gpointer data)
{
  gst_element_no_more_pads(GST_ELEMENT(data));
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
  if (stop >= 0 && stop <= start) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("replaysrc: stop (%" G_GINT64_FORMAT
                       " ns) must be after start (%" G_GINT64_FORMAT " ns)",
                       stop, start),
                      (nullptr));
    return false;
  }
  if (m->segments.empty() || start >= m->duration()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("replaysrc: recording %s is %.3f s long, start is %.3f s", folder.c_str(),
                       m->duration() / 1e9, start / 1e9),
                      (nullptr));
    return false;
  }
  gint64 first_keyframe = 0;
  auto chunks = plan_range(folder, *m, start, stop, first_keyframe);
  {
    std::lock_guard plk(p->lock);
    p->trim = stop >= 0 ? stop - first_keyframe : -1;
    p->base = GST_CLOCK_TIME_NONE;
  }
  auto *reader = SUGARCAST_REPLAY_READER(p->reader);
  std::lock_guard lk(reader->priv->lock);
  reader->priv->chunks = std::move(chunks);
  reader->priv->size = reader->priv->chunks.empty()
                           ? 0
                           : reader->priv->chunks.back().at + reader->priv->chunks.back().size;
  GST_INFO_OBJECT(self, "replaying %s from %" GST_STIME_FORMAT ": %" G_GUINT64_FORMAT " bytes",
                  folder.c_str(), GST_STIME_ARGS(start), reader->priv->size);
  return true;
}

static GstStateChangeReturn sugarcast_replay_src_change_state(GstElement *element,
                                                              GstStateChange transition)
{
  auto *self = SUGARCAST_REPLAY_SRC(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    if (!replay_prepare(self))
      return GST_STATE_CHANGE_FAILURE;
    std::lock_guard lk(self->priv->lock);
    self->priv->have_video = self->priv->have_audio = false;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(sugarcast_replay_src_parent_class)->change_state(element, transition);
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
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void sugarcast_replay_src_finalize(GObject *object)
{
  delete SUGARCAST_REPLAY_SRC(object)->priv;
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
  element_class->change_state = SUGARCAST_GUARD(sugarcast_replay_src_change_state);
  gst_element_class_add_static_pad_template(element_class, &video_src_template);
  gst_element_class_add_static_pad_template(element_class, &audio_src_template);
  gst_element_class_set_static_metadata(
      element_class, "Replay source", "Source/File",
      "Plays a recording made by recordsink, whole or a keyframe-aligned range, seekable, as fast "
      "as downstream takes it or paced live",
      "Sugarcast");
  GST_DEBUG_CATEGORY_INIT(replay_src_debug, "replaysrc", 0, "Sugarcast replay source");
}

static void sugarcast_replay_src_init(SugarcastReplaySrc *self)
{
  ReplayPrivate *p = new ReplayPrivate();
  self->priv = p;
  p->reader = GST_ELEMENT(g_object_new(SUGARCAST_TYPE_REPLAY_READER, nullptr));
  p->demux = gst_element_factory_make("tsdemux", nullptr);
  gst_bin_add(GST_BIN(self), p->reader);
  if (p->demux) {
    gst_bin_add(GST_BIN(self), p->demux);
    gst_element_link(p->reader, p->demux);
    g_signal_connect(p->demux, "pad-added", G_CALLBACK(SUGARCAST_GUARD(on_demux_pad)), self);
    g_signal_connect(p->demux, "no-more-pads", G_CALLBACK(SUGARCAST_GUARD(on_no_more_pads)), self);
  }
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SOURCE);
}
