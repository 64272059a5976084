#include "raw_client.h"

#include "testenv.h"

#include <cerrno>
#include <chrono>
#include <cstring>

namespace sugarcast::test {

RawClient::RawClient(int port, int receive_buffer)
{
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (receive_buffer > 0)
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

RawClient RawClient::adopt(int fd)
{
  RawClient c;
  c.fd_ = fd;
  return c;
}

RawClient::RawClient(RawClient &&o) noexcept
    : fd_(o.fd_), buffered_(std::move(o.buffered_)), frames_(std::move(o.frames_)),
      parser_(std::move(o.parser_))
{
  o.fd_ = -1;
}

RawClient::~RawClient()
{
  if (fd_ >= 0)
    close(fd_);
}

bool RawClient::send_raw(const std::string &bytes)
{
  return send_all(fd_, bytes.data(), bytes.size());
}

int RawClient::handshake(const std::string &path, std::string *response)
{
  const std::string request =
      "GET " + path +
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  if (!send_raw(request))
    return -1;
  std::string head;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (head.find("\r\n\r\n") == std::string::npos) {
    char buf[4096];
    const std::optional<ssize_t> n = recv_before(fd_, buf, sizeof buf, deadline);
    if (!n || *n <= 0)
      return -1;
    head.append(buf, static_cast<size_t>(*n));
  }
  const size_t end = head.find("\r\n\r\n") + 4;
  buffered_ = head.substr(end);
  head.resize(end);
  if (response)
    *response = head;
  int status = -1;
  std::sscanf(head.c_str(), "HTTP/1.1 %d", &status);
  return status;
}

std::optional<Frame> RawClient::next(int timeout_ms)
{
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (frames_.empty()) {
    std::string data;
    if (!buffered_.empty()) {
      data.swap(buffered_);
    } else {
      char buf[65536];
      const std::optional<ssize_t> n = recv_before(fd_, buf, sizeof buf, deadline);
      if (!n || *n <= 0)
        return std::nullopt;
      data.assign(buf, static_cast<size_t>(*n));
    }
    if (parser_.feed(data.data(), data.size(), [this](const chat::WsEvent &e) {
          frames_.push_back({e.kind, std::string(e.payload), e.close_code});
        }) != 0)
      return std::nullopt;
  }
  Frame f = std::move(frames_.front());
  frames_.pop_front();
  return f;
}

std::optional<std::string> RawClient::next_of_type(const std::string &type, int timeout_ms)
{
  const std::string needle = "\"type\":\"" + type + "\"";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::nullopt;
    auto f = next(static_cast<int>(left.count()));
    if (!f)
      return std::nullopt;
    if (f->kind == chat::WsEvent::Text && f->payload.find(needle) != std::string::npos)
      return f->payload;
  }
}

bool RawClient::wait_eof(int timeout_ms)
{
  return wait_closed(fd_, std::chrono::milliseconds(timeout_ms));
}

} // namespace sugarcast::test
