/* Sugarcast — elements private to abrladder. See abrinternal.h. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "abrinternal.h"

#include "capsquery.h"
#include "core/downscale.h"
#include "gopend.h"
#include "streamrestart.h"

#include <gst/video/video.h>

#include <mutex>
#include <string>
#include <vector>

using namespace sugarcast::abr;

GST_DEBUG_CATEGORY_STATIC(abr_internal_debug);
#define GST_CAT_DEFAULT abr_internal_debug

namespace {

/* How long the decoded video waits for the publisher's stream to show
 * whether a frame was a keyframe. */
constexpr int64_t kFollowWait = 2 * GST_SECOND;

void ensure_debug_category()
{
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    GST_DEBUG_CATEGORY_INIT(abr_internal_debug, "abrladder-internal", 0,
                            "Sugarcast abrladder keyframe grid and decimation");
    g_once_init_leave(&once, 1);
  }
}

} // namespace

void sugarcast::abr::mark_gop_end(GstBuffer *buf, int64_t next_keyframe)
{
  if (next_keyframe >= 0)
    sugarcast_buffer_mark_gop_end(buf, static_cast<GstClockTime>(next_keyframe));
}

int64_t sugarcast::abr::gop_end_mark(GstBuffer *buf)
{
  const GstClockTime t = sugarcast_buffer_gop_end(buf);
  return GST_CLOCK_TIME_IS_VALID(t) ? static_cast<int64_t>(t) : kUnknown;
}

int64_t sugarcast::abr::signed_running_time(const GstSegment &segment, GstClockTime t)
{
  if (!GST_CLOCK_TIME_IS_VALID(t) || segment.format != GST_FORMAT_TIME)
    return kUnknown;
  guint64 rt = 0;
  const int sign = gst_segment_to_running_time_full(&segment, GST_FORMAT_TIME, t, &rt);
  if (sign == 0)
    return kUnknown;
  return sign > 0 ? static_cast<int64_t>(rt) : -static_cast<int64_t>(rt);
}

bool sugarcast::abr::is_restart_event(GstEvent *event)
{
  return sugarcast_event_is_stream_restart(event);
}

/* ---- SugarcastAbrGrid -------------------------------------------------- */

struct SugarcastAbrGridPrivate
{
  std::mutex lock; /* protects the configuration below */
  CapsCallback caps_callback;
  SourceTimeline *timeline = nullptr;
  GstClockTime gop = GST_SECOND;

  /* Streaming state. */
  KeyframeGrid grid;
  GstSegment segment;
  std::string stream_id;
  bool restart_pending = false;
  bool degraded = false;
  bool warned = false;
  guint count = 0;
};

struct _SugarcastAbrGrid
{
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;
  SugarcastAbrGridPrivate *priv;
};

G_DEFINE_TYPE(SugarcastAbrGrid, sugarcast_abr_grid, GST_TYPE_ELEMENT);

static GstStaticPadTemplate grid_sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw(ANY)"));
static GstStaticPadTemplate grid_src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw(ANY)"));

void sugarcast::abr::grid_set_caps_callback(SugarcastAbrGrid *grid, CapsCallback callback)
{
  std::lock_guard<std::mutex> guard(grid->priv->lock);
  grid->priv->caps_callback = std::move(callback);
}

void sugarcast::abr::grid_set_gop(SugarcastAbrGrid *grid, GstClockTime gop)
{
  std::lock_guard<std::mutex> guard(grid->priv->lock);
  grid->priv->gop = gop;
}

void sugarcast::abr::grid_follow(SugarcastAbrGrid *grid, SourceTimeline *timeline)
{
  std::lock_guard<std::mutex> guard(grid->priv->lock);
  grid->priv->timeline = timeline;
}

/* Whether the frame at RT is a keyframe; *ENDS_GOP: whether the next one
 * is (known only on the own grid). */
static bool grid_decide(SugarcastAbrGrid *self, int64_t rt, int64_t duration, bool *ends_gop)
{
  *ends_gop = false;
  SugarcastAbrGridPrivate *p = self->priv;
  SourceTimeline *timeline;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    timeline = p->timeline;
    p->grid.set_gop(static_cast<int64_t>(p->gop));
  }
  if (p->restart_pending) {
    p->restart_pending = false;
    p->grid.anchor_at(rt);
    return true;
  }
  if (!timeline) {
    const bool keyframe = p->grid.on_grid(rt, duration);
    *ends_gop = p->grid.ends_gop();
    return keyframe;
  }

  /* Following the publisher: its keyframes are ours. */
  int64_t tolerance = duration != kUnknown && duration > 0 ? duration / 2 : GST_MSECOND * 5;
  tolerance = std::min<int64_t>(tolerance, 20 * GST_MSECOND);
  auto answer = timeline->keyframe_at(rt, tolerance, p->degraded ? 0 : kFollowWait);
  switch (answer) {
  case SourceTimeline::Answer::Keyframe:
    p->degraded = false;
    p->grid.anchor_at(rt);
    return true;
  case SourceTimeline::Answer::NotKeyframe:
    p->degraded = false;
    return false;
  case SourceTimeline::Answer::Unknown:
    break;
  }
  if (!timeline->ended() && !p->degraded) {
    p->degraded = true;
    if (!p->warned) {
      p->warned = true;
      GST_ELEMENT_WARNING(
          GST_ELEMENT_PARENT(self) ? GST_ELEMENT_PARENT(self) : GST_ELEMENT(self), STREAM, FAILED,
          ("abrladder waited 2 s for the publisher's stream on passthrough_sink to "
           "reach a decoded frame; feed sink and passthrough_sink from separate "
           "threads (a queue on each tee branch). Using its own keyframe grid "
           "until the publisher's stream catches up."),
          ("no passthrough data up to running time %" GST_STIME_FORMAT, GST_STIME_ARGS(rt)));
    }
  }
  return p->grid.on_grid(rt, duration);
}

static GstFlowReturn grid_chain(GstPad *, GstObject *parent, GstBuffer *buf)
{
  auto *self = SUGARCAST_ABR_GRID(parent);
  SugarcastAbrGridPrivate *p = self->priv;
  const GstClockTime pts = GST_BUFFER_PTS(buf);
  const int64_t rt = signed_running_time(p->segment, pts);
  const int64_t duration =
      GST_BUFFER_DURATION_IS_VALID(buf) ? static_cast<int64_t>(GST_BUFFER_DURATION(buf)) : kUnknown;
  bool ends_gop = false;
  if (rt != kUnknown && grid_decide(self, rt, duration, &ends_gop)) {
    const GstClockTime stream_time = gst_segment_to_stream_time(&p->segment, GST_FORMAT_TIME, pts);
    GST_LOG_OBJECT(self, "keyframe at running time %" GST_STIME_FORMAT, GST_STIME_ARGS(rt));
    /* "Now" rather than a running time: GstVideoEncoder 1.22 compares a
     * given running time with its output segment, which x264enc shifts by
     * 1000 hours, and then ignores every request after the first. The event
     * is serialized right before this frame, so "now" is this frame. */
    gst_pad_push_event(self->srcpad, gst_video_event_new_downstream_force_key_unit(
                                         pts, stream_time, GST_CLOCK_TIME_NONE, TRUE, ++p->count));
  }
  if (ends_gop) {
    buf = gst_buffer_make_writable(buf);
    mark_gop_end(buf, rt + duration);
  }
  return gst_pad_push(self->srcpad, buf);
}

static gboolean grid_sink_event(GstPad *pad, GstObject *parent, GstEvent *event)
{
  auto *self = SUGARCAST_ABR_GRID(parent);
  SugarcastAbrGridPrivate *p = self->priv;
  switch (GST_EVENT_TYPE(event)) {
  case GST_EVENT_CAPS: {
    GstCaps *caps = nullptr;
    gst_event_parse_caps(event, &caps);
    CapsCallback callback;
    {
      std::lock_guard<std::mutex> guard(p->lock);
      callback = p->caps_callback;
    }
    if (callback && !callback(caps)) {
      gst_event_unref(event);
      return FALSE;
    }
    break;
  }
  case GST_EVENT_SEGMENT:
    gst_event_copy_segment(event, &p->segment);
    break;
  case GST_EVENT_STREAM_START: {
    const gchar *id = nullptr;
    gst_event_parse_stream_start(event, &id);
    const std::string stream_id = id ? id : "";
    if (!p->stream_id.empty() && stream_id != p->stream_id) {
      GST_INFO_OBJECT(self, "new stream %s: keyframe grid restarts", stream_id.c_str());
      p->restart_pending = true;
    }
    p->stream_id = stream_id;
    break;
  }
  case GST_EVENT_FLUSH_STOP:
    gst_segment_init(&p->segment, GST_FORMAT_TIME);
    p->grid.restart();
    break;
  case GST_EVENT_CUSTOM_DOWNSTREAM:
    if (is_restart_event(event)) {
      GST_INFO_OBJECT(self, "stream restart: keyframe at the next frame");
      p->restart_pending = true;
    }
    break;
  default:
    break;
  }
  return gst_pad_event_default(pad, parent, event);
}

static GstStateChangeReturn grid_change_state(GstElement *element, GstStateChange transition)
{
  auto *self = SUGARCAST_ABR_GRID(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    SugarcastAbrGridPrivate *p = self->priv;
    gst_segment_init(&p->segment, GST_FORMAT_TIME);
    p->grid.restart();
    p->stream_id.clear();
    p->restart_pending = false;
    p->degraded = false;
    p->warned = false;
    p->count = 0;
  }
  return GST_ELEMENT_CLASS(sugarcast_abr_grid_parent_class)->change_state(element, transition);
}

static void grid_finalize(GObject *object)
{
  delete SUGARCAST_ABR_GRID(object)->priv;
  G_OBJECT_CLASS(sugarcast_abr_grid_parent_class)->finalize(object);
}

static void sugarcast_abr_grid_class_init(SugarcastAbrGridClass *klass)
{
  ensure_debug_category();
  G_OBJECT_CLASS(klass)->finalize = grid_finalize;
  auto *element_class = GST_ELEMENT_CLASS(klass);
  element_class->change_state = SUGARCAST_GUARD(grid_change_state);
  gst_element_class_add_static_pad_template(element_class, &grid_sink_template);
  gst_element_class_add_static_pad_template(element_class, &grid_src_template);
  gst_element_class_set_static_metadata(element_class, "ABR keyframe grid", "Filter/Video",
                                        "Marks the frames every abrladder rung keyframes",
                                        "Sugarcast developers");
}

static void sugarcast_abr_grid_init(SugarcastAbrGrid *self)
{
  self->priv = new SugarcastAbrGridPrivate();
  gst_segment_init(&self->priv->segment, GST_FORMAT_TIME);
  self->sinkpad = gst_pad_new_from_static_template(&grid_sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, SUGARCAST_GUARD(grid_chain));
  gst_pad_set_event_function(self->sinkpad, SUGARCAST_GUARD(grid_sink_event));
  GST_PAD_SET_PROXY_CAPS(self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION(self->sinkpad);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);
  self->srcpad = gst_pad_new_from_static_template(&grid_src_template, "src");
  GST_PAD_SET_PROXY_CAPS(self->srcpad);
  GST_PAD_SET_PROXY_SCHEDULING(self->srcpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
}

/* ---- SugarcastAbrScale ------------------------------------------------- */

struct _SugarcastAbrScale
{
  GstVideoFilter parent;
  int width; /* what to produce; set before negotiation */
  int height;
  std::vector<uint8_t> *scratch;
  GstVideoConverter *converter; /* for ratios the fast path does not do */
};

G_DEFINE_TYPE(SugarcastAbrScale, sugarcast_abr_scale, GST_TYPE_VIDEO_FILTER);

static GstStaticPadTemplate i420_sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw, format=(string)I420"));
static GstStaticPadTemplate i420_src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw, format=(string)I420"));

void sugarcast::abr::scale_set_size(SugarcastAbrScale *scale, int width, int height)
{
  GST_OBJECT_LOCK(scale);
  scale->width = width;
  scale->height = height;
  GST_OBJECT_UNLOCK(scale);
}

static GstCaps *scale_transform_caps(GstBaseTransform *trans, GstPadDirection direction,
                                     GstCaps *caps, GstCaps *filter)
{
  auto *self = SUGARCAST_ABR_SCALE(trans);
  GST_OBJECT_LOCK(self);
  const int width = self->width, height = self->height;
  GST_OBJECT_UNLOCK(self);
  GstCaps *out = gst_caps_copy(caps);
  for (guint i = 0; i < gst_caps_get_size(out); ++i) {
    GstStructure *s = gst_caps_get_structure(out, i);
    if (direction == GST_PAD_SINK) {
      gst_structure_set(s, "width", G_TYPE_INT, width, "height", G_TYPE_INT, height,
                        "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, nullptr);
    } else {
      gst_structure_remove_fields(s, "width", "height", "pixel-aspect-ratio", nullptr);
    }
  }
  if (filter) {
    GstCaps *both = gst_caps_intersect_full(filter, out, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(out);
    out = both;
  }
  return out;
}

static gboolean scale_set_info(GstVideoFilter *filter, GstCaps *, GstVideoInfo *in_info, GstCaps *,
                               GstVideoInfo *out_info)
{
  auto *self = SUGARCAST_ABR_SCALE(filter);
  if (self->converter) {
    gst_video_converter_free(self->converter);
    self->converter = nullptr;
  }
  const int iw = GST_VIDEO_INFO_WIDTH(in_info), ih = GST_VIDEO_INFO_HEIGHT(in_info);
  const int ow = GST_VIDEO_INFO_WIDTH(out_info), oh = GST_VIDEO_INFO_HEIGHT(out_info);
  if (fast_scalable(iw, ih, ow, oh))
    return TRUE;
  GST_INFO_OBJECT(self, "%dx%d to %dx%d is not 2:1 or 3:2: using GstVideoConverter", iw, ih, ow,
                  oh);
  self->converter = gst_video_converter_new(
      in_info, out_info,
      gst_structure_new("options", GST_VIDEO_CONVERTER_OPT_RESAMPLER_METHOD,
                        GST_TYPE_VIDEO_RESAMPLER_METHOD, GST_VIDEO_RESAMPLER_METHOD_LINEAR,
                        GST_VIDEO_CONVERTER_OPT_DITHER_METHOD, GST_TYPE_VIDEO_DITHER_METHOD,
                        GST_VIDEO_DITHER_NONE, nullptr));
  return self->converter != nullptr;
}

static GstFlowReturn scale_transform_frame(GstVideoFilter *filter, GstVideoFrame *in,
                                           GstVideoFrame *out)
{
  auto *self = SUGARCAST_ABR_SCALE(filter);
  if (self->converter) {
    gst_video_converter_frame(self->converter, in, out);
    return GST_FLOW_OK;
  }
  for (guint plane = 0; plane < 3; ++plane) {
    downscale_plane(static_cast<const uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(in, plane)),
                    GST_VIDEO_FRAME_PLANE_STRIDE(in, plane), GST_VIDEO_FRAME_COMP_WIDTH(in, plane),
                    GST_VIDEO_FRAME_COMP_HEIGHT(in, plane),
                    static_cast<uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(out, plane)),
                    GST_VIDEO_FRAME_PLANE_STRIDE(out, plane),
                    GST_VIDEO_FRAME_COMP_WIDTH(out, plane), GST_VIDEO_FRAME_COMP_HEIGHT(out, plane),
                    *self->scratch);
  }
  return GST_FLOW_OK;
}

static void scale_finalize(GObject *object)
{
  auto *self = SUGARCAST_ABR_SCALE(object);
  if (self->converter)
    gst_video_converter_free(self->converter);
  delete self->scratch;
  G_OBJECT_CLASS(sugarcast_abr_scale_parent_class)->finalize(object);
}

static void sugarcast_abr_scale_class_init(SugarcastAbrScaleClass *klass)
{
  ensure_debug_category();
  G_OBJECT_CLASS(klass)->finalize = scale_finalize;
  auto *element_class = GST_ELEMENT_CLASS(klass);
  gst_element_class_add_static_pad_template(element_class, &i420_sink_template);
  gst_element_class_add_static_pad_template(element_class, &i420_src_template);
  gst_element_class_set_static_metadata(element_class, "ABR downscaler", "Filter/Video",
                                        "Downscales I420 by 2:1 or 3:2 with an area filter",
                                        "Sugarcast developers");
  GST_BASE_TRANSFORM_CLASS(klass)->transform_caps = scale_transform_caps;
  GST_VIDEO_FILTER_CLASS(klass)->transform_frame = scale_transform_frame;
  GST_VIDEO_FILTER_CLASS(klass)->set_info = scale_set_info;
}

static void sugarcast_abr_scale_init(SugarcastAbrScale *self)
{
  self->scratch = new std::vector<uint8_t>();
}

/* ---- SugarcastAbrDecimate ---------------------------------------------- */

struct SugarcastAbrDecimatePrivate
{
  std::mutex lock;
  int factor = 1;
  int max_fps = 0;

  GstSegment segment;
  guint64 counter = 0;
  bool keep_next = false;
  int64_t last_kept = kUnknown;
};

struct _SugarcastAbrDecimate
{
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;
  SugarcastAbrDecimatePrivate *priv;
};

G_DEFINE_TYPE(SugarcastAbrDecimate, sugarcast_abr_decimate, GST_TYPE_ELEMENT);

void sugarcast::abr::decimate_configure(SugarcastAbrDecimate *decimate, int factor, int max_fps)
{
  std::lock_guard<std::mutex> guard(decimate->priv->lock);
  decimate->priv->factor = std::max(1, factor);
  decimate->priv->max_fps = max_fps;
}

static gboolean decimate_query(GstPad *pad, GstObject *parent, GstQuery *query)
{
  auto *self = SUGARCAST_ABR_DECIMATE(parent);
  if (GST_QUERY_TYPE(query) != GST_QUERY_CAPS)
    return gst_pad_query_default(pad, parent, query);
  GstPad *other = pad == self->sinkpad ? self->srcpad : self->sinkpad;
  sugarcast::answer_caps_query_open(query, other, {"framerate"});
  return TRUE;
}

static gboolean decimate_sink_event(GstPad *pad, GstObject *parent, GstEvent *event)
{
  auto *self = SUGARCAST_ABR_DECIMATE(parent);
  SugarcastAbrDecimatePrivate *p = self->priv;
  switch (GST_EVENT_TYPE(event)) {
  case GST_EVENT_CAPS: {
    GstCaps *caps = nullptr;
    gst_event_parse_caps(event, &caps);
    int factor;
    {
      std::lock_guard<std::mutex> guard(p->lock);
      factor = p->factor;
    }
    GstCaps *out = gst_caps_copy(caps);
    GstStructure *s = gst_caps_get_structure(out, 0);
    int n = 0, d = 1;
    if (gst_structure_get_fraction(s, "framerate", &n, &d) && n > 0)
      gst_structure_set(s, "framerate", GST_TYPE_FRACTION, n, d * factor, nullptr);
    gst_event_unref(event);
    gboolean ok = gst_pad_push_event(self->srcpad, gst_event_new_caps(out));
    gst_caps_unref(out);
    return ok;
  }
  case GST_EVENT_SEGMENT:
    gst_event_copy_segment(event, &p->segment);
    break;
  case GST_EVENT_CUSTOM_DOWNSTREAM:
    if (gst_video_event_is_force_key_unit(event)) {
      /* The next frame is on the keyframe grid: keep it, count from it. */
      p->keep_next = true;
    }
    break;
  case GST_EVENT_FLUSH_STOP:
    p->counter = 0;
    p->last_kept = kUnknown;
    break;
  default:
    break;
  }
  return gst_pad_event_default(pad, parent, event);
}

static GstFlowReturn decimate_chain(GstPad *, GstObject *parent, GstBuffer *buf)
{
  auto *self = SUGARCAST_ABR_DECIMATE(parent);
  SugarcastAbrDecimatePrivate *p = self->priv;
  int factor, max_fps;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    factor = p->factor;
    max_fps = p->max_fps;
  }
  bool keep;
  const int64_t rt = signed_running_time(p->segment, GST_BUFFER_PTS(buf));
  if (p->keep_next) {
    keep = true;
    p->counter = 0;
  } else if (factor > 1) {
    keep = p->counter % static_cast<guint64>(factor) == 0;
  } else if (max_fps > 0 && rt != kUnknown && p->last_kept != kUnknown) {
    /* Unknown input rate: at most max_fps frames a second. */
    keep = rt - p->last_kept >= GST_SECOND / max_fps - GST_MSECOND;
  } else {
    keep = true;
  }
  p->keep_next = false;
  p->counter++;
  if (!keep) {
    gst_buffer_unref(buf);
    return GST_FLOW_OK;
  }
  p->last_kept = rt;
  if (factor > 1 && GST_BUFFER_DURATION_IS_VALID(buf)) {
    buf = gst_buffer_make_writable(buf);
    GST_BUFFER_DURATION(buf) *= static_cast<guint64>(factor);
  }
  return gst_pad_push(self->srcpad, buf);
}

static GstStateChangeReturn decimate_change_state(GstElement *element, GstStateChange transition)
{
  auto *self = SUGARCAST_ABR_DECIMATE(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    gst_segment_init(&self->priv->segment, GST_FORMAT_TIME);
    self->priv->counter = 0;
    self->priv->keep_next = false;
    self->priv->last_kept = kUnknown;
  }
  return GST_ELEMENT_CLASS(sugarcast_abr_decimate_parent_class)->change_state(element, transition);
}

static void decimate_finalize(GObject *object)
{
  delete SUGARCAST_ABR_DECIMATE(object)->priv;
  G_OBJECT_CLASS(sugarcast_abr_decimate_parent_class)->finalize(object);
}

static void sugarcast_abr_decimate_class_init(SugarcastAbrDecimateClass *klass)
{
  ensure_debug_category();
  G_OBJECT_CLASS(klass)->finalize = decimate_finalize;
  auto *element_class = GST_ELEMENT_CLASS(klass);
  element_class->change_state = SUGARCAST_GUARD(decimate_change_state);
  gst_element_class_add_static_pad_template(element_class, &grid_sink_template);
  gst_element_class_add_static_pad_template(element_class, &grid_src_template);
  gst_element_class_set_static_metadata(element_class, "ABR frame-rate limit", "Filter/Video",
                                        "Keeps one frame in N, always keeping grid keyframes",
                                        "Sugarcast developers");
}

static void sugarcast_abr_decimate_init(SugarcastAbrDecimate *self)
{
  self->priv = new SugarcastAbrDecimatePrivate();
  gst_segment_init(&self->priv->segment, GST_FORMAT_TIME);
  self->sinkpad = gst_pad_new_from_static_template(&grid_sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, SUGARCAST_GUARD(decimate_chain));
  gst_pad_set_event_function(self->sinkpad, SUGARCAST_GUARD(decimate_sink_event));
  gst_pad_set_query_function(self->sinkpad, SUGARCAST_GUARD(decimate_query));
  GST_PAD_SET_PROXY_ALLOCATION(self->sinkpad);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);
  self->srcpad = gst_pad_new_from_static_template(&grid_src_template, "src");
  gst_pad_set_query_function(self->srcpad, SUGARCAST_GUARD(decimate_query));
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
}
