/* Sugarcast — finalising a recording from what is on disk after its writer
 * died (kill -9, a crash, a power cut), independent of GStreamer.
 *
 * Segments the manifest lists are trusted as they are (they were closed and
 * synced before being listed). Segment files after them (normally the one
 * being written, at most one piece short) are scanned: the file is cut at
 * the last whole TS packet and then before the first PES (frame) that did not
 * reach the disk whole; a segment left without a keyframe is removed. The
 * manifest and VOD playlist are then rewritten with state "interrupted".
 * Only the unlisted segments are read, so a 2-hour recording repairs in
 * milliseconds.
 */
#pragma once

#include "manifest.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sugarcast::record {

/* What a scan of one segment found. */
struct TsScan
{
  uint64_t size = 0;    /* bytes that hold whole packets and whole frames */
  uint64_t packets = 0; /* whole packets in the file (before cutting frames) */
  unsigned video_frames = 0;
  unsigned audio_frames = 0;
  int64_t start = 0; /* ns from the recording's start (first frame) */
  int64_t end = 0;   /* ns: the last frame's end */
  std::vector<Keyframe> keyframes;
};

/* Scans MPEG-TS bytes as the recording writer makes them. */
TsScan scan_segment(const uint8_t *data, size_t size);

struct RepairReport
{
  bool changed = false;   /* false: already final, nothing done */
  unsigned recovered = 0; /* unlisted segments added to the manifest */
  unsigned removed = 0;   /* unlisted segment files without a whole keyframe, deleted */
  uint64_t truncated = 0; /* bytes cut from torn segment ends */
  int64_t duration = 0;   /* ns, after repair */
  std::string message;    /* one line for a person */
};

/* Repairs the recording in FOLDER; false with `error` when it cannot (no
 * folder, an unreadable manifest, no permission). */
bool repair_recording(const std::string &folder, int64_t now_us, RepairReport &report,
                      std::string &error);

} // namespace sugarcast::record
