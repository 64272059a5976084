/* Sugarcast — bitstream helpers. See bitstream.h. */
#include "bitstream.h"

#include <gst/base/gstbitreader.h>
#include <gst/codecparsers/gsth264parser.h>
#include <gst/codecparsers/gstvp9parser.h>
#include <gst/pbutils/codec-utils.h>

#include <cstdio>
#include <cstring>
#include <memory>

namespace sugarcast::abr {

/* ---- H.264 ------------------------------------------------------------ */

std::vector<NalUnit> split_annexb(const uint8_t *data, size_t size)
{
  std::vector<NalUnit> nals;
  size_t i = 0;
  auto start_code_at = [&](size_t at) {
    return at + 3 <= size && data[at] == 0 && data[at + 1] == 0 && data[at + 2] == 1;
  };
  /* Find the first start code. */
  while (i + 3 <= size && !start_code_at(i))
    ++i;
  while (i + 3 <= size) {
    const size_t begin = i + 3;
    size_t j = begin;
    while (j + 3 <= size && !start_code_at(j))
      ++j;
    size_t end = j + 3 <= size ? j : size;
    /* A 4-byte start code's leading zero and trailing zeros belong to no NAL. */
    size_t trimmed = end;
    while (trimmed > begin && data[trimmed - 1] == 0)
      --trimmed;
    if (trimmed > begin)
      nals.push_back({data + begin, trimmed - begin});
    i = end;
    if (end == size)
      break;
  }
  return nals;
}

std::vector<NalUnit> split_avc(const uint8_t *data, size_t size, int length_size)
{
  std::vector<NalUnit> nals;
  size_t i = 0;
  while (i + length_size <= size) {
    size_t len = 0;
    for (int k = 0; k < length_size; ++k)
      len = (len << 8) | data[i + k];
    i += length_size;
    if (len > size - i)
      return {};
    if (len > 0)
      nals.push_back({data + i, len});
    i += len;
  }
  return nals;
}

std::optional<AvcConfig> parse_avcc(const uint8_t *data, size_t size)
{
  if (size < 7 || data[0] != 1)
    return std::nullopt;
  AvcConfig config;
  config.length_size = (data[4] & 3) + 1;
  size_t i = 5;
  auto read_sets = [&](int count, std::vector<Bytes> &into) {
    for (int k = 0; k < count; ++k) {
      if (i + 2 > size)
        return false;
      const size_t len = (data[i] << 8) | data[i + 1];
      i += 2;
      if (i + len > size)
        return false;
      into.emplace_back(data + i, data + i + len);
      i += len;
    }
    return true;
  };
  if (!read_sets(data[i++] & 0x1f, config.sps) || i >= size)
    return std::nullopt;
  const int num_pps = data[i++];
  if (!read_sets(num_pps, config.pps))
    return std::nullopt;
  return config;
}

Bytes build_avcc(const AvcConfig &config)
{
  Bytes out;
  if (config.empty() || config.sps[0].size() < 4)
    return out;
  ByteWriter w(out);
  const Bytes &sps = config.sps[0];
  w.u8(1);
  w.u8(sps[1]);   /* profile_idc */
  w.u8(sps[2]);   /* constraint flags */
  w.u8(sps[3]);   /* level_idc */
  w.u8(0xfc | 3); /* 4-byte lengths */
  w.u8(0xe0 | static_cast<uint32_t>(config.sps.size()));
  for (const auto &s : config.sps) {
    w.u16(static_cast<uint32_t>(s.size()));
    w.bytes(s);
  }
  w.u8(static_cast<uint32_t>(config.pps.size()));
  for (const auto &p : config.pps) {
    w.u16(static_cast<uint32_t>(p.size()));
    w.bytes(p);
  }
  /* High profiles carry chroma format and bit depths too. */
  const int profile = sps[1];
  if (profile == 100 || profile == 110 || profile == 122 || profile == 144) {
    w.u8(0xfc | 1); /* 4:2:0 */
    w.u8(0xf8);     /* 8-bit luma */
    w.u8(0xf8);     /* 8-bit chroma */
    w.u8(0);        /* no SPS extensions */
  }
  return out;
}

bool has_idr(const std::vector<NalUnit> &nals)
{
  for (const auto &n : nals)
    if (n.type() == kNalIdr)
      return true;
  return false;
}

void collect_parameter_sets(const std::vector<NalUnit> &nals, AvcConfig &config)
{
  bool fresh_sps = false, fresh_pps = false;
  for (const auto &n : nals) {
    if (n.type() == kNalSps) {
      if (!fresh_sps)
        config.sps.clear();
      fresh_sps = true;
      config.sps.emplace_back(n.data, n.data + n.size);
    } else if (n.type() == kNalPps) {
      if (!fresh_pps)
        config.pps.clear();
      fresh_pps = true;
      config.pps.emplace_back(n.data, n.data + n.size);
    }
  }
}

Bytes to_avc_sample(const std::vector<NalUnit> &nals)
{
  Bytes out;
  ByteWriter w(out);
  for (const auto &n : nals) {
    const int t = n.type();
    if (t == kNalAud || t == kNalSps || t == kNalPps)
      continue;
    w.u32(static_cast<uint32_t>(n.size));
    w.bytes(n.data, n.size);
  }
  return out;
}

std::string avc_codec_string(const Bytes &sps)
{
  if (sps.size() < 4)
    return "avc1";
  char text[16];
  /* The three bytes gst_codec_utils_caps_get_mime_codec() reads from avcC
   * (which copies them from the SPS); 1.22 needs codec_data, which Annex B
   * caps do not have. Lower-case hex, as Apple's HLS examples and our
   * playlists always had it (hlsabrsink lower-cases upstream's too). */
  std::snprintf(text, sizeof text, "avc1.%02x%02x%02x", sps[1], sps[2], sps[3]);
  return text;
}

std::optional<int> pps_id(const Bytes &pps_nal)
{
  if (pps_nal.size() < 2 || (pps_nal[0] & 0x1f) != kNalPps)
    return std::nullopt;
  /* ue(v) first thing after the header: at most 8 leading zeros for the ids
   * H.264 allows (0-255), too early in the RBSP for an emulation prevention
   * byte. */
  GstBitReader r = GST_BIT_READER_INIT(pps_nal.data() + 1, static_cast<guint>(pps_nal.size() - 1));
  guint zeros = 0;
  guint8 bit = 0;
  while (gst_bit_reader_get_bits_uint8(&r, &bit, 1) && bit == 0)
    if (++zeros > 8)
      return std::nullopt;
  if (bit != 1)
    return std::nullopt;
  guint32 rest = 0;
  if (zeros && !gst_bit_reader_get_bits_uint32(&r, &rest, zeros))
    return std::nullopt;
  return static_cast<int>((1u << zeros) - 1 + rest);
}

std::optional<SpsInfo> parse_sps(const Bytes &sps_nal)
{
  if (sps_nal.size() < 4 || (sps_nal[0] & 0x1f) != kNalSps)
    return std::nullopt;
  /* codecparsers reads the RBSP after the one-byte NAL header itself. */
  GstH264NalUnit nalu{};
  nalu.type = kNalSps;
  nalu.data = const_cast<guint8 *>(sps_nal.data());
  nalu.offset = 0;
  nalu.size = static_cast<guint>(sps_nal.size());
  nalu.header_bytes = 1;
  nalu.valid = TRUE;
  GstH264SPS sps;
  if (gst_h264_parse_sps(&nalu, &sps) != GST_H264_PARSER_OK)
    return std::nullopt;
  SpsInfo info;
  info.width = sps.frame_cropping_flag ? sps.crop_rect_width : sps.width;
  info.height = sps.frame_cropping_flag ? sps.crop_rect_height : sps.height;
  info.id = sps.id;
  gst_h264_sps_clear(&sps);
  if (info.width <= 0 || info.height <= 0)
    return std::nullopt;
  return info;
}

/* ---- AAC -------------------------------------------------------------- */

std::optional<AacConfig> parse_audio_specific_config(const uint8_t *data, size_t size)
{
  if (size < 2)
    return std::nullopt;
  AacConfig config;
  /* pbutils gives the rate and channels; 1.22 does not export its audio
   * object type reader (gst_codec_utils_aac_get_audio_object_type is 1.24),
   * so the 5(+6)-bit field is read with GstBitReader. */
  GstBitReader r = GST_BIT_READER_INIT(data, static_cast<guint>(size));
  guint8 type = 0;
  if (!gst_bit_reader_get_bits_uint8(&r, &type, 5))
    return std::nullopt;
  if (type == 31) {
    guint8 ext = 0;
    if (!gst_bit_reader_get_bits_uint8(&r, &ext, 6))
      return std::nullopt;
    type = static_cast<guint8>(32 + ext);
  }
  config.object_type = type;
  config.sample_rate =
      static_cast<int>(gst_codec_utils_aac_get_sample_rate(data, static_cast<guint>(size)));
  config.channels =
      static_cast<int>(gst_codec_utils_aac_get_channels(data, static_cast<guint>(size)));
  const int index =
      gst_codec_utils_aac_get_index_from_sample_rate(static_cast<guint>(config.sample_rate));
  config.frequency_index = index >= 0 ? index : 15;
  if (config.sample_rate <= 0 || config.object_type == 0)
    return std::nullopt;
  config.asc.assign(data, data + size);
  return config;
}

Bytes adts_header(const AacConfig &config, size_t payload_size)
{
  /* ADTS carries the core object type (HE-AAC is signalled implicitly). */
  int profile = config.object_type == 5 || config.object_type == 29 ? 1 : config.object_type - 1;
  if (profile < 0 || profile > 3)
    profile = 1;
  int index = config.frequency_index;
  if (index >= 13)
    index = gst_codec_utils_aac_get_index_from_sample_rate(static_cast<guint>(config.sample_rate));
  if (index < 0)
    index = 3;
  const size_t len = payload_size + 7;
  const int ch = config.channels;
  return {0xff,
          0xf1,
          static_cast<uint8_t>((profile << 6) | (index << 2) | ((ch >> 2) & 1)),
          static_cast<uint8_t>(((ch & 3) << 6) | ((len >> 11) & 3)),
          static_cast<uint8_t>((len >> 3) & 0xff),
          static_cast<uint8_t>(((len & 7) << 5) | 0x1f),
          0xfc};
}

std::string aac_codec_string(const AacConfig &config)
{
  return "mp4a.40." + std::to_string(config.object_type);
}

/* ---- VP9 -------------------------------------------------------------- */

std::optional<Vp9Info> parse_vp9_frame(const uint8_t *data, size_t size)
{
  if (size < 1)
    return std::nullopt;
  /* A parser per call: the fields read here (frame type, profile and, on
   * keyframes, the colour config and size) do not depend on earlier frames. */
  std::unique_ptr<GstVp9Parser, decltype(&gst_vp9_parser_free)> parser(gst_vp9_parser_new(),
                                                                       gst_vp9_parser_free);
  GstVp9FrameHdr hdr;
  if (gst_vp9_parser_parse_frame_header(parser.get(), &hdr, data, size) != GST_VP9_PARSER_OK)
    return std::nullopt;
  Vp9Info info;
  info.profile = static_cast<int>(hdr.profile);
  if (hdr.show_existing_frame) {
    info.keyframe = false;
    return info;
  }
  info.keyframe = hdr.frame_type == GST_VP9_KEY_FRAME;
  info.show_frame = hdr.show_frame;
  if (!info.keyframe)
    return info;
  info.bit_depth = static_cast<int>(parser->bit_depth);
  info.color_space = static_cast<int>(parser->color_space);
  info.full_range = parser->color_range != 0;
  if (parser->subsampling_x && parser->subsampling_y)
    info.chroma_subsampling = 1;
  else if (parser->subsampling_x)
    info.chroma_subsampling = 2;
  else
    info.chroma_subsampling = 3;
  info.width = static_cast<int>(hdr.width);
  info.height = static_cast<int>(hdr.height);
  return info;
}

int vp9_level(int width, int height, double fps)
{
  struct Level
  {
    int level;
    double sample_rate;
    double picture_size;
  };
  static const Level levels[] = {
      {10, 829440, 36864},          {11, 2764800, 73728},         {20, 4608000, 122880},
      {21, 9216000, 245760},        {30, 20736000, 552960},       {31, 36864000, 983040},
      {40, 83558400, 2228224},      {41, 160432128, 2228224},     {50, 311951360, 8912896},
      {51, 588251136, 8912896},     {52, 1176502272, 8912896},    {60, 1176502272, 35651584},
      {61, 2353004544.0, 35651584}, {62, 4706009088.0, 35651584},
  };
  const double picture = static_cast<double>(width) * height;
  const double rate = picture * (fps > 0 ? fps : 30.0);
  for (const auto &l : levels)
    if (picture <= l.picture_size && rate <= l.sample_rate)
      return l.level;
  return 62;
}

/* Own code on purpose: gst_codec_utils_caps_get_mime_codec() in 1.22 returns
 * only "vp09" for VP9, while HLS players want vp09.PP.LL.DD (profile, level,
 * bit depth). */
std::string vp9_codec_string(const Vp9Info &info, int level)
{
  char text[32];
  std::snprintf(text, sizeof text, "vp09.%02d.%02d.%02d", info.profile, level, info.bit_depth);
  return text;
}

/* ---- Opus ------------------------------------------------------------- */

std::optional<OpusConfig> parse_opus_head(const uint8_t *data, size_t size)
{
  if (size < 19)
    return std::nullopt;
  /* pbutils takes a GstBuffer; wrap the bytes without copying them. */
  GstBuffer *header = gst_buffer_new_wrapped_full(
      GST_MEMORY_FLAG_READONLY, const_cast<uint8_t *>(data), size, 0, size, nullptr, nullptr);
  guint32 rate = 0;
  guint8 channels = 0, family = 0, streams = 0, coupled = 0;
  guint8 mapping[256];
  guint16 pre_skip = 0;
  gint16 gain = 0;
  const gboolean ok = gst_codec_utils_opus_parse_header(header, &rate, &channels, &family, &streams,
                                                        &coupled, mapping, &pre_skip, &gain);
  gst_buffer_unref(header);
  if (!ok || channels == 0)
    return std::nullopt;
  OpusConfig c;
  c.channels = channels;
  c.pre_skip = pre_skip;
  c.input_rate = static_cast<int>(rate);
  c.output_gain = gain;
  c.mapping_family = family;
  if (family != 0) {
    c.mapping = {streams, coupled};
    c.mapping.insert(c.mapping.end(), mapping, mapping + channels);
  }
  return c;
}

} // namespace sugarcast::abr
