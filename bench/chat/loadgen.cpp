/* chat-loadgen — a lean WebSocket load generator for bench/chat.
 *
 * Opens N connections to one room, lets S of them send M chat messages a
 * second in total (each carrying its send time), and counts what every
 * connection receives: deliveries per second and the latency of each
 * delivery (CLOCK_MONOTONIC is shared by every process on the machine).
 * One thread, one epoll set, no allocation per message and one recv() per
 * readable socket: a Node generator saturates a core at ~100,000
 * messages/s here, this one does not.
 *
 *   chat-loadgen --port P --path /ws/chat/ID --connections N --senders S
 *                --rate M --seconds T [--token JWT] [--idle SECONDS]
 *
 * Prints "READY n" once every connection has its first message, waits
 * --idle seconds (the bench reads the server's idle memory then), sends for
 * --seconds, waits 2 s for stragglers and prints one JSON line of results.
 * Everything is bounded: connections, time, and a hard deadline. */
#include <arpa/inet.h>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

int64_t now_ns()
{
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Options
{
  int port = 8080;
  std::string path = "/ws/chat/bench";
  int connections = 1000;
  int senders = 2;
  double rate = 10;
  double seconds = 10;
  double idle = 3;
  std::string token;
};

enum class State { Connecting, Handshake, Open, Dead };

struct Conn
{
  int fd = -1;
  State state = State::Connecting;
  bool sender = false;
  bool welcomed = false;
  std::string in; /* unparsed bytes */
};

/* Latency histogram: 10 µs buckets up to 10 s. */
struct Histogram
{
  std::vector<uint64_t> buckets = std::vector<uint64_t>(1000001, 0);
  uint64_t count = 0;
  int64_t max_us = 0;
  void add(int64_t us)
  {
    if (us < 0)
      us = 0;
    max_us = std::max(max_us, us);
    buckets[std::min<int64_t>(us / 10, int64_t(buckets.size()) - 1)]++;
    ++count;
  }
  double percentile(double p) const
  {
    if (count == 0)
      return 0;
    const uint64_t want = uint64_t(std::ceil(p * double(count)));
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets.size(); ++i) {
      seen += buckets[i];
      if (seen >= want)
        return double(i * 10 + 5) / 1000.0; /* ms */
    }
    return double(max_us) / 1000.0;
  }
};

bool send_all(int fd, const std::string &data)
{
  size_t off = 0;
  int spins = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += size_t(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && ++spins < 100000)
      continue;
    return false;
  }
  return true;
}

std::string masked_text(const std::string &payload)
{
  std::string f;
  f.push_back(char(0x81));
  const size_t n = payload.size();
  if (n < 126) {
    f.push_back(char(0x80 | n));
  } else {
    f.push_back(char(0x80 | 126));
    f.push_back(char(n >> 8));
    f.push_back(char(n & 0xFF));
  }
  const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  f.append(reinterpret_cast<const char *>(key), 4);
  for (size_t i = 0; i < n; ++i)
    f.push_back(char(payload[i] ^ key[i & 3]));
  return f;
}

} // namespace

int main(int argc, char **argv)
{
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--port")
      o.port = atoi(v.c_str());
    else if (k == "--path")
      o.path = v;
    else if (k == "--connections")
      o.connections = atoi(v.c_str());
    else if (k == "--senders")
      o.senders = atoi(v.c_str());
    else if (k == "--rate")
      o.rate = atof(v.c_str());
    else if (k == "--seconds")
      o.seconds = atof(v.c_str());
    else if (k == "--idle")
      o.idle = atof(v.c_str());
    else if (k == "--token")
      o.token = v;

    else {
      fprintf(stderr, "chat-loadgen: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.connections < 1 || o.connections > 19000 || o.senders < 1 || o.senders > o.connections ||
      o.rate <= 0 || o.seconds <= 0 || o.seconds > 600) {
    fprintf(stderr, "chat-loadgen: connections 1..19000, senders 1..connections, rate > 0, "
                    "seconds 0..600\n");
    return 2;
  }
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, rlim_t(o.connections) + 100);
  setrlimit(RLIMIT_NOFILE, &rl);
  signal(SIGPIPE, SIG_IGN);
  const int64_t hard_deadline = now_ns() + int64_t((o.seconds + o.idle + 120) * 1e9);

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(size_t(o.connections));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(o.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string request_common =
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: "
      "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  int opened = 0, welcomed = 0, failed = 0;
  /* Connect in waves so the server's accept queue is never the test. */
  auto open_one = [&](size_t i) {
    Conn &c = conns[i];
    c.sender = int(i) < o.senders;
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c.fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      close(c.fd);
      c.state = State::Dead;
      ++failed;
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    ++opened;
  };

  Histogram hist;
  uint64_t delivered = 0, errors = 0, closed = 0;
  bool measuring = false;
  int64_t measure_start = 0, send_end = 0, stop_at = 0, next_send = 0;
  uint64_t sent = 0;
  size_t next_to_open = 0;
  std::vector<epoll_event> events(1024);
  static char buf[1 << 16];

  auto handle_payload = [&](Conn &c, const char *p, size_t n) {
    if (!c.welcomed) {
      c.welcomed = true;
      ++welcomed;
      return;
    }
    /* "text":"t=<ns> ..." */
    static const char needle[] = "\"text\":\"t=";
    const void *at = memmem(p, n, needle, sizeof needle - 1);
    if (!at) {
      if (memmem(p, n, "\"type\":\"error\"", 14))
        ++errors;
      return;
    }
    const char *q = static_cast<const char *>(at) + sizeof needle - 1;
    int64_t t = 0;
    while (q < p + n && *q >= '0' && *q <= '9')
      t = t * 10 + (*q++ - '0');
    if (measuring) {
      ++delivered;
      hist.add((now_ns() - t) / 1000);
    }
  };

  auto on_readable = [&](size_t i) {
    Conn &c = conns[i];
    while (true) {
      const ssize_t r = recv(c.fd, buf, sizeof buf, 0);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        if (c.state != State::Dead) {
          ++closed;
          c.state = State::Dead;
          epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          close(c.fd);
        }
        return;
      }
      if (r < 0)
        return;
      const char *data = buf;
      size_t size = size_t(r);
      if (c.state == State::Handshake) {
        c.in.append(data, size);
        const size_t end = c.in.find("\r\n\r\n");
        if (end == std::string::npos)
          continue;
        if (c.in.compare(0, 12, "HTTP/1.1 101") != 0) {
          fprintf(stderr, "chat-loadgen: handshake refused: %.*s\n", int(c.in.find("\r\n")),
                  c.in.c_str());
          ++failed;
          c.state = State::Dead;
          epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          close(c.fd);
          return;
        }
        c.state = State::Open;
        c.in.erase(0, end + 4);
        if (c.in.empty())
          continue;
        std::string rest;
        rest.swap(c.in);
        c.in.clear();
        /* fall through with the bytes after the handshake */
        std::memcpy(buf, rest.data(), rest.size());
        data = buf;
        size = rest.size();
      }
      /* Frames from the server: unmasked. Parse in place when whole. */
      const char *p = data;
      const char *end = data + size;
      std::string joined;
      if (!c.in.empty()) {
        c.in.append(data, size);
        joined.swap(c.in);
        p = joined.data();
        end = p + joined.size();
      }
      while (end - p >= 2) {
        const uint8_t b1 = uint8_t(p[1]) & 0x7F;
        size_t header = 2;
        uint64_t len = b1;
        if (b1 == 126) {
          if (end - p < 4)
            break;
          len = (uint64_t(uint8_t(p[2])) << 8) | uint8_t(p[3]);
          header = 4;
        } else if (b1 == 127) {
          if (end - p < 10)
            break;
          len = 0;
          for (int k = 0; k < 8; ++k)
            len = (len << 8) | uint8_t(p[2 + k]);
          header = 10;
        }
        if (uint64_t(end - p) < header + len)
          break;
        const uint8_t opcode = uint8_t(p[0]) & 0x0F;
        if (opcode == 0x1)
          handle_payload(c, p + header, size_t(len));
        else if (opcode == 0x8)
          ++closed;
        p += header + len;
      }
      if (p < end)
        c.in.assign(p, size_t(end - p));
      /* Level-triggered: what is left wakes us again. A short read means
       * the socket is empty, and asking again would cost a syscall per
       * delivery for nothing. */
      if (size_t(r) < sizeof buf)
        return;
    }
  };

  auto on_writable = [&](size_t i) {
    Conn &c = conns[i];
    if (c.state != State::Connecting)
      return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      ++failed;
      c.state = State::Dead;
      epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
      return;
    }
    std::string path = o.path;
    if (c.sender && !o.token.empty())
      path += (path.find('?') == std::string::npos ? "?token=" : "&token=") + o.token;
    send_all(c.fd, "GET " + path + request_common);
    c.state = State::Handshake;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
  };

  const int64_t started = now_ns();
  int64_t ready_at = 0;
  bool ready = false;
  const double interval_ns = 1e9 / o.rate;
  while (true) {
    const int64_t now = now_ns();
    if (now > hard_deadline) {
      fprintf(stderr, "chat-loadgen: hard deadline reached\n");
      break;
    }
    /* Open up to 500 connections at a time. */
    while (next_to_open < conns.size() && opened - welcomed - failed < 500)
      open_one(next_to_open++);
    if (!ready && welcomed + failed >= o.connections) {
      ready = true;
      ready_at = now;
      printf("READY %d connected in %.2f s (%d failed)\n", welcomed, (now - started) / 1e9, failed);
      fflush(stdout);
    }
    if (ready && !measuring && stop_at == 0 && now - ready_at >= int64_t(o.idle * 1e9)) {
      measuring = true;
      measure_start = now;
      send_end = now + int64_t(o.seconds * 1e9);
      next_send = now;
      printf("LOAD\n");
      fflush(stdout);
    }
    if (measuring && now < send_end) {
      while (next_send <= now) {
        Conn &s = conns[sent % uint64_t(o.senders)];
        if (s.state == State::Open) {
          char text[160];
          snprintf(text, sizeof text,
                   "{\"v\":1,\"type\":\"chat\",\"text\":\"t=%" PRId64
                   " hello from the load generator\"}",
                   now_ns());
          send_all(s.fd, masked_text(text));
        }
        ++sent;
        next_send += int64_t(interval_ns);
      }
    }
    if (measuring && now >= send_end && stop_at == 0)
      stop_at = now + 2000000000;
    if (stop_at && now >= stop_at)
      break;
    int timeout_ms = 50;
    if (measuring && now < send_end)
      timeout_ms = int(std::max<int64_t>(0, (next_send - now) / 1000000));
    const int n = epoll_wait(ep, events.data(), int(events.size()), timeout_ms);
    for (int k = 0; k < n; ++k) {
      const size_t i = size_t(events[k].data.u64);
      if (conns[i].state == State::Dead)
        continue;
      if (events[k].events & EPOLLOUT)
        on_writable(i);
      if (events[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_readable(i);
    }
  }
  const double secs = (send_end - measure_start) / 1e9;
  const uint64_t expected = sent * uint64_t(welcomed);
  printf("{\"connections\":%d,\"failed\":%d,\"sent\":%" PRIu64 ",\"delivered\":%" PRIu64
         ",\"expected\":%" PRIu64 ",\"seconds\":%.2f,\"deliveries_per_s\":%.0f,"
         "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,\"errors\":%" PRIu64
         ",\"closed\":%" PRIu64 "}\n",
         welcomed, failed, sent, delivered, expected, secs, delivered / (secs > 0 ? secs : 1),
         hist.percentile(0.50), hist.percentile(0.99), hist.max_us / 1000.0, errors, closed);
  for (auto &c : conns)
    if (c.state != State::Dead && c.fd >= 0)
      close(c.fd);
  return 0;
}
