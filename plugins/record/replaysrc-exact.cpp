/* Sugarcast — a frame-exact cut's timeline in replaysrc: the probes that
 * drop what is before start (or from stop on) and give each part a segment
 * whose running time 0 is start, and the branches of a frame-exact range. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "replaysrc-private.h"

#include "makechild.h"

#include <algorithm>

/* ---- frame-exact cuts ---- */

namespace {

struct Retimer
{
  SugarcastReplaySrc *self;
  Part part;
  GstSegment upstream{};
  bool have_upstream = false;
  bool sent = false;
  bool pushing = false; /* our own segment is going through the probe */
  /* A frame from stop on has passed (the rest: decode order); what follows
   * is dropped too, until the next segment. */
  bool ended = false;
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
      r->ended = false;
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
  if (r->ended)
    return GST_PAD_PROBE_DROP;
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
  if (GST_CLOCK_TIME_IS_VALID(stop_pts) && pts + kSlack >= stop_pts) {
    /* The rest comes in decode order: with B-frames, the frames after this
     * one that show before stop refer to it, and would not decode without
     * it (the head's decoded frames come in display order). */
    r->ended = true;
    return GST_PAD_PROBE_DROP;
  }
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
    return drop_untimed_audio(r->self);
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

static void retimer_free(gpointer data)
{
  delete static_cast<Retimer *>(data);
}

void add_retimer(GstPad *pad, SugarcastReplaySrc *self, Part part)
{
  auto *r = new Retimer{self, part};
  gst_pad_add_probe(
      pad,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      part == Part::Audio ? SUGARCAST_GUARD(audio_cut_probe) : SUGARCAST_GUARD(video_cut_probe), r,
      SUGARCAST_GUARD(retimer_free));
}

/* Frame-exact: video from the multiqueue's output SRC through a parser to
 * the cut probe (and to concat, after the re-encoded head); audio held at
 * SRC until the video's first frame has placed start on tsdemux's
 * timeline. False if a child is missing (reported). */
bool link_exact(SugarcastReplaySrc *self, GstPad *src, bool video, bool live, bool reencode)
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
