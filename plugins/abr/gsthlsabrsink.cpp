/* Sugarcast — hlsabrsink. */
/**
 * SECTION:element-hlsabrsink
 * @title: hlsabrsink
 *
 * Writes multi-variant HLS into the folder #SugarcastHlsAbrSink:location: one
 * request pad `video_%u` per variant (H.264 or VP9, already encoded, e.g. by
 * abrladder) and an optional `audio` pad (AAC, or Opus with fMP4).
 *
 * - `master.m3u8` with BANDWIDTH, AVERAGE-BANDWIDTH, RESOLUTION, FRAME-RATE
 *   and CODECS (from the SPS, the VP9 frame header, the AudioSpecificConfig);
 *   `video_N.m3u8` per variant, `audio.m3u8` with `audio-mode=group`.
 * - Segments start at keyframes and are cut at the same running time in
 *   every variant: MPEG-TS for H.264, fMP4 with EXT-X-MAP for VP9 or with
 *   `segment-format=fmp4`. No segment is longer than
 *   #SugarcastHlsAbrSink:target-duration (as HLS rounds it) when the keyframe
 *   interval divides it.
 * - EXT-X-PROGRAM-DATE-TIME on every segment; `playlist-type` live (a window
 *   of #SugarcastHlsAbrSink:playlist-length segments, older files deleted), event
 *   or vod; EXT-X-ENDLIST at EOS.
 * - EXT-X-DISCONTINUITY on the next segment of every variant after a
 *   `sugarcast-stream-restart` event on any pad, a new stream-start, or a
 *   jump in timestamps.
 * - EXT-X-DATERANGE in every variant's playlist for each `sugarcast-daterange`
 *   event (see daterange.h) or #SugarcastHlsAbrSink::add-daterange call, before the
 *   segment whose time covers its start.
 * - Every file is written under a temporary name and renamed into place: a
 *   player never reads half a playlist.
 *
 * Element messages: `hlsabrsink-segment` (rendition, location, playlist,
 * sequence, running-time, duration, discontinuity, listed-time) each time a
 * segment is listed; `hlsabrsink-master` (location, variants) each time the
 * master playlist is written.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -e videotestsrc num-buffers=300 ! video/x-raw,width=640,height=360,framerate=30/1
 * ! x264enc key-int-max=30 ! hlsabrsink location=/tmp/hls playlist-type=vod
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "gsthlsabrsink.h"

#include "core/timedmeta.h"
#include "daterange.h"
#include "hlsabrsink-private.h"

#include <mutex>
#include <string>

using namespace sugarcast::abr;
using namespace sugarcast::abr::hlsabrsink;

GST_DEBUG_CATEGORY(sugarcast_hls_abr_sink_debug);
#define GST_CAT_DEFAULT sugarcast_hls_abr_sink_debug

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_TARGET_DURATION,
  PROP_PLAYLIST_LENGTH,
  PROP_PLAYLIST_TYPE,
  PROP_SEGMENT_FORMAT,
  PROP_AUDIO_MODE,
  PROP_PROGRAM_DATE_TIME,
  PROP_MASTER_NAME,
  PROP_CAN_BLOCK_RELOAD,
};

enum {
  SIGNAL_ADD_DATERANGE,
  LAST_SIGNAL,
};

static guint signals[LAST_SIGNAL];

#define VIDEO_CAPS                                                                                 \
  "video/x-h264, stream-format=(string){ byte-stream, avc, avc3 }, alignment=(string)au; "         \
  "video/x-vp9"
#define AUDIO_CAPS                                                                                 \
  "audio/mpeg, mpegversion=(int)4, stream-format=(string){ raw, adts }; audio/x-opus"

static GstStaticPadTemplate video_template =
    GST_STATIC_PAD_TEMPLATE("video_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS(VIDEO_CAPS));
static GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE("audio", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS(AUDIO_CAPS));

G_DEFINE_TYPE(SugarcastHlsAbrWriter, sugarcast_hls_abr_writer, GST_TYPE_ELEMENT);

static void sugarcast_hls_abr_writer_class_init(SugarcastHlsAbrWriterClass *klass)
{
  auto *element_class = GST_ELEMENT_CLASS(klass);
  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_set_static_metadata(element_class, "HLS ABR writer", "Sink",
                                        "Writes the segments and playlists of hlsabrsink",
                                        "Sugarcast developers");
}

static void sugarcast_hls_abr_writer_init(SugarcastHlsAbrWriter *self)
{
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}

/* ---- the bin ------------------------------------------------------------- */

G_DEFINE_TYPE(SugarcastHlsAbrSink, sugarcast_hls_abr_sink, GST_TYPE_BIN);
GST_ELEMENT_REGISTER_DEFINE(hlsabrsink, "hlsabrsink", GST_RANK_NONE, SUGARCAST_TYPE_HLS_ABR_SINK);

GType sugarcast_hls_abr_sink_playlist_type_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {SUGARCAST_HLS_ABR_SINK_PLAYLIST_LIVE, "Live: a sliding window, old segments deleted",
       "live"},
      {SUGARCAST_HLS_ABR_SINK_PLAYLIST_EVENT, "Event: segments are only added", "event"},
      {SUGARCAST_HLS_ABR_SINK_PLAYLIST_VOD, "VOD: like event while writing, VOD once ended", "vod"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("SugarcastHlsAbrSinkPlaylistType", values));
  return type;
}

GType sugarcast_hls_abr_sink_segment_format_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {SUGARCAST_HLS_ABR_SINK_FORMAT_MPEGTS, "MPEG-TS for H.264 (VP9 still uses fMP4)", "mpegts"},
      {SUGARCAST_HLS_ABR_SINK_FORMAT_FMP4, "Fragmented MP4 with EXT-X-MAP", "fmp4"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("SugarcastHlsAbrSinkSegmentFormat", values));
  return type;
}

GType sugarcast_hls_abr_sink_audio_mode_get_type(void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
      {SUGARCAST_HLS_ABR_SINK_AUDIO_MUXED, "Audio muxed into every variant", "muxed"},
      {SUGARCAST_HLS_ABR_SINK_AUDIO_GROUP, "Audio as its own rendition (EXT-X-MEDIA group)",
       "group"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("SugarcastHlsAbrSinkAudioMode", values));
  return type;
}
namespace sugarcast::abr::hlsabrsink {

std::shared_ptr<HlsWriter> current_writer(SugarcastHlsAbrSink *self)
{
  std::lock_guard<std::mutex> guard(self->priv->lock);
  return self->priv->writer;
}

PadState *pad_state(SugarcastHlsAbrSink *self, GstPad *pad)
{
  std::lock_guard<std::mutex> guard(self->priv->lock);
  auto it = self->priv->pads.find(pad);
  return it == self->priv->pads.end() ? nullptr : it->second.get();
}

} // namespace sugarcast::abr::hlsabrsink

static GstStateChangeReturn sugarcast_hls_abr_sink_change_state(GstElement *element,
                                                                GstStateChange transition)
{
  auto *self = SUGARCAST_HLS_ABR_SINK(element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED && !start_writer(self))
    return GST_STATE_CHANGE_FAILURE;
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(sugarcast_hls_abr_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    std::lock_guard<std::mutex> guard(self->priv->lock);
    self->priv->writer.reset();
  }
  return ret;
}

static gboolean sugarcast_hls_abr_sink_add_daterange(SugarcastHlsAbrSink *self, const gchar *id,
                                                     const gchar *klass, guint64 start,
                                                     guint64 duration,
                                                     const GstStructure *attributes)
{
  auto writer = current_writer(self);
  GstEvent *event = sugarcast_daterange_event_new(id, klass, start, duration, attributes);
  if (!event)
    return FALSE;
  DateRange range;
  std::string error;
  const bool ok = daterange_from_structure(gst_event_get_structure(event), range, error);
  gst_event_unref(event);
  if (!ok) {
    GST_WARNING_OBJECT(self, "add-daterange refused: %s", error.c_str());
    return FALSE;
  }
  if (!writer) {
    GST_WARNING_OBJECT(self, "add-daterange before the pipeline runs is ignored");
    return FALSE;
  }
  if (range.start == kUnknown) {
    range.start = writer->latest_running_time();
    if (range.start == kUnknown)
      range.start = 0;
  }
  writer->add_daterange(std::move(range));
  return TRUE;
}

/* ---- GObject ------------------------------------------------------------- */

static void sugarcast_hls_abr_sink_set_property(GObject *object, guint prop_id, const GValue *value,
                                                GParamSpec *pspec)
{
  auto *self = SUGARCAST_HLS_ABR_SINK(object);
  std::lock_guard<std::mutex> guard(self->priv->lock);
  Settings &s = self->priv->settings;
  switch (prop_id) {
  case PROP_LOCATION: {
    const gchar *text = g_value_get_string(value);
    s.location = text && *text ? text : DEFAULT_LOCATION;
    break;
  }
  case PROP_TARGET_DURATION:
    s.target_duration = g_value_get_uint(value);
    break;
  case PROP_PLAYLIST_LENGTH:
    s.playlist_length = g_value_get_uint(value);
    break;
  case PROP_PLAYLIST_TYPE:
    s.playlist_type = static_cast<SugarcastHlsAbrSinkPlaylistType>(g_value_get_enum(value));
    break;
  case PROP_SEGMENT_FORMAT:
    s.segment_format = static_cast<SugarcastHlsAbrSinkSegmentFormat>(g_value_get_enum(value));
    break;
  case PROP_AUDIO_MODE:
    s.audio_mode = static_cast<SugarcastHlsAbrSinkAudioMode>(g_value_get_enum(value));
    break;
  case PROP_PROGRAM_DATE_TIME:
    s.program_date_time = g_value_get_boolean(value);
    break;
  case PROP_CAN_BLOCK_RELOAD:
    s.can_block_reload = g_value_get_boolean(value);
    break;
  case PROP_MASTER_NAME: {
    const gchar *text = g_value_get_string(value);
    s.master_name = text && *text ? text : DEFAULT_MASTER_NAME;
    break;
  }
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_hls_abr_sink_get_property(GObject *object, guint prop_id, GValue *value,
                                                GParamSpec *pspec)
{
  auto *self = SUGARCAST_HLS_ABR_SINK(object);
  std::lock_guard<std::mutex> guard(self->priv->lock);
  const Settings &s = self->priv->settings;
  switch (prop_id) {
  case PROP_LOCATION:
    g_value_set_string(value, s.location.c_str());
    break;
  case PROP_TARGET_DURATION:
    g_value_set_uint(value, s.target_duration);
    break;
  case PROP_PLAYLIST_LENGTH:
    g_value_set_uint(value, s.playlist_length);
    break;
  case PROP_PLAYLIST_TYPE:
    g_value_set_enum(value, s.playlist_type);
    break;
  case PROP_SEGMENT_FORMAT:
    g_value_set_enum(value, s.segment_format);
    break;
  case PROP_AUDIO_MODE:
    g_value_set_enum(value, s.audio_mode);
    break;
  case PROP_PROGRAM_DATE_TIME:
    g_value_set_boolean(value, s.program_date_time);
    break;
  case PROP_CAN_BLOCK_RELOAD:
    g_value_set_boolean(value, s.can_block_reload);
    break;
  case PROP_MASTER_NAME:
    g_value_set_string(value, s.master_name.c_str());
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_hls_abr_sink_finalize(GObject *object)
{
  auto *self = SUGARCAST_HLS_ABR_SINK(object);
  gst_object_unref(self->priv->inner);
  delete self->priv;
  G_OBJECT_CLASS(sugarcast_hls_abr_sink_parent_class)->finalize(object);
}

static void sugarcast_hls_abr_sink_class_init(SugarcastHlsAbrSinkClass *klass)
{
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_READY);

  gobject_class->set_property = SUGARCAST_GUARD(sugarcast_hls_abr_sink_set_property);
  gobject_class->get_property = SUGARCAST_GUARD(sugarcast_hls_abr_sink_get_property);
  gobject_class->finalize = SUGARCAST_GUARD(sugarcast_hls_abr_sink_finalize);

  g_object_class_install_property(
      gobject_class, PROP_LOCATION,
      g_param_spec_string("location", "Location",
                          "Folder for the playlists and segments (created if missing)",
                          DEFAULT_LOCATION, flags));
  g_object_class_install_property(
      gobject_class, PROP_TARGET_DURATION,
      g_param_spec_uint("target-duration", "Target duration",
                        "Longest segment in seconds (EXT-X-TARGETDURATION); segments are cut "
                        "at keyframes, so make it a multiple of the keyframe interval",
                        1, 3600, DEFAULT_TARGET_DURATION, flags));
  g_object_class_install_property(
      gobject_class, PROP_PLAYLIST_LENGTH,
      g_param_spec_uint("playlist-length", "Playlist length",
                        "Segments listed in a live playlist (0 = all); files that left it are "
                        "deleted once as many segments again have passed",
                        0, G_MAXUINT, DEFAULT_PLAYLIST_LENGTH, flags));
  g_object_class_install_property(
      gobject_class, PROP_PLAYLIST_TYPE,
      g_param_spec_enum("playlist-type", "Playlist type", "Live window, event or VOD",
                        SUGARCAST_TYPE_HLS_ABR_SINK_PLAYLIST_TYPE, DEFAULT_PLAYLIST_TYPE, flags));
  g_object_class_install_property(
      gobject_class, PROP_SEGMENT_FORMAT,
      g_param_spec_enum("segment-format", "Segment format",
                        "Container of H.264 segments (VP9 variants always use fMP4)",
                        SUGARCAST_TYPE_HLS_ABR_SINK_SEGMENT_FORMAT, DEFAULT_SEGMENT_FORMAT, flags));
  g_object_class_install_property(
      gobject_class, PROP_AUDIO_MODE,
      g_param_spec_enum("audio-mode", "Audio mode",
                        "Audio muxed into each variant, or one audio rendition (EXT-X-MEDIA)",
                        SUGARCAST_TYPE_HLS_ABR_SINK_AUDIO_MODE, DEFAULT_AUDIO_MODE, flags));
  g_object_class_install_property(
      gobject_class, PROP_PROGRAM_DATE_TIME,
      g_param_spec_boolean("program-date-time", "Program date time",
                           "Write EXT-X-PROGRAM-DATE-TIME on every segment",
                           DEFAULT_PROGRAM_DATE_TIME, flags));
  g_object_class_install_property(
      gobject_class, PROP_MASTER_NAME,
      g_param_spec_string("master-playlist-name", "Master playlist name",
                          "File name of the multivariant playlist in the folder",
                          DEFAULT_MASTER_NAME, flags));
  g_object_class_install_property(
      gobject_class, PROP_CAN_BLOCK_RELOAD,
      g_param_spec_boolean(
          "can-block-reload", "Can block reload",
          "Write EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES in live media playlists: only "
          "for a server that holds a playlist request carrying _HLS_msn until that segment "
          "is listed (sugarcastd does)",
          DEFAULT_CAN_BLOCK_RELOAD, flags));

  /**
   * SugarcastHlsAbrSink::add-daterange:
   * @sink: the hlsabrsink
   * @id: the ID, unique in the stream
   * @klass: (nullable): the CLASS
   * @start: running time of the start, or GST_CLOCK_TIME_NONE for the latest
   *   running time received
   * @duration: the DURATION in ns, or GST_CLOCK_TIME_NONE
   * @attributes: (nullable): X- attributes (strings are quoted, numbers not)
   *
   * Writes an EXT-X-DATERANGE into every variant's playlist, before the
   * segment covering @start. Returns %FALSE (and writes nothing) for an
   * invalid id or attribute name, or before the pipeline runs.
   */
  signals[SIGNAL_ADD_DATERANGE] =
      g_signal_new_class_handler("add-daterange", G_TYPE_FROM_CLASS(klass),
                                 static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                                 G_CALLBACK(SUGARCAST_GUARD(sugarcast_hls_abr_sink_add_daterange)),
                                 nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 5, G_TYPE_STRING,
                                 G_TYPE_STRING, G_TYPE_UINT64, G_TYPE_UINT64, GST_TYPE_STRUCTURE);

  element_class->change_state = SUGARCAST_GUARD(sugarcast_hls_abr_sink_change_state);
  element_class->request_new_pad = SUGARCAST_GUARD(sugarcast_hls_abr_sink_request_new_pad);
  element_class->release_pad = SUGARCAST_GUARD(sugarcast_hls_abr_sink_release_pad);

  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_set_static_metadata(
      element_class, "HLS ABR sink", "Sink/Muxer/Bin",
      "Writes multi-variant HLS: aligned segments (MPEG-TS or fMP4), master and media "
      "playlists, program date-time, date ranges and discontinuities",
      "Sugarcast developers");

  gst_type_mark_as_plugin_api(SUGARCAST_TYPE_HLS_ABR_SINK_PLAYLIST_TYPE,
                              static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(SUGARCAST_TYPE_HLS_ABR_SINK_SEGMENT_FORMAT,
                              static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(SUGARCAST_TYPE_HLS_ABR_SINK_AUDIO_MODE,
                              static_cast<GstPluginAPIFlags>(0));
  GST_DEBUG_CATEGORY_INIT(sugarcast_hls_abr_sink_debug, "hlsabrsink", 0, "Sugarcast HLS ABR sink");
}

static void sugarcast_hls_abr_sink_init(SugarcastHlsAbrSink *self)
{
  self->priv = new SugarcastHlsAbrSinkPrivate();
  self->priv->inner = SUGARCAST_HLS_ABR_WRITER(
      g_object_new(SUGARCAST_TYPE_HLS_ABR_WRITER, "name", "writer", nullptr));
  self->priv->inner->sink = self;
  /* Kept until finalize: request pads are released after the bin's
   * children are gone. */
  gst_object_ref(self->priv->inner);
  gst_bin_add(GST_BIN(self), GST_ELEMENT(self->priv->inner));
}
