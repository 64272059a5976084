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
#include "guard.h"
#include "sugarcast-plugins-config.h"
#endif

#include "gsthlsabrsink.h"

#include "abrinternal.h"
#include "core/hlswriter.h"
#include "core/timedmeta.h"
#include "daterange.h"
#include "streamrestart.h"

#include <gst/pbutils/codec-utils.h>
#include <gst/tag/tag.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

using namespace sugarcast::abr;

GST_DEBUG_CATEGORY_STATIC(sugarcast_hls_abr_sink_debug);
#define GST_CAT_DEFAULT sugarcast_hls_abr_sink_debug

#define DEFAULT_LOCATION "."
#define DEFAULT_TARGET_DURATION 2
#define DEFAULT_PLAYLIST_LENGTH 6
#define DEFAULT_PLAYLIST_TYPE SUGARCAST_HLS_ABR_SINK_PLAYLIST_LIVE
#define DEFAULT_SEGMENT_FORMAT SUGARCAST_HLS_ABR_SINK_FORMAT_MPEGTS
#define DEFAULT_AUDIO_MODE SUGARCAST_HLS_ABR_SINK_AUDIO_MUXED
#define DEFAULT_PROGRAM_DATE_TIME TRUE
#define DEFAULT_MASTER_NAME "master.m3u8"
#define DEFAULT_CAN_BLOCK_RELOAD FALSE

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

/* ---- the element inside the bin that owns the pads --------------------- */

G_BEGIN_DECLS
#define SUGARCAST_TYPE_HLS_ABR_WRITER (sugarcast_hls_abr_writer_get_type())
G_DECLARE_FINAL_TYPE(SugarcastHlsAbrWriter, sugarcast_hls_abr_writer, SUGARCAST, HLS_ABR_WRITER,
                     GstElement)
G_END_DECLS

struct _SugarcastHlsAbrWriter
{
  GstElement parent;
  SugarcastHlsAbrSink *sink; /* the bin holding this element; not a reference */
};

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

namespace {

struct Settings
{
  std::string location = DEFAULT_LOCATION;
  guint target_duration = DEFAULT_TARGET_DURATION;
  guint playlist_length = DEFAULT_PLAYLIST_LENGTH;
  SugarcastHlsAbrSinkPlaylistType playlist_type = DEFAULT_PLAYLIST_TYPE;
  SugarcastHlsAbrSinkSegmentFormat segment_format = DEFAULT_SEGMENT_FORMAT;
  SugarcastHlsAbrSinkAudioMode audio_mode = DEFAULT_AUDIO_MODE;
  bool program_date_time = DEFAULT_PROGRAM_DATE_TIME;
  std::string master_name = DEFAULT_MASTER_NAME;
  bool can_block_reload = DEFAULT_CAN_BLOCK_RELOAD;
};

struct PadState
{
  GstPad *ghost = nullptr; /* the bin's pad */
  GstPad *pad = nullptr;   /* the writer's pad */
  bool audio = false;
  int id = -1; /* the writer's video id, or HlsWriter::kAudioPad */
  GstSegment segment;
  std::string stream_id;
  int64_t position = kUnknown;
  bool have_video_format = false;
  VideoFormat video;
  bool have_audio_format = false;
  AudioFormat audio_format;
  uint64_t declared_bitrate = 0;
  bool eos = false;
  bool asked_live = false;
  /* The upstream parser between the bin's pad and the writer's, made at the
   * first caps (h264parse for H.264, aacparse for AAC; none for VP9, Opus). */
  GstElement *parse = nullptr;
  GstElement *parse_filter = nullptr;
};

} // namespace

struct SugarcastHlsAbrSinkPrivate
{
  std::mutex lock; /* protects settings, pads and the writer pointer */
  Settings settings;
  SugarcastHlsAbrWriter *inner = nullptr;
  std::map<GstPad *, std::unique_ptr<PadState>> pads; /* keyed by the writer's pad */
  std::shared_ptr<HlsWriter> writer;
  guint next_video = 0;
  bool eos_posted = false;
};

struct _SugarcastHlsAbrSink
{
  GstBin parent;
  SugarcastHlsAbrSinkPrivate *priv;
};

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

static std::shared_ptr<HlsWriter> current_writer(SugarcastHlsAbrSink *self)
{
  std::lock_guard<std::mutex> guard(self->priv->lock);
  return self->priv->writer;
}

static PadState *pad_state(SugarcastHlsAbrSink *self, GstPad *pad)
{
  std::lock_guard<std::mutex> guard(self->priv->lock);
  auto it = self->priv->pads.find(pad);
  return it == self->priv->pads.end() ? nullptr : it->second.get();
}

/* ---- caps ---------------------------------------------------------------- */

/* RFC 6381 CODECS from upstream where 1.22 can: it needs codec_data, so it
 * names H.264 in avc form (fMP4) and raw AAC, but gives only "avc1" for
 * Annex B (the writer then reads the in-band SPS) and only "vp09" for VP9
 * (the writer writes vp09.PP.LL.DD itself). Empty when it cannot. */
static std::string mime_codec(GstCaps *caps)
{
  gchar *text = gst_codec_utils_caps_get_mime_codec(caps);
  std::string codec = text ? text : "";
  g_free(text);
  if (codec == "avc1" || codec == "vp09" || codec == "mp4a.40")
    return "";
  /* 1.22 prints avc1.PPCCLL in upper case; our playlists always had lower. */
  if (codec.rfind("avc1.", 0) == 0)
    for (char &c : codec)
      c = g_ascii_tolower(c);
  return codec;
}

static bool video_format_from_caps(GstCaps *caps, VideoFormat &f, std::string &error)
{
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  f = VideoFormat();
  if (gst_structure_has_name(s, "video/x-vp9")) {
    f.codec = VideoCodec::VP9;
  } else {
    /* After h264parse: Annex B, or avc with codec_data. */
    f.codec = VideoCodec::H264;
    const gchar *format = gst_structure_get_string(s, "stream-format");
    f.length_prefixed = format && g_strcmp0(format, "byte-stream") != 0;
    const GValue *data = gst_structure_get_value(s, "codec_data");
    if (data && G_VALUE_HOLDS(data, GST_TYPE_BUFFER)) {
      GstBuffer *buf = gst_value_get_buffer(data);
      GstMapInfo map;
      if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
        auto config = parse_avcc(map.data, map.size);
        gst_buffer_unmap(buf, &map);
        if (!config) {
          error = "the H.264 codec_data in the caps is not an AVCDecoderConfigurationRecord";
          return false;
        }
        f.avc = *config;
      }
    } else if (f.length_prefixed) {
      error = "H.264 in avc format needs codec_data in its caps";
      return false;
    }
  }
  f.codecs = mime_codec(caps);
  gst_structure_get_int(s, "width", &f.width);
  gst_structure_get_int(s, "height", &f.height);
  if (!gst_structure_get_fraction(s, "framerate", &f.fps_n, &f.fps_d)) {
    f.fps_n = 0;
    f.fps_d = 1;
  }
  return true;
}

static bool audio_format_from_caps(GstCaps *caps, AudioFormat &f, std::string &error)
{
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  f = AudioFormat();
  if (gst_structure_has_name(s, "audio/x-opus")) {
    f.codec = AudioCodec::Opus;
    bool have_head = false;
    const GValue *headers = gst_structure_get_value(s, "streamheader");
    if (headers && GST_VALUE_HOLDS_ARRAY(headers) && gst_value_array_get_size(headers) > 0) {
      const GValue *first = gst_value_array_get_value(headers, 0);
      if (G_VALUE_HOLDS(first, GST_TYPE_BUFFER)) {
        GstMapInfo map;
        GstBuffer *buf = gst_value_get_buffer(first);
        if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
          if (auto head = parse_opus_head(map.data, map.size)) {
            f.opus = *head;
            have_head = true;
          }
          gst_buffer_unmap(buf, &map);
        }
      }
    }
    if (!have_head) {
      int channels = 2, family = 0, rate = 48000;
      gst_structure_get_int(s, "channels", &channels);
      gst_structure_get_int(s, "channel-mapping-family", &family);
      gst_structure_get_int(s, "rate", &rate);
      if (family != 0 || channels > 2) {
        error = "multichannel Opus needs a streamheader in its caps";
        return false;
      }
      f.opus.channels = channels;
      f.opus.input_rate = rate;
    }
    return true;
  }
  /* After aacparse: raw, with the AudioSpecificConfig in codec_data. */
  f.codec = AudioCodec::AAC;
  f.codecs = mime_codec(caps);
  const GValue *data = gst_structure_get_value(s, "codec_data");
  if (data && G_VALUE_HOLDS(data, GST_TYPE_BUFFER)) {
    GstMapInfo map;
    GstBuffer *buf = gst_value_get_buffer(data);
    if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
      if (auto config = parse_audio_specific_config(map.data, map.size)) {
        f.aac = *config;
        f.have_config = true;
      }
      gst_buffer_unmap(buf, &map);
    }
  }
  if (!f.have_config) {
    error = "raw AAC needs codec_data (an AudioSpecificConfig) in its caps";
    return false;
  }
  return true;
}

/* ---- pad functions -------------------------------------------------------- */

static GstFlowReturn writer_chain(GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  auto *inner = SUGARCAST_HLS_ABR_WRITER(parent);
  SugarcastHlsAbrSink *self = inner->sink;
  PadState *ps = pad_state(self, pad);
  auto writer = current_writer(self);
  if (!ps || !writer) {
    gst_buffer_unref(buf);
    return GST_FLOW_FLUSHING;
  }
  if (!ps->asked_live) {
    /* Live inputs cannot wait for late audio; files can. */
    ps->asked_live = true;
    GstQuery *query = gst_query_new_latency();
    gboolean live = FALSE;
    if (gst_pad_peer_query(ps->pad, query))
      gst_query_parse_latency(query, &live, nullptr, nullptr);
    gst_query_unref(query);
    if (live)
      writer->set_live(true);
  }
  MediaSample sample;
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) {
    gst_buffer_unref(buf);
    return GST_FLOW_ERROR;
  }
  sample.data = std::make_shared<const Bytes>(map.data, map.data + map.size);
  gst_buffer_unmap(buf, &map);
  sample.pts = signed_running_time(ps->segment, GST_BUFFER_PTS(buf));
  sample.dts = signed_running_time(ps->segment, GST_BUFFER_DTS(buf));
  if (sample.pts == kUnknown)
    sample.pts = sample.dts;
  if (GST_BUFFER_DURATION_IS_VALID(buf))
    sample.duration = static_cast<int64_t>(GST_BUFFER_DURATION(buf));
  sample.keyframe = !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  sample.gop_end = gop_end_mark(buf);
  gst_buffer_unref(buf);
  if (sample.pts != kUnknown) {
    const int64_t end = sample.pts + (sample.duration != kUnknown ? sample.duration : 0);
    if (ps->position == kUnknown || end > ps->position)
      ps->position = end;
  }
  const bool ok = ps->audio ? writer->push_audio(std::move(sample))
                            : writer->push_video(ps->id, std::move(sample));
  return ok ? GST_FLOW_OK : GST_FLOW_ERROR;
}

static void apply_format(SugarcastHlsAbrSink *self, HlsWriter &writer, PadState &ps)
{
  std::string error;
  bool ok = true;
  if (ps.audio && ps.have_audio_format) {
    AudioFormat f = ps.audio_format;
    f.declared_bitrate = ps.declared_bitrate;
    ok = writer.set_audio_format(f, error);
  } else if (!ps.audio && ps.have_video_format) {
    VideoFormat f = ps.video;
    f.declared_bitrate = ps.declared_bitrate;
    ok = writer.set_video_format(ps.id, f, error);
  }
  if (!ok)
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                      ("hlsabrsink cannot write %s: %s", GST_PAD_NAME(ps.ghost), error.c_str()),
                      (nullptr));
}

static void maybe_post_eos(SugarcastHlsAbrSink *self, HlsWriter &writer)
{
  if (!writer.finished())
    return;
  {
    std::lock_guard<std::mutex> guard(self->priv->lock);
    if (self->priv->eos_posted)
      return;
    self->priv->eos_posted = true;
  }
  GST_INFO_OBJECT(self, "every input ended; final playlists written");
  gst_element_post_message(GST_ELEMENT(self->priv->inner),
                           gst_message_new_eos(GST_OBJECT(self->priv->inner)));
}

static gboolean writer_event(GstPad *pad, GstObject *parent, GstEvent *event)
{
  auto *inner = SUGARCAST_HLS_ABR_WRITER(parent);
  SugarcastHlsAbrSink *self = inner->sink;
  PadState *ps = pad_state(self, pad);
  auto writer = current_writer(self);
  gboolean ret = TRUE;
  if (!ps || !writer) {
    const GstEventType type = GST_EVENT_TYPE(event);
    gst_event_unref(event);
    return type == GST_EVENT_FLUSH_START || type == GST_EVENT_FLUSH_STOP;
  }
  switch (GST_EVENT_TYPE(event)) {
  case GST_EVENT_CAPS: {
    GstCaps *caps = nullptr;
    gst_event_parse_caps(event, &caps);
    std::string error;
    if (ps->audio)
      ps->have_audio_format = audio_format_from_caps(caps, ps->audio_format, error);
    else
      ps->have_video_format = video_format_from_caps(caps, ps->video, error);
    if (!error.empty()) {
      GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                        ("hlsabrsink cannot write %s: %s", GST_PAD_NAME(ps->ghost), error.c_str()),
                        ("caps %" GST_PTR_FORMAT, caps));
      ret = FALSE;
    } else {
      apply_format(self, *writer, *ps);
    }
    break;
  }
  case GST_EVENT_SEGMENT:
    gst_event_copy_segment(event, &ps->segment);
    break;
  case GST_EVENT_TAG: {
    GstTagList *tags = nullptr;
    gst_event_parse_tag(event, &tags);
    guint bitrate = 0;
    if (gst_tag_list_get_uint(tags, GST_TAG_MAXIMUM_BITRATE, &bitrate) ||
        gst_tag_list_get_uint(tags, GST_TAG_NOMINAL_BITRATE, &bitrate) ||
        gst_tag_list_get_uint(tags, GST_TAG_BITRATE, &bitrate)) {
      if (bitrate > 0 && bitrate != ps->declared_bitrate) {
        ps->declared_bitrate = bitrate;
        apply_format(self, *writer, *ps);
      }
    }
    break;
  }
  case GST_EVENT_STREAM_START: {
    const gchar *id = nullptr;
    gst_event_parse_stream_start(event, &id);
    const std::string stream_id = id ? id : "";
    if (!ps->stream_id.empty() && stream_id != ps->stream_id) {
      GST_INFO_OBJECT(self, "new stream on %s: discontinuity", GST_PAD_NAME(ps->ghost));
      writer->restart(ps->id);
    }
    ps->stream_id = stream_id;
    break;
  }
  case GST_EVENT_CUSTOM_DOWNSTREAM:
  case GST_EVENT_CUSTOM_DOWNSTREAM_OOB:
  case GST_EVENT_CUSTOM_BOTH: {
    if (sugarcast_event_is_stream_restart(event)) {
      GST_INFO_OBJECT(self, "stream restart on %s: discontinuity", GST_PAD_NAME(ps->ghost));
      writer->restart(ps->id);
    } else if (sugarcast_event_is_daterange(event)) {
      DateRange range;
      std::string error;
      if (!daterange_from_structure(gst_event_get_structure(event), range, error)) {
        GST_ELEMENT_WARNING(self, STREAM, FORMAT,
                            ("hlsabrsink ignored a sugarcast-daterange event: %s", error.c_str()),
                            ("%" GST_PTR_FORMAT, event));
      } else {
        if (range.start == kUnknown && range.start_us < 0)
          range.start = ps->position != kUnknown ? ps->position : writer->latest_running_time();
        if (range.start == kUnknown && range.start_us < 0)
          range.start = 0;
        writer->add_daterange(std::move(range));
      }
    }
    break;
  }
  case GST_EVENT_EOS: {
    ps->eos = true;
    if (ps->audio)
      writer->end_audio();
    else
      writer->end_video(ps->id);
    /* A requested pad nothing was linked to will never end: it does not
     * hold the others back. */
    std::vector<PadState *> idle;
    {
      std::lock_guard<std::mutex> guard(self->priv->lock);
      for (auto &[pad, state] : self->priv->pads)
        if (!state->eos && !gst_pad_is_linked(state->ghost))
          idle.push_back(state.get());
    }
    for (PadState *other : idle) {
      GST_INFO_OBJECT(self, "%s is not linked: treating it as ended", GST_PAD_NAME(other->ghost));
      other->eos = true;
      if (other->audio)
        writer->end_audio();
      else
        writer->end_video(other->id);
    }
    maybe_post_eos(self, *writer);
    break;
  }
  default:
    break;
  }
  gst_event_unref(event);
  return ret;
}

/* ---- requesting and releasing pads ---------------------------------------- */

/* ---- the upstream parsers ------------------------------------------------- */

/* What the writer takes after the parser: H.264 access units with AUD, SPS
 * and PPS before every IDR (h264parse config-interval=-1, checked on 1.22)
 * in Annex B for MPEG-TS, or length-prefixed with codec_data for fMP4; AAC
 * raw with its AudioSpecificConfig in codec_data (aacparse converts ADTS),
 * which both containers need: fMP4 as is, MPEG-TS behind the ADTS header
 * mpegts.cpp writes (as mpegtsmux does for raw AAC). */
static GstPadProbeReturn insert_parser(GstPad *ghost, GstPadProbeInfo *info, gpointer data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  auto *self = SUGARCAST_HLS_ABR_SINK(data);
  SugarcastHlsAbrSinkPrivate *p = self->priv;
  GstCaps *caps = nullptr;
  gst_event_parse_caps(event, &caps);
  const GstStructure *st = gst_caps_get_structure(caps, 0);
  const bool h264 = gst_structure_has_name(st, "video/x-h264");
  const bool aac = gst_structure_has_name(st, "audio/mpeg");
  if (!h264 && !aac)
    return GST_PAD_PROBE_REMOVE; /* VP9 and Opus go to the writer as they are */

  GstPad *writer_pad = nullptr;
  bool fmp4 = false;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    for (auto &[pad, ps] : p->pads)
      if (ps->ghost == ghost)
        writer_pad = pad;
    fmp4 = p->settings.segment_format == SUGARCAST_HLS_ABR_SINK_FORMAT_FMP4;
  }
  if (!writer_pad)
    return GST_PAD_PROBE_REMOVE;
  GstElement *parse = make_child(GST_ELEMENT(self), h264 ? "h264parse" : "aacparse",
                                 "(gstreamer1.0-plugins-bad / -good)");
  GstElement *filter = make_child(GST_ELEMENT(self), "capsfilter", "(GStreamer core)");
  if (!parse || !filter) {
    for (GstElement *e : {parse, filter})
      if (e)
        gst_object_unref(gst_object_ref_sink(e));
    return GST_PAD_PROBE_REMOVE; /* the error is posted; the caps will not be taken */
  }
  if (h264)
    g_object_set(parse, "config-interval", -1, nullptr);
  GstCaps *want = h264 ? gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING,
                                             fmp4 ? "avc" : "byte-stream", "alignment",
                                             G_TYPE_STRING, "au", nullptr)
                       : gst_caps_new_simple("audio/mpeg", "mpegversion", G_TYPE_INT, 4,
                                             "stream-format", G_TYPE_STRING, "raw", nullptr);
  g_object_set(filter, "caps", want, nullptr);
  gst_caps_unref(want);
  gst_bin_add_many(GST_BIN(self), parse, filter, nullptr);
  GstPad *filter_src = gst_element_get_static_pad(filter, "src");
  GstPad *parse_sink = gst_element_get_static_pad(parse, "sink");
  /* Retarget first: that unlinks the ghost's inner pad from the writer's. */
  gst_ghost_pad_set_target(GST_GHOST_PAD(ghost), parse_sink);
  const bool linked =
      gst_element_link(parse, filter) && gst_pad_link(filter_src, writer_pad) == GST_PAD_LINK_OK;
  gst_object_unref(filter_src);
  gst_object_unref(parse_sink);
  gst_element_sync_state_with_parent(filter);
  gst_element_sync_state_with_parent(parse);
  {
    std::lock_guard<std::mutex> guard(p->lock);
    auto it = p->pads.find(writer_pad);
    if (it != p->pads.end()) {
      /* Held until the pad is released, which may come after the bin
       * disposed its children. */
      it->second->parse = GST_ELEMENT(gst_object_ref(parse));
      it->second->parse_filter = GST_ELEMENT(gst_object_ref(filter));
    }
  }
  if (!linked)
    GST_ELEMENT_ERROR(
        self, CORE, NEGOTIATION,
        ("hlsabrsink could not put %s before %s", GST_ELEMENT_NAME(parse), GST_PAD_NAME(ghost)),
        (nullptr));
  GST_DEBUG_OBJECT(self, "%s: %s before the writer", GST_PAD_NAME(ghost), GST_ELEMENT_NAME(parse));
  return GST_PAD_PROBE_REMOVE; /* the caps go on, through the parser */
}

static void register_pad(HlsWriter &writer, PadState &ps)
{
  if (ps.audio) {
    writer.add_audio();
    ps.id = HlsWriter::kAudioPad;
  } else {
    ps.id = writer.add_video(GST_PAD_NAME(ps.ghost));
  }
}

static GstPad *sugarcast_hls_abr_sink_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                                      const gchar *name, const GstCaps *)
{
  auto *self = SUGARCAST_HLS_ABR_SINK(element);
  SugarcastHlsAbrSinkPrivate *p = self->priv;
  const bool audio = g_strcmp0(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "audio") == 0;
  std::string pad_name;
  std::shared_ptr<HlsWriter> writer;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    if (audio) {
      for (auto &[pad, ps] : p->pads)
        if (ps->audio) {
          GST_WARNING_OBJECT(self, "hlsabrsink takes one audio pad");
          return nullptr;
        }
      pad_name = "audio";
    } else {
      guint index = p->next_video;
      if (name && sscanf(name, "video_%u", &index) != 1)
        return nullptr;
      for (auto &[pad, ps] : p->pads)
        if (g_strcmp0(GST_PAD_NAME(ps->ghost), ("video_" + std::to_string(index)).c_str()) == 0)
          return nullptr;
      p->next_video = std::max(p->next_video, index + 1);
      pad_name = "video_" + std::to_string(index);
    }
    writer = p->writer;
  }

  GstPadTemplate *inner_templ = gst_element_class_get_pad_template(
      GST_ELEMENT_GET_CLASS(self->priv->inner), audio ? "audio" : "video_%u");
  GstPad *pad = gst_pad_new_from_template(inner_templ, pad_name.c_str());
  gst_pad_set_chain_function(pad, SUGARCAST_GUARD(writer_chain));
  gst_pad_set_event_function(pad, SUGARCAST_GUARD(writer_event));
  GstPad *ghost = gst_ghost_pad_new_from_template(pad_name.c_str(), pad, templ);

  auto ps = std::make_unique<PadState>();
  ps->ghost = ghost;
  ps->pad = pad;
  ps->audio = audio;
  gst_segment_init(&ps->segment, GST_FORMAT_TIME);
  if (writer)
    register_pad(*writer, *ps);
  {
    std::lock_guard<std::mutex> guard(p->lock);
    p->pads[pad] = std::move(ps);
  }
  gst_pad_set_active(pad, TRUE);
  gst_element_add_pad(GST_ELEMENT(p->inner), pad);
  gst_pad_add_probe(ghost, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, SUGARCAST_GUARD(insert_parser),
                    self, nullptr);
  gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(element, ghost);
  return ghost;
}

static void sugarcast_hls_abr_sink_release_pad(GstElement *element, GstPad *ghost)
{
  auto *self = SUGARCAST_HLS_ABR_SINK(element);
  SugarcastHlsAbrSinkPrivate *p = self->priv;
  GstPad *pad = nullptr;
  std::shared_ptr<HlsWriter> writer;
  PadState *ps = nullptr;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    for (auto &[inner_pad, state] : p->pads)
      if (state->ghost == ghost) {
        pad = inner_pad;
        ps = state.get();
      }
    writer = p->writer;
  }
  if (!pad)
    return;
  /* A released pad has ended, as far as the playlists go. */
  if (writer && !ps->eos) {
    if (ps->audio)
      writer->end_audio();
    else
      writer->end_video(ps->id);
  }
  gst_element_remove_pad(element, ghost);
  for (GstElement *e : {ps->parse, ps->parse_filter})
    if (e) {
      if (GST_OBJECT_PARENT(e) == GST_OBJECT(self)) {
        gst_element_set_state(e, GST_STATE_NULL);
        gst_bin_remove(GST_BIN(self), e);
      }
      gst_object_unref(e);
    }
  gst_pad_set_active(pad, FALSE);
  if (GST_OBJECT_PARENT(pad) == GST_OBJECT(p->inner))
    gst_element_remove_pad(GST_ELEMENT(p->inner), pad);
  std::lock_guard<std::mutex> guard(p->lock);
  p->pads.erase(pad);
}

/* ---- the writer's life ---------------------------------------------------- */

static bool start_writer(SugarcastHlsAbrSink *self)
{
  SugarcastHlsAbrSinkPrivate *p = self->priv;
  HlsSettings hs;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    const Settings &s = p->settings;
    hs.folder = s.location;
    hs.target_duration = static_cast<int>(s.target_duration);
    hs.playlist_length = s.playlist_length;
    hs.type = s.playlist_type == SUGARCAST_HLS_ABR_SINK_PLAYLIST_LIVE    ? PlaylistType::Live
              : s.playlist_type == SUGARCAST_HLS_ABR_SINK_PLAYLIST_EVENT ? PlaylistType::Event
                                                                         : PlaylistType::Vod;
    hs.container = s.segment_format == SUGARCAST_HLS_ABR_SINK_FORMAT_FMP4 ? Container::Fmp4
                                                                          : Container::MpegTs;
    hs.audio_mode =
        s.audio_mode == SUGARCAST_HLS_ABR_SINK_AUDIO_GROUP ? AudioMode::Group : AudioMode::Muxed;
    hs.program_date_time = s.program_date_time;
    hs.master_name = s.master_name;
    hs.can_block_reload = s.can_block_reload;
  }

  HlsWriter::Hooks hooks;
  hooks.error = [self](const std::string &message, const std::string &debug) {
    GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("%s", message.c_str()), ("%s", debug.c_str()));
  };
  hooks.warning = [self](const std::string &message) {
    GST_ELEMENT_WARNING(self, STREAM, FORMAT, ("%s", message.c_str()), (nullptr));
  };
  hooks.segment = [self](const SegmentReport &r) {
    GstStructure *s = gst_structure_new(
        "hlsabrsink-segment", "rendition", G_TYPE_STRING, r.rendition.c_str(), "location",
        G_TYPE_STRING, r.path.c_str(), "playlist", G_TYPE_STRING, r.playlist.c_str(), "sequence",
        G_TYPE_UINT64, static_cast<guint64>(r.sequence), "running-time", G_TYPE_INT64,
        static_cast<gint64>(r.start), "duration", G_TYPE_UINT64, static_cast<guint64>(r.duration),
        "discontinuity", G_TYPE_BOOLEAN, r.discontinuity, "listed-time", G_TYPE_INT64,
        static_cast<gint64>(r.listed_us), nullptr);
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
  };
  hooks.master = [self](const std::string &path, size_t variants) {
    gst_element_post_message(
        GST_ELEMENT(self),
        gst_message_new_element(GST_OBJECT(self),
                                gst_structure_new("hlsabrsink-master", "location", G_TYPE_STRING,
                                                  path.c_str(), "variants", G_TYPE_UINT,
                                                  static_cast<guint>(variants), nullptr)));
  };
  hooks.now_us = [] { return static_cast<int64_t>(g_get_real_time()); };
  hooks.running_time_now = [self]() -> int64_t {
    const GstClockTime now = gst_element_get_current_running_time(GST_ELEMENT(self));
    return GST_CLOCK_TIME_IS_VALID(now) ? static_cast<int64_t>(now) : kUnknown;
  };

  auto writer = std::make_shared<HlsWriter>(hs, hooks);
  std::string error;
  if (!writer->start(error)) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("%s", error.c_str()),
                      ("location=%s", hs.folder.c_str()));
    return false;
  }
  std::lock_guard<std::mutex> guard(p->lock);
  /* Pads in name order, so video_0 is the first variant. */
  std::vector<PadState *> ordered;
  for (auto &[pad, ps] : p->pads)
    ordered.push_back(ps.get());
  std::sort(ordered.begin(), ordered.end(), [](PadState *a, PadState *b) {
    return g_strcmp0(GST_PAD_NAME(a->ghost), GST_PAD_NAME(b->ghost)) < 0;
  });
  for (PadState *ps : ordered) {
    register_pad(*writer, *ps);
    gst_segment_init(&ps->segment, GST_FORMAT_TIME);
    ps->stream_id.clear();
    ps->position = kUnknown;
    ps->eos = false;
    ps->asked_live = false;
  }
  p->writer = writer;
  p->eos_posted = false;
  return true;
}

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
