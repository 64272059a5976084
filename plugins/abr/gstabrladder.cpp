/* Sugarcast — abrladder. */
/**
 * SECTION:element-abrladder
 * @title: abrladder
 *
 * A bin that encodes one raw video into an adaptive-bitrate ladder: one
 * encoded rendition per rung on `src_%u` (H.264 byte-stream access units from
 * x264enc, or VP9 from vp9enc), ready for hlsabrsink or any muxer.
 *
 * - #SugarcastAbrLadder:ladder lists the rungs, e.g. `1080p:5000,720p:2800,480p:1400,360p:800`
 *   (short side in pixels, kb/s, optional maximum frame rate `360p:800:30`).
 *   Rungs taller than the source are dropped (never upscaled); the aspect
 *   ratio is kept with even sizes; portrait sources are laddered by their
 *   width. The source pads appear when the input caps are known, `src_0`
 *   being the largest; an `abrladder-rungs` element message lists them.
 * - One keyframe grid: every rung keyframes the same frames, every
 *   #SugarcastAbrLadder:gop-duration of running time and nowhere else (no
 *   scene-cut keyframes, upstream key-unit requests are ignored), so segment
 *   N of every variant covers the same time.
 * - Work is done once: one colour conversion (to I420, none when the input is
 *   I420), each rung scaled from the next larger one, encoder threads shared
 *   over the machine's cores in proportion to each rung's pixel rate.
 * - A `source` rung passes the publisher's own H.264 through: request the
 *   `passthrough_sink` pad and feed it the encoded stream the raw video was
 *   decoded from; it comes out on `src_0` untouched (parsed to byte-stream
 *   access units with parameter sets at every keyframe), and the encoded
 *   rungs keyframe exactly where the publisher did.
 * - Custom downstream events (`sugarcast-stream-restart`, `sugarcast-daterange`,
 *   any other) reach every rung in stream order. A restart (or a new
 *   stream-start) makes the next frame a keyframe and the grid starts again
 *   from it.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -e videotestsrc num-buffers=300 ! video/x-raw,width=1280,height=720,framerate=30/1
 * ! abrladder name=l ladder=720p:2800,480p:1400,360p:800 preset=ultrafast l.src_0 ! queue !
 * hls.video_0  l.src_1 ! queue ! hls.video_1  l.src_2 ! queue ! hls.video_2 hlsabrsink name=hls
 * location=/tmp/hls playlist-type=vod
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "gstabrladder.h"
#include "guard.h"

#include "abrinternal.h"
#include "abrladder-private.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

using namespace sugarcast::abr;
using namespace sugarcast::abr::abrladder;

GST_DEBUG_CATEGORY(sugarcast_abr_ladder_debug);
#define GST_CAT_DEFAULT sugarcast_abr_ladder_debug

enum {
  PROP_0,
  PROP_LADDER,
  PROP_CODEC,
  PROP_GOP_DURATION,
  PROP_PRESET,
  PROP_TUNE,
  PROP_VBV_BUFFER,
  PROP_THREADS,
  PROP_ENCODER_OPTIONS,
};

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-raw"));
static GstStaticPadTemplate passthrough_template = GST_STATIC_PAD_TEMPLATE(
    "passthrough_sink", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("video/x-h264"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("video/x-h264, stream-format=(string)byte-stream, alignment=(string)au; "
                    "video/x-vp9"));

G_DEFINE_TYPE(SugarcastAbrLadder, sugarcast_abr_ladder, GST_TYPE_BIN);
GST_ELEMENT_REGISTER_DEFINE(abrladder, "abrladder", GST_RANK_NONE, SUGARCAST_TYPE_ABR_LADDER);

GType sugarcast_abr_ladder_codec_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {SUGARCAST_ABR_LADDER_CODEC_H264, "H.264 with x264enc (MPEG-TS or fMP4 segments)", "h264"},
      {SUGARCAST_ABR_LADDER_CODEC_VP9, "VP9 with vp9enc (fMP4 segments)", "vp9"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("SugarcastAbrLadderCodec", values));
  return type;
}

GType sugarcast_abr_ladder_preset_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {SUGARCAST_ABR_LADDER_PRESET_ULTRAFAST, "x264 ultrafast (VP9 cpu-used 8)", "ultrafast"},
      {SUGARCAST_ABR_LADDER_PRESET_SUPERFAST, "x264 superfast (VP9 cpu-used 7)", "superfast"},
      {SUGARCAST_ABR_LADDER_PRESET_VERYFAST, "x264 veryfast (VP9 cpu-used 6)", "veryfast"},
      {SUGARCAST_ABR_LADDER_PRESET_FASTER, "x264 faster (VP9 cpu-used 5)", "faster"},
      {SUGARCAST_ABR_LADDER_PRESET_FAST, "x264 fast (VP9 cpu-used 4)", "fast"},
      {SUGARCAST_ABR_LADDER_PRESET_MEDIUM, "x264 medium (VP9 cpu-used 3)", "medium"},
      {SUGARCAST_ABR_LADDER_PRESET_SLOW, "x264 slow (VP9 cpu-used 2)", "slow"},
      {SUGARCAST_ABR_LADDER_PRESET_SLOWER, "x264 slower (VP9 cpu-used 1)", "slower"},
      {SUGARCAST_ABR_LADDER_PRESET_VERYSLOW, "x264 veryslow (VP9 cpu-used 0)", "veryslow"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("SugarcastAbrLadderPreset", values));
  return type;
}
/* ---- the publisher's stream -------------------------------------------- */

static GstPadProbeReturn watch_passthrough(GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = SUGARCAST_ABR_LADDER(user_data);
  SugarcastAbrLadderPrivate *p = self->priv;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
    p->timeline.add(signed_running_time(p->passthrough_segment, GST_BUFFER_PTS(buf)),
                    signed_running_time(p->passthrough_segment, GST_BUFFER_DTS(buf)),
                    !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT));
    return GST_PAD_PROBE_OK;
  }
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
  switch (GST_EVENT_TYPE(event)) {
  case GST_EVENT_SEGMENT:
    gst_event_copy_segment(event, &p->passthrough_segment);
    break;
  case GST_EVENT_EOS:
    p->timeline.end();
    break;
  case GST_EVENT_FLUSH_STOP:
    p->timeline.reset();
    break;
  case GST_EVENT_CUSTOM_DOWNSTREAM:
    if (is_restart_event(event))
      p->timeline.reset();
    break;
  default:
    break;
  }
  return GST_PAD_PROBE_OK;
}

static GstPad *sugarcast_abr_ladder_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                                    const gchar *, const GstCaps *)
{
  auto *self = SUGARCAST_ABR_LADDER(element);
  SugarcastAbrLadderPrivate *p = self->priv;
  if (templ !=
      gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(element), "passthrough_sink"))
    return nullptr;
  std::unique_lock<std::mutex> guard(p->lock);
  if (p->passthrough_pad) {
    GST_WARNING_OBJECT(self, "passthrough_sink was already requested");
    return nullptr;
  }
  if (p->built) {
    GST_WARNING_OBJECT(self, "passthrough_sink must be requested before the video starts");
    return nullptr;
  }
  std::string error;
  auto specs = parse_ladder(p->settings.ladder_text, error);
  if (!specs || std::none_of(specs->begin(), specs->end(), [](auto &r) { return r.source; })) {
    guard.unlock();
    GST_ELEMENT_WARNING(self, RESOURCE, SETTINGS,
                        ("abrladder's passthrough_sink needs a 'source' rung in its ladder "
                         "(for example ladder=source,720p:2800,360p:800); ladder is \"%s\"",
                         p->settings.ladder_text.c_str()),
                        (nullptr));
    return nullptr;
  }
  guard.unlock();

  GstElement *parse =
      make_element(self, "h264parse", "(gstreamer1.0-plugins-bad) for a source rung");
  GstElement *caps_filter = make_element(self, "capsfilter", "(GStreamer core)");
  if (!parse || !caps_filter) {
    if (parse)
      gst_object_unref(parse);
    if (caps_filter)
      gst_object_unref(caps_filter);
    return nullptr;
  }
  g_object_set(parse, "config-interval", -1, nullptr);
  GstCaps *c = gst_caps_from_string("video/x-h264,stream-format=byte-stream,alignment=au");
  g_object_set(caps_filter, "caps", c, nullptr);
  gst_caps_unref(c);
  gst_bin_add_many(GST_BIN(self), parse, caps_filter, nullptr);
  gst_element_link(parse, caps_filter);

  GstPad *parse_sink = gst_element_get_static_pad(parse, "sink");
  GstPad *sink = gst_ghost_pad_new_from_template("passthrough_sink", parse_sink, templ);
  gst_object_unref(parse_sink);
  GstPad *parse_src = gst_element_get_static_pad(parse, "src");
  gst_pad_add_probe(
      parse_src,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      SUGARCAST_GUARD(watch_passthrough), self, nullptr);
  gst_object_unref(parse_src);
  GstPad *out = gst_element_get_static_pad(caps_filter, "src");
  gst_pad_add_probe(out, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, SUGARCAST_GUARD(drop_key_unit_requests),
                    nullptr, nullptr);
  GstPad *src = gst_ghost_pad_new_from_template(
      "src_0", out, gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(element), "src_%u"));
  gst_object_unref(out);

  {
    std::lock_guard<std::mutex> g(p->lock);
    p->passthrough_pad = sink;
    p->passthrough_src = src;
    p->passthrough_elements = {parse, caps_filter};
    gst_segment_init(&p->passthrough_segment, GST_FORMAT_TIME);
    p->timeline.reset();
  }
  grid_follow(SUGARCAST_ABR_GRID(p->grid), &p->timeline);
  gst_element_sync_state_with_parent(caps_filter);
  gst_element_sync_state_with_parent(parse);
  gst_pad_set_active(sink, TRUE);
  gst_pad_set_active(src, TRUE);
  gst_element_add_pad(element, src);
  gst_element_add_pad(element, sink);
  return sink;
}

static void sugarcast_abr_ladder_release_pad(GstElement *element, GstPad *pad)
{
  auto *self = SUGARCAST_ABR_LADDER(element);
  SugarcastAbrLadderPrivate *p = self->priv;
  std::vector<GstElement *> elements;
  GstPad *src = nullptr;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    if (pad != p->passthrough_pad)
      return;
    elements.swap(p->passthrough_elements);
    src = p->passthrough_src;
    p->passthrough_pad = nullptr;
    p->passthrough_src = nullptr;
  }
  grid_follow(SUGARCAST_ABR_GRID(p->grid), nullptr);
  p->timeline.end();
  gst_element_remove_pad(element, pad);
  if (src)
    gst_element_remove_pad(element, src);
  /* At dispose the bin has let go of its children already. */
  for (GstElement *e : elements) {
    if (GST_OBJECT_PARENT(e) != GST_OBJECT(self))
      continue;
    gst_element_set_state(e, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(self), e);
  }
}

/* ---- GObject ------------------------------------------------------------ */

static GstStateChangeReturn sugarcast_abr_ladder_change_state(GstElement *element,
                                                              GstStateChange transition)
{
  auto *self = SUGARCAST_ABR_LADDER(element);
  SugarcastAbrLadderPrivate *p = self->priv;
  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    if (p->missing) {
      report_missing(element, p->missing, "(GStreamer core or -base)");
      return GST_STATE_CHANGE_FAILURE;
    }
    std::unique_lock<std::mutex> guard(p->lock);
    std::string error;
    auto specs = parse_ladder(p->settings.ladder_text, error);
    if (!specs) {
      const std::string text = p->settings.ladder_text;
      guard.unlock();
      GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                        ("Invalid abrladder ladder \"%s\": %s", text.c_str(), error.c_str()),
                        (nullptr));
      return GST_STATE_CHANGE_FAILURE;
    }
    p->specs = *specs;
    const GstClockTime gop = p->settings.gop;
    guard.unlock();
    grid_set_gop(SUGARCAST_ABR_GRID(p->grid), gop);
  }
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    /* Wake the decoded video if it waits for the publisher's stream. */
    p->timeline.end();
  } else if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    p->timeline.reset();
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(sugarcast_abr_ladder_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    teardown_rungs(self);
  return ret;
}

static void sugarcast_abr_ladder_set_property(GObject *object, guint prop_id, const GValue *value,
                                              GParamSpec *pspec)
{
  auto *self = SUGARCAST_ABR_LADDER(object);
  std::lock_guard<std::mutex> guard(self->priv->lock);
  Settings &s = self->priv->settings;
  switch (prop_id) {
  case PROP_LADDER: {
    const gchar *text = g_value_get_string(value);
    s.ladder_text = text ? text : DEFAULT_LADDER;
    break;
  }
  case PROP_CODEC:
    s.codec = static_cast<SugarcastAbrLadderCodec>(g_value_get_enum(value));
    break;
  case PROP_GOP_DURATION:
    s.gop = g_value_get_uint64(value);
    break;
  case PROP_PRESET:
    s.preset = static_cast<SugarcastAbrLadderPreset>(g_value_get_enum(value));
    break;
  case PROP_TUNE: {
    const gchar *text = g_value_get_string(value);
    s.tune = text ? text : "";
    break;
  }
  case PROP_VBV_BUFFER:
    s.vbv_buffer = g_value_get_uint(value);
    break;
  case PROP_THREADS:
    s.threads = g_value_get_uint(value);
    break;
  case PROP_ENCODER_OPTIONS: {
    const gchar *text = g_value_get_string(value);
    s.encoder_options = text ? text : "";
    break;
  }
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_abr_ladder_get_property(GObject *object, guint prop_id, GValue *value,
                                              GParamSpec *pspec)
{
  auto *self = SUGARCAST_ABR_LADDER(object);
  std::lock_guard<std::mutex> guard(self->priv->lock);
  const Settings &s = self->priv->settings;
  switch (prop_id) {
  case PROP_LADDER:
    g_value_set_string(value, s.ladder_text.c_str());
    break;
  case PROP_CODEC:
    g_value_set_enum(value, s.codec);
    break;
  case PROP_GOP_DURATION:
    g_value_set_uint64(value, s.gop);
    break;
  case PROP_PRESET:
    g_value_set_enum(value, s.preset);
    break;
  case PROP_TUNE:
    g_value_set_string(value, s.tune.c_str());
    break;
  case PROP_VBV_BUFFER:
    g_value_set_uint(value, s.vbv_buffer);
    break;
  case PROP_THREADS:
    g_value_set_uint(value, s.threads);
    break;
  case PROP_ENCODER_OPTIONS:
    g_value_set_string(value, s.encoder_options.c_str());
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_abr_ladder_finalize(GObject *object)
{
  auto *self = SUGARCAST_ABR_LADDER(object);
  gst_object_unref(self->priv->grid);
  delete self->priv;
  G_OBJECT_CLASS(sugarcast_abr_ladder_parent_class)->finalize(object);
}

static void sugarcast_abr_ladder_class_init(SugarcastAbrLadderClass *klass)
{
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_READY);

  gobject_class->set_property = SUGARCAST_GUARD(sugarcast_abr_ladder_set_property);
  gobject_class->get_property = SUGARCAST_GUARD(sugarcast_abr_ladder_get_property);
  gobject_class->finalize = SUGARCAST_GUARD(sugarcast_abr_ladder_finalize);

  g_object_class_install_property(
      gobject_class, PROP_LADDER,
      g_param_spec_string("ladder", "Ladder",
                          "Comma-separated rungs: HEIGHTp:KBPS[:MAXFPS] (short side in pixels, "
                          "kb/s, optional frame-rate cap) or source[:KBPS] for the publisher's "
                          "stream on passthrough_sink",
                          DEFAULT_LADDER, flags));
  g_object_class_install_property(
      gobject_class, PROP_CODEC,
      g_param_spec_enum("codec", "Codec", "Video codec of the encoded rungs",
                        SUGARCAST_TYPE_ABR_LADDER_CODEC, DEFAULT_CODEC, flags));
  g_object_class_install_property(
      gobject_class, PROP_GOP_DURATION,
      g_param_spec_uint64("gop-duration", "GOP duration",
                          "Running time between keyframes, identical on every rung (ns)",
                          GST_MSECOND * 100, GST_SECOND * 60, DEFAULT_GOP, flags));
  g_object_class_install_property(
      gobject_class, PROP_PRESET,
      g_param_spec_enum("preset", "Preset",
                        "Encoder speed/quality preset (x264 names; mapped to cpu-used for VP9)",
                        SUGARCAST_TYPE_ABR_LADDER_PRESET, DEFAULT_PRESET, flags));
  g_object_class_install_property(
      gobject_class, PROP_TUNE,
      g_param_spec_string("tune", "Tune",
                          "x264 tunings joined by '+': zerolatency, fastdecode, stillimage and one "
                          "of film, animation, grain, psnr, ssim (empty: none)",
                          DEFAULT_TUNE, flags));
  g_object_class_install_property(
      gobject_class, PROP_VBV_BUFFER,
      g_param_spec_uint("vbv-buffer", "VBV buffer",
                        "Rate-control buffer of every rung in milliseconds at its bitrate; the "
                        "bitrate is also each rung's maximum rate",
                        100, 10000, DEFAULT_VBV_BUFFER, flags));
  g_object_class_install_property(
      gobject_class, PROP_THREADS,
      g_param_spec_uint("threads", "Threads",
                        "Encoder threads per rung (0 = share 1.5 threads per core over the rungs "
                        "in proportion to their pixel rates)",
                        0, 64, DEFAULT_THREADS, flags));
  g_object_class_install_property(
      gobject_class, PROP_ENCODER_OPTIONS,
      g_param_spec_string("encoder-options", "Encoder options",
                          "Extra x264 options for every H.264 rung, key=value separated by ':' "
                          "(x264enc option-string); keyframe placement is abrladder's",
                          "", flags));

  element_class->change_state = SUGARCAST_GUARD(sugarcast_abr_ladder_change_state);
  element_class->request_new_pad = SUGARCAST_GUARD(sugarcast_abr_ladder_request_new_pad);
  element_class->release_pad = SUGARCAST_GUARD(sugarcast_abr_ladder_release_pad);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &passthrough_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "ABR ladder", "Codec/Encoder/Video/Bin",
      "Encodes one video into an adaptive-bitrate ladder with keyframes aligned across rungs, "
      "never upscaling, scaling each rung from the next larger one",
      "Sugarcast developers");

  gst_type_mark_as_plugin_api(SUGARCAST_TYPE_ABR_LADDER_CODEC, static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(SUGARCAST_TYPE_ABR_LADDER_PRESET, static_cast<GstPluginAPIFlags>(0));
  GST_DEBUG_CATEGORY_INIT(sugarcast_abr_ladder_debug, "abrladder", 0, "Sugarcast ABR ladder");
}

static void sugarcast_abr_ladder_init(SugarcastAbrLadder *self)
{
  SugarcastAbrLadderPrivate *p = new SugarcastAbrLadderPrivate();
  self->priv = p;
  gst_segment_init(&p->passthrough_segment, GST_FORMAT_TIME);

  /* Kept until finalize: request pads are released after the bin's
   * children are gone, and releasing passthrough_sink talks to the grid. */
  p->grid = GST_ELEMENT(
      gst_object_ref_sink(g_object_new(SUGARCAST_TYPE_ABR_GRID, "name", "grid", nullptr)));
  p->convert = gst_element_factory_make("videoconvert", "convert");
  p->convert_caps = gst_element_factory_make("capsfilter", "i420");
  p->tee = gst_element_factory_make("tee", "source-tee");
  p->missing = !p->convert        ? "videoconvert"
               : !p->convert_caps ? "capsfilter"
               : !p->tee          ? "tee"
                                  : nullptr;
  gst_bin_add(GST_BIN(self), p->grid);
  if (!p->missing) {
    GstCaps *i420 = gst_caps_from_string("video/x-raw,format=I420");
    g_object_set(p->convert_caps, "caps", i420, nullptr);
    gst_caps_unref(i420);
    gst_bin_add_many(GST_BIN(self), p->convert, p->convert_caps, p->tee, nullptr);
    gst_element_link_many(p->grid, p->convert, p->convert_caps, p->tee, nullptr);
  } else {
    for (GstElement *e : {p->convert, p->convert_caps, p->tee})
      if (e)
        gst_object_unref(gst_object_ref_sink(e));
    p->convert = p->convert_caps = p->tee = nullptr;
  }

  grid_set_caps_callback(SUGARCAST_ABR_GRID(p->grid),
                         [self](GstCaps *caps) { return build_rungs(self, caps); });

  GstPad *target = gst_element_get_static_pad(p->grid, "sink");
  self->sinkpad = gst_ghost_pad_new_from_template(
      "sink", target, gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(self), "sink"));
  gst_object_unref(target);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);
}
