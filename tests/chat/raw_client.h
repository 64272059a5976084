/* Test support: a blocking WebSocket client on a raw TCP socket, for what a
 * well-behaved client library will not do (unmasked frames, bad UTF-8,
 * stopping reading). Frames are parsed with the daemon's WsParser in client
 * mode. Every read has a timeout, so a test that waits for something that
 * never comes fails instead of hanging. */
#pragma once

#include "chat/wsframe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <optional>
#include <string>

namespace sugarcast::test {

struct Frame
{
  chat::WsEvent::Kind kind;
  std::string payload;
  uint16_t close_code = 0;
};

class RawClient
{
public:
  /* Connects to 127.0.0.1:port; receive_buffer > 0 shrinks SO_RCVBUF first. */
  explicit RawClient(int port, int receive_buffer = 0);
  /* Wraps a connected socket. */
  static RawClient adopt(int fd);
  ~RawClient();
  RawClient(RawClient &&other) noexcept;
  RawClient(const RawClient &) = delete;
  RawClient &operator=(const RawClient &) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  /* GET path with the WebSocket headers; answers the status code (101 on success). */
  int handshake(const std::string &path, std::string *response = nullptr);
  bool send_raw(const std::string &bytes);
  bool send_text(const std::string &text)
  {
    return send_raw(chat::ws_encode_client_frame(chat::WsOpcode::Text, text, 0x12345678));
  }
  /* The next frame, or nullopt on timeout, EOF or a framing error. */
  std::optional<Frame> next(int timeout_ms = 10000);
  /* The next text frame whose JSON has "type":"<type>", skipping others. */
  std::optional<std::string> next_of_type(const std::string &type, int timeout_ms = 10000);
  /* True once the server closed the TCP connection (reads EOF). */
  bool wait_eof(int timeout_ms = 10000);

private:
  RawClient() = default;
  int fd_ = -1;
  std::string buffered_;
  std::deque<Frame> frames_;
  chat::WsParser parser_{1 << 24, false};
};

} // namespace sugarcast::test
