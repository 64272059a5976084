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
 * file is scanned); frames from `stop` on are dropped. Inside, a byte reader
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
 * frames before it (or with wrapped timestamps) are dropped, so audio
 * begins with video. Known limit: a range's audio may end up to the
 * recording's audio/video interleave lag before `stop`.
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
#include "guard.h"
#include "sugarcast-plugins-config.h"
#endif

#include "gstreplaysrc.h"

#include "makechild.h"
#include "manifest.h"

#include "bitstream.h"

#include <gst/base/gstbasesrc.h>
#include <gst/pbutils/missing-plugins.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <optional>
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

/* The head GOP of a frame-exact range: the bytes from the keyframe at or
 * before start (after its segment's tables) to the next keyframe, which is
 * where the untouched stream resumes. next_keyframe is that keyframe's time
 * (-1: none, the head runs to the recording's end). Same segment choice as
 * plan_range, so both readers start on the same packet. */
std::vector<Chunk> plan_head(const std::string &folder, const Manifest &m, int64_t start,
                             int64_t &next_keyframe)
{
  next_keyframe = -1;
  std::vector<Chunk> out;
  for (size_t i = 0; i < m.segments.size(); ++i) {
    const Segment &s = m.segments[i];
    if (s.start + s.duration <= start && i + 1 < m.segments.size())
      continue;
    uint64_t from = 0;
    for (const auto &k : s.keyframes)
      if (k.time <= start)
        from = k.offset;
    uint64_t to = s.bytes;
    for (const auto &k : s.keyframes)
      if (k.time > start && k.offset > from) {
        to = k.offset;
        next_keyframe = k.time;
        break;
      }
    if (next_keyframe < 0 && i + 1 < m.segments.size())
      next_keyframe = m.segments[i + 1].keyframes.empty() ? m.segments[i + 1].start
                                                          : m.segments[i + 1].keyframes[0].time;
    if (from <= kTables)
      from = 0;
    else
      out.push_back({folder + "/" + s.uri, 0, kTables, 0});
    const uint64_t at = out.empty() ? 0 : kTables;
    if (to > from)
      out.push_back({folder + "/" + s.uri, from, to - from, at});
    break;
  }
  return out;
}

/* The SPS and PPS of the video access unit whose PES starts at FROM in the
 * MPEG-TS file PATH (a keyframe the manifest lists; recordsink's keyframes
 * carry them in-band), as Annex B NAL units. */
sugarcast::abr::AvcConfig parameter_sets_at(const std::string &path, uint64_t from)
{
  sugarcast::abr::AvcConfig config;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return config;
  /* The parameter sets come first in the access unit: 64 KiB is plenty. */
  std::vector<uint8_t> ts(64 * 1024);
  const ssize_t got = pread(fd, ts.data(), ts.size(), static_cast<off_t>(from));
  close(fd);
  if (got <= 0)
    return config;
  std::vector<uint8_t> es;
  int pid = -1;
  for (size_t at = 0; at + 188 <= static_cast<size_t>(got); at += 188) {
    const uint8_t *pkt = ts.data() + at;
    if (pkt[0] != 0x47)
      break;
    const bool unit_start = pkt[1] & 0x40;
    const int this_pid = ((pkt[1] & 0x1f) << 8) | pkt[2];
    size_t payload = 4;
    if (pkt[3] & 0x20)
      payload += 1 + pkt[4];
    if (!(pkt[3] & 0x10) || payload >= 188)
      continue;
    const uint8_t *data = pkt + payload;
    size_t size = 188 - payload;
    if (pid < 0) {
      /* The first PES of a video stream (stream_id 0xe0-0xef). */
      if (!unit_start || size < 9 || data[0] || data[1] || data[2] != 1 || (data[3] & 0xf0) != 0xe0)
        continue;
      pid = this_pid;
    } else if (this_pid != pid) {
      continue;
    } else if (unit_start) {
      break; /* the next access unit */
    }
    if (unit_start) {
      const size_t header = 9 + data[8];
      if (header >= size)
        continue;
      data += header;
      size -= header;
    }
    es.insert(es.end(), data, data + size);
  }
  sugarcast::abr::collect_parameter_sets(sugarcast::abr::split_annexb(es.data(), es.size()),
                                         config);
  return config;
}

/* PTS from two demuxers and the manifest's nanoseconds differ by the 90 kHz
 * rounding: a frame this close to a time counts as at it. */
constexpr GstClockTime kSlack = GST_MSECOND;

/* What the multiqueue after tsdemux holds of each stream. */
constexpr guint64 kStreamsQueued = 3 * GST_SECOND;

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
  PROP_FRAME_EXACT,
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
  /* Between tsdemux and everything else: each stream leaves the demuxer on
   * a thread of its own, so a downstream that blocks one branch until the
   * other has data (a muxer prerolling) cannot stall the demuxer. */
  GstElement *streams = nullptr;
  bool have_video = false;
  bool have_audio = false;
  /* Frames at or after this much from the range's first keyframe are
   * dropped (the bytes end at the keyframe after stop); -1 = none. */
  gint64 trim = -1;
  /* How long the range is from its first keyframe (to stop, or to the
   * recording's end): an AAC frame further than this past the first video
   * frame has a wrapped or otherwise implausible timestamp. */
  gint64 span = 0;
  GstClockTime base = GST_CLOCK_TIME_NONE; /* PTS of the first video frame */

  bool frame_exact = false;
  /* This run's frame-exact cut (replay_prepare plans it). Times are ns from
   * the recording's start; k0 is the keyframe at or before start, k1 the
   * next one, where the untouched stream resumes (-1: none). */
  bool exact = false;
  bool reencode = false; /* start is inside a GOP: the head is re-encoded */
  gint64 cut_start = 0;
  gint64 cut_stop = -1;
  gint64 k0 = 0;
  gint64 k1 = -1;
  /* k0's PTS as the main and the head demuxers give it: the two timelines
   * are mapped to the manifest's through them. */
  GstClockTime main_base = GST_CLOCK_TIME_NONE;
  GstClockTime head_base = GST_CLOCK_TIME_NONE;
  /* Audio waits here (the multiqueue's audio output) until the first video
   * frame has set the range's base (base, or main_base when frame-exact):
   * tsdemux gives out the AAC frames muxed before the range's first
   * keyframe first, and they are cut against that base. */
  GstPad *audio_gate = nullptr;
  gulong audio_gate_probe = 0;
  bool gate_open = false;
  /* Re-encoding: the caps the head is encoded to, concat's pad for the rest,
   * and what the video ghost pad shows. */
  GstElement *encoded_caps = nullptr;
  GstPad *concat_rest = nullptr;
  GstElement *video_out = nullptr;
  /* The source's SPS and PPS (Annex B), put before the head's own so that a
   * downstream avcC carries both. */
  std::vector<uint8_t> source_parameter_sets;
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

namespace {

/* An AAC frame this far past the range's end from its first video frame is
 * not of the range: its timestamp wrapped (2^33 ticks of 90 kHz) or is
 * otherwise implausible. */
constexpr gint64 kPlausible = GST_SECOND;

void open_audio_gate(ReplayPrivate *p)
{
  /* With the lock held. */
  p->gate_open = true;
  if (p->audio_gate && p->audio_gate_probe)
    gst_pad_remove_probe(p->audio_gate, p->audio_gate_probe);
  p->audio_gate_probe = 0;
}

/* Whether an AAC frame OFFSET ns from the range's first video frame is of
 * the range (lock held). */
bool audio_in_range(const ReplayPrivate *p, gint64 offset)
{
  return offset >= 0 && offset <= p->span + kPlausible;
}

} // namespace

/* Keyframe-aligned ranges: the first video frame sets the range's base and
 * opens the audio gate; AAC frames before it (muxed before the range's
 * first keyframe, with earlier timestamps) or implausibly far after it are
 * dropped, so audio begins with video; and the range ends at `stop` exactly
 * (to the frame) rather than at the next keyframe: cutting the end needs no
 * keyframe. */
template <bool video>
GstPadProbeReturn trim_probe(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(data)->priv;
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    /* A video stream that ends without a frame has no base to wait for. */
    if (video && GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS) {
      std::lock_guard lk(p->lock);
      open_audio_gate(p);
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  const GstClockTime pts = GST_BUFFER_PTS(buf);
  if (!GST_CLOCK_TIME_IS_VALID(pts))
    return GST_PAD_PROBE_OK;
  std::lock_guard lk(p->lock);
  if (!GST_CLOCK_TIME_IS_VALID(p->base)) {
    if (!video)
      return GST_PAD_PROBE_OK; /* the gate let it through: no video */
    p->base = pts;
    open_audio_gate(p);
  }
  const gint64 offset = static_cast<gint64>(pts) - static_cast<gint64>(p->base);
  if (!video && !audio_in_range(p, offset)) {
    GST_LOG_OBJECT(data,
                   "dropping AAC frame at %" GST_TIME_FORMAT ", %" GST_STIME_FORMAT
                   " from the range's first video frame",
                   GST_TIME_ARGS(pts), GST_STIME_ARGS(offset));
    return GST_PAD_PROBE_DROP;
  }
  return p->trim >= 0 && offset >= p->trim ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

/* ---- frame-exact cuts ---- */

namespace {

/* Which part of a frame-exact cut a probe serves. */
enum class Part {
  Head,  /* decoded head frames, before the encoder: drops those before start */
  Rest,  /* the untouched video from k1 on */
  Audio, /* AAC: drops frames wholly before start */
};

struct Retimer
{
  SugarcastReplaySrc *self;
  Part part;
  GstSegment upstream{};
  bool have_upstream = false;
  bool sent = false;
  bool pushing = false; /* our own segment is going through the probe */
};

/* T ns from the recording's start as a PTS on a timeline where k0 is BASE. */
GstClockTime pts_of(GstClockTime base, gint64 k0, gint64 t)
{
  const gint64 pts = static_cast<gint64>(base) + (t - k0);
  return pts < 0 ? 0 : static_cast<GstClockTime>(pts);
}

/* The upstream segment made to begin at START (the running time there is
 * BASE), its stream time kept in step. */
GstEvent *segment_from(const GstSegment *upstream, GstClockTime start, GstClockTime base)
{
  GstSegment seg;
  if (upstream && upstream->format == GST_FORMAT_TIME)
    gst_segment_copy_into(upstream, &seg);
  else
    gst_segment_init(&seg, GST_FORMAT_TIME);
  if (GST_CLOCK_TIME_IS_VALID(seg.time)) {
    const gint64 time =
        static_cast<gint64>(seg.time) + static_cast<gint64>(start) - static_cast<gint64>(seg.start);
    seg.time = time < 0 ? 0 : static_cast<GstClockTime>(time);
  }
  seg.start = start;
  seg.position = start;
  seg.base = base;
  seg.duration = GST_CLOCK_TIME_NONE;
  return gst_event_new_segment(&seg);
}

void push_held_segment(GstPad *pad, Retimer *r, GstEvent *event)
{
  r->pushing = true;
  gst_pad_push_event(pad, event);
  r->pushing = false;
  r->sent = true;
}

} // namespace

/* Video probes: the segment tsdemux sends is held back and replaced, before
 * the first frame kept, by one whose running time 0 is `start` (the head) or
 * continues it (the rest), so the cut's timeline begins at start and has no
 * gap or overlap at k1 whatever the encoder does to timestamps (x264enc adds
 * 1000 hours to both its PTS and its segment). */
static GstPadProbeReturn video_cut_probe(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  auto *r = static_cast<Retimer *>(data);
  ReplayPrivate *p = r->self->priv;
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
    if (r->pushing)
      return GST_PAD_PROBE_OK;
    switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_SEGMENT: {
      const GstSegment *seg;
      gst_event_parse_segment(event, &seg);
      gst_segment_copy_into(seg, &r->upstream);
      r->have_upstream = true;
      r->sent = false;
      return GST_PAD_PROBE_DROP;
    }
    case GST_EVENT_EOS:
      if (!r->sent)
        push_held_segment(pad, r,
                          r->have_upstream ? gst_event_new_segment(&r->upstream)
                                           : segment_from(nullptr, 0, 0));
      if (r->part == Part::Rest) {
        std::lock_guard lk(p->lock);
        open_audio_gate(p);
      }
      return GST_PAD_PROBE_OK;
    default:
      return GST_PAD_PROBE_OK;
    }
  }
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  const GstClockTime pts = GST_BUFFER_PTS(buf);
  if (!GST_CLOCK_TIME_IS_VALID(pts))
    return r->sent ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
  GstClockTime start_pts, stop_pts = GST_CLOCK_TIME_NONE, resume_pts;
  {
    std::lock_guard lk(p->lock);
    GstClockTime &base = r->part == Part::Head ? p->head_base : p->main_base;
    if (!GST_CLOCK_TIME_IS_VALID(base)) {
      /* The first frame out of a reader that starts at k0 is k0 (decode
       * order; closed GOPs, as recordsink's keyframes are IDR frames). */
      base = pts;
      if (r->part == Part::Rest)
        open_audio_gate(p);
    }
    start_pts = pts_of(base, p->k0, p->cut_start);
    if (p->cut_stop >= 0)
      stop_pts = pts_of(base, p->k0, p->cut_stop);
    /* The untouched stream resumes at k1 when the head is re-encoded, at
     * start (a keyframe) otherwise. */
    if (!p->reencode)
      resume_pts = start_pts;
    else
      resume_pts = p->k1 >= 0 ? pts_of(base, p->k0, p->k1) : GST_CLOCK_TIME_NONE;
  }
  if (GST_CLOCK_TIME_IS_VALID(stop_pts) && pts + kSlack >= stop_pts)
    return GST_PAD_PROBE_DROP;
  if (r->part == Part::Head) {
    if (pts + kSlack < start_pts)
      return GST_PAD_PROBE_DROP;
    if (!r->sent)
      push_held_segment(pad, r,
                        segment_from(r->have_upstream ? &r->upstream : nullptr, start_pts, 0));
    return GST_PAD_PROBE_OK;
  }
  if (!GST_CLOCK_TIME_IS_VALID(resume_pts) || pts + kSlack < resume_pts)
    return GST_PAD_PROBE_DROP;
  if (!r->sent)
    push_held_segment(pad, r,
                      segment_from(r->have_upstream ? &r->upstream : nullptr, pts,
                                   pts > start_pts ? pts - start_pts : 0));
  return GST_PAD_PROBE_OK;
}

/* Audio, once main_base is known (audio_gate): drops the AAC frames wholly
 * before start and from stop on, and gives the segment the head's origin. A
 * frame that straddles start is kept; downstream clips it to the segment (a
 * muxer drops it, as for any buffer before a segment's start). */
static GstPadProbeReturn audio_cut_probe(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *r = static_cast<Retimer *>(data);
  ReplayPrivate *p = r->self->priv;
  GstClockTime start_pts, stop_pts = GST_CLOCK_TIME_NONE, main_base;
  gint64 span;
  {
    std::lock_guard lk(p->lock);
    if (!GST_CLOCK_TIME_IS_VALID(p->main_base))
      return GST_PAD_PROBE_OK; /* no video: nothing to be exact to */
    main_base = p->main_base;
    span = p->span;
    start_pts = pts_of(p->main_base, p->k0, p->cut_start);
    if (p->cut_stop >= 0)
      stop_pts = pts_of(p->main_base, p->k0, p->cut_stop);
  }
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) != GST_EVENT_SEGMENT)
      return GST_PAD_PROBE_OK;
    const GstSegment *seg;
    gst_event_parse_segment(event, &seg);
    GstEvent *cut = segment_from(seg, start_pts, 0);
    gst_event_set_seqnum(cut, gst_event_get_seqnum(event));
    gst_event_unref(event);
    GST_PAD_PROBE_INFO_DATA(info) = cut;
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  const GstClockTime pts = GST_BUFFER_PTS(buf);
  if (!GST_CLOCK_TIME_IS_VALID(pts))
    return GST_PAD_PROBE_OK;
  const GstClockTime end = pts + (GST_BUFFER_DURATION_IS_VALID(buf) ? GST_BUFFER_DURATION(buf) : 0);
  if (end < start_pts + kSlack)
    return GST_PAD_PROBE_DROP;
  if (GST_CLOCK_TIME_IS_VALID(stop_pts) && pts + kSlack >= stop_pts)
    return GST_PAD_PROBE_DROP;
  /* Wrapped or implausible (the range's k0 is main_base). */
  if (static_cast<gint64>(pts) - static_cast<gint64>(main_base) > span + kPlausible)
    return GST_PAD_PROBE_DROP;
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn audio_gate_probe(GstPad *, GstPadProbeInfo *, gpointer)
{
  return GST_PAD_PROBE_OK; /* blocks (GST_PAD_PROBE_TYPE_BLOCK) until removed */
}

/* The source's caps: the profile the head is encoded in. */
static GstPadProbeReturn source_caps_probe(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(data)->priv;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  GstCaps *caps;
  gst_event_parse_caps(event, &caps);
  const gchar *profile = gst_structure_get_string(gst_caps_get_structure(caps, 0), "profile");
  /* The profiles x264enc names; for any other, x264enc picks the one that
   * fits the decoded chroma format and bit depth. */
  static const char *const kProfiles[] = {
      "constrained-baseline", "baseline", "main", "high", "high-10", "high-4:2:2", "high-4:4:4"};
  g_autoptr(GstCaps) want =
      gst_caps_from_string("video/x-h264, stream-format=byte-stream, alignment=au");
  for (const char *known : kProfiles)
    if (profile && g_str_equal(profile, known))
      gst_caps_set_simple(want, "profile", G_TYPE_STRING, profile, nullptr);
  std::lock_guard lk(p->lock);
  if (p->encoded_caps)
    g_object_set(p->encoded_caps, "caps", want, nullptr);
  return GST_PAD_PROBE_OK;
}

/* The head's first access unit gets the source's parameter sets in front of
 * its own (see build_head). */
static GstPadProbeReturn head_params_probe(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(data)->priv;
  std::vector<uint8_t> sets;
  {
    std::lock_guard lk(p->lock);
    sets = p->source_parameter_sets;
  }
  if (sets.empty())
    return GST_PAD_PROBE_REMOVE;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ))
    return GST_PAD_PROBE_REMOVE;
  /* After the access unit delimiter x264enc starts with: that stays first. */
  size_t at = 0;
  const auto nals = sugarcast::abr::split_annexb(map.data, map.size);
  if (nals.size() > 1 && nals[0].type() == sugarcast::abr::kNalAud)
    at = static_cast<size_t>(nals[0].data + nals[0].size - map.data);
  std::vector<uint8_t> au;
  au.reserve(map.size + sets.size());
  au.insert(au.end(), map.data, map.data + at);
  au.insert(au.end(), sets.begin(), sets.end());
  au.insert(au.end(), map.data + at, map.data + map.size);
  gst_buffer_unmap(buf, &map);
  GstBuffer *out = gst_buffer_new_memdup(au.data(), au.size());
  gst_buffer_copy_into(out, buf, GST_BUFFER_COPY_METADATA, 0, -1);
  gst_buffer_unref(buf);
  GST_PAD_PROBE_INFO_DATA(info) = out;
  return GST_PAD_PROBE_REMOVE;
}

static void on_head_demux_pad(GstElement *, GstPad *pad, gpointer data)
{
  auto *parse = GST_ELEMENT(data);
  g_autoptr(GstCaps) caps = gst_pad_query_caps(pad, nullptr);
  if (!gst_structure_has_name(gst_caps_get_structure(caps, 0), "video/x-h264"))
    return; /* the head's audio comes from the main reader */
  g_autoptr(GstPad) sink = gst_element_get_static_pad(parse, "sink");
  if (!gst_pad_is_linked(sink))
    gst_pad_link(pad, sink);
}

static void retimer_free(gpointer data)
{
  delete static_cast<Retimer *>(data);
}

static void add_retimer(GstPad *pad, SugarcastReplaySrc *self, Part part)
{
  auto *r = new Retimer{self, part};
  gst_pad_add_probe(
      pad,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      part == Part::Audio ? SUGARCAST_GUARD(audio_cut_probe) : SUGARCAST_GUARD(video_cut_probe), r,
      SUGARCAST_GUARD(retimer_free));
}

/* Paces the output of LAST by the clock (live); returns the new last element. */
static GstElement *add_clocksync(SugarcastReplaySrc *self, GstElement *last)
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

static void add_ghost(SugarcastReplaySrc *self, GstElement *last, bool video)
{
  g_autoptr(GstPad) src = gst_element_get_static_pad(last, "src");
  GstPad *ghost =
      gst_ghost_pad_new_from_template(video ? "video" : "audio", src,
                                      video ? gst_static_pad_template_get(&video_src_template)
                                            : gst_static_pad_template_get(&audio_src_template));
  gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(GST_ELEMENT(self), ghost);
}

/* Holds the audio that leaves the multiqueue at SRC until the first video
 * frame has set the range's base (open_audio_gate). */
static void gate_audio(ReplayPrivate *p, GstPad *src)
{
  std::lock_guard lk(p->lock);
  if (p->gate_open)
    return;
  if (p->audio_gate)
    gst_object_unref(p->audio_gate);
  p->audio_gate = GST_PAD(gst_object_ref(src));
  p->audio_gate_probe = gst_pad_add_probe(
      src,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_DATA_DOWNSTREAM),
      SUGARCAST_GUARD(audio_gate_probe), nullptr, nullptr);
}

/* Frame-exact: video from the multiqueue's output SRC through a parser to
 * the cut probe (and to concat, after the re-encoded head); audio held at
 * SRC until the video's first frame has placed start on tsdemux's
 * timeline. False if a child is missing (reported). */
static bool link_exact(SugarcastReplaySrc *self, GstPad *src, bool video, bool live, bool reencode)
{
  ReplayPrivate *p = self->priv;
  std::vector<GstElement *> chain;
  GstElement *self_element = GST_ELEMENT(self);
  GstElement *parse = sugarcast::make_child(self_element, video ? "h264parse" : "aacparse",
                                            "(gstreamer1.0-plugins-bad / -good)");
  chain.push_back(parse);
  if (video && reencode) {
    /* concat holds this branch (from its stream-start on) until the head is
     * done; the queue lets tsdemux go on meanwhile: to k0, which opens the
     * audio gate (without audio a muxer takes no more of the head: with a
     * GOP longer than the queue downstream, that would never end), and on
     * to fill it with the frames from k1. */
    chain.push_back(sugarcast::make_child(self_element, "queue", "(GStreamer core)"));
  } else {
    GstElement *filter = sugarcast::make_child(self_element, "capsfilter", "(GStreamer core)");
    if (filter) {
      g_autoptr(GstCaps) out =
          gst_caps_from_string(video ? "video/x-h264, stream-format=byte-stream, alignment=au"
                                     : "audio/mpeg, mpegversion=4, stream-format=adts");
      g_object_set(filter, "caps", out, nullptr);
    }
    chain.push_back(filter);
  }
  if (std::find(chain.begin(), chain.end(), nullptr) != chain.end()) {
    for (GstElement *e : chain)
      if (e)
        gst_object_unref(gst_object_ref_sink(e));
    return false;
  }
  for (GstElement *e : chain)
    gst_bin_add(GST_BIN(self), e);
  for (size_t i = 0; i + 1 < chain.size(); ++i)
    gst_element_link(chain[i], chain[i + 1]);
  GstElement *last = chain.back();
  {
    g_autoptr(GstPad) cut = gst_element_get_static_pad(video ? parse : last, "src");
    add_retimer(cut, self, video ? Part::Rest : Part::Audio);
  }
  if (video && reencode) {
    g_autoptr(GstPad) cut = gst_element_get_static_pad(last, "src");
    gst_pad_link(cut, p->concat_rest);
    last = p->video_out;
  }
  if (!video)
    gate_audio(p, src);
  if (live)
    last = add_clocksync(self, last);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    gst_element_sync_state_with_parent(*it);
  g_autoptr(GstPad) sink = gst_element_get_static_pad(chain.front(), "sink");
  gst_pad_link(src, sink);
  add_ghost(self, last, video);
  return true;
}

/* Keyframe-aligned: from the multiqueue's output SRC through a parser and
 * the trim probe; audio held at SRC until the first video frame. False if a
 * child is missing (reported). */
static bool link_aligned(SugarcastReplaySrc *self, GstPad *src, bool video, bool live)
{
  GstElement *parse = sugarcast::make_child(GST_ELEMENT(self), video ? "h264parse" : "aacparse",
                                            "(gstreamer1.0-plugins-bad / -good)");
  GstElement *filter = sugarcast::make_child(GST_ELEMENT(self), "capsfilter", "(GStreamer core)");
  if (!parse || !filter) {
    for (GstElement *e : {parse, filter})
      if (e)
        gst_object_unref(gst_object_ref_sink(e));
    return false;
  }
  g_autoptr(GstCaps) out =
      gst_caps_from_string(video ? "video/x-h264, stream-format=byte-stream, alignment=au"
                                 : "audio/mpeg, mpegversion=4, stream-format=adts");
  g_object_set(filter, "caps", out, nullptr);
  GstElement *last = filter;
  gst_bin_add_many(GST_BIN(self), parse, filter, nullptr);
  gst_element_link(parse, filter);
  {
    g_autoptr(GstPad) trimmed = gst_element_get_static_pad(filter, "src");
    gst_pad_add_probe(trimmed,
                      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER |
                                                   GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                      video ? SUGARCAST_GUARD(trim_probe<true>)
                            : SUGARCAST_GUARD(trim_probe<false>),
                      self, nullptr);
  }
  if (!video)
    gate_audio(self->priv, src);
  if (live)
    last = add_clocksync(self, filter);
  gst_element_sync_state_with_parent(filter);
  gst_element_sync_state_with_parent(parse);
  g_autoptr(GstPad) sink = gst_element_get_static_pad(parse, "sink");
  gst_pad_link(src, sink);
  add_ghost(self, last, video);
  return true;
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

/* Whether FACTORY is installed; if not, says so (a missing-element message an
 * application can act on, and an error naming it and its package). */
static bool have_element(SugarcastReplaySrc *self, const char *factory, const char *package,
                         gint64 start)
{
  g_autoptr(GstElementFactory) f = gst_element_factory_find(factory);
  if (f)
    return true;
  gst_element_post_message(GST_ELEMENT(self),
                           gst_missing_element_message_new(GST_ELEMENT(self), factory));
  GST_ELEMENT_ERROR(self, CORE, MISSING_PLUGIN,
                    ("replaysrc: frame-exact needs the %s element (%s) to re-encode the GOP "
                     "that start (%.3f s) falls in",
                     factory, package, start / 1e9),
                    ("install %s, or set frame-exact=false for a keyframe-aligned start", package));
  return false;
}

/* The re-encoded head: a second reader over the head GOP's bytes, decoded,
 * cut at start, encoded again, and joined with the untouched rest by concat
 * (its pad sink_0; the rest links to sink_1 when tsdemux shows it). */
static bool build_head(SugarcastReplaySrc *self, std::vector<Chunk> chunks, gint64 start)
{
  ReplayPrivate *p = self->priv;
  const struct
  {
    const char *factory, *package;
  } needed[] = {{"h264parse", "gstreamer1.0-plugins-bad"},
                {"avdec_h264", "gstreamer1.0-libav"},
                {"x264enc", "gstreamer1.0-plugins-ugly"},
                {"concat", "gstreamer1.0 core elements"}};
  for (const auto &n : needed)
    if (!have_element(self, n.factory, n.package, start))
      return false;
  /* The head gets SPS/PPS ids the source does not use (x264 numbers its PPS
   * like its SPS), and the source's sets go in front of its own: a parser
   * downstream that builds an avcC (MP4) then holds both before the first
   * frame, and the untouched rest decodes with it. */
  const auto source = parameter_sets_at(chunks.back().path, chunks.back().from);
  std::vector<uint8_t> annexb;
  bool used[32] = {};
  for (const auto *sets : {&source.sps, &source.pps})
    for (const auto &nal : *sets) {
      annexb.insert(annexb.end(), {0, 0, 0, 1});
      annexb.insert(annexb.end(), nal.begin(), nal.end());
      std::optional<int> id;
      if (sets == &source.sps) {
        if (auto info = sugarcast::abr::parse_sps(nal))
          id = info->id;
      } else {
        id = sugarcast::abr::pps_id(nal);
      }
      if (id && *id >= 0 && *id < 32)
        used[*id] = true;
    }
  int head_id = 1;
  while (head_id < 31 && used[head_id])
    ++head_id;
  GST_DEBUG_OBJECT(self, "source parameter sets: %zu bytes; the head's id is %d", annexb.size(),
                   head_id);
  GstElement *reader = GST_ELEMENT(g_object_new(SUGARCAST_TYPE_REPLAY_READER, nullptr));
  {
    ReaderPrivate *rp = SUGARCAST_REPLAY_READER(reader)->priv;
    std::lock_guard lk(rp->lock);
    rp->chunks = std::move(chunks);
    rp->size = rp->chunks.empty() ? 0 : rp->chunks.back().at + rp->chunks.back().size;
  }
  const char *why = "(to re-encode a frame-exact range's first GOP)";
  GstElement *el = GST_ELEMENT(self);
  GstElement *demux = sugarcast::make_child(el, "tsdemux", why);
  GstElement *parse_in = sugarcast::make_child(el, "h264parse", why);
  GstElement *decoder = sugarcast::make_child(el, "avdec_h264", why);
  GstElement *encoder = sugarcast::make_child(el, "x264enc", why);
  GstElement *encoded = sugarcast::make_child(el, "capsfilter", why);
  GstElement *parse_out = sugarcast::make_child(el, "h264parse", why);
  GstElement *concat = sugarcast::make_child(el, "concat", why);
  GstElement *out = sugarcast::make_child(el, "capsfilter", why);
  if (!demux || !parse_in || !decoder || !encoder || !encoded || !parse_out || !concat || !out) {
    for (GstElement *e :
         {reader, demux, parse_in, decoder, encoder, encoded, parse_out, concat, out})
      if (e)
        gst_object_unref(gst_object_ref_sink(e));
    return false;
  }
  gst_bin_add_many(GST_BIN(self), reader, demux, parse_in, decoder, encoder, encoded, parse_out,
                   concat, out, nullptr);
  /* The head is at most a GOP: near-transparent constant quality, in-band
   * SPS/PPS with its IDR frame first (x264enc starts with one), no B-frames. */
  g_autofree gchar *options = g_strdup_printf("sps-id=%d", head_id);
  g_object_set(encoder, "byte-stream", TRUE, "quantizer", 18u, "bframes", 0u, "option-string",
               options, nullptr);
  gst_util_set_object_arg(G_OBJECT(encoder), "pass", "qual");
  g_autoptr(GstCaps) au =
      gst_caps_from_string("video/x-h264, stream-format=byte-stream, alignment=au");
  g_object_set(encoded, "caps", au, nullptr);
  g_object_set(out, "caps", au, nullptr);
  /* The segments say where each part sits; concat must not move them. */
  g_object_set(concat, "adjust-base", FALSE, nullptr);
  gst_element_link(reader, demux);
  g_signal_connect(demux, "pad-added", G_CALLBACK(SUGARCAST_GUARD(on_head_demux_pad)), parse_in);
  gst_element_link_many(parse_in, decoder, encoder, encoded, parse_out, nullptr);
  g_autoptr(GstPad) head = gst_element_request_pad_simple(concat, "sink_%u");
  GstPad *rest = gst_element_request_pad_simple(concat, "sink_%u");
  {
    g_autoptr(GstPad) encoded_src = gst_element_get_static_pad(parse_out, "src");
    gst_pad_link(encoded_src, head);
    gst_pad_add_probe(encoded_src, GST_PAD_PROBE_TYPE_BUFFER, SUGARCAST_GUARD(head_params_probe),
                      self, nullptr);
  }
  gst_element_link(concat, out);
  {
    g_autoptr(GstPad) source = gst_element_get_static_pad(parse_in, "src");
    gst_pad_add_probe(source, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                      SUGARCAST_GUARD(source_caps_probe), self, nullptr);
    g_autoptr(GstPad) decoded = gst_element_get_static_pad(decoder, "src");
    add_retimer(decoded, self, Part::Head);
  }
  std::lock_guard lk(p->lock);
  p->encoded_caps = encoded;
  if (p->concat_rest)
    gst_object_unref(p->concat_rest);
  p->concat_rest = rest;
  p->video_out = out;
  p->source_parameter_sets = std::move(annexb);
  return true;
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
    p->gate_open = false;
    if (p->audio_gate)
      gst_object_unref(p->audio_gate);
    p->audio_gate = nullptr;
    p->audio_gate_probe = 0;
    p->source_parameter_sets.clear();
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
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !self->priv->demux) {
    sugarcast::report_missing(element, "tsdemux", "(gstreamer1.0-plugins-bad) to read recordings");
    return GST_STATE_CHANGE_FAILURE;
  }
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !self->priv->streams) {
    sugarcast::report_missing(element, "multiqueue", "(GStreamer core) to read recordings");
    return GST_STATE_CHANGE_FAILURE;
  }
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
