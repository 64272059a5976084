/* Sugarcast — recordsink. */
/**
 * SECTION:element-recordsink
 * @title: recordsink
 *
 * Records an already-encoded H.264 video stream and an AAC audio stream
 * (request pads `video` and `audio`; either may be absent) without
 * re-encoding. Each span during which #SugarcastRecordSink:recording is on
 * becomes its own recording, a folder under #SugarcastRecordSink:location
 * named after its UTC start time, holding:
 *
 * - `seg00000.ts`, `seg00001.ts`, ...: MPEG-TS segments, each starting at a
 *   keyframe with PAT and PMT, so each plays on its own, even when the writer
 *   was killed while writing it;
 * - `manifest.json`: segments with their durations and keyframe byte
 *   offsets, the wall-clock start, the state (recording, complete,
 *   incomplete, interrupted); replaced atomically at every segment close;
 * - `index.m3u8`: an HLS playlist of the segments (EVENT while recording,
 *   VOD once finalised).
 *
 * Muxer: the MPEG-TS writer hlsabrsink already uses (plugins/abr/core/mpegts.h)
 * rather than splitmuxsink + mpegtsmux or mp4mux. MPEG-TS needs no index
 * written at the end, so a segment cut short by a crash is still readable up
 * to its last whole packet; muxing here (not in an aggregator) lets the
 * element hand bytes to the kernel at frame boundaries in pieces of at most
 * #SugarcastRecordSink:piece-duration, know each keyframe's byte offset for
 * the manifest (replaysrc starts ranges there), cut segments and start a
 * recording exactly at a keyframe, and repair (sugarcast-record repair) knows
 * the packet layout it has to cut. splitmuxsink restarts its muxer per
 * fragment and decides cuts itself; mpegtsmux in 1.22 repeats PAT/PMT only on
 * a timer, so a fragment's first packets would not be self-describing.
 *
 * Start and stop follow gst-plugins-rs' togglerecord: a start takes effect at
 * the next video keyframe, and audio joins with the frame that covers that
 * keyframe's time (so the two start within one audio frame of each other);
 * audio waits for the video to have passed its time before it is decided, so
 * no audio that belongs to the span is dropped. A stop ends the span at the
 * next video frame and audio is cut at the same time; the recording is then
 * finalised (state complete) at once.
 *
 * The live pipeline never waits for the disk: each pad feeds a leaky queue
 * (#SugarcastRecordSink:max-queue-time) in front of the writer. When the queue
 * overflows (a slow disk) the recording resynchronises at the next keyframe
 * and is marked incomplete; when a write fails (a full or unwritable target)
 * the recording is marked incomplete and the element drops what follows. In
 * both cases it posts a GST_MESSAGE_WARNING (not an error, which would stop
 * most applications' pipelines, and with them the live stream) and a
 * `recordsink-failed` element message, while upstream keeps flowing.
 *
 * At every start (READY→PAUSED) recordings under `location` left in state
 * recording by a crash are repaired (`recordsink-repaired` message), and
 * retention (#SugarcastRecordSink:max-age, #SugarcastRecordSink:max-size)
 * runs at every recording start.
 *
 * Element messages (structure name, fields):
 * - `recordsink-recording-started`: `location` (the recording's folder),
 *   `running-time` (of its first keyframe)
 * - `recordsink-fragment-opened`: `location` (the segment file)
 * - `recordsink-fragment-closed`: `location`, `duration` (ns)
 * - `recordsink-recording-finished`: `location`, `state`, `duration` (ns),
 *   `segments`
 * - `recordsink-failed`: `location`, `reason`
 * - `recordsink-repaired`: `location`, `duration` (ns), `recovered`
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -e videotestsrc num-buffers=300 ! video/x-raw,framerate=30/1 ! \
 *   x264enc speed-preset=ultrafast key-int-max=30 ! r.video audiotestsrc num-buffers=470 !
 * avenc_aac ! r.audio \ recordsink name=r location=/tmp/recordings
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "gstrecordsink.h"

#include "daterange.h"
#include "repair.h"
#include "retention.h"
#include "timedmeta.h"
#include "writer.h"

#include <gst/app/gstappsink.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(record_sink_debug);
#define GST_CAT_DEFAULT record_sink_debug

using namespace sugarcast::record;

namespace {

constexpr gint64 kNone = G_MININT64;

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_RECORDING,
  PROP_SEGMENT_DURATION,
  PROP_PIECE_DURATION,
  PROP_SYNC_MODE,
  PROP_MAX_QUEUE_TIME,
  PROP_MAX_AGE,
  PROP_MAX_SIZE,
  PROP_CURRENT_LOCATION,
};

constexpr guint64 kDefaultSegment = 4 * GST_SECOND;
constexpr guint64 kDefaultPiece = GST_SECOND;
constexpr guint64 kDefaultQueue = 5 * GST_SECOND;

GType sync_mode_get_type()
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(Sync::None), "Never fsync: survives a killed process, not a power cut",
       "none"},
      {static_cast<gint>(Sync::Segment),
       "fsync each segment and the manifest when a segment closes", "segment"},
      {static_cast<gint>(Sync::Piece),
       "fsync after every piece: a power cut loses at most one piece", "piece"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type)) {
    GType t = g_enum_register_static("SugarcastRecordSyncMode", values);
    g_once_init_leave(&type, t);
  }
  return type;
}

struct Input
{
  GstPad *ghost = nullptr;
  GstElement *queue = nullptr;
  bool eos = false;
};

} // namespace

struct RecordSinkPrivate
{
  std::mutex lock;
  std::condition_variable cond;

  /* properties */
  std::string location = "recordings";
  std::atomic<bool> want{true}; /* set from the application thread without the lock */
  guint64 segment_duration = kDefaultSegment;
  guint64 piece_duration = kDefaultPiece;
  Sync sync = Sync::Piece;
  guint64 max_queue_time = kDefaultQueue;
  guint64 max_age = 0;  /* seconds */
  guint64 max_size = 0; /* bytes */

  Input video;
  Input audio;

  /* streaming state */
  bool running = false;
  gint64 video_pos = kNone; /* running time of the last video frame seen */
  bool resync = false;      /* media was dropped: wait for a keyframe */
  /* Set by a queue's overrun signal in upstream's thread, which must never
   * wait for the lock (a writer may hold it while the disk is slow). */
  std::atomic<bool> overrun{false};
  std::unique_ptr<Writer> writer;
  std::string folder;
  bool open = false; /* a span is open: frames go to the writer */
  gint64 span_start = kNone;
  gint64 span_stop = kNone; /* set at a stop until audio reaches it */
  std::vector<GstMessage *> to_post;
  /* add-daterange from the application's thread, which must not wait for
   * the main lock (a slow disk): taken into the writer with the next video
   * frame. */
  std::mutex ranges_lock;
  std::vector<sugarcast::abr::DateRangeTag> ranges;
};

struct _SugarcastRecordSink
{
  GstBin parent;
  RecordSinkPrivate *priv;
};

G_DEFINE_TYPE(SugarcastRecordSink, sugarcast_record_sink, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE(recordsink, "recordsink", GST_RANK_NONE, SUGARCAST_TYPE_RECORD_SINK)

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("video/x-h264, stream-format=(string){ byte-stream, avc, avc3 }"));
static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("audio/mpeg, mpegversion=(int){ 2, 4 }, stream-format=(string){ raw, adts }"));

namespace {

void post_later(SugarcastRecordSink *self, GstStructure *s)
{
  self->priv->to_post.push_back(gst_message_new_element(GST_OBJECT(self), s));
}

/* Posts what was queued under the lock (a bus sync handler may call back). */
void post_pending(SugarcastRecordSink *self, std::unique_lock<std::mutex> &lk)
{
  std::vector<GstMessage *> msgs;
  msgs.swap(self->priv->to_post);
  lk.unlock();
  for (GstMessage *m : msgs)
    gst_element_post_message(GST_ELEMENT(self), m);
  lk.lock();
}

std::string new_folder_name(const std::string &location)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree gchar *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
  std::string base = location + "/" + stamp;
  std::string name = base;
  for (int n = 2; g_file_test(name.c_str(), G_FILE_TEST_EXISTS); ++n)
    name = base + "-" + std::to_string(n);
  return name;
}

void warn_failed(SugarcastRecordSink *self, const std::string &what, const std::string &debug)
{
  /* A warning, not an error: the live stream this sink hangs off goes on. */
  GST_ELEMENT_WARNING(self, RESOURCE, WRITE, ("%s", what.c_str()), ("%s", debug.c_str()));
  post_later(self, gst_structure_new("recordsink-failed", "location", G_TYPE_STRING,
                                     self->priv->folder.c_str(), "reason", G_TYPE_STRING,
                                     what.c_str(), nullptr));
}

void start_span(SugarcastRecordSink *self, gint64 rt)
{
  RecordSinkPrivate *p = self->priv;
  if (p->max_age || p->max_size) {
    std::vector<std::string> errors;
    RetentionPolicy policy{static_cast<int64_t>(p->max_age) * G_USEC_PER_SEC, p->max_size};
    for (const auto &gone : apply_retention(p->location, policy, g_get_real_time(), errors))
      GST_INFO_OBJECT(self, "retention removed %s", gone.c_str());
    for (const auto &e : errors)
      GST_WARNING_OBJECT(self, "retention: %s", e.c_str());
  }
  p->folder = new_folder_name(p->location);
  WriterSettings s;
  s.folder = p->folder;
  s.segment_target = static_cast<int64_t>(p->segment_duration);
  s.piece = static_cast<int64_t>(p->piece_duration);
  s.sync = p->sync;
  s.video = p->video.ghost != nullptr;
  s.audio = p->audio.ghost != nullptr;
  Writer::Hooks hooks;
  hooks.failed = [self](const std::string &what, const std::string &debug) {
    warn_failed(self, what, debug);
  };
  hooks.segment_opened = [self](const std::string &path) {
    post_later(self, gst_structure_new("recordsink-fragment-opened", "location", G_TYPE_STRING,
                                       path.c_str(), nullptr));
  };
  hooks.segment_closed = [self](const Segment &seg, const std::string &path) {
    post_later(self, gst_structure_new("recordsink-fragment-closed", "location", G_TYPE_STRING,
                                       path.c_str(), "duration", G_TYPE_UINT64,
                                       static_cast<guint64>(seg.duration), nullptr));
  };
  p->writer = std::make_unique<Writer>(s, std::move(hooks));
  std::string error;
  p->writer->open(g_get_real_time(), error); /* a failure is reported through hooks.failed */
  p->open = true;
  p->span_start = rt;
  p->span_stop = kNone;
  GST_INFO_OBJECT(self, "recording into %s from %" GST_STIME_FORMAT, p->folder.c_str(),
                  GST_STIME_ARGS(rt));
  post_later(self, gst_structure_new("recordsink-recording-started", "location", G_TYPE_STRING,
                                     p->folder.c_str(), "running-time", G_TYPE_INT64, rt, nullptr));
}

void finish_span(SugarcastRecordSink *self)
{
  RecordSinkPrivate *p = self->priv;
  p->open = false;
  p->span_stop = kNone;
  if (!p->writer)
    return;
  p->writer->finish(g_get_real_time());
  const Manifest &m = p->writer->manifest();
  GST_INFO_OBJECT(self, "recording %s finished: %s, %zu segments", p->folder.c_str(),
                  state_name(m.state), m.segments.size());
  post_later(self, gst_structure_new("recordsink-recording-finished", "location", G_TYPE_STRING,
                                     p->folder.c_str(), "state", G_TYPE_STRING, state_name(m.state),
                                     "duration", G_TYPE_UINT64, static_cast<guint64>(m.duration()),
                                     "segments", G_TYPE_UINT, static_cast<guint>(m.segments.size()),
                                     nullptr));
  p->writer.reset();
}

gint64 running_time(GstSample *sample, GstClockTime t)
{
  if (!GST_CLOCK_TIME_IS_VALID(t))
    return kNone;
  const GstSegment *segment = gst_sample_get_segment(sample);
  if (!segment || segment->format != GST_FORMAT_TIME)
    return static_cast<gint64>(t);
  GstClockTime rt = gst_segment_to_running_time(segment, GST_FORMAT_TIME, t);
  return GST_CLOCK_TIME_IS_VALID(rt) ? static_cast<gint64>(rt) : kNone;
}

/* A DTS in running time, negative when before the segment's start: with
 * B-frames the first frames decode before they show, and encoders (x264enc)
 * and demuxers start the segment at the first PTS. */
gint64 decode_running_time(GstSample *sample, GstClockTime dts)
{
  const GstSegment *segment = gst_sample_get_segment(sample);
  if (!GST_CLOCK_TIME_IS_VALID(dts) || !segment || segment->format != GST_FORMAT_TIME)
    return running_time(sample, dts);
  guint64 rt = 0;
  const int sign = gst_segment_to_running_time_full(segment, GST_FORMAT_TIME, dts, &rt);
  if (sign == 0 || rt > static_cast<guint64>(G_MAXINT64))
    return kNone;
  return sign > 0 ? static_cast<gint64>(rt) : -static_cast<gint64>(rt);
}

void check_overrun(SugarcastRecordSink *self);

/* One sample pulled from an appsink, mapped, in running time. */
struct Frame
{
  GstSample *sample = nullptr;
  GstMapInfo map = {};
  bool mapped = false;
  gint64 pts = kNone;
  gint64 dts = kNone;
  gint64 duration = 0;
  bool keyframe = false;

  explicit Frame(GstAppSink *sink) : sample(gst_app_sink_pull_sample(sink))
  {
    if (!sample)
      return;
    GstBuffer *buf = gst_sample_get_buffer(sample);
    pts = running_time(sample, GST_BUFFER_PTS(buf));
    dts = decode_running_time(sample, GST_BUFFER_DTS(buf));
    duration =
        GST_BUFFER_DURATION_IS_VALID(buf) ? static_cast<gint64>(GST_BUFFER_DURATION(buf)) : 0;
    keyframe = !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
    mapped = gst_buffer_map(buf, &map, GST_MAP_READ);
  }
  ~Frame()
  {
    if (mapped)
      gst_buffer_unmap(gst_sample_get_buffer(sample), &map);
    if (sample)
      gst_sample_unref(sample);
  }
  Frame(const Frame &) = delete;
  Frame &operator=(const Frame &) = delete;
  bool usable() const { return mapped && pts != kNone; }
};

/* Under the lock, in the video appsink's streaming thread. */
GstFlowReturn handle_video(SugarcastRecordSink *self, const Frame &f,
                           std::unique_lock<std::mutex> &lk)
{
  RecordSinkPrivate *p = self->priv;
  check_overrun(self);
  p->video_pos = std::max(p->video_pos, f.pts);
  if (p->span_stop != kNone && p->open) {
    /* A stop whose audio never caught up: close it before going on. */
    if (!p->audio.ghost || p->audio.eos)
      finish_span(self);
  }
  if (p->resync && f.keyframe)
    p->resync = false;
  if (!p->open && p->span_stop == kNone && p->want && f.keyframe && !p->resync)
    start_span(self, f.pts);
  else if (p->open && p->span_stop == kNone && !p->want) {
    p->span_stop = f.pts;
    if (!p->audio.ghost || p->audio.eos)
      finish_span(self);
  }
  if (p->open && p->span_stop == kNone && p->writer && p->writer->manifest().video && !p->resync)
    p->writer->video(f.map.data, f.map.size, f.pts, f.dts, f.duration, f.keyframe);
  {
    std::lock_guard ranges(p->ranges_lock);
    if (p->open && p->writer)
      for (auto &r : p->ranges)
        p->writer->add_daterange(std::move(r));
    p->ranges.clear(); /* not recording: in no recording */
  }
  p->cond.notify_all();
  post_pending(self, lk);
  return GST_FLOW_OK;
}

/* Under the lock, in the audio appsink's streaming thread. */
GstFlowReturn handle_audio(SugarcastRecordSink *self, const Frame &f,
                           std::unique_lock<std::mutex> &lk)
{
  RecordSinkPrivate *p = self->priv;
  if (p->video.ghost) {
    /* Decide this frame only once the video has passed it (togglerecord):
     * a start or stop at a video frame then cuts audio at the same time. A
     * stalled video stream does not hold audio for more than 2 s. */
    p->cond.wait_for(lk, std::chrono::seconds(2), [&] {
      return !p->running || p->video.eos || p->video_pos >= f.pts + f.duration;
    });
    if (!p->running)
      return GST_FLOW_FLUSHING;
    if (p->span_stop != kNone && f.pts + f.duration > p->span_stop)
      finish_span(self);
    if (p->open && p->writer && p->writer->manifest().audio && f.pts + f.duration > p->span_start)
      p->writer->audio(f.map.data, f.map.size, f.pts, f.duration);
  } else {
    check_overrun(self);
    if (p->resync)
      p->resync = false;
    if (!p->open && p->want)
      start_span(self, f.pts);
    else if (p->open && !p->want)
      finish_span(self);
    if (p->open && p->writer && p->writer->manifest().audio)
      p->writer->audio(f.map.data, f.map.size, f.pts, f.duration);
  }
  post_pending(self, lk);
  return GST_FLOW_OK;
}

template <GstFlowReturn (*handle)(SugarcastRecordSink *, const Frame &,
                                  std::unique_lock<std::mutex> &)>
GstFlowReturn on_sample(GstAppSink *sink, gpointer data)
{
  auto *self = SUGARCAST_RECORD_SINK(data);
  Frame f(sink);
  if (!f.sample)
    return GST_FLOW_FLUSHING;
  if (!f.usable())
    return GST_FLOW_OK;
  std::unique_lock lk(self->priv->lock);
  return handle(self, f, lk);
}

void on_eos(GstAppSink *sink, gpointer data)
{
  auto *self = SUGARCAST_RECORD_SINK(data);
  RecordSinkPrivate *p = self->priv;
  std::unique_lock lk(p->lock);
  const bool video = g_object_get_data(G_OBJECT(sink), "sugarcast-video") != nullptr;
  (video ? p->video : p->audio).eos = true;
  const bool all = (!p->video.ghost || p->video.eos) && (!p->audio.ghost || p->audio.eos);
  if (all)
    finish_span(self);
  p->cond.notify_all();
  post_pending(self, lk);
}

/* The queue is full: the disk does not keep up. Called in upstream's
 * thread: only flags it, the streaming thread reports it. */
void on_overrun(GstElement *queue, gpointer data)
{
  gint leaky = 0;
  g_object_get(queue, "leaky", &leaky, nullptr);
  if (leaky) /* a full queue in front of a non-live source just waits */
    SUGARCAST_RECORD_SINK(data)->priv->overrun = true;
}

/* The first buffer decides: a live upstream gets a leaky queue (the disk
 * never holds it up), a non-live one (a file being recorded) a blocking one
 * (nothing is lost, the source waits). */
GstPadProbeReturn decide_leaky(GstPad *pad, GstPadProbeInfo *, gpointer data)
{
  auto *queue = GST_ELEMENT(data);
  g_autoptr(GstQuery) query = gst_query_new_latency();
  gboolean live = TRUE;
  if (gst_pad_peer_query(pad, query))
    gst_query_parse_latency(query, &live, nullptr, nullptr);
  g_object_set(queue, "leaky", live ? 2 : 0, nullptr);
  GST_DEBUG_OBJECT(queue, "upstream is %slive", live ? "" : "not ");
  return GST_PAD_PROBE_REMOVE;
}

/* Under the lock, in a streaming thread. */
void check_overrun(SugarcastRecordSink *self)
{
  RecordSinkPrivate *p = self->priv;
  if (!p->overrun.exchange(false) || p->resync || !p->open)
    return;
  p->resync = true;
  const std::string what = "The recording " + p->folder +
                           " lost media: storage is slower than the stream (queue of " +
                           std::to_string(p->max_queue_time / GST_MSECOND) +
                           " ms full); it resumes at the next keyframe and is marked incomplete";
  if (p->writer)
    p->writer->mark_incomplete(what);
  warn_failed(self, what, "leaky queue overrun");
}

} // namespace

static GstPad *sugarcast_record_sink_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                                     const gchar *, const GstCaps *)
{
  auto *self = SUGARCAST_RECORD_SINK(element);
  RecordSinkPrivate *p = self->priv;
  const bool video = g_str_equal(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "video");
  {
    std::lock_guard lk(p->lock);
    if ((video ? p->video : p->audio).ghost) {
      GST_ELEMENT_ERROR(self, STREAM, FAILED,
                        ("recordsink has only one %s pad", video ? "video" : "audio"), (nullptr));
      return nullptr;
    }
    /* A pad requested while running (a demuxer's pad that came late, linked
     * through a tee) takes part from the next recording on: a recording's
     * streams are fixed when it starts. */
    if (p->running)
      GST_INFO_OBJECT(self, "%s pad requested while running: recorded from the next start",
                      video ? "video" : "audio");
  }
  GstElement *queue = gst_element_factory_make("queue", nullptr);
  GstElement *parse = gst_element_factory_make(video ? "h264parse" : "aacparse", nullptr);
  GstElement *filter = gst_element_factory_make("capsfilter", nullptr);
  GstElement *sink = gst_element_factory_make("appsink", nullptr);
  if (!queue || !parse || !filter || !sink) {
    for (GstElement *e : {queue, parse, filter, sink})
      if (e)
        gst_object_unref(gst_object_ref_sink(e));
    GST_ELEMENT_ERROR(
        self, CORE, MISSING_PLUGIN,
        ("recordsink needs queue, %s, capsfilter and appsink", video ? "h264parse" : "aacparse"),
        (nullptr));
    return nullptr;
  }
  /* The only buffer between the live stream and the disk, leaky so a slow
   * disk costs the recording, never the stream (see decide_leaky). */
  g_object_set(queue, "leaky", 2, "max-size-time", p->max_queue_time, "max-size-buffers", 0,
               "max-size-bytes", 0, nullptr);
  g_signal_connect(queue, "overrun", G_CALLBACK(SUGARCAST_GUARD(on_overrun)), self);
  if (video)
    g_object_set(parse, "config-interval", -1, nullptr);
  g_autoptr(GstCaps) caps =
      gst_caps_from_string(video ? "video/x-h264, stream-format=byte-stream, alignment=au"
                                 : "audio/mpeg, mpegversion=4, stream-format=adts");
  g_object_set(filter, "caps", caps, nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 1, "drop", FALSE,
               "enable-last-sample", FALSE, nullptr);
  if (video)
    g_object_set_data(G_OBJECT(sink), "sugarcast-video", GINT_TO_POINTER(1));
  GstAppSinkCallbacks callbacks = {};
  callbacks.eos = on_eos;
  callbacks.new_sample = video ? on_sample<handle_video> : on_sample<handle_audio>;
  gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, self, nullptr);

  gst_bin_add_many(GST_BIN(self), queue, parse, filter, sink, nullptr);
  gst_element_link_many(queue, parse, filter, sink, nullptr);
  g_autoptr(GstPad) target = gst_element_get_static_pad(queue, "sink");
  gst_pad_add_probe(target, GST_PAD_PROBE_TYPE_BUFFER, SUGARCAST_GUARD(decide_leaky), queue,
                    nullptr);
  GstPad *ghost = gst_ghost_pad_new_from_template(video ? "video" : "audio", target, templ);
  for (GstElement *e : {queue, parse, filter, sink})
    gst_element_sync_state_with_parent(e);
  gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(element, ghost);
  std::lock_guard lk(p->lock);
  Input &in = video ? p->video : p->audio;
  in.ghost = ghost;
  in.queue = queue;
  /* A demuxer adds its pads as each stream's first frame arrives: a
   * recording begun a moment earlier without this stream, with no segment
   * closed yet, is dropped and begins again with both (at the next video
   * keyframe), rather than leaving an audio-only sliver as a recording. */
  if (p->running && p->open && p->writer && p->writer->manifest().segments.empty() &&
      !(video ? p->writer->manifest().video : p->writer->manifest().audio)) {
    const std::string folder = p->folder;
    p->writer.reset();
    p->open = false;
    p->span_start = p->span_stop = kNone;
    std::string error;
    if (!remove_recording(folder, error))
      GST_WARNING_OBJECT(self, "cannot remove %s: %s", folder.c_str(), error.c_str());
    GST_INFO_OBJECT(self, "the %s stream joined: recording %s starts again with it",
                    video ? "video" : "audio", folder.c_str());
  }
  return ghost;
}

static void sugarcast_record_sink_release_pad(GstElement *element, GstPad *pad)
{
  auto *self = SUGARCAST_RECORD_SINK(element);
  RecordSinkPrivate *p = self->priv;
  {
    std::lock_guard lk(p->lock);
    if (p->video.ghost == pad)
      p->video = Input{};
    else if (p->audio.ghost == pad)
      p->audio = Input{};
  }
  gst_element_remove_pad(element, pad);
}

/* Finalises what a crash left in state recording under `location`. */
static void repair_leftovers(SugarcastRecordSink *self)
{
  RecordSinkPrivate *p = self->priv;
  std::string location;
  {
    std::lock_guard lk(p->lock);
    location = p->location;
  }
  for (const auto &r : list_recordings(location)) {
    if (r.state != "recording")
      continue;
    RepairReport report;
    std::string error;
    if (!repair_recording(r.folder, g_get_real_time(), report, error)) {
      GST_ELEMENT_WARNING(self, RESOURCE, WRITE,
                          ("Could not repair the interrupted recording %s", r.folder.c_str()),
                          ("%s", error.c_str()));
      continue;
    }
    GST_INFO_OBJECT(self, "%s", report.message.c_str());
    gst_element_post_message(
        GST_ELEMENT(self),
        gst_message_new_element(
            GST_OBJECT(self),
            gst_structure_new("recordsink-repaired", "location", G_TYPE_STRING, r.folder.c_str(),
                              "duration", G_TYPE_UINT64, static_cast<guint64>(report.duration),
                              "recovered", G_TYPE_UINT, report.recovered, nullptr)));
  }
}

static GstStateChangeReturn sugarcast_record_sink_change_state(GstElement *element,
                                                               GstStateChange transition)
{
  auto *self = SUGARCAST_RECORD_SINK(element);
  RecordSinkPrivate *p = self->priv;
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    repair_leftovers(self);
    std::lock_guard lk(p->lock);
    p->running = true;
    p->video_pos = kNone;
    p->resync = false;
    p->video.eos = p->audio.eos = false;
  } else if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    std::unique_lock lk(p->lock);
    p->running = false;
    p->cond.notify_all();
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(sugarcast_record_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    /* Streaming has stopped: finalise what was being recorded. */
    std::unique_lock lk(p->lock);
    finish_span(self);
    post_pending(self, lk);
  }
  return ret;
}

static void sugarcast_record_sink_set_property(GObject *object, guint id, const GValue *value,
                                               GParamSpec *pspec)
{
  auto *self = SUGARCAST_RECORD_SINK(object);
  RecordSinkPrivate *p = self->priv;
  if (id == PROP_RECORDING) {
    /* Without the lock: the writer may hold it while the disk is slow, and
     * this is usually the application's main loop. */
    p->want = g_value_get_boolean(value);
    return;
  }
  std::lock_guard lk(p->lock);
  switch (id) {
  case PROP_LOCATION:
    p->location = g_value_get_string(value) ? g_value_get_string(value) : "recordings";
    break;
  case PROP_SEGMENT_DURATION:
    p->segment_duration = g_value_get_uint64(value);
    break;
  case PROP_PIECE_DURATION:
    p->piece_duration = g_value_get_uint64(value);
    break;
  case PROP_SYNC_MODE:
    p->sync = static_cast<Sync>(g_value_get_enum(value));
    break;
  case PROP_MAX_QUEUE_TIME:
    p->max_queue_time = g_value_get_uint64(value);
    for (GstElement *q : {p->video.queue, p->audio.queue})
      if (q)
        g_object_set(q, "max-size-time", p->max_queue_time, nullptr);
    break;
  case PROP_MAX_AGE:
    p->max_age = g_value_get_uint64(value);
    break;
  case PROP_MAX_SIZE:
    p->max_size = g_value_get_uint64(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void sugarcast_record_sink_get_property(GObject *object, guint id, GValue *value,
                                               GParamSpec *pspec)
{
  auto *self = SUGARCAST_RECORD_SINK(object);
  RecordSinkPrivate *p = self->priv;
  std::lock_guard lk(p->lock);
  switch (id) {
  case PROP_LOCATION:
    g_value_set_string(value, p->location.c_str());
    break;
  case PROP_RECORDING:
    g_value_set_boolean(value, p->want.load());
    break;
  case PROP_SEGMENT_DURATION:
    g_value_set_uint64(value, p->segment_duration);
    break;
  case PROP_PIECE_DURATION:
    g_value_set_uint64(value, p->piece_duration);
    break;
  case PROP_SYNC_MODE:
    g_value_set_enum(value, static_cast<gint>(p->sync));
    break;
  case PROP_MAX_QUEUE_TIME:
    g_value_set_uint64(value, p->max_queue_time);
    break;
  case PROP_MAX_AGE:
    g_value_set_uint64(value, p->max_age);
    break;
  case PROP_MAX_SIZE:
    g_value_set_uint64(value, p->max_size);
    break;
  case PROP_CURRENT_LOCATION:
    g_value_set_string(value, p->open ? p->folder.c_str() : nullptr);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void sugarcast_record_sink_finalize(GObject *object)
{
  auto *self = SUGARCAST_RECORD_SINK(object);
  for (GstMessage *m : self->priv->to_post)
    gst_message_unref(m);
  delete self->priv;
  G_OBJECT_CLASS(sugarcast_record_sink_parent_class)->finalize(object);
}

/* Pending ranges at most; beyond, add-daterange answers FALSE. */
constexpr size_t kMaxPendingRanges = 256;

static gboolean sugarcast_record_sink_add_daterange(SugarcastRecordSink *self, const gchar *id,
                                                    const gchar *klass, guint64 /* start */,
                                                    guint64 duration,
                                                    const GstStructure *attributes)
{
  if (!id || !*id) {
    GST_WARNING_OBJECT(self, "add-daterange refused: an empty id");
    return FALSE;
  }
  /* Read as hlsabrsink reads its own (timedmeta.h), so both refuse the same. */
  g_autoptr(GstEvent) event =
      sugarcast_daterange_event_new(id, klass, GST_CLOCK_TIME_NONE, duration, attributes);
  sugarcast::abr::DateRange range;
  std::string error;
  if (!sugarcast::abr::daterange_from_structure(gst_event_get_structure(event), range, error)) {
    GST_WARNING_OBJECT(self, "add-daterange refused: %s", error.c_str());
    return FALSE;
  }
  sugarcast::abr::DateRangeTag tag;
  tag.id = std::move(range.id);
  tag.klass = std::move(range.klass);
  tag.start_us = g_get_real_time(); /* the manifest's times are wall clock */
  tag.duration = range.duration;
  tag.attributes = std::move(range.attributes);
  RecordSinkPrivate *p = self->priv;
  std::lock_guard ranges(p->ranges_lock);
  if (p->ranges.size() >= kMaxPendingRanges) {
    GST_WARNING_OBJECT(self, "add-daterange refused: %zu ranges wait for video", p->ranges.size());
    return FALSE;
  }
  p->ranges.push_back(std::move(tag));
  return TRUE;
}

static void sugarcast_record_sink_class_init(SugarcastRecordSinkClass *klass)
{
  /**
   * SugarcastRecordSink::add-daterange:
   * @id: the range's ID (unique in the recording)
   * @klass: (nullable): CLASS
   * @start: ignored (the range starts now, the wall clock the manifest uses)
   * @duration: DURATION in ns, or GST_CLOCK_TIME_NONE
   * @attributes: (nullable): X- attributes (strings quoted, numbers not)
   *
   * The same arguments as hlsabrsink's: an EXT-X-DATERANGE in the recording's
   * playlist (and manifest) if a recording is under way. Never waits for the
   * disk. Returns: whether it was taken.
   */
  g_signal_new_class_handler("add-daterange", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(SUGARCAST_GUARD(sugarcast_record_sink_add_daterange)),
                             nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 5, G_TYPE_STRING,
                             G_TYPE_STRING, G_TYPE_UINT64, G_TYPE_UINT64, GST_TYPE_STRUCTURE);

  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = SUGARCAST_GUARD(sugarcast_record_sink_set_property);
  gobject_class->get_property = SUGARCAST_GUARD(sugarcast_record_sink_get_property);
  gobject_class->finalize = SUGARCAST_GUARD(sugarcast_record_sink_finalize);

  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  const auto ready = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_READY);
  const auto playing = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_PLAYING);
  g_object_class_install_property(
      gobject_class, PROP_LOCATION,
      g_param_spec_string("location", "Location",
                          "Folder of this stream's recordings; each recording is a folder in it "
                          "named after its UTC start time",
                          "recordings", ready));
  g_object_class_install_property(
      gobject_class, PROP_RECORDING,
      g_param_spec_boolean("recording", "Recording",
                           "Whether to record; switching it on starts a new recording at the next "
                           "keyframe, switching it off finalises the current one",
                           TRUE, playing));
  g_object_class_install_property(
      gobject_class, PROP_SEGMENT_DURATION,
      g_param_spec_uint64("segment-duration", "Segment duration",
                          "Segments close at the first keyframe after this long (ns)", GST_SECOND,
                          G_MAXINT64, kDefaultSegment, ready));
  g_object_class_install_property(
      gobject_class, PROP_PIECE_DURATION,
      g_param_spec_uint64("piece-duration", "Piece duration",
                          "Media handed to the kernel at least this often (ns): what a killed "
                          "process can lose",
                          0, 10 * GST_SECOND, kDefaultPiece, ready));
  g_object_class_install_property(
      gobject_class, PROP_SYNC_MODE,
      g_param_spec_enum("sync-mode", "Sync mode",
                        "When segments are fsynced: none (a killed process loses at most one "
                        "piece, a power cut what the kernel had not written), segment, piece "
                        "(a power cut loses at most one piece)",
                        sync_mode_get_type(), static_cast<gint>(Sync::Piece), ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_QUEUE_TIME,
      g_param_spec_uint64("max-queue-time", "Max queue time",
                          "Media held in front of the disk (ns) before the recording drops some "
                          "and is marked incomplete",
                          100 * GST_MSECOND, 60 * GST_SECOND, kDefaultQueue, ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_AGE,
      g_param_spec_uint64("max-age", "Max age",
                          "At each recording start, delete finished recordings under location "
                          "older than this (seconds; 0 = keep)",
                          0, G_MAXUINT64, 0, ready));
  g_object_class_install_property(
      gobject_class, PROP_MAX_SIZE,
      g_param_spec_uint64("max-size", "Max size",
                          "At each recording start, delete the oldest finished recordings under "
                          "location until they total at most this (bytes; 0 = no limit)",
                          0, G_MAXUINT64, 0, ready));
  g_object_class_install_property(
      gobject_class, PROP_CURRENT_LOCATION,
      g_param_spec_string("current-location", "Current location",
                          "Folder of the recording being written, NULL when none", nullptr,
                          static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  element_class->request_new_pad = SUGARCAST_GUARD(sugarcast_record_sink_request_new_pad);
  element_class->release_pad = SUGARCAST_GUARD(sugarcast_record_sink_release_pad);
  element_class->change_state = SUGARCAST_GUARD(sugarcast_record_sink_change_state);
  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_set_static_metadata(
      element_class, "Recording sink", "Sink/Muxer",
      "Records encoded H.264 and AAC without re-encoding into crash-safe MPEG-TS segments, a "
      "manifest and a VOD playlist; switchable while playing",
      "Sugarcast");
  gst_type_mark_as_plugin_api(sync_mode_get_type(), static_cast<GstPluginAPIFlags>(0));
  GST_DEBUG_CATEGORY_INIT(record_sink_debug, "recordsink", 0, "Sugarcast recording sink");
}

static void sugarcast_record_sink_init(SugarcastRecordSink *self)
{
  self->priv = new RecordSinkPrivate();
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}
