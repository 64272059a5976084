/* Sugarcast RTMP — FLV tags from RTMP media messages. */
#include "flv.h"

#include "amf0.h"

namespace sugarcast::rtmp {

std::vector<uint8_t> flv_header(uint8_t flags)
{
  return {'F', 'L', 'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0};
}

void write_flv_tag(uint8_t *dst, uint8_t type, uint32_t timestamp, const uint8_t *payload,
                   size_t payload_size)
{
  const uint32_t size = static_cast<uint32_t>(payload_size);
  dst[0] = type;
  dst[1] = static_cast<uint8_t>(size >> 16);
  dst[2] = static_cast<uint8_t>(size >> 8);
  dst[3] = static_cast<uint8_t>(size);
  dst[4] = static_cast<uint8_t>(timestamp >> 16);
  dst[5] = static_cast<uint8_t>(timestamp >> 8);
  dst[6] = static_cast<uint8_t>(timestamp);
  dst[7] = static_cast<uint8_t>(timestamp >> 24);
  dst[8] = dst[9] = dst[10] = 0;
  if (payload_size)
    std::copy(payload, payload + payload_size, dst + 11);
  const uint32_t back = size + 11;
  uint8_t *tail = dst + 11 + payload_size;
  tail[0] = static_cast<uint8_t>(back >> 24);
  tail[1] = static_cast<uint8_t>(back >> 16);
  tail[2] = static_cast<uint8_t>(back >> 8);
  tail[3] = static_cast<uint8_t>(back);
}

uint8_t flv_flags_from_metadata(const std::vector<uint8_t> &payload)
{
  AmfReader reader(payload.data(), payload.size());
  auto name = reader.read();
  if (!name || !name->is_string() || name->as_string() != "onMetaData")
    return 0;
  auto data = reader.read();
  if (!data || !data->is_object())
    return 0;
  uint8_t flags = 0;
  if (data->get("audiocodecid"))
    flags |= kFlvHasAudio;
  if (data->get("videocodecid"))
    flags |= kFlvHasVideo;
  return flags;
}

bool is_sequence_header(const Message &m)
{
  if (m.payload.size() < 2)
    return false;
  if (m.type == kVideo) {
    const uint8_t codec = m.payload[0] & 0x0f;
    if (m.payload[0] & 0x80) /* enhanced RTMP: packet type 0 is the sequence start */
      return (m.payload[0] & 0x0f) == 0;
    return (codec == 7 || codec == 12) && m.payload[1] == 0;
  }
  if (m.type == kAudio)
    return (m.payload[0] >> 4) == 10 && m.payload[1] == 0;
  return false;
}

bool is_video_keyframe(const Message &m)
{
  return m.type == kVideo && !m.payload.empty() && ((m.payload[0] >> 4) & 0x07) == 1;
}

uint32_t FlvTimeline::map(uint32_t timestamp)
{
  if (!started_) {
    started_ = true;
    in_base_ = out_base_ = timestamp;
    last_ = timestamp;
    return timestamp;
  }
  if (rebase_) {
    rebase_ = false;
    in_base_ = timestamp;
    out_base_ = last_ + 1;
  }
  const int32_t offset = static_cast<int32_t>(timestamp - in_base_);
  uint32_t out = out_base_ + static_cast<uint32_t>(offset);
  if (offset < 0 && in_base_ != out_base_)
    out = out_base_; /* a later publisher never goes back before its first tag */
  if (static_cast<int32_t>(out - last_) > 0)
    last_ = out;
  return out;
}

} // namespace sugarcast::rtmp
