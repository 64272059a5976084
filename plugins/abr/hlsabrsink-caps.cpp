/* Sugarcast — hlsabrsink: caps to the writer's VideoFormat and AudioFormat,
 * with the RFC 6381 CODECS upstream can name (the rest the writer reads from
 * the SPS, the VP9 frame header or the AudioSpecificConfig). */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "hlsabrsink-private.h"

#include <gst/pbutils/codec-utils.h>

#include <string>

using namespace sugarcast::abr;

namespace sugarcast::abr::hlsabrsink {

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

bool video_format_from_caps(GstCaps *caps, VideoFormat &f, std::string &error)
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

bool audio_format_from_caps(GstCaps *caps, AudioFormat &f, std::string &error)
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

} // namespace sugarcast::abr::hlsabrsink
