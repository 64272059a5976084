/* Sugarcast — an MPEG-TS writer for HLS segments, independent of GStreamer.
 *
 * One program: H.264 video (PID 0x100, stream type 0x1b) and/or AAC in ADTS
 * (PID 0x101, stream type 0x0f). Each segment starts with PAT and PMT, so it
 * decodes on its own; the PCR rides on the video PID (the audio PID when
 * there is no video) at every video access unit; keyframes carry the random
 * access indicator. Continuity counters run on across segments of one
 * rendition, as a player reading them back to back expects.
 */
#pragma once

#include "bitstream.h"

#include <cstdint>

namespace sugarcast::abr {

/* 90 kHz clock ticks, as in PES timestamps. */
constexpr int64_t kTsClock = 90000;

/* The 33-bit timestamp in the 5 bytes at T of a PES header (PTS or DTS), as
 * TsWriter writes them. */
inline int64_t read_pes_timestamp(const uint8_t *t)
{
  return (static_cast<int64_t>(t[0] & 0x0e) << 29) | (static_cast<int64_t>(t[1]) << 22) |
         (static_cast<int64_t>(t[2] & 0xfe) << 14) | (static_cast<int64_t>(t[3]) << 7) |
         (t[4] >> 1);
}

class TsWriter
{
public:
  TsWriter(bool with_video, bool with_audio);

  /* PAT and PMT: the start of every segment. */
  void write_tables(Bytes &out);
  /* One H.264 access unit in Annex B form (with its delimiter). */
  void write_video(Bytes &out, const Bytes &annexb, int64_t pts90, int64_t dts90, bool keyframe);
  /* One ADTS frame (header included). */
  void write_audio(Bytes &out, const Bytes &adts, int64_t pts90);

  static constexpr uint16_t kPmtPid = 0x1000;
  static constexpr uint16_t kVideoPid = 0x100;
  static constexpr uint16_t kAudioPid = 0x101;

private:
  void write_section(Bytes &out, uint16_t pid, uint8_t &cc, const Bytes &section);
  void write_pes(Bytes &out, uint16_t pid, uint8_t &cc, uint8_t stream_id, const Bytes &payload,
                 int64_t pts90, int64_t dts90, bool random_access, bool with_pcr, int64_t pcr90);

  bool with_video_;
  bool with_audio_;
  uint8_t cc_pat_ = 0;
  uint8_t cc_pmt_ = 0;
  uint8_t cc_video_ = 0;
  uint8_t cc_audio_ = 0;
};

/* The MPEG-2 CRC-32 of PSI sections. */
uint32_t mpeg_crc32(const uint8_t *data, size_t size);

} // namespace sugarcast::abr
