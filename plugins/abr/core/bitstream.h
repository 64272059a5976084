/* Sugarcast — just enough of H.264, AAC, VP9 and Opus bitstreams to mux them
 * into MPEG-TS and fragmented MP4 and to name them in an HLS CODECS
 * attribute. Plain C++ over GStreamer's libraries, no elements: the SPS, the
 * VP9 frame header and OpusHead are read by codecparsers and pbutils
 * (gst_h264_parse_sps, gst_vp9_parser_parse_frame_header,
 * gst_codec_utils_opus_parse_header, gst_codec_utils_aac_get_*); bits by
 * GstBitReader.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sugarcast::abr {

using Bytes = std::vector<uint8_t>;

/* ---- H.264 ------------------------------------------------------------ */

struct NalUnit
{
  const uint8_t *data = nullptr; /* starts at the NAL header byte */
  size_t size = 0;
  int type() const { return size ? data[0] & 0x1f : -1; }
};

enum NalType {
  kNalSlice = 1,
  kNalIdr = 5,
  kNalSei = 6,
  kNalSps = 7,
  kNalPps = 8,
  kNalAud = 9,
};

/* NAL units of an Annex B (start code) access unit. */
std::vector<NalUnit> split_annexb(const uint8_t *data, size_t size);
/* NAL units of a length-prefixed (avc) access unit; empty on a bad length. */
std::vector<NalUnit> split_avc(const uint8_t *data, size_t size, int length_size);

struct AvcConfig
{
  std::vector<Bytes> sps;
  std::vector<Bytes> pps;
  int length_size = 4;
  bool empty() const { return sps.empty() || pps.empty(); }
};

/* Parses an AVCDecoderConfigurationRecord (caps codec_data); nullopt when
 * malformed. */
std::optional<AvcConfig> parse_avcc(const uint8_t *data, size_t size);
/* Builds one from parameter sets; needs at least one SPS (4+ bytes) and PPS. */
Bytes build_avcc(const AvcConfig &config);

/* An access unit as an MP4 sample: 4-byte lengths, without delimiters and
 * parameter sets (those live in the avcC box). */
Bytes to_avc_sample(const std::vector<NalUnit> &nals);
/* Collects the SPS and PPS found in an access unit. */
void collect_parameter_sets(const std::vector<NalUnit> &nals, AvcConfig &config);
bool has_idr(const std::vector<NalUnit> &nals);

/* "avc1.64002a": profile_idc, constraint flags and level_idc of an SPS. */
std::string avc_codec_string(const Bytes &sps);

struct SpsInfo
{
  int width = 0;
  int height = 0;
  int id = 0; /* seq_parameter_set_id */
};
/* Picture size from an SPS (after cropping); nullopt if it cannot be read. */
std::optional<SpsInfo> parse_sps(const Bytes &sps);
/* A PPS's pic_parameter_set_id; nullopt if it is not a PPS. */
std::optional<int> pps_id(const Bytes &pps);

/* ---- AAC -------------------------------------------------------------- */

struct AacConfig
{
  int object_type = 2; /* 2 = AAC LC, 5 = SBR (HE-AAC) ... */
  int frequency_index = 3;
  int sample_rate = 48000;
  int channels = 2;
  Bytes asc; /* the AudioSpecificConfig itself */
};

std::optional<AacConfig> parse_audio_specific_config(const uint8_t *data, size_t size);

/* The 7-byte ADTS header for a raw frame of `payload_size` bytes: how
 * MPEG-TS carries AAC (stream type 0x0f), as mpegtsmux also writes it for raw
 * input. Parsing ADTS is aacparse's job. */
Bytes adts_header(const AacConfig &config, size_t payload_size);
/* "mp4a.40.2" */
std::string aac_codec_string(const AacConfig &config);

/* ---- VP9 -------------------------------------------------------------- */

struct Vp9Info
{
  bool keyframe = false;
  bool show_frame = true;
  int profile = 0;
  int bit_depth = 8;
  int chroma_subsampling =
      1; /* vpcC: 0 = 4:2:0 vertical, 1 = 4:2:0 colocated, 2 = 4:2:2, 3 = 4:4:4 */
  bool full_range = false;
  int color_space = 0; /* VP9 color_space syntax element */
  int width = 0;       /* keyframes only */
  int height = 0;
};
/* Reads the uncompressed header of the first frame in a VP9 frame or
 * superframe; nullopt if it is not one. */
std::optional<Vp9Info> parse_vp9_frame(const uint8_t *data, size_t size);
/* The VP9 level (10 = 1.0 ... 62 = 6.2) for a picture size and frame rate. */
int vp9_level(int width, int height, double fps);
/* "vp09.00.40.08" */
std::string vp9_codec_string(const Vp9Info &info, int level);

/* ---- Opus ------------------------------------------------------------- */

struct OpusConfig
{
  int channels = 2;
  int pre_skip = 312;
  int input_rate = 48000;
  int output_gain = 0;
  int mapping_family = 0;
  Bytes mapping; /* stream count, coupled count, channel mapping (family != 0) */
};
/* Parses an "OpusHead" identification header. */
std::optional<OpusConfig> parse_opus_head(const uint8_t *data, size_t size);

/* ---- writing ---------------------------------------------------------- */

class ByteWriter
{
public:
  explicit ByteWriter(Bytes &out) : out_(out) {}
  void u8(uint32_t v) { out_.push_back(static_cast<uint8_t>(v)); }
  void u16(uint32_t v)
  {
    u8(v >> 8);
    u8(v);
  }
  void u24(uint32_t v)
  {
    u8(v >> 16);
    u16(v & 0xffff);
  }
  void u32(uint32_t v)
  {
    u16(v >> 16);
    u16(v & 0xffff);
  }
  void u64(uint64_t v)
  {
    u32(static_cast<uint32_t>(v >> 32));
    u32(static_cast<uint32_t>(v));
  }
  void bytes(const uint8_t *data, size_t size) { out_.insert(out_.end(), data, data + size); }
  void bytes(const Bytes &b) { bytes(b.data(), b.size()); }
  void fourcc(const char *cc) { bytes(reinterpret_cast<const uint8_t *>(cc), 4); }
  void zeros(size_t n) { out_.insert(out_.end(), n, 0); }
  size_t size() const { return out_.size(); }
  /* Overwrites a big-endian 32-bit value written earlier. */
  void patch_u32(size_t at, uint32_t v)
  {
    out_[at] = static_cast<uint8_t>(v >> 24);
    out_[at + 1] = static_cast<uint8_t>(v >> 16);
    out_[at + 2] = static_cast<uint8_t>(v >> 8);
    out_[at + 3] = static_cast<uint8_t>(v);
  }

private:
  Bytes &out_;
};

} // namespace sugarcast::abr
