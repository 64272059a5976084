/* sugarcastd chat — RFC 6455 framing: an incremental parser for the frames a
 * peer sends and encoders for the frames we send.
 *
 * The server takes WebSocket connections over from libsoup after the
 * handshake and frames them itself, so that one encoded frame can be shared
 * by every recipient of a broadcast (libsoup re-validates and re-frames each
 * message for each connection). No extension is negotiated, so RSV bits are
 * always an error. The parser is pure (no I/O, no GLib main loop) and
 * fuzzed (tests/chat/fuzz_wsframe.cpp).
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sugarcast::chat {

enum class WsOpcode : uint8_t {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xA,
};

/* Close codes this server sends (docs/protocol.md lists them). */
namespace close_code {
constexpr uint16_t normal = 1000;
constexpr uint16_t going_away = 1001;
constexpr uint16_t protocol_error = 1002;
constexpr uint16_t no_status = 1005; /* never sent: "the peer gave no code" */
constexpr uint16_t abnormal = 1006;  /* never sent: "the connection dropped" */
constexpr uint16_t policy = 1008;
constexpr uint16_t internal_error = 1011;
constexpr uint16_t try_again_later = 1013; /* the room or the server is full */
constexpr uint16_t send_queue_full = 4000;
constexpr uint16_t unauthorized = 4001;
constexpr uint16_t banned = 4003;
} // namespace close_code

/* One unmasked frame with FIN set, as a server sends it. */
std::string ws_encode_frame(WsOpcode opcode, std::string_view payload);
/* A close frame; `reason` is cut to fit the 125-byte control-frame limit
 * without splitting a UTF-8 character. */
std::string ws_encode_close(uint16_t code, std::string_view reason);
/* A masked frame, as a client sends it (tests, the load generator). */
std::string ws_encode_client_frame(WsOpcode opcode, std::string_view payload, uint32_t mask,
                                   bool fin = true);

struct WsEvent
{
  enum Kind {
    Text,    /* a whole text message, valid UTF-8 */
    Binary,  /* a whole binary message */
    Ping,    /* payload: the ping's data */
    Pong,    /* payload: the pong's data */
    Close,   /* close_code (1005 when the peer gave none), payload: the reason */
    TooBig,  /* a data message longer than the limit; its bytes were skipped */
    BadUtf8, /* a text message that is not valid UTF-8 */
  } kind;
  std::string_view payload;
  uint16_t close_code = 0;
  uint64_t size = 0; /* TooBig: the message's length */
};

class WsParser
{
public:
  /* `masked`: what the peer must send (clients mask, servers do not). */
  WsParser(size_t max_message_bytes, bool masked);

  /* Parses `size` bytes, calling `on_event` for each complete message or
   * control frame. Returns 0, or the close code of a protocol error (1002)
   * after which the parser takes no more input; error() says what was wrong. */
  uint16_t feed(const char *data, size_t size,
                const std::function<void(const WsEvent &)> &on_event);

  const std::string &error() const { return error_; }
  /* Between messages, with nothing buffered. */
  bool idle() const { return header_len_ == 0 && message_opcode_ == 0 && remaining_ == 0; }

private:
  uint16_t fail(std::string why);
  uint16_t header_complete();
  uint16_t frame_complete(const std::function<void(const WsEvent &)> &on_event);

  size_t max_message_bytes_;
  bool masked_;
  uint8_t header_[14] = {};
  uint8_t header_len_ = 0;
  uint8_t header_need_ = 2;
  bool in_payload_ = false;
  bool fin_ = false;
  uint8_t opcode_ = 0;
  uint8_t mask_[4] = {};
  uint8_t mask_pos_ = 0;
  bool frame_masked_ = false;
  uint64_t remaining_ = 0;
  uint8_t message_opcode_ = 0; /* Text or Binary while a message is under way */
  uint64_t message_size_ = 0;
  bool discarding_ = false;
  std::string message_;
  std::string control_;
  std::string error_;
  bool failed_ = false;
};

/* RFC 6455 Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
std::string ws_accept_key(std::string_view key);

} // namespace sugarcast::chat
