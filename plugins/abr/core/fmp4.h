/* Sugarcast — fragmented MP4 for HLS (EXT-X-MAP), independent of GStreamer.
 *
 * An init segment (ftyp + moov with one trak per track and mvex) and media
 * segments of one moof (a traf per track) followed by one mdat. Video
 * tracks use a 90 kHz timescale, audio tracks their sample rate. Decode
 * times are absolute (tfdt), so segments of all renditions share one
 * timeline.
 */
#pragma once

#include "bitstream.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sugarcast::abr {

enum class Mp4Codec { H264, VP9, AAC, Opus };

struct Mp4Track
{
  uint32_t id = 1;
  Mp4Codec codec = Mp4Codec::H264;
  uint32_t timescale = 90000;
  int width = 0; /* video */
  int height = 0;
  Bytes avcc;       /* H.264 */
  Vp9Info vp9;      /* VP9 (profile, depth, subsampling, range) */
  AacConfig aac;    /* AAC */
  OpusConfig opus;  /* Opus */
  int channels = 2; /* audio */
  int sample_rate = 48000;
  uint32_t bitrate = 0; /* declared average bitrate, bits/s; 0 = unknown */

  bool video() const { return codec == Mp4Codec::H264 || codec == Mp4Codec::VP9; }
};

struct Mp4Sample
{
  const Bytes *data = nullptr;
  uint32_t duration = 0;  /* in the track's timescale */
  int32_t cts_offset = 0; /* presentation minus decode time */
  bool keyframe = true;
};

struct Mp4Run
{
  const Mp4Track *track = nullptr;
  uint64_t base_decode_time = 0; /* of the first sample, in the track's timescale */
  std::vector<Mp4Sample> samples;
};

Bytes mp4_init_segment(const std::vector<Mp4Track> &tracks);
Bytes mp4_media_segment(uint32_t sequence, const std::vector<Mp4Run> &runs);

} // namespace sugarcast::abr
