/* Sugarcast — clipvalidate. */
/**
 * SECTION:element-clipvalidate
 * @title: clipvalidate
 *
 * A passthrough element for the video stream of an uploaded clip, placed after
 * a demuxer or parser: it needs no decoder. It measures the clip's real length
 * from buffer timestamps (first PTS to last PTS + duration, in running time),
 * checks it against #SugarcastClipValidate:min-duration and
 * #SugarcastClipValidate:max-duration, and checks codec, size and frame rate.
 *
 * The verdict is posted as a `clip-validation` element message with the
 * fields `valid` (boolean), `reason` (string, only when rejected: too-short,
 * too-long, too-large, bad-framerate, unsupported-codec, no-video,
 * corrupt-timestamps), `message` (a sentence for the creator), `duration` and
 * `declared-duration` (guint64 nanoseconds, GST_CLOCK_TIME_NONE when unknown),
 * `width`, `height` (int), `framerate` (double), `codec` (string), `frames`
 * and `gaps` (guint64).
 *
 * It rejects as soon as a rejection is certain: at caps for codec, size and
 * frame rate; when the upstream duration query says the clip is more than
 * twice #SugarcastClipValidate:max-duration; the moment the measured length passes
 * #SugarcastClipValidate:max-duration. It then stops the stream: with
 * `action=error` by posting an error, with `action=report` by sending EOS
 * downstream and returning EOS upstream. A header never makes a clip
 * acceptable: acceptance is decided at EOS from measured timestamps.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=upload.mp4 ! qtdemux ! clipvalidate ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "gstclipvalidate.h"

#include "clipmeter.h"

#include <mutex>
#include <optional>
#include <string>

using namespace sugarcast::clip;

GST_DEBUG_CATEGORY_STATIC(sugarcast_clip_validate_debug);
#define GST_CAT_DEFAULT sugarcast_clip_validate_debug

enum {
  PROP_0,
  PROP_MIN_DURATION,
  PROP_MAX_DURATION,
  PROP_MAX_WIDTH,
  PROP_MAX_HEIGHT,
  PROP_MAX_FRAMERATE,
  PROP_CODECS,
  PROP_ACTION,
};

#define DEFAULT_CODECS "h264,h265,vp8,vp9,av1"

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

namespace {

struct Settings
{
  Limits limits;
  std::string codecs = DEFAULT_CODECS;
  SugarcastClipValidateAction action = SUGARCAST_CLIP_VALIDATE_ACTION_ERROR;
};

/* Streaming state, touched only from the streaming thread (and state changes,
 * when no streaming thread runs). */
struct Stream
{
  ClipMeter meter;
  SugarcastClipValidateAction action;
  GstSegment segment;
  bool queried_duration = false;
  bool eos_sent = false;

  explicit Stream(const Settings &s) : meter(s.limits), action(s.action)
  {
    gst_segment_init(&segment, GST_FORMAT_TIME);
  }
};

} // namespace

struct SugarcastClipValidatePrivate
{
  std::mutex lock; /* protects settings */
  Settings settings;
  std::optional<Stream> stream;
};

struct _SugarcastClipValidate
{
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;
  SugarcastClipValidatePrivate *priv;
};

G_DEFINE_TYPE(SugarcastClipValidate, sugarcast_clip_validate, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE(clipvalidate, "clipvalidate", GST_RANK_NONE,
                            SUGARCAST_TYPE_CLIP_VALIDATE);

GType sugarcast_clip_validate_action_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {SUGARCAST_CLIP_VALIDATE_ACTION_ERROR, "Post an error and stop the pipeline on rejection",
       "error"},
      {SUGARCAST_CLIP_VALIDATE_ACTION_REPORT, "Only post the verdict; end the stream on rejection",
       "report"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("SugarcastClipValidateAction", values));
  return type;
}

static void reset_stream(SugarcastClipValidate *self)
{
  std::lock_guard<std::mutex> guard(self->priv->lock);
  self->priv->stream.emplace(self->priv->settings);
}

static Stream &current_stream(SugarcastClipValidate *self)
{
  if (!self->priv->stream)
    reset_stream(self);
  return *self->priv->stream;
}

static GstStructure *verdict_structure(const Verdict &v)
{
  auto clock_time = [](int64_t t) -> guint64 {
    return t == kNoTime || t < 0 ? GST_CLOCK_TIME_NONE : static_cast<guint64>(t);
  };
  GstStructure *s = gst_structure_new(
      "clip-validation", "valid", G_TYPE_BOOLEAN, v.valid, "message", G_TYPE_STRING,
      v.message.c_str(), "duration", G_TYPE_UINT64, clock_time(v.duration), "declared-duration",
      G_TYPE_UINT64, clock_time(v.declared), "width", G_TYPE_INT, v.width, "height", G_TYPE_INT,
      v.height, "framerate", G_TYPE_DOUBLE, v.framerate, "codec", G_TYPE_STRING, v.codec.c_str(),
      "frames", G_TYPE_UINT64, static_cast<guint64>(v.frames), "gaps", G_TYPE_UINT64,
      static_cast<guint64>(v.gaps), nullptr);
  if (!v.valid)
    gst_structure_set(s, "reason", G_TYPE_STRING, reason_nick(v.reason), nullptr);
  return s;
}

/* Posts the verdict; on a rejection also stops the stream the way `action`
 * says. Returns the flow a rejected stream answers upstream with. */
static GstFlowReturn conclude(SugarcastClipValidate *self, Stream &stream, const Verdict &v)
{
  if (v.valid)
    GST_INFO_OBJECT(self, "accepted: %s", v.message.c_str());
  else
    GST_INFO_OBJECT(self, "rejected (%s): %s", reason_nick(v.reason), v.message.c_str());

  gst_element_post_message(GST_ELEMENT(self),
                           gst_message_new_element(GST_OBJECT(self), verdict_structure(v)));
  if (v.valid)
    return GST_FLOW_OK;

  if (stream.action == SUGARCAST_CLIP_VALIDATE_ACTION_ERROR) {
    /* The macro form takes the code as a token; this one takes a value. */
    gst_element_message_full_with_details(
        GST_ELEMENT(self), GST_MESSAGE_ERROR, GST_STREAM_ERROR,
        v.reason == Reason::NoVideo ? GST_STREAM_ERROR_WRONG_TYPE : GST_STREAM_ERROR_FORMAT,
        g_strdup(v.message.c_str()), g_strdup_printf("clip rejected: %s", reason_nick(v.reason)),
        __FILE__, GST_FUNCTION, __LINE__,
        gst_structure_new("details", "reason", G_TYPE_STRING, reason_nick(v.reason), nullptr));
    return GST_FLOW_ERROR;
  }
  if (!stream.eos_sent) {
    stream.eos_sent = true;
    gst_pad_push_event(self->srcpad, gst_event_new_eos());
  }
  return GST_FLOW_EOS;
}

static GstFlowReturn rejected_flow(const Stream &stream)
{
  return stream.action == SUGARCAST_CLIP_VALIDATE_ACTION_ERROR ? GST_FLOW_ERROR : GST_FLOW_EOS;
}

static StreamInfo stream_info_from_caps(GstCaps *caps)
{
  StreamInfo info;
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  const std::string name = gst_structure_get_name(s);
  info.is_video = name.rfind("video/", 0) == 0 || name.rfind("image/", 0) == 0;
  if (name == "video/mpeg") {
    gint version = 0;
    gst_structure_get_int(s, "mpegversion", &version);
    info.codec = version == 4 ? "mpeg4" : "mpeg" + std::to_string(version);
  } else if (name == "image/jpeg") {
    info.codec = "mjpeg";
  } else if (name == "video/x-raw") {
    info.codec = "raw";
  } else if (name.rfind("video/x-", 0) == 0) {
    info.codec = name.substr(8);
  } else {
    info.codec = name;
  }
  gst_structure_get_int(s, "width", &info.width);
  gst_structure_get_int(s, "height", &info.height);
  if (!gst_structure_get_fraction(s, "framerate", &info.fps_n, &info.fps_d)) {
    info.fps_n = 0;
    info.fps_d = 1;
  }
  return info;
}

static int64_t running_time(const GstSegment &segment, GstClockTime t)
{
  if (!GST_CLOCK_TIME_IS_VALID(t))
    return kNoTime;
  if (segment.format != GST_FORMAT_TIME)
    return static_cast<int64_t>(t);
  guint64 rt = 0;
  int sign = gst_segment_to_running_time_full(&segment, GST_FORMAT_TIME, t, &rt);
  if (sign == 0)
    return kNoTime;
  return sign > 0 ? static_cast<int64_t>(rt) : -static_cast<int64_t>(rt);
}

static GstFlowReturn sugarcast_clip_validate_chain(GstPad *, GstObject *parent, GstBuffer *buf)
{
  auto *self = SUGARCAST_CLIP_VALIDATE(parent);
  Stream &stream = current_stream(self);

  if (stream.meter.decided()) {
    gst_buffer_unref(buf);
    return rejected_flow(stream);
  }

  if (!stream.queried_duration) {
    stream.queried_duration = true;
    gint64 declared = -1;
    if (gst_pad_peer_query_duration(self->sinkpad, GST_FORMAT_TIME, &declared) && declared >= 0) {
      GST_DEBUG_OBJECT(self, "upstream declares %" GST_TIME_FORMAT, GST_TIME_ARGS(declared));
      if (auto v = stream.meter.set_declared_duration(declared)) {
        gst_buffer_unref(buf);
        return conclude(self, stream, *v);
      }
    }
  }

  const int64_t duration =
      GST_BUFFER_DURATION_IS_VALID(buf) ? static_cast<int64_t>(GST_BUFFER_DURATION(buf)) : kNoTime;
  if (auto v =
          stream.meter.add_frame(running_time(stream.segment, GST_BUFFER_PTS(buf)),
                                 running_time(stream.segment, GST_BUFFER_DTS(buf)), duration)) {
    gst_buffer_unref(buf);
    return conclude(self, stream, *v);
  }
  return gst_pad_push(self->srcpad, buf);
}

static gboolean sugarcast_clip_validate_sink_event(GstPad *pad, GstObject *parent, GstEvent *event)
{
  auto *self = SUGARCAST_CLIP_VALIDATE(parent);

  /* After a rejection in report mode the source pad is at EOS: until a new
   * stream starts, serialized events have nowhere to go. */
  if (current_stream(self).eos_sent && GST_EVENT_IS_SERIALIZED(event) &&
      GST_EVENT_TYPE(event) != GST_EVENT_STREAM_START &&
      GST_EVENT_TYPE(event) != GST_EVENT_FLUSH_STOP) {
    gst_event_unref(event);
    return TRUE;
  }

  switch (GST_EVENT_TYPE(event)) {
  case GST_EVENT_STREAM_START:
    reset_stream(self);
    break;
  case GST_EVENT_SEGMENT:
    gst_event_copy_segment(event, &current_stream(self).segment);
    break;
  case GST_EVENT_CAPS: {
    GstCaps *caps = nullptr;
    gst_event_parse_caps(event, &caps);
    StreamInfo info = stream_info_from_caps(caps);
    gboolean forwarded = gst_pad_event_default(pad, parent, event);
    Stream &stream = current_stream(self);
    if (auto v = stream.meter.set_stream(info))
      conclude(self, stream, *v);
    return forwarded;
  }
  case GST_EVENT_EOS: {
    Stream &stream = current_stream(self);
    if (!stream.meter.decided())
      conclude(self, stream, stream.meter.finish());
    stream.eos_sent = true;
    break;
  }
  default:
    break;
  }
  return gst_pad_event_default(pad, parent, event);
}

static GstStateChangeReturn sugarcast_clip_validate_change_state(GstElement *element,
                                                                 GstStateChange transition)
{
  auto *self = SUGARCAST_CLIP_VALIDATE(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
    reset_stream(self);
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(sugarcast_clip_validate_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    self->priv->stream.reset();
  return ret;
}

static void sugarcast_clip_validate_set_property(GObject *object, guint prop_id,
                                                 const GValue *value, GParamSpec *pspec)
{
  auto *self = SUGARCAST_CLIP_VALIDATE(object);
  std::lock_guard<std::mutex> guard(self->priv->lock);
  Settings &s = self->priv->settings;

  switch (prop_id) {
  case PROP_MIN_DURATION:
    s.limits.min_duration = static_cast<int64_t>(g_value_get_uint64(value));
    break;
  case PROP_MAX_DURATION:
    s.limits.max_duration = static_cast<int64_t>(g_value_get_uint64(value));
    break;
  case PROP_MAX_WIDTH:
    s.limits.max_width = g_value_get_int(value);
    break;
  case PROP_MAX_HEIGHT:
    s.limits.max_height = g_value_get_int(value);
    break;
  case PROP_MAX_FRAMERATE:
    s.limits.max_framerate = g_value_get_double(value);
    break;
  case PROP_CODECS: {
    const gchar *text = g_value_get_string(value);
    s.codecs = text ? text : DEFAULT_CODECS;
    s.limits.codecs = parse_codec_list(s.codecs);
    break;
  }
  case PROP_ACTION:
    s.action = static_cast<SugarcastClipValidateAction>(g_value_get_enum(value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_clip_validate_get_property(GObject *object, guint prop_id, GValue *value,
                                                 GParamSpec *pspec)
{
  auto *self = SUGARCAST_CLIP_VALIDATE(object);
  std::lock_guard<std::mutex> guard(self->priv->lock);
  const Settings &s = self->priv->settings;

  switch (prop_id) {
  case PROP_MIN_DURATION:
    g_value_set_uint64(value, static_cast<guint64>(s.limits.min_duration));
    break;
  case PROP_MAX_DURATION:
    g_value_set_uint64(value, static_cast<guint64>(s.limits.max_duration));
    break;
  case PROP_MAX_WIDTH:
    g_value_set_int(value, s.limits.max_width);
    break;
  case PROP_MAX_HEIGHT:
    g_value_set_int(value, s.limits.max_height);
    break;
  case PROP_MAX_FRAMERATE:
    g_value_set_double(value, s.limits.max_framerate);
    break;
  case PROP_CODECS:
    g_value_set_string(value, s.codecs.c_str());
    break;
  case PROP_ACTION:
    g_value_set_enum(value, s.action);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_clip_validate_finalize(GObject *object)
{
  delete SUGARCAST_CLIP_VALIDATE(object)->priv;
  G_OBJECT_CLASS(sugarcast_clip_validate_parent_class)->finalize(object);
}

static void sugarcast_clip_validate_class_init(SugarcastClipValidateClass *klass)
{
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_READY);
  const Limits defaults;

  gobject_class->set_property = SUGARCAST_GUARD(sugarcast_clip_validate_set_property);
  gobject_class->get_property = SUGARCAST_GUARD(sugarcast_clip_validate_get_property);
  gobject_class->finalize = SUGARCAST_GUARD(sugarcast_clip_validate_finalize);

  g_object_class_install_property(
      gobject_class, PROP_MIN_DURATION,
      g_param_spec_uint64("min-duration", "Minimum duration",
                          "Shortest accepted clip, in nanoseconds", 0, G_MAXINT64,
                          static_cast<guint64>(defaults.min_duration), flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_DURATION,
      g_param_spec_uint64("max-duration", "Maximum duration",
                          "Longest accepted clip, in nanoseconds (0 = no limit)", 0, G_MAXINT64 / 2,
                          static_cast<guint64>(defaults.max_duration), flags));
  g_object_class_install_property(gobject_class, PROP_MAX_WIDTH,
                                  g_param_spec_int("max-width", "Maximum width",
                                                   "Widest accepted video in pixels (0 = no limit)",
                                                   0, G_MAXINT, defaults.max_width, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_HEIGHT,
      g_param_spec_int("max-height", "Maximum height",
                       "Tallest accepted video in pixels (0 = no limit)", 0, G_MAXINT,
                       defaults.max_height, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_FRAMERATE,
      g_param_spec_double(
          "max-framerate", "Maximum frame rate",
          "Highest accepted frame rate in frames per second, declared or measured (0 = no limit)",
          0.0, 1000.0, defaults.max_framerate, flags));
  g_object_class_install_property(
      gobject_class, PROP_CODECS,
      g_param_spec_string(
          "codecs", "Accepted codecs",
          "Comma-separated accepted video codecs (h264, h265, vp8, vp9, av1, mpeg4, ...)",
          DEFAULT_CODECS, flags));
  g_object_class_install_property(gobject_class, PROP_ACTION,
                                  g_param_spec_enum("action", "Action",
                                                    "What a rejection does to the pipeline",
                                                    SUGARCAST_TYPE_CLIP_VALIDATE_ACTION,
                                                    SUGARCAST_CLIP_VALIDATE_ACTION_ERROR, flags));

  element_class->change_state = SUGARCAST_GUARD(sugarcast_clip_validate_change_state);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "Clip validator", "Filter/Analyzer/Video",
      "Measures a clip's real duration from its timestamps and accepts or rejects it by "
      "duration, codec, size and frame rate",
      "Sugarcast developers");

  gst_type_mark_as_plugin_api(SUGARCAST_TYPE_CLIP_VALIDATE_ACTION,
                              static_cast<GstPluginAPIFlags>(0));
  GST_DEBUG_CATEGORY_INIT(sugarcast_clip_validate_debug, "clipvalidate", 0,
                          "Sugarcast clip validator");
}

static void sugarcast_clip_validate_init(SugarcastClipValidate *self)
{
  self->priv = new SugarcastClipValidatePrivate();

  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, SUGARCAST_GUARD(sugarcast_clip_validate_chain));
  gst_pad_set_event_function(self->sinkpad, SUGARCAST_GUARD(sugarcast_clip_validate_sink_event));
  GST_PAD_SET_PROXY_CAPS(self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION(self->sinkpad);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template(&src_template, "src");
  GST_PAD_SET_PROXY_CAPS(self->srcpad);
  GST_PAD_SET_PROXY_SCHEDULING(self->srcpad);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
}
