/* Sugarcast RTMP — chunk streams: bytes to messages and back. */
#include "chunk.h"

#include <algorithm>

namespace sugarcast::rtmp {

namespace {

uint32_t be24(const uint8_t *p)
{
  return uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2];
}

uint32_t be32(const uint8_t *p)
{
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

uint32_t le32(const uint8_t *p)
{
  return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0];
}

void put_be24(std::vector<uint8_t> &out, uint32_t v)
{
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void put_be32(std::vector<uint8_t> &out, uint32_t v)
{
  out.push_back(static_cast<uint8_t>(v >> 24));
  put_be24(out, v);
}

constexpr uint32_t kExtendedMarker = 0xffffff;

} // namespace

bool ChunkReader::fail(std::string what)
{
  if (error_.empty())
    error_ = std::move(what);
  return false;
}

bool ChunkReader::feed(const uint8_t *data, size_t size, std::vector<Message> &messages)
{
  if (failed())
    return false;
  /* A chunk left incomplete by the last call is completed first, taking from
   * data only the bytes it still misses: the rest is parsed where it lies,
   * not copied behind it (a video frame's first chunk header often arrives
   * alone, and the whole frame would be copied once more). */
  while (!buffer_.empty()) {
    if (size == 0)
      return true;
    const size_t take = std::min(size, chunk_missing_);
    buffer_.insert(buffer_.end(), data, data + take);
    data += take;
    size -= take;
    const int r = parse_chunk(buffer_.data(), buffer_.size(), messages);
    if (r < 0)
      return false;
    if (r > 0) /* it took exactly what it missed, so all of the buffer */
      buffer_.erase(buffer_.begin(), buffer_.begin() + r);
  }
  size_t used = 0;
  for (;;) {
    const int r = parse_chunk(data + used, size - used, messages);
    if (r < 0)
      return false;
    if (r == 0)
      break;
    used += static_cast<size_t>(r);
  }
  buffer_.assign(data + used, data + size);
  return true;
}

/* Returns the number of bytes of the chunk consumed (> 0), 0 when the chunk
 * is not complete yet, -1 on error. */
int ChunkReader::parse_chunk(const uint8_t *p, size_t avail, std::vector<Message> &messages)
{
  /* Each incomplete case says how many more bytes its next step needs. */
  auto more = [this, avail](size_t needed) {
    chunk_missing_ = needed - avail;
    return 0;
  };
  if (avail < 1)
    return more(1);
  const uint8_t fmt = p[0] >> 6;
  uint32_t csid = p[0] & 0x3f;
  size_t pos = 1;
  if (csid == 0) {
    if (avail < 2)
      return more(2);
    csid = 64 + p[1];
    pos = 2;
  } else if (csid == 1) {
    if (avail < 3)
      return more(3);
    csid = 64 + p[1] + 256u * p[2];
    pos = 3;
  }

  static constexpr size_t header_sizes[4] = {11, 7, 3, 0};
  if (avail < pos + header_sizes[fmt])
    return more(pos + header_sizes[fmt]);

  auto found = streams_.find(csid);
  if (found == streams_.end()) {
    if (fmt != 0)
      return fail("chunk type " + std::to_string(fmt) + " on chunk stream " + std::to_string(csid) +
                  ", which has had no type-0 header"),
             -1;
    if (streams_.size() >= limits_.max_chunk_streams)
      return fail("more than " + std::to_string(limits_.max_chunk_streams) +
                  " chunk streams in use (chunk stream " + std::to_string(csid) + ")"),
             -1;
  }
  /* Work on a copy of the header state: nothing changes until the whole
   * chunk is here. */
  Stream dummy;
  const Stream &prev = found != streams_.end() ? found->second : dummy;
  uint32_t ts_field = prev.ts_field;
  uint32_t length = prev.length;
  uint8_t type = prev.type;
  uint32_t stream_id = prev.stream_id;
  const uint8_t *h = p + pos;
  if (fmt <= 2)
    ts_field = be24(h);
  if (fmt <= 1) {
    length = be24(h + 3);
    type = h[6];
  }
  if (fmt == 0)
    stream_id = le32(h + 7);
  pos += header_sizes[fmt];

  const bool extended = fmt <= 2 ? ts_field == kExtendedMarker : prev.extended;
  if (extended) {
    if (avail < pos + 4)
      return more(pos + 4);
    const uint32_t ext = be32(p + pos);
    pos += 4;
    if (fmt <= 2)
      ts_field = ext;
  }

  if (fmt <= 2 && prev.in_progress)
    return fail("chunk type " + std::to_string(fmt) + " header on chunk stream " +
                std::to_string(csid) + " in the middle of a " + std::to_string(prev.length) +
                "-byte message (" + std::to_string(prev.payload.size()) +
                " bytes received): a type-3 continuation was expected"),
           -1;
  if (length > limits_.max_message_size)
    return fail("message of " + std::to_string(length) + " bytes on chunk stream " +
                std::to_string(csid) + " exceeds the limit of " +
                std::to_string(limits_.max_message_size) + " bytes"),
           -1;

  const size_t received = prev.in_progress ? prev.payload.size() : 0;
  const size_t take = std::min<size_t>(chunk_size_, length - received);
  if (avail < pos + take)
    return more(pos + take);

  Stream &s = streams_[csid];
  if (!s.in_progress) {
    if (fmt == 0)
      s.timestamp = ts_field;
    else
      s.timestamp += ts_field; /* types 1-3 starting a message add the delta */
    /* No reserve(length): the length is the peer's claim, and 64 chunk
     * streams each announcing 16 MiB would reserve 1 GiB after a few
     * hundred bytes. The payload grows with the bytes that arrive. */
    s.payload.clear();
    s.payload.shrink_to_fit();
    s.in_progress = true;
  }
  s.has_header = true;
  s.extended = extended;
  s.ts_field = ts_field;
  s.length = length;
  s.type = type;
  s.stream_id = stream_id;
  s.payload.insert(s.payload.end(), p + pos, p + pos + take);
  pos += take;

  if (s.payload.size() == s.length) {
    s.in_progress = false;
    Message m;
    m.chunk_stream = csid;
    m.type = s.type;
    m.stream_id = s.stream_id;
    m.timestamp = s.timestamp;
    m.payload.swap(s.payload);
    if ((m.type == kSetChunkSize || m.type == kAbort) && !control(m))
      return -1;
    messages.push_back(std::move(m));
  }
  return static_cast<int>(pos);
}

bool ChunkReader::control(const Message &m)
{
  if (m.payload.size() < 4)
    return fail(std::string(m.type == kSetChunkSize ? "Set Chunk Size" : "Abort") + " message of " +
                std::to_string(m.payload.size()) + " bytes, expected 4");
  const uint32_t value = be32(m.payload.data());
  if (m.type == kSetChunkSize) {
    const uint32_t size = value & 0x7fffffff;
    if (size < 1 || size > limits_.max_chunk_size)
      return fail("Set Chunk Size to " + std::to_string(size) + " bytes, expected 1 to " +
                  std::to_string(limits_.max_chunk_size));
    chunk_size_ = size;
  } else {
    auto s = streams_.find(value);
    if (s != streams_.end()) {
      s->second.in_progress = false;
      s->second.payload.clear();
    }
  }
  return true;
}

void ChunkWriter::write(const Message &m, std::vector<uint8_t> &out)
{
  Last &last = last_[m.chunk_stream];
  const uint32_t length = static_cast<uint32_t>(m.payload.size());
  int fmt = 0;
  uint32_t ts_field = m.timestamp;
  if (last.valid && last.stream_id == m.stream_id && m.timestamp >= last.timestamp) {
    const uint32_t delta = m.timestamp - last.timestamp;
    ts_field = delta;
    if (last.length != length || last.type != m.type)
      fmt = 1;
    else if (last.delta != delta)
      fmt = 2;
    else
      fmt = 3;
  }
  const bool extended = ts_field >= kExtendedMarker;

  auto basic_header = [&](int type) {
    const uint32_t id = m.chunk_stream;
    if (id < 64) {
      out.push_back(static_cast<uint8_t>(type << 6 | id));
    } else if (id < 64 + 256) {
      out.push_back(static_cast<uint8_t>(type << 6));
      out.push_back(static_cast<uint8_t>(id - 64));
    } else {
      out.push_back(static_cast<uint8_t>(type << 6 | 1));
      out.push_back(static_cast<uint8_t>((id - 64) & 0xff));
      out.push_back(static_cast<uint8_t>((id - 64) >> 8));
    }
  };

  basic_header(fmt);
  if (fmt <= 2)
    put_be24(out, extended ? kExtendedMarker : ts_field);
  if (fmt <= 1) {
    put_be24(out, length);
    out.push_back(m.type);
  }
  if (fmt == 0)
    for (int i = 0; i < 4; ++i)
      out.push_back(static_cast<uint8_t>(m.stream_id >> (8 * i)));
  if (extended)
    put_be32(out, ts_field);

  size_t sent = 0;
  do {
    const size_t take = std::min<size_t>(chunk_size_, length - sent);
    out.insert(out.end(), m.payload.begin() + static_cast<std::ptrdiff_t>(sent),
               m.payload.begin() + static_cast<std::ptrdiff_t>(sent + take));
    sent += take;
    if (sent < length) {
      basic_header(3);
      if (extended)
        put_be32(out, ts_field);
    }
  } while (sent < length);

  last.valid = true;
  last.delta = fmt == 0 ? m.timestamp : ts_field;
  last.timestamp = m.timestamp;
  last.length = length;
  last.type = m.type;
  last.stream_id = m.stream_id;
}

namespace {

Message control_message(uint8_t type, std::vector<uint8_t> payload)
{
  Message m;
  m.chunk_stream = 2;
  m.type = type;
  m.payload = std::move(payload);
  return m;
}

std::vector<uint8_t> be32_bytes(uint32_t v)
{
  std::vector<uint8_t> out;
  put_be32(out, v);
  return out;
}

} // namespace

Message make_set_chunk_size(uint32_t size)
{
  return control_message(kSetChunkSize, be32_bytes(size));
}

Message make_window_ack_size(uint32_t size)
{
  return control_message(kWindowAckSize, be32_bytes(size));
}

Message make_set_peer_bandwidth(uint32_t size, uint8_t limit_type)
{
  auto payload = be32_bytes(size);
  payload.push_back(limit_type);
  return control_message(kSetPeerBandwidth, std::move(payload));
}

Message make_acknowledgement(uint32_t sequence)
{
  return control_message(kAcknowledgement, be32_bytes(sequence));
}

Message make_user_control(uint16_t event, uint32_t value)
{
  std::vector<uint8_t> payload = {static_cast<uint8_t>(event >> 8), static_cast<uint8_t>(event)};
  auto v = be32_bytes(value);
  payload.insert(payload.end(), v.begin(), v.end());
  return control_message(kUserControl, std::move(payload));
}

} // namespace sugarcast::rtmp
