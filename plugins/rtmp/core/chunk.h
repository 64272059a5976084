/* Sugarcast RTMP — chunk streams: bytes to messages and back.
 *
 * ChunkReader turns the bytes a peer sends after the handshake into whole
 * messages: chunk types 0-3, one- to three-byte chunk stream ids, extended
 * timestamps (also on type-3 chunks, which repeat them), timestamp deltas,
 * messages of several chunk streams interleaved, Set Chunk Size applied at
 * the exact byte it takes effect, and Abort. Every length is checked against
 * ChunkLimits before memory is committed; a violation stops the reader with
 * an error naming the chunk stream and what was expected.
 *
 * ChunkWriter does the reverse for what the server sends, compressing
 * headers (types 1-3) the way encoders expect.
 */
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace sugarcast::rtmp {

enum MessageType : uint8_t {
  kSetChunkSize = 1,
  kAbort = 2,
  kAcknowledgement = 3,
  kUserControl = 4,
  kWindowAckSize = 5,
  kSetPeerBandwidth = 6,
  kAudio = 8,
  kVideo = 9,
  kDataAmf3 = 15,
  kSharedObjectAmf3 = 16,
  kCommandAmf3 = 17,
  kDataAmf0 = 18,
  kSharedObjectAmf0 = 19,
  kCommandAmf0 = 20,
  kAggregate = 22,
};

enum UserControlEvent : uint16_t {
  kStreamBegin = 0,
  kStreamEof = 1,
  kStreamDry = 2,
  kSetBufferLength = 3,
  kStreamIsRecorded = 4,
  kPingRequest = 6,
  kPingResponse = 7,
};

constexpr uint32_t kDefaultChunkSize = 128;
constexpr uint32_t kMaxChunkStreamId = 65599;

struct Message
{
  uint32_t chunk_stream = 0;
  uint8_t type = 0;
  uint32_t stream_id = 0;
  uint32_t timestamp = 0; /* milliseconds; wraps at 2^32 */
  std::vector<uint8_t> payload;
};

struct ChunkLimits
{
  uint32_t max_chunk_size = 16 * 1024 * 1024;
  uint32_t max_message_size = 0xffffff; /* 16 MiB, the most a chunk header can say */
  size_t max_chunk_streams = 64;
};

class ChunkReader
{
public:
  explicit ChunkReader(ChunkLimits limits = {}) : limits_(limits) {}

  /* Parses as much of data as forms whole chunks (keeping the rest for the
   * next call) and appends completed messages. Returns false on a protocol
   * violation; error() says what, and the reader stays failed. */
  bool feed(const uint8_t *data, size_t size, std::vector<Message> &messages);

  bool failed() const { return !error_.empty(); }
  const std::string &error() const { return error_; }
  uint32_t chunk_size() const { return chunk_size_; }
  /* Bytes of a chunk not yet complete, waiting for more input. */
  size_t buffered() const { return buffer_.size(); }

private:
  struct Stream
  {
    bool has_header = false;
    bool extended = false; /* the last header carried an extended timestamp */
    uint32_t timestamp = 0;
    uint32_t ts_field = 0; /* last timestamp field: absolute (type 0) or delta */
    uint32_t length = 0;
    uint8_t type = 0;
    uint32_t stream_id = 0;
    bool in_progress = false;
    std::vector<uint8_t> payload;
  };

  /* 1 when a chunk was consumed, 0 when more bytes are needed, -1 on error. */
  int parse_chunk(const uint8_t *p, size_t avail, std::vector<Message> &messages);
  bool control(const Message &m);
  bool fail(std::string what);

  ChunkLimits limits_;
  uint32_t chunk_size_ = kDefaultChunkSize;
  std::unordered_map<uint32_t, Stream> streams_;
  std::vector<uint8_t> buffer_; /* an incomplete chunk, never more */
  size_t chunk_missing_ = 0;    /* bytes it needs before it can be parsed further */
  std::string error_;
};

class ChunkWriter
{
public:
  /* Call after (or while) queueing a Set Chunk Size message to the peer. */
  void set_chunk_size(uint32_t size) { chunk_size_ = size; }
  uint32_t chunk_size() const { return chunk_size_; }
  void write(const Message &m, std::vector<uint8_t> &out);

private:
  struct Last
  {
    bool valid = false;
    uint32_t timestamp = 0;
    uint32_t delta = 0;
    uint32_t length = 0;
    uint8_t type = 0;
    uint32_t stream_id = 0;
  };
  uint32_t chunk_size_ = kDefaultChunkSize;
  std::unordered_map<uint32_t, Last> last_;
};

/* Protocol control and user control messages the server sends. */
Message make_set_chunk_size(uint32_t size);
Message make_window_ack_size(uint32_t size);
Message make_set_peer_bandwidth(uint32_t size, uint8_t limit_type);
Message make_acknowledgement(uint32_t sequence);
Message make_user_control(uint16_t event, uint32_t value);

} // namespace sugarcast::rtmp
