/* A raw HTTP/1.1 client for the daemon's port, spoken to byte by byte so
 * that nothing normalises what is sent; shared by the media and limits
 * suites. */
#pragma once

#include "testenv.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

namespace sugarcast::test {

struct Response
{
  int status = 0; /* 0: the connection closed (or nothing came) before a whole response */
  std::map<std::string, std::string> headers; /* names in lower case */
  std::string body;
  std::string header(const std::string &name) const
  {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

/* One TCP connection to the daemon, spoken to byte by byte. */
class Raw
{
public:
  explicit Raw(int port)
  {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0)
      ADD_FAILURE() << "connect to port " << port << ": " << strerror(errno);
  }
  ~Raw()
  {
    if (fd_ >= 0)
      close(fd_);
  }
  Raw(const Raw &) = delete;
  Raw &operator=(const Raw &) = delete;

  bool send(const std::string &data) { return send_all(fd_, data.data(), data.size()); }

  /* The next response; HEAD answers carry no body. */
  Response read(bool head = false, std::chrono::seconds timeout = std::chrono::seconds(20))
  {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline))
        return {};
    Response r;
    std::string head_text = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12)
      return {};
    r.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head_text.find("\r\n", start);
      const std::string line = head_text.substr(start, line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string::npos)
        continue;
      std::string name = line.substr(0, colon);
      for (auto &c : name)
        c = static_cast<char>(g_ascii_tolower(c));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    size_t length = 0;
    if (!head && r.status != 204 && r.status != 304 && r.status >= 200)
      length = std::stoul(r.header("content-length").empty() ? "0" : r.header("content-length"));
    while (buffer_.size() < length)
      if (!fill(deadline)) {
        r.status = 0;
        return r;
      }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  /* Whether the server closes the connection within `timeout`; what it sends
   * meanwhile is counted in received(). */
  bool closed_within(std::chrono::seconds timeout)
  {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) {
      received_ += buffer_.size();
      buffer_.clear();
    }
    return eof_;
  }
  size_t received() const { return received_; }

  /* Closes with a reset, as a client that vanishes does. */
  void reset()
  {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

private:
  /* More bytes into the buffer; false on end of stream, error or deadline. */
  bool fill(std::chrono::steady_clock::time_point deadline)
  {
    char chunk[65536];
    const std::optional<ssize_t> got = recv_before(fd_, chunk, sizeof chunk, deadline);
    if (!got)
      return false;
    const ssize_t n = *got;
    if (n <= 0) {
      eof_ = true; /* end of stream or reset: closed either way */
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
  size_t received_ = 0;
};

inline std::string get(const std::string &path, const std::string &extra = "",
                       const std::string &method = "GET")
{
  return method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

inline void write_file(const std::string &path, const std::string &content)
{
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

/* A file body no two offsets of which look alike over short spans. */
inline std::string pattern(size_t size)
{
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return s;
}

/* The value of a Prometheus series, 0 when absent. */
inline double metric(const std::string &text, const std::string &series)
{
  const size_t at = text.find("\n" + series + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size() + 2));
}

} // namespace sugarcast::test
