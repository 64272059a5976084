/* Sugarcast — the bytes replaysrc reads for a range of a recording, planned
 * from its manifest's keyframe index alone (no file is scanned), and the
 * parameter sets at a keyframe; plain C++, no GStreamer. */
#pragma once

#include "bitstream.h"
#include "manifest.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sugarcast::record {

struct Chunk
{
  std::string path;
  uint64_t from = 0; /* file offset */
  uint64_t size = 0;
  uint64_t at = 0; /* offset in the stream */
};

/* Why [start, stop) (ns; stop < 0 = the end) cannot be played from M, as a
 * person reads it; "" when it can: an empty recording, a negative start, a
 * start at or past the end, a stop not after start, a range wholly in a gap
 * between segments (nothing recorded). plan_range and plan_head
 * expect a range this accepts (they do not fail on others, but what they
 * give then is not a range anyone asked for). */
std::string range_error(const Manifest &m, int64_t start, int64_t stop);

/* The chunks of [start, stop) (ns from the recording's start; stop < 0 = the
 * end) of manifest M in FOLDER. */
std::vector<Chunk> plan_range(const std::string &folder, const Manifest &m, int64_t start,
                              int64_t stop, int64_t &first_keyframe);

/* The head GOP of a frame-exact range: the bytes from the keyframe at or
 * before start (after its segment's tables) to the next keyframe, which is
 * where the untouched stream resumes. next_keyframe is that keyframe's time
 * (-1: none, the head runs to the recording's end). Same segment choice as
 * plan_range, so both readers start on the same packet. */
std::vector<Chunk> plan_head(const std::string &folder, const Manifest &m, int64_t start,
                             int64_t &next_keyframe);

/* What a frame-exact head needs of the video access unit whose PES starts
 * at FROM in the MPEG-TS file PATH (a keyframe the manifest lists), read
 * once: its SPS and PPS as Annex B NAL units (recordsink's keyframes carry
 * them in-band), and how long (ns) its decoding precedes its display (PTS -
 * DTS in its PES header: the stream's reorder delay; 0 without B-frames).
 * Empty and 0 when there is no such unit. */
struct KeyframeUnit
{
  sugarcast::abr::AvcConfig parameter_sets;
  int64_t reorder_delay = 0;
};
KeyframeUnit keyframe_at(const std::string &path, uint64_t from);

} // namespace sugarcast::record
