/* Sugarcast — clipfit. */
/**
 * SECTION:element-clipfit
 * @title: clipfit
 *
 * A bin for a clip's decoded video, `videorate ! videoscale ! capsfilter`,
 * whose output caps it chooses from each input caps: square pixels, the
 * shorter side at most #SugarcastClipFit:max-short-side with the aspect ratio kept
 * (portrait stays portrait, nothing is enlarged, both sides even), and a
 * constant frame rate: the input's when at most #SugarcastClipFit:max-framerate,
 * above it the input's divided by the smallest whole number that brings it
 * under (60 → 30, 50 → 25), and #SugarcastClipFit:max-framerate for variable-rate
 * input (declared as 0/1, or as an average whose denominator is neither 1
 * nor 1001).
 *
 * Input that already fits (its size and square pixels kept, a declared
 * constant rate kept) bypasses `videorate` and `videoscale`: the sink pad
 * then leads straight to the capsfilter. Not only to save their work:
 * `videorate` shares each frame's memory between the buffer it keeps and
 * the one it pushes, so the decoder's buffer pool discards every frame it
 * gets back ("memory not writable" under GST_PERFORMANCE) and allocates a
 * new 3.1 MB one per 1080p frame; bench/clip/elements measured the
 * difference (docs/benchmarks.md). The route is chosen again at every caps
 * event, so a clip that changes size mid-stream is scaled from there on.
 *
 * Why not caps on a plain `videoscale`: a caps filter cannot say "the
 * shorter side at most 1080" for both orientations, nor "this rate or its
 * half"; the size depends on the input, so the caps are set when the input
 * caps arrive, before `videorate` and `videoscale` negotiate with them.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=60 ! video/x-raw,width=3840,height=2160,framerate=60/1 !
 * clipfit ! fakesink -v
 * ]| scales to 1920x1080 at 30/1.
 */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "gstclipfit.h"

#include "capsquery.h"
#include "clipfit.h"

#include <gst/video/video.h>

#include <atomic>
#include <mutex>

using namespace sugarcast::clip;

GST_DEBUG_CATEGORY_STATIC(sugarcast_clip_fit_debug);
#define GST_CAT_DEFAULT sugarcast_clip_fit_debug

enum {
  PROP_0,
  PROP_MAX_SHORT_SIDE,
  PROP_MAX_FRAMERATE,
  PROP_SCALE_THREADS,
};

struct SugarcastClipFitPrivate
{
  std::mutex lock;
  FitLimits limits;
  /* The sink pad leads straight to the capsfilter. Changed in the streaming
   * thread on caps, read by queries from any thread. */
  std::atomic<bool> direct{false};
};

struct _SugarcastClipFit
{
  GstBin parent;
  GstElement *rate = nullptr;
  GstElement *scale = nullptr;
  GstElement *filter = nullptr;
  GstPad *sinkpad = nullptr; /* the ghost pad */
  SugarcastClipFitPrivate *priv = nullptr;
};

G_DEFINE_TYPE(SugarcastClipFit, sugarcast_clip_fit, GST_TYPE_BIN);
GST_ELEMENT_REGISTER_DEFINE(clipfit, "clipfit", GST_RANK_NONE, SUGARCAST_TYPE_CLIP_FIT);

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw"));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw"));

/* Points the sink pad at the capsfilter (DIRECT) or at videorate, which
 * leads through videoscale to it. Called on a caps event in the streaming
 * thread, before the event goes on: the pads it relinks carry no data then,
 * and the sticky events (stream-start, segment) follow the new link. */
static void sugarcast_clip_fit_route(SugarcastClipFit *self, bool direct)
{
  if (self->priv->direct == direct)
    return;
  g_autoptr(GstPad) rate_sink = gst_element_get_static_pad(self->rate, "sink");
  g_autoptr(GstPad) scale_src = gst_element_get_static_pad(self->scale, "src");
  g_autoptr(GstPad) filter_sink = gst_element_get_static_pad(self->filter, "sink");
  bool ok;
  if (direct) {
    gst_pad_unlink(scale_src, filter_sink);
    ok = gst_ghost_pad_set_target(GST_GHOST_PAD(self->sinkpad), filter_sink);
    /* Now cut off from both sides: a flush empties videorate, which would
     * otherwise keep the frame it holds back and its place in time, and
     * later fill the bypassed stretch with copies of that old frame (its
     * segment comes back unchanged, so it would not reset itself). The frame
     * it held is dropped: one frame at a mid-stream size change. */
    gst_pad_send_event(rate_sink, gst_event_new_flush_start());
    gst_pad_send_event(rate_sink, gst_event_new_flush_stop(TRUE));
  } else {
    ok = gst_ghost_pad_set_target(GST_GHOST_PAD(self->sinkpad), rate_sink) &&
         GST_PAD_LINK_SUCCESSFUL(gst_pad_link(scale_src, filter_sink));
  }
  if (!ok)
    GST_ERROR_OBJECT(self, "could not lead the sink pad %s",
                     direct ? "to the capsfilter" : "through videorate and videoscale");
  self->priv->direct = direct;
}

/* Caps queries on the sink pad while it leads to the capsfilter: answered
 * as videorate and videoscale would answer them (any size, pixel aspect
 * ratio and rate of what downstream takes), or the capsfilter, set for the
 * current input, would refuse a decoder's new size before clipfit sees the
 * caps event that routes it through the scaler again. */
static GstPadProbeReturn sugarcast_clip_fit_on_query(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *self = SUGARCAST_CLIP_FIT(data);
  GstQuery *query = GST_PAD_PROBE_INFO_QUERY(info);
  if (!self->priv->direct)
    return GST_PAD_PROBE_OK;
  if (GST_QUERY_TYPE(query) == GST_QUERY_ACCEPT_CAPS) {
    GstCaps *caps = nullptr;
    gst_query_parse_accept_caps(query, &caps);
    GstVideoInfo vinfo;
    gst_query_set_accept_caps_result(query, gst_video_info_from_caps(&vinfo, caps));
    return GST_PAD_PROBE_HANDLED;
  }
  if (GST_QUERY_TYPE(query) != GST_QUERY_CAPS)
    return GST_PAD_PROBE_OK;
  g_autoptr(GstPad) src = gst_element_get_static_pad(self->filter, "src");
  sugarcast::answer_caps_query_open(query, src,
                                    {"width", "height", "pixel-aspect-ratio", "framerate"});
  return GST_PAD_PROBE_HANDLED;
}

/* On the input caps, in the streaming thread, before they go on. */
static GstPadProbeReturn sugarcast_clip_fit_on_caps(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *self = SUGARCAST_CLIP_FIT(data);
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  GstCaps *caps = nullptr;
  gst_event_parse_caps(event, &caps);
  GstVideoInfo vinfo;
  if (!gst_video_info_from_caps(&vinfo, caps))
    return GST_PAD_PROBE_OK; /* videorate refuses it, with its own error */
  VideoShape in;
  in.width = GST_VIDEO_INFO_WIDTH(&vinfo);
  in.height = GST_VIDEO_INFO_HEIGHT(&vinfo);
  in.par_n = GST_VIDEO_INFO_PAR_N(&vinfo);
  in.par_d = GST_VIDEO_INFO_PAR_D(&vinfo);
  in.fps_n = GST_VIDEO_INFO_FPS_N(&vinfo);
  in.fps_d = GST_VIDEO_INFO_FPS_D(&vinfo);
  FitLimits limits;
  {
    std::lock_guard<std::mutex> guard(self->priv->lock);
    limits = self->priv->limits;
  }
  const VideoShape out = fit(in, limits);
  GST_INFO_OBJECT(self, "%dx%d (par %d/%d) at %d/%d fps becomes %dx%d at %d/%d", in.width,
                  in.height, in.par_n, in.par_d, in.fps_n, in.fps_d, out.width, out.height,
                  out.fps_n, out.fps_d);
  g_autoptr(GstCaps) filter =
      gst_caps_new_simple("video/x-raw", "width", G_TYPE_INT, out.width, "height", G_TYPE_INT,
                          out.height, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, "framerate",
                          GST_TYPE_FRACTION, out.fps_n, out.fps_d, nullptr);
  g_object_set(self->filter, "caps", filter, nullptr);
  const bool direct = unchanged(in, out);
  if (direct)
    GST_INFO_OBJECT(self, "the input fits: videorate and videoscale are bypassed");
  sugarcast_clip_fit_route(self, direct);
  return GST_PAD_PROBE_OK;
}

static void sugarcast_clip_fit_set_property(GObject *object, guint prop_id, const GValue *value,
                                            GParamSpec *pspec)
{
  auto *self = SUGARCAST_CLIP_FIT(object);
  std::lock_guard<std::mutex> guard(self->priv->lock);
  switch (prop_id) {
  case PROP_MAX_SHORT_SIDE:
    self->priv->limits.max_short_side = g_value_get_int(value);
    break;
  case PROP_MAX_FRAMERATE:
    self->priv->limits.max_framerate = g_value_get_int(value);
    break;
  case PROP_SCALE_THREADS:
    g_object_set_property(G_OBJECT(self->scale), "n-threads", value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_clip_fit_get_property(GObject *object, guint prop_id, GValue *value,
                                            GParamSpec *pspec)
{
  auto *self = SUGARCAST_CLIP_FIT(object);
  std::lock_guard<std::mutex> guard(self->priv->lock);
  switch (prop_id) {
  case PROP_MAX_SHORT_SIDE:
    g_value_set_int(value, self->priv->limits.max_short_side);
    break;
  case PROP_MAX_FRAMERATE:
    g_value_set_int(value, self->priv->limits.max_framerate);
    break;
  case PROP_SCALE_THREADS:
    g_object_get_property(G_OBJECT(self->scale), "n-threads", value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_clip_fit_finalize(GObject *object)
{
  auto *self = SUGARCAST_CLIP_FIT(object);
  delete self->priv;
  self->priv = nullptr;
  G_OBJECT_CLASS(sugarcast_clip_fit_parent_class)->finalize(object);
}

static void sugarcast_clip_fit_class_init(SugarcastClipFitClass *klass)
{
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_READY);
  const FitLimits defaults;

  gobject_class->set_property = SUGARCAST_GUARD(sugarcast_clip_fit_set_property);
  gobject_class->get_property = SUGARCAST_GUARD(sugarcast_clip_fit_get_property);
  gobject_class->finalize = SUGARCAST_GUARD(sugarcast_clip_fit_finalize);

  g_object_class_install_property(
      gobject_class, PROP_MAX_SHORT_SIDE,
      g_param_spec_int("max-short-side", "Maximum short side",
                       "Largest shorter side of the output in pixels; smaller input keeps its "
                       "size (0 = never scale)",
                       0, 16384, defaults.max_short_side, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_FRAMERATE,
      g_param_spec_int("max-framerate", "Maximum frame rate",
                       "Highest output frame rate, whole frames per second; faster input is "
                       "divided by a whole number, variable-rate input gets this rate",
                       1, 240, defaults.max_framerate, flags));
  g_object_class_install_property(
      gobject_class, PROP_SCALE_THREADS,
      g_param_spec_uint("scale-threads", "Scaling threads",
                        "Threads videoscale uses (its n-threads; 0 = one per core)", 0, G_MAXINT, 1,
                        flags));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "Clip fitter", "Filter/Converter/Video/Scaler",
      "Scales a clip's video so its shorter side is at most a limit (never enlarging) and "
      "gives it a constant frame rate at most a limit",
      "Sugarcast developers");
  GST_DEBUG_CATEGORY_INIT(sugarcast_clip_fit_debug, "clipfit", 0, "Sugarcast clip fitter");
}

static void sugarcast_clip_fit_init(SugarcastClipFit *self)
{
  self->priv = new SugarcastClipFitPrivate();
  self->rate = gst_element_factory_make("videorate", "rate");
  self->scale = gst_element_factory_make("videoscale", "scale");
  self->filter = gst_element_factory_make("capsfilter", "filter");
  if (!self->rate || !self->scale || !self->filter) {
    /* gst-plugins-base missing: the bin stays empty and fails to link. */
    GST_ERROR_OBJECT(self, "videorate, videoscale or capsfilter is missing");
    for (GstElement *e : {self->rate, self->scale, self->filter})
      if (e)
        gst_object_unref(gst_object_ref_sink(e));
    self->rate = self->scale = self->filter = nullptr;
    return;
  }
  /* After a bypass videorate starts afresh (see route()); without this it
   * would fill the time from the segment's start to its first new frame. */
  g_object_set(self->rate, "skip-to-first", TRUE, nullptr);
  gst_bin_add_many(GST_BIN(self), self->rate, self->scale, self->filter, nullptr);
  gst_element_link_many(self->rate, self->scale, self->filter, nullptr);

  g_autoptr(GstPad) rate_sink = gst_element_get_static_pad(self->rate, "sink");
  g_autoptr(GstPad) filter_src = gst_element_get_static_pad(self->filter, "src");
  g_autoptr(GstPadTemplate) sink_tmpl = gst_static_pad_template_get(&sink_template);
  g_autoptr(GstPadTemplate) src_tmpl = gst_static_pad_template_get(&src_template);
  GstPad *sink = gst_ghost_pad_new_from_template("sink", rate_sink, sink_tmpl);
  GstPad *src = gst_ghost_pad_new_from_template("src", filter_src, src_tmpl);
  gst_element_add_pad(GST_ELEMENT(self), sink);
  gst_element_add_pad(GST_ELEMENT(self), src);
  self->sinkpad = sink;
  gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                    SUGARCAST_GUARD(sugarcast_clip_fit_on_caps), self, nullptr);
  gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM,
                    SUGARCAST_GUARD(sugarcast_clip_fit_on_query), self, nullptr);
}
