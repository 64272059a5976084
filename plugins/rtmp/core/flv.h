/* Sugarcast RTMP — FLV tags from RTMP media messages.
 *
 * An RTMP audio, video or script-data message is an FLV tag body; FLV adds
 * an 11-byte tag header and a 4-byte back pointer. FlvTimeline keeps the tag
 * timestamps of one output monotonic across publishers: when a new publisher
 * continues the stream, its timestamps are shifted to start just after the
 * last tag written.
 */
#pragma once

#include "chunk.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sugarcast::rtmp {

constexpr size_t kFlvHeaderSize = 9 + 4; /* header plus PreviousTagSize0 */
constexpr size_t kFlvTagOverhead = 11 + 4;

enum FlvFlags : uint8_t { kFlvHasAudio = 0x04, kFlvHasVideo = 0x01 };

/* "FLV", version 1, flags, header size, PreviousTagSize0. */
std::vector<uint8_t> flv_header(uint8_t flags);

/* Writes one tag into dst, which must hold payload_size + kFlvTagOverhead bytes. */
void write_flv_tag(uint8_t *dst, uint8_t type, uint32_t timestamp, const uint8_t *payload,
                   size_t payload_size);

/* The FLV header flags an onMetaData script tag announces (audiocodecid,
 * videocodecid), or 0 when it says nothing usable. */
uint8_t flv_flags_from_metadata(const std::vector<uint8_t> &payload);

/* AVC/HEVC decoder configuration or AAC AudioSpecificConfig. */
bool is_sequence_header(const Message &m);
bool is_video_keyframe(const Message &m);

class FlvTimeline
{
public:
  /* The next message comes from a new publisher whose clock is unrelated. */
  void restart() { rebase_ = started_; }
  /* The output timestamp for a message with this publisher timestamp. */
  uint32_t map(uint32_t timestamp);
  bool started() const { return started_; }
  uint32_t last() const { return last_; }

private:
  bool started_ = false;
  bool rebase_ = false;
  uint32_t in_base_ = 0;
  uint32_t out_base_ = 0;
  uint32_t last_ = 0; /* highest timestamp written */
};

} // namespace sugarcast::rtmp
