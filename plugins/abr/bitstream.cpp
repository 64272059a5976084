/* Sugarcast — bitstream helpers. See bitstream.h. */
#include "bitstream.h"

#include <cstdio>
#include <cstring>

namespace sugarcast::abr {

/* ---- bits ------------------------------------------------------------- */

uint32_t BitReader::bits(int n)
{
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) {
    v <<= 1;
    if (pos_ / 8 < size_)
      v |= (data_[pos_ / 8] >> (7 - pos_ % 8)) & 1;
    else
      overrun_ = true;
    ++pos_;
  }
  return v;
}

uint32_t BitReader::ue()
{
  int zeros = 0;
  while (!flag()) {
    if (++zeros > 31 || overrun_) {
      overrun_ = true;
      return 0;
    }
  }
  if (zeros == 0)
    return 0;
  return ((1u << zeros) - 1) + bits(zeros);
}

int32_t BitReader::se()
{
  const uint32_t k = ue();
  return (k & 1) ? static_cast<int32_t>((k + 1) / 2) : -static_cast<int32_t>(k / 2);
}

Bytes unescape_rbsp(const uint8_t *data, size_t size)
{
  Bytes out;
  out.reserve(size);
  int zeros = 0;
  for (size_t i = 0; i < size; ++i) {
    if (zeros >= 2 && data[i] == 3) {
      zeros = 0;
      continue;
    }
    zeros = data[i] == 0 ? zeros + 1 : 0;
    out.push_back(data[i]);
  }
  return out;
}

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

Bytes to_annexb_au(const std::vector<NalUnit> &nals, const AvcConfig &config)
{
  static const uint8_t start[4] = {0, 0, 0, 1};
  static const uint8_t aud[2] = {0x09, 0xf0};
  Bytes out;
  size_t total = 6;
  for (const auto &n : nals)
    total += n.size + 4;
  out.reserve(total + 64);
  ByteWriter w(out);
  w.bytes(start, 4);
  w.bytes(aud, 2);
  bool have_sps = false;
  for (const auto &n : nals)
    have_sps |= n.type() == kNalSps;
  const bool idr = has_idr(nals);
  bool inserted = have_sps || !idr;
  for (const auto &n : nals) {
    if (n.type() == kNalAud)
      continue;
    /* Parameter sets go before the first slice, after any SEI. */
    if (!inserted && (n.type() == kNalIdr || n.type() == kNalSlice)) {
      for (const auto &s : config.sps) {
        w.bytes(start, 4);
        w.bytes(s);
      }
      for (const auto &p : config.pps) {
        w.bytes(start, 4);
        w.bytes(p);
      }
      inserted = true;
    }
    w.bytes(start, 4);
    w.bytes(n.data, n.size);
  }
  return out;
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
  std::snprintf(text, sizeof text, "avc1.%02x%02x%02x", sps[1], sps[2], sps[3]);
  return text;
}

std::optional<SpsInfo> parse_sps(const Bytes &sps_nal)
{
  if (sps_nal.size() < 4)
    return std::nullopt;
  Bytes rbsp = unescape_rbsp(sps_nal.data() + 1, sps_nal.size() - 1);
  BitReader r(rbsp.data(), rbsp.size());
  const uint32_t profile = r.bits(8);
  r.bits(16); /* constraint flags, level */
  r.ue();     /* seq_parameter_set_id */
  uint32_t chroma_format = 1;
  bool separate_planes = false;
  if (profile == 100 || profile == 110 || profile == 122 || profile == 244 || profile == 44 ||
      profile == 83 || profile == 86 || profile == 118 || profile == 128 || profile == 138 ||
      profile == 139 || profile == 134 || profile == 135) {
    chroma_format = r.ue();
    if (chroma_format == 3)
      separate_planes = r.flag();
    r.ue(); /* bit depths */
    r.ue();
    r.flag(); /* qpprime_y_zero_transform_bypass */
    if (r.flag()) {
      const int lists = chroma_format != 3 ? 8 : 12;
      for (int i = 0; i < lists; ++i) {
        if (!r.flag())
          continue;
        const int size = i < 6 ? 16 : 64;
        int last = 8, next = 8;
        for (int j = 0; j < size; ++j) {
          if (next != 0)
            next = (last + r.se() + 256) % 256;
          last = next == 0 ? last : next;
        }
      }
    }
  }
  r.ue(); /* log2_max_frame_num_minus4 */
  const uint32_t poc_type = r.ue();
  if (poc_type == 0) {
    r.ue();
  } else if (poc_type == 1) {
    r.flag();
    r.se();
    r.se();
    const uint32_t cycle = r.ue();
    for (uint32_t i = 0; i < cycle && i < 256; ++i)
      r.se();
  }
  r.ue();   /* max_num_ref_frames */
  r.flag(); /* gaps_in_frame_num_value_allowed */
  const uint32_t width_mbs = r.ue() + 1;
  const uint32_t height_map_units = r.ue() + 1;
  const bool frame_mbs_only = r.flag();
  if (!frame_mbs_only)
    r.flag();
  r.flag(); /* direct_8x8_inference */
  uint32_t crop_left = 0, crop_right = 0, crop_top = 0, crop_bottom = 0;
  if (r.flag()) {
    crop_left = r.ue();
    crop_right = r.ue();
    crop_top = r.ue();
    crop_bottom = r.ue();
  }
  if (r.overrun())
    return std::nullopt;
  const uint32_t array_type = separate_planes ? 0 : chroma_format;
  const uint32_t crop_x = array_type == 0 ? 1 : (array_type == 3 ? 1 : 2);
  const uint32_t crop_y = (array_type == 0 ? 1 : (array_type == 1 ? 2 : 1)) * (2 - frame_mbs_only);
  SpsInfo info;
  info.width = static_cast<int>(width_mbs * 16 - crop_x * (crop_left + crop_right));
  info.height = static_cast<int>((2 - frame_mbs_only) * height_map_units * 16 -
                                 crop_y * (crop_top + crop_bottom));
  if (info.width <= 0 || info.height <= 0)
    return std::nullopt;
  return info;
}

/* ---- AAC -------------------------------------------------------------- */

namespace {

const int kAacRates[] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                         22050, 16000, 12000, 11025, 8000,  7350};

int rate_index(int rate)
{
  for (int i = 0; i < 13; ++i)
    if (kAacRates[i] == rate)
      return i;
  return -1;
}

} // namespace

std::optional<AacConfig> parse_audio_specific_config(const uint8_t *data, size_t size)
{
  if (size < 2)
    return std::nullopt;
  BitReader r(data, size);
  AacConfig config;
  auto object_type = [&] {
    int t = static_cast<int>(r.bits(5));
    if (t == 31)
      t = 32 + static_cast<int>(r.bits(6));
    return t;
  };
  auto frequency = [&](int &index) {
    index = static_cast<int>(r.bits(4));
    return index == 15 ? static_cast<int>(r.bits(24)) : (index < 13 ? kAacRates[index] : 0);
  };
  config.object_type = object_type();
  config.sample_rate = frequency(config.frequency_index);
  config.channels = static_cast<int>(r.bits(4));
  if (r.overrun() || config.sample_rate <= 0 || config.object_type == 0)
    return std::nullopt;
  config.asc.assign(data, data + size);
  return config;
}

std::optional<AdtsFrame> parse_adts(const uint8_t *data, size_t size)
{
  if (size < 7 || data[0] != 0xff || (data[1] & 0xf6) != 0xf0)
    return std::nullopt;
  AdtsFrame frame;
  const bool protection_absent = data[1] & 1;
  frame.header_size = protection_absent ? 7 : 9;
  frame.frame_size = ((data[3] & 3) << 11) | (data[4] << 3) | (data[5] >> 5);
  if (frame.frame_size < frame.header_size)
    return std::nullopt;
  AacConfig &c = frame.config;
  c.object_type = (data[2] >> 6) + 1;
  c.frequency_index = (data[2] >> 2) & 0xf;
  if (c.frequency_index >= 13)
    return std::nullopt;
  c.sample_rate = kAacRates[c.frequency_index];
  c.channels = ((data[2] & 1) << 2) | (data[3] >> 6);
  c.asc = {static_cast<uint8_t>((c.object_type << 3) | (c.frequency_index >> 1)),
           static_cast<uint8_t>(((c.frequency_index & 1) << 7) | (c.channels << 3))};
  return frame;
}

Bytes adts_header(const AacConfig &config, size_t payload_size)
{
  /* ADTS carries the core object type (HE-AAC is signalled implicitly). */
  int profile = config.object_type == 5 || config.object_type == 29 ? 1 : config.object_type - 1;
  if (profile < 0 || profile > 3)
    profile = 1;
  int index = config.frequency_index;
  if (index >= 13)
    index = rate_index(config.sample_rate);
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
  BitReader r(data, size);
  Vp9Info info;
  if (r.bits(2) != 2)
    return std::nullopt;
  const int low = static_cast<int>(r.bits(1));
  const int high = static_cast<int>(r.bits(1));
  info.profile = (high << 1) | low;
  if (info.profile == 3)
    r.bits(1);
  if (r.flag()) { /* show_existing_frame */
    info.keyframe = false;
    return info;
  }
  info.keyframe = r.bits(1) == 0;
  info.show_frame = r.flag();
  r.flag(); /* error_resilient_mode */
  if (!info.keyframe)
    return info;
  if (r.bits(24) != 0x498342)
    return std::nullopt;
  info.bit_depth = 8;
  if (info.profile >= 2)
    info.bit_depth = r.flag() ? 12 : 10;
  info.color_space = static_cast<int>(r.bits(3));
  int subsampling_x = 1, subsampling_y = 1;
  if (info.color_space != 7) {
    info.full_range = r.flag();
    if (info.profile == 1 || info.profile == 3) {
      subsampling_x = static_cast<int>(r.bits(1));
      subsampling_y = static_cast<int>(r.bits(1));
      r.bits(1);
    }
  } else {
    info.full_range = true;
    subsampling_x = subsampling_y = 0;
    if (info.profile == 1 || info.profile == 3)
      r.bits(1);
  }
  if (subsampling_x && subsampling_y)
    info.chroma_subsampling = 1;
  else if (subsampling_x)
    info.chroma_subsampling = 2;
  else
    info.chroma_subsampling = 3;
  info.width = static_cast<int>(r.bits(16)) + 1;
  info.height = static_cast<int>(r.bits(16)) + 1;
  if (r.overrun())
    return std::nullopt;
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

std::string vp9_codec_string(const Vp9Info &info, int level)
{
  char text[32];
  std::snprintf(text, sizeof text, "vp09.%02d.%02d.%02d", info.profile, level, info.bit_depth);
  return text;
}

/* ---- Opus ------------------------------------------------------------- */

std::optional<OpusConfig> parse_opus_head(const uint8_t *data, size_t size)
{
  if (size < 19 || std::memcmp(data, "OpusHead", 8) != 0)
    return std::nullopt;
  OpusConfig c;
  c.channels = data[9];
  c.pre_skip = data[10] | (data[11] << 8);
  c.input_rate = static_cast<int>(data[12] | (data[13] << 8) | (data[14] << 16) |
                                  (static_cast<uint32_t>(data[15]) << 24));
  c.output_gain = static_cast<int16_t>(data[16] | (data[17] << 8));
  c.mapping_family = data[18];
  if (c.mapping_family != 0) {
    if (size < 21 + static_cast<size_t>(c.channels))
      return std::nullopt;
    c.mapping.assign(data + 19, data + 21 + c.channels);
  }
  if (c.channels == 0)
    return std::nullopt;
  return c;
}

} // namespace sugarcast::abr
