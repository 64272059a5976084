/* Sugarcast — replaysrc's keyframe-aligned ranges (the trim probe: the
 * first video frame sets the range's base, frames from stop on are dropped)
 * and the audio gate both kinds of range hold audio at until then. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "replaysrc-private.h"

#include "makechild.h"

void open_audio_gate(ReplayPrivate *p)
{
  /* With the lock held. */
  p->gate_open = true;
  if (p->audio_gate && p->audio_gate_probe)
    gst_pad_remove_probe(p->audio_gate, p->audio_gate_probe);
  p->audio_gate_probe = 0;
}

namespace {

/* Whether an AAC frame OFFSET ns from the range's first video frame is of
 * the range (lock held). */
bool audio_in_range(const ReplayPrivate *p, gint64 offset)
{
  return offset >= 0 && offset <= p->span + kPlausible;
}

} // namespace

/* An AAC frame without a timestamp out of the parser: tsdemux's timeline
 * starts at the first PCR after the range's first keyframe, and the AAC
 * frames muxed after that keyframe whose PTS lies before it (audio that
 * reached the recorder late, e.g. a publisher's audio sync offset) come out
 * with none; aacparse has no earlier timestamp to give them one from. They
 * are before the range. Passed on, a muxer either fails ("Buffer has no
 * PTS": mp4mux) or places them before the first video frame (mpegtsmux). */
GstPadProbeReturn drop_untimed_audio(gpointer element)
{
  GST_LOG_OBJECT(element, "dropping an AAC frame without a timestamp: from before the range");
  return GST_PAD_PROBE_DROP;
}

/* Keyframe-aligned ranges: the first video frame sets the range's base and
 * opens the audio gate; AAC frames before it (muxed before the range's
 * first keyframe, with earlier timestamps) or implausibly far after it are
 * dropped, so audio begins with video; and the range ends at `stop` (to the
 * frame) rather than at the next keyframe: cutting the end needs no
 * keyframe. With B-frames the video ends up to the stream's reorder delay
 * before `stop` (see below). */
template <bool video>
GstPadProbeReturn trim_probe(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(data)->priv;
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    const GstEventType type = GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info));
    if (video && type == GST_EVENT_EOS) {
      /* A video stream that ends without a frame has no base to wait for. */
      std::lock_guard lk(p->lock);
      open_audio_gate(p);
    } else if (video && type == GST_EVENT_SEGMENT) {
      /* A new run of frames (the start, or after a flushing seek). */
      std::lock_guard lk(p->lock);
      p->video_ended = false;
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  const GstClockTime pts = GST_BUFFER_PTS(buf);
  if (!GST_CLOCK_TIME_IS_VALID(pts))
    return video ? GST_PAD_PROBE_OK : drop_untimed_audio(data);
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
  if (p->trim < 0)
    return GST_PAD_PROBE_OK;
  if (!video)
    return offset >= p->trim ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
  /* Video ends at the first frame from stop on in decode order: with
   * B-frames, the frames decoded after it that show before stop refer to
   * it, and would not decode without it. */
  if (offset >= p->trim)
    p->video_ended = true;
  return p->video_ended ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

static GstPadProbeReturn audio_gate_probe(GstPad *, GstPadProbeInfo *, gpointer)
{
  return GST_PAD_PROBE_OK; /* blocks (GST_PAD_PROBE_TYPE_BLOCK) until removed */
}

/* Holds the audio that leaves the multiqueue at SRC until the first video
 * frame has set the range's base (open_audio_gate). */
void gate_audio(ReplayPrivate *p, GstPad *src)
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

/* Keyframe-aligned: from the multiqueue's output SRC through a parser and
 * the trim probe; audio held at SRC until the first video frame. False if a
 * child is missing (reported). */
bool link_aligned(SugarcastReplaySrc *self, GstPad *src, bool video, bool live)
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
