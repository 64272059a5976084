/* sugarcastd — the media fast path. See fastpath.h. */
#include "fastpath.h"

#include "httpparse.h"
#include "workerpool.h"

#include <glib.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <list>
#include <unordered_map>

#define G_LOG_DOMAIN_NAME "sugarcastd"

namespace sugarcast {

struct MediaFastPath::Shared
{
  Options options;
  std::vector<Mount> mounts;
  Metrics &metrics;
  Handoff handoff;
  /* "GET /hls/", "HEAD /hls/", ...: how a media connection's first request starts. */
  std::vector<std::string> first_lines;
  std::atomic<bool> stopping{false};
  /* Every thread; the first also accepts and deals connections out in turn. */
  WorkerPool<Worker> pool;
};

namespace {

using namespace http1;

constexpr size_t kCacheEntries = 1024;
constexpr size_t kCacheBytes = 8u << 20;
/* Enough to tell "OPTIONS /clips/" from anything else after a few blank lines. */
constexpr size_t kFirstLookBytes = 256;
constexpr int kAcceptPauseMs = 100;
/* How often held playlist requests look at their playlists again: a
 * segment listed is answered within this (the playlists are renamed into
 * place, a stat(2) per playlist per tick tells). */
constexpr int kParkedCheckMs = 10;

int64_t monotonic_ms()
{
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void append_number(std::string &out, int64_t value)
{
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, static_cast<size_t>(end - digits));
}

/* Whether the connection closes after answering R: HTTP/1.1 unless
 * "Connection: close", HTTP/1.0 unless "Connection: keep-alive". */
bool closes_after(const Request &r)
{
  return r.http10 ? !r.connection_keep_alive || r.connection_close : r.connection_close;
}

const char *status_line(int status)
{
  switch (status) {
  case 200:
    return "HTTP/1.1 200 OK\r\n";
  case 204:
    return "HTTP/1.1 204 No Content\r\n";
  case 206:
    return "HTTP/1.1 206 Partial Content\r\n";
  case 400:
    return "HTTP/1.1 400 Bad Request\r\n";
  case 404:
    return "HTTP/1.1 404 Not Found\r\n";
  case 414:
    return "HTTP/1.1 414 URI Too Long\r\n";
  case 416:
    return "HTTP/1.1 416 Range Not Satisfiable\r\n";
  case 431:
    return "HTTP/1.1 431 Request Header Fields Too Large\r\n";
  case 503:
    return "HTTP/1.1 503 Service Unavailable\r\n";
  default:
    return "HTTP/1.1 500 Internal Server Error\r\n";
  }
}

} // namespace

class MediaFastPath::Worker final : public WorkerLoop::Body
{
public:
  /* LISTENER: the listening socket for the thread that accepts, or none. */
  Worker(Shared &shared, UniqueFd listener, int index)
      : shared_(shared), listener_(std::move(listener)), index_(index)
  {}
  ~Worker() { loop_.stop(); }

  bool start(std::string &error);
  WorkerLoop &loop() { return loop_; }
  /* From the accepting thread: a new connection for this one. */
  void give(int fd) { inbox_.post(UniqueFd(fd)); }

private:
  struct Parking;
  struct Connection
  {
    UniqueFd fd;
    std::list<Connection>::iterator self;
    int64_t deadline = 0;
    bool media = false;        /* its first request was seen to be the fast path's */
    bool input_closed = false; /* the peer will send nothing more */
    bool lingering = false;    /* output shut down; reading until the peer closes */
    std::string pending;       /* read, not yet answered */
    /* The response being sent: head, then a body from memory or a file. */
    bool writing = false;
    bool close_after = false;
    std::string head;
    size_t head_sent = 0;
    std::shared_ptr<const std::string> body;
    size_t body_off = 0;
    size_t body_end = 0;
    UniqueFd file;
    off_t file_off = 0;
    off_t file_end = 0;
    /* The peer's address as text, for viewer counting: looked up at its
     * first playlist, not per request (getpeername and inet_ntop on every
     * playlist cost 9 % of playlist requests/s in bench/daemon). */
    std::string peer;
    bool peer_known = false;
    /* A playlist request held until the segment its _HLS_msn names is
     * listed (blocking reload): its head stays in `pending`, unanswered. */
    Parking *parking = nullptr;
    std::list<Connection *>::iterator parked_at;
    int64_t parked_msn = 0;
    int64_t park_deadline = 0;
    bool park_expired = false;
  };
  /* The held requests for one playlist, oldest (soonest deadline) first,
   * and what its text said when last read. */
  struct Parking
  {
    size_t mount = 0;
    std::string relative;
    std::list<Connection *> waiting;
    struct stat seen
    {
    };
    HlsPlaylistState state;
  };
  enum class Hold { Serve, Answered, Parked };
  struct CachedFile
  {
    struct stat st; /* of the file the bytes were read from */
    std::shared_ptr<const std::string> bytes;
  };
  /* cache_ and parked_ are keyed by the mount's index and the path in it. */
  static std::string cache_key(size_t mount, const std::string &relative)
  {
    return static_cast<char>('0' + mount) + relative;
  }
  enum class Flush { Done, Again, Failed };

  /* WorkerLoop::Body: the thread's loop. */
  int timeout_ms() override;
  void on_io(void *tag, uint32_t events) override;
  void woken() override;
  void turn_done() override;
  void stopped() override;

  void accept_connections();
  void add_connection(int fd);
  void close(Connection &c)
  {
    if (c.parking)
      unpark(c);
    shared_.options.open->fetch_sub(1, std::memory_order_relaxed);
    connections_.erase(c.self);
  }
  /* Over the budget: 503 and closed, never served. */
  void refuse(int fd);
  void hand_over(Connection &c, std::string already_read);
  void touch(Connection &c);
  void expire();
  void look_first(Connection &c, uint32_t events);
  void process(Connection &c);
  Flush flush(Connection &c);
  bool serves(const Request &r, size_t &mount) const;
  /* A playlist request with _HLS_msn for a segment not yet listed, in a
   * playlist that can block: Parked (answered later by check_parked), or
   * Answered with 400 when it asks too far ahead, or 503 once it waited
   * three target durations (RFC 8216bis 6.2.5.2). Serve otherwise. */
  Hold hold(Connection &c, const Request &r, size_t mount);
  /* What the playlist says now; false when it cannot be read (or is over
   * 64 KiB): the request is then served as it is. */
  bool playlist_state(size_t mount, const std::string &relative, struct stat &st,
                      HlsPlaylistState &state);
  void unpark(Connection &c);
  /* Answers the held requests whose segment is listed, or whose playlist
   * ended or went, or whose time is up. */
  void check_parked();
  void respond(Connection &c, const Request &r, size_t mount);
  /* Tells the folder's PlaylistObserver (viewer counting) of a playlist served. */
  void observe_playlist(Connection &c, const Request &r, const MediaRoot &root,
                        const std::string &relative);
  void respond_error(Connection &c, int status, const char *code, const std::string &message,
                     std::string_view origin, const char *extra_headers = "");
  void begin_head(Connection &c, int status, std::string_view origin);
  void finish_head(Connection &c, bool keep_alive_header);
  std::shared_ptr<const std::string> cached(size_t mount, const std::string &relative,
                                            struct stat &st);
  std::shared_ptr<const std::string> keep(size_t mount, const std::string &relative, int fd,
                                          const struct stat &st);
  /* The whole file when it is at most kMaxCachedFileBytes; nullptr otherwise. */
  static std::shared_ptr<const std::string> read_small(int fd, const struct stat &st);
  const std::string &date();
  void count(int status);

  Shared &shared_;
  UniqueFd listener_;
  int index_;
  std::list<Connection> connections_; /* by deadline, soonest first */
  int64_t accept_paused_until_ = 0;
  char scratch_[kMaxHeadBytes];
  std::unordered_map<std::string, CachedFile> cache_;
  std::unordered_map<std::string, Parking> parked_; /* by cache key */
  int64_t next_parked_check_ = 0;
  size_t cache_bytes_ = 0;
  time_t date_second_ = -1;
  std::string date_;
  std::unordered_map<int, std::atomic<uint64_t> *> counters_;
  size_t next_worker_ = 0;
  /* epoll tag of the one descriptor that is not a connection */
  char listener_tag_ = 0;
  /* Last: the thread stops before anything it uses goes. */
  WorkerLoop loop_{*this, 128};
  Inbox<UniqueFd> inbox_{loop_}; /* connections given by the accepting thread */
};

bool MediaFastPath::Worker::start(std::string &error)
{
  if (!loop_.open(error) || (listener_ && !loop_.watch(listener_.get(), EPOLLIN, &listener_tag_))) {
    if (error.empty())
      error = g_strerror(errno);
    error = "cannot start the media fast path: " + error;
    return false;
  }
  if (!loop_.start("sc-media-" + std::to_string(index_), error)) {
    error = "cannot start the media fast path: " + error;
    return false;
  }
  return true;
}

int MediaFastPath::Worker::timeout_ms()
{
  const int64_t now = monotonic_ms();
  int64_t wait = -1;
  if (!connections_.empty())
    wait = std::max<int64_t>(0, connections_.front().deadline - now) + 1;
  if (!parked_.empty())
    wait = wait < 0 ? kParkedCheckMs : std::min<int64_t>(wait, kParkedCheckMs);
  if (accept_paused_until_) {
    const int64_t resume = std::max<int64_t>(0, accept_paused_until_ - now);
    wait = wait < 0 ? resume : std::min(wait, resume);
  }
  return static_cast<int>(std::min<int64_t>(wait, INT32_MAX));
}

void MediaFastPath::Worker::woken()
{
  /* Stopping (the loop ends after this turn), or connections given. */
  for (UniqueFd &fd : inbox_.take())
    add_connection(fd.release());
}

void MediaFastPath::Worker::on_io(void *tag, uint32_t events)
{
  if (tag == &listener_tag_) {
    accept_connections();
    return;
  }
  /* A connection is only ever closed while its own event is handled or
   * after the batch, so every pointer here is live. */
  auto &c = *static_cast<Connection *>(tag);
  if ((events & EPOLLERR) || (c.parking && (events & (EPOLLRDHUP | EPOLLHUP)))) {
    close(c); /* a held request's client gone: nothing to answer */
    return;
  }
  if (c.media)
    process(c);
  else
    look_first(c, events);
}

void MediaFastPath::Worker::turn_done()
{
  expire();
  check_parked();
  if (accept_paused_until_ && monotonic_ms() >= accept_paused_until_) {
    accept_paused_until_ = 0;
    loop_.watch(listener_.get(), EPOLLIN, &listener_tag_);
  }
}

void MediaFastPath::Worker::stopped()
{
  shared_.options.open->fetch_sub(static_cast<int>(connections_.size()), std::memory_order_relaxed);
  for (auto &[key, p] : parked_)
    shared_.options.held->fetch_sub(static_cast<int>(p.waiting.size()), std::memory_order_relaxed);
  parked_.clear();
  connections_.clear();
  listener_.reset();
}

void MediaFastPath::Worker::accept_connections()
{
  const int64_t now = monotonic_ms();
  for (int i = 0; i < 64; ++i) {
    const int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* Out of descriptors: stop accepting for a moment rather than spin. */
        g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_WARNING,
              "HTTP: cannot accept connections (%s); pausing for %d ms", g_strerror(errno),
              kAcceptPauseMs);
        loop_.unwatch(listener_.get());
        accept_paused_until_ = now + kAcceptPauseMs;
        return;
      }
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
        continue;
      return; /* EAGAIN, or nothing to be done about it */
    }
    if (shared_.options.open->fetch_add(1, std::memory_order_relaxed) >=
        shared_.options.max_connections) {
      shared_.options.open->fetch_sub(1, std::memory_order_relaxed);
      refuse(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* In turn, so that long keep-alive connections spread evenly. */
    Worker &to = shared_.pool[next_worker_++ % shared_.pool.size()];
    if (&to == this)
      add_connection(fd);
    else
      to.give(fd);
  }
}

void MediaFastPath::Worker::refuse(int fd)
{
  count(503);
  /* Read what already arrived, so that closing does not reset the
   * connection before the client sees the answer. */
  while (recv(fd, scratch_, sizeof scratch_, MSG_DONTWAIT) > 0) {
  }
  const std::string body =
      error_json("too_many_connections",
                 "The server holds its most connections (http.max_connections = " +
                     std::to_string(shared_.options.max_connections) + "); try again shortly");
  std::string answer = "HTTP/1.1 503 Service Unavailable\r\nServer: sugarcastd\r\nDate: ";
  answer += date();
  answer += "\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nRetry-After: "
            "5\r\nConnection: close\r\nContent-Length: ";
  append_number(answer, static_cast<int64_t>(body.size()));
  answer += "\r\n\r\n";
  answer += body;
  if (send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_DEBUG, "refusing a connection: %s", g_strerror(errno));
  shutdown(fd, SHUT_WR);
  ::close(fd);
}

void MediaFastPath::Worker::add_connection(int fd)
{
  Connection &c = connections_.emplace_back();
  c.fd.reset(fd);
  c.self = std::prev(connections_.end());
  c.deadline = monotonic_ms() + shared_.options.idle_timeout_ms;
  if (!loop_.watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c))
    close(c);
}

void MediaFastPath::Worker::hand_over(Connection &c, std::string already_read)
{
  loop_.unwatch(c.fd.get());
  const int fd = c.fd.release();
  connections_.erase(c.self); /* still open: counted until its receiver closes it */
  shared_.handoff(fd, std::move(already_read));
}

void MediaFastPath::Worker::touch(Connection &c)
{
  /* Every deadline is "now + the timeout", so moving the connection to the
   * end keeps the list in deadline order. */
  c.deadline = monotonic_ms() + shared_.options.idle_timeout_ms;
  connections_.splice(connections_.end(), connections_, c.self);
}

void MediaFastPath::Worker::expire()
{
  const int64_t now = monotonic_ms();
  while (!connections_.empty() && connections_.front().deadline <= now) {
    Connection &c = connections_.front();
    if (c.writing) {
      /* Reset rather than close: a client that stopped reading would
       * otherwise keep megabytes queued in the kernel for minutes. */
      const linger abort{1, 0};
      setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
    close(c);
  }
}

void MediaFastPath::Worker::look_first(Connection &c, uint32_t events)
{
  const ssize_t n = recv(c.fd.get(), scratch_, kFirstLookBytes, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n <= 0) {
    close(c);
    return;
  }
  switch (first_look(std::string_view(scratch_, static_cast<size_t>(n)), shared_.first_lines)) {
  case FirstLook::Media:
    c.media = true;
    process(c);
    return;
  case FirstLook::NeedMore:
    if (events & EPOLLRDHUP) { /* the start of a line, then the client stopped */
      close(c);
      return;
    }
    if (static_cast<size_t>(n) < kFirstLookBytes)
      return; /* the rest of the line is on its way */
    [[fallthrough]];
  case FirstLook::Other:
    hand_over(c, "");
    return;
  }
}

void MediaFastPath::Worker::process(Connection &c)
{
  if (c.parking)
    return; /* check_parked() answers it, then carries on with the rest */
  for (;;) {
    if (c.lingering) {
      /* Read and drop what the client still sends, so that closing does not
       * reset the connection before it has read the last response. */
      const ssize_t n = recv(c.fd.get(), scratch_, sizeof scratch_, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
      if (n <= 0) {
        close(c);
        return;
      }
      continue;
    }
    if (c.writing) {
      const Flush f = flush(c);
      if (f == Flush::Again)
        return;
      if (f == Flush::Failed) {
        close(c);
        return;
      }
      c.writing = false;
      c.body.reset();
      c.file.reset();
      if (c.close_after || shared_.stopping.load(std::memory_order_relaxed)) {
        shutdown(c.fd.get(), SHUT_WR);
        c.lingering = true;
        c.pending.clear();
        touch(c);
        continue;
      }
      touch(c); /* the next request has the whole timeout again */
    }
    if (!c.pending.empty()) {
      Request r;
      size_t mount = 0;
      switch (parse_request(c.pending, r)) {
      case Parsed::Complete:
        if (!serves(r, mount)) {
          hand_over(c, std::move(c.pending));
          return;
        }
        switch (hold(c, r, mount)) {
        case Hold::Parked:
          return;
        case Hold::Serve:
          respond(c, r, mount);
          break;
        case Hold::Answered:
          break;
        }
        c.pending.erase(0, r.head_bytes);
        if (c.pending.empty() && c.pending.capacity() > 4096)
          std::string().swap(c.pending); /* a big head once is no reason to keep 16 KiB */
        continue;
      case Parsed::Malformed:
        /* libsoup answers it, as it would have without the fast path. */
        hand_over(c, std::move(c.pending));
        return;
      case Parsed::HeadersTooLarge:
        respond_error(c, 431, "headers_too_large",
                      "The request head is over " + std::to_string(kMaxHeadBytes) + " bytes", "");
        continue;
      case Parsed::UriTooLong:
        respond_error(c, 414, "uri_too_long",
                      "The request line is over " + std::to_string(kMaxHeadBytes) + " bytes", "");
        continue;
      case Parsed::Incomplete:
        break;
      }
    }
    if (c.input_closed) {
      close(c);
      return;
    }
    const ssize_t n = recv(c.fd.get(), scratch_, kMaxHeadBytes - c.pending.size(), 0);
    if (n > 0) {
      c.pending.append(scratch_, static_cast<size_t>(n));
    } else if (n == 0) {
      c.input_closed = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else if (errno != EINTR) {
      close(c);
      return;
    }
  }
}

MediaFastPath::Worker::Flush MediaFastPath::Worker::flush(Connection &c)
{
  bool progress = false;
  for (;;) {
    const size_t head_left = c.head.size() - c.head_sent;
    const size_t body_left = c.body ? c.body_end - c.body_off : 0;
    const off_t file_left = c.file ? c.file_end - c.file_off : 0;
    ssize_t n;
    if (head_left > 0) {
      iovec iov[2] = {
          {c.head.data() + c.head_sent, head_left},
          {const_cast<char *>(c.body ? c.body->data() + c.body_off : nullptr), body_left}};
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = body_left > 0 ? 2 : 1;
      /* With a file to follow, the head waits for its first bytes. */
      n = sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL | (file_left > 0 ? MSG_MORE : 0));
      if (n > 0) {
        const size_t from_head = std::min(static_cast<size_t>(n), head_left);
        c.head_sent += from_head;
        c.body_off += static_cast<size_t>(n) - from_head;
      }
    } else if (body_left > 0) {
      n = send(c.fd.get(), c.body->data() + c.body_off, body_left, MSG_NOSIGNAL);
      if (n > 0)
        c.body_off += static_cast<size_t>(n);
    } else if (file_left > 0) {
      n = sendfile(c.fd.get(), c.file.get(), &c.file_off,
                   static_cast<size_t>(std::min<off_t>(file_left, 1 << 30)));
      if (n == 0)
        return Flush::Failed; /* the file got shorter: the promised length cannot be sent */
    } else {
      return Flush::Done;
    }
    if (n > 0) {
      progress = true;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (progress)
        touch(c);
      return Flush::Again;
    }
    return Flush::Failed;
  }
}

bool MediaFastPath::Worker::serves(const Request &r, size_t &mount) const
{
  if (r.has_body || (!r.http10 && !r.has_host) || r.target[0] != '/')
    return false;
  if (r.method != "GET" && r.method != "HEAD" && r.method != "OPTIONS")
    return false;
  for (size_t i = 0; i < shared_.mounts.size(); ++i) {
    const std::string &prefix = shared_.mounts[i].url_prefix;
    if (r.target.size() > prefix.size() && r.target.compare(0, prefix.size(), prefix) == 0 &&
        r.target[prefix.size()] == '/') {
      mount = i;
      return true;
    }
  }
  return false;
}

const std::string &MediaFastPath::Worker::date()
{
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  if (ts.tv_sec != date_second_) {
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char text[40];
    g_snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
               tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    date_ = text;
    date_second_ = ts.tv_sec;
  }
  return date_;
}

void MediaFastPath::Worker::count(int status)
{
  std::atomic<uint64_t> *&counter = counters_[status];
  if (!counter)
    counter = &shared_.metrics.counter("sugarcast_http_requests_total",
                                       "HTTP requests answered, by status",
                                       {{"status", std::to_string(status)}});
  counter->fetch_add(1, std::memory_order_relaxed);
}

void MediaFastPath::Worker::begin_head(Connection &c, int status, std::string_view origin)
{
  count(status);
  c.head.clear();
  c.head_sent = 0;
  c.head += status_line(status);
  c.head += "Server: sugarcastd\r\nDate: ";
  c.head += date();
  c.head += "\r\n";
  bool vary = false;
  const std::string_view allow = cors_allow_origin(shared_.options.cors_origins, origin, vary);
  if (!allow.empty()) {
    c.head += "Access-Control-Allow-Origin: ";
    c.head += allow;
    c.head += vary ? "\r\nVary: Origin\r\n" : "\r\n";
  }
}

void MediaFastPath::Worker::finish_head(Connection &c, bool keep_alive_header)
{
  if (c.close_after)
    c.head += "Connection: close\r\n";
  else if (keep_alive_header)
    c.head += "Connection: keep-alive\r\n";
  c.head += "\r\n";
  c.writing = true;
}

void MediaFastPath::Worker::respond_error(Connection &c, int status, const char *code,
                                          const std::string &message, std::string_view origin,
                                          const char *extra_headers)
{
  if (status == 414 || status == 431) {
    c.close_after = true;
    c.pending.clear();
  }
  auto body = std::make_shared<const std::string>(error_json(code, message));
  begin_head(c, status, origin);
  c.head += "Content-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: ";
  append_number(c.head, static_cast<int64_t>(body->size()));
  c.head += "\r\n";
  c.head += extra_headers;
  finish_head(c, false);
  c.body_off = 0;
  c.body_end = body->size();
  c.body = std::move(body);
}

std::shared_ptr<const std::string>
MediaFastPath::Worker::cached(size_t mount, const std::string &relative, struct stat &st)
{
  if (cache_.empty())
    return nullptr;
  auto it = cache_.find(cache_key(mount, relative));
  if (it == cache_.end())
    return nullptr;
  const CachedFile &f = it->second;
  /* The kept bytes were read from a file opened inside the folder; a path
   * that now shows that same unchanged file can only lead to it. */
  if (fstatat(shared_.mounts[mount].root->fd(), relative.c_str(), &st, 0) == 0 &&
      same_file_version(st, f.st))
    return f.bytes;
  cache_bytes_ -= f.bytes->size();
  cache_.erase(it);
  return nullptr;
}

std::shared_ptr<const std::string> MediaFastPath::Worker::keep(size_t mount,
                                                               const std::string &relative, int fd,
                                                               const struct stat &st)
{
  /* Not one changed this recently (file_settled): a rewrite made after it
   * was read could otherwise carry the same timestamps. */
  if (st.st_size > static_cast<off_t>(kMaxCachedFileBytes) || !file_settled(st))
    return nullptr;
  auto shared = read_small(fd, st);
  if (!shared)
    return nullptr;
  if (cache_.size() >= kCacheEntries || cache_bytes_ + shared->size() > kCacheBytes) {
    cache_.clear();
    cache_bytes_ = 0;
  }
  cache_bytes_ += shared->size();
  cache_[cache_key(mount, relative)] = {st, shared};
  return shared;
}

std::shared_ptr<const std::string> MediaFastPath::Worker::read_small(int fd, const struct stat &st)
{
  std::string bytes;
  if (!MediaRoot::read_all(fd, st, kMaxCachedFileBytes, bytes))
    return nullptr;
  return std::make_shared<const std::string>(std::move(bytes));
}

bool MediaFastPath::Worker::playlist_state(size_t mount, const std::string &relative,
                                           struct stat &st, HlsPlaylistState &state)
{
  std::shared_ptr<const std::string> bytes = cached(mount, relative, st);
  if (!bytes) {
    UniqueFd file(shared_.mounts[mount].root->open(relative, st));
    if (!file)
      return false;
    bytes = keep(mount, relative, file.get(), st);
    if (!bytes)
      bytes = read_small(file.get(), st);
    if (!bytes)
      return false;
  }
  state = hls_playlist_state(*bytes);
  return true;
}

MediaFastPath::Worker::Hold MediaFastPath::Worker::hold(Connection &c, const Request &r,
                                                        size_t mount)
{
  if (c.park_expired) {
    c.park_expired = false;
    c.close_after = closes_after(r);
    respond_error(c, 503, "segment_not_ready", hls_hold_expired(c.parked_msn), r.origin);
    return Hold::Answered;
  }
  const size_t q = r.target.find('?');
  if (q == std::string_view::npos || (r.method != "GET" && r.method != "HEAD"))
    return Hold::Serve;
  const std::string_view path = r.target.substr(0, q);
  std::string_view query = r.target.substr(q + 1);
  query = query.substr(0, query.find('#'));
  const int64_t msn = hls_requested_msn(query);
  if (msn == -1 || !is_playlist_path(path))
    return Hold::Serve;
  const Mount &m = shared_.mounts[mount];
  const MediaKind *kind = nullptr;
  const std::string relative = media_relative_path(path.substr(m.url_prefix.size()), &kind);
  struct stat st;
  HlsPlaylistState state;
  if (relative.empty() || !playlist_state(mount, relative, st, state))
    return Hold::Serve;
  std::string refusal;
  switch (hls_hold(msn, state, refusal)) {
  case HlsHold::Serve:
    return Hold::Serve;
  case HlsHold::Refuse:
    c.close_after = closes_after(r);
    respond_error(c, 400, "bad_hls_msn", refusal, r.origin);
    return Hold::Answered;
  case HlsHold::Wait:
    break;
  }
  auto [it, fresh] = parked_.try_emplace(cache_key(mount, relative));
  Parking &p = it->second;
  if (fresh) {
    /* An existing entry keeps what its last check saw: a change since then
     * must still wake the requests held before this one. */
    p.mount = mount;
    p.relative = relative;
    p.seen = st;
    p.state = state;
  }
  c.parking = &p;
  c.parked_msn = msn;
  c.park_deadline = monotonic_ms() + hls_hold_ms(state, shared_.options.idle_timeout_ms / 2);
  c.parked_at = p.waiting.insert(p.waiting.end(), &c);
  shared_.options.held->fetch_add(1, std::memory_order_relaxed);
  touch(c); /* idle only after the answer, not while held */
  return Hold::Parked;
}

void MediaFastPath::Worker::unpark(Connection &c)
{
  Parking *p = c.parking;
  c.parking = nullptr;
  shared_.options.held->fetch_sub(1, std::memory_order_relaxed);
  p->waiting.erase(c.parked_at);
  if (p->waiting.empty())
    parked_.erase(cache_key(p->mount, p->relative));
}

void MediaFastPath::Worker::check_parked()
{
  const int64_t now = monotonic_ms();
  if (parked_.empty() || now < next_parked_check_)
    return;
  next_parked_check_ = now + kParkedCheckMs;
  std::vector<Connection *> due;
  for (auto &[key, p] : parked_) {
    struct stat st;
    const bool exists =
        fstatat(shared_.mounts[p.mount].root->fd(), p.relative.c_str(), &st, 0) == 0;
    const bool changed = !exists || !same_file_version(st, p.seen);
    bool release_all = false;
    if (changed) {
      HlsPlaylistState state;
      if (!exists || !playlist_state(p.mount, p.relative, st, state))
        release_all = true; /* gone or unreadable: answered as it is now (404, ...) */
      p.seen = st;
      p.state = state;
    }
    std::string refusal;
    for (Connection *c : p.waiting) {
      if (release_all || (changed && hls_hold(c->parked_msn, p.state, refusal) != HlsHold::Wait)) {
        due.push_back(c);
      } else if (c->park_deadline <= now) {
        c->park_expired = true;
        due.push_back(c);
      } else if (!changed) {
        break; /* the rest were held later: their time is not up either */
      }
    }
  }
  for (Connection *c : due) {
    unpark(*c);
    process(*c);
  }
}

void MediaFastPath::Worker::observe_playlist(Connection &c, const Request &r, const MediaRoot &root,
                                             const std::string &relative)
{
  if (!c.peer_known) {
    c.peer_known = true;
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    char address[INET6_ADDRSTRLEN] = "";
    if (getpeername(c.fd.get(), reinterpret_cast<sockaddr *>(&peer), &length) == 0) {
      if (peer.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in *>(&peer)->sin_addr, address,
                  sizeof address);
      else if (peer.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6 *>(&peer)->sin6_addr, address,
                  sizeof address);
    }
    c.peer = address;
  }
  const std::string &address = c.peer;
  const size_t q = r.target.find('?');
  std::string_view query =
      q == std::string_view::npos ? std::string_view() : r.target.substr(q + 1);
  query = query.substr(0, query.find('#'));
  root.playlist_served(relative, query, address, r.user_agent);
}

void MediaFastPath::Worker::respond(Connection &c, const Request &r, size_t mount)
{
  c.close_after = closes_after(r);
  const bool keep_alive_header = r.http10 && !c.close_after;
  const Mount &m = shared_.mounts[mount];
  const std::string_view path = r.target.substr(0, r.target.find_first_of("?#"));

  if (r.method == "OPTIONS") {
    begin_head(c, 204, r.origin);
    c.head += "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\nAccess-Control-Allow-Headers: ";
    c.head += kPreflightAllowHeaders;
    c.head += "\r\nAccess-Control-Max-Age: ";
    c.head += kPreflightMaxAge;
    c.head += "\r\n";
    finish_head(c, keep_alive_header);
    return;
  }

  const MediaKind *kind = nullptr;
  const std::string relative = media_relative_path(path.substr(m.url_prefix.size()), &kind);
  struct stat st;
  std::shared_ptr<const std::string> bytes;
  UniqueFd file;
  if (!relative.empty()) {
    bytes = cached(mount, relative, st);
    if (!bytes) {
      file.reset(m.root->open(relative, st));
      if (file)
        bytes = keep(mount, relative, file.get(), st);
      if (bytes)
        file.reset();
    }
  }
  if (!bytes && !file) {
    respond_error(c, 404, "not_found", "No such file: " + std::string(path), r.origin);
    return;
  }

  if (m.root->observed() && relative.size() > 5 &&
      relative.compare(relative.size() - 5, 5, ".m3u8") == 0)
    observe_playlist(c, r, *m.root, relative);

  const int64_t size = st.st_size;
  int64_t first = 0, last = size - 1;
  RangeKind range = RangeKind::None;
  if (r.ranges == 1 && !r.if_range)
    range = parse_range(r.range, size, first, last);
  if (range == RangeKind::Unsatisfiable) {
    std::string extra = "Content-Range: bytes */" + std::to_string(size) + "\r\n";
    respond_error(c, 416, "range_not_satisfiable",
                  "The range " + std::string(r.range) + " is outside the file's " +
                      std::to_string(size) + " bytes",
                  r.origin, extra.c_str());
    return;
  }
  if (range == RangeKind::None) {
    first = 0;
    last = size - 1;
  }
  begin_head(c, range == RangeKind::Satisfiable ? 206 : 200, r.origin);
  c.head += "Content-Type: ";
  c.head += kind->content_type;
  c.head += "\r\nCache-Control: ";
  c.head += kind->cache_control;
  c.head += "\r\nAccept-Ranges: bytes\r\nContent-Length: ";
  append_number(c.head, last - first + 1);
  c.head += "\r\n";
  if (range == RangeKind::Satisfiable) {
    c.head += "Content-Range: bytes ";
    append_number(c.head, first);
    c.head += '-';
    append_number(c.head, last);
    c.head += '/';
    append_number(c.head, size);
    c.head += "\r\n";
  }
  finish_head(c, keep_alive_header);
  if (r.method == "HEAD" || last < first)
    return;
  if (bytes) {
    c.body = std::move(bytes);
    c.body_off = static_cast<size_t>(first);
    c.body_end = static_cast<size_t>(last + 1);
  } else {
    c.file = std::move(file);
    c.file_off = first;
    c.file_end = last + 1;
  }
}

MediaFastPath::MediaFastPath(Options options, std::vector<Mount> mounts, Metrics &metrics,
                             Handoff handoff)
    : shared_(new Shared{std::move(options), std::move(mounts), metrics, std::move(handoff), {}})
{
  for (const char *method : {"GET ", "HEAD ", "OPTIONS "})
    for (const Mount &m : shared_->mounts)
      shared_->first_lines.push_back(method + m.url_prefix + "/");
}

MediaFastPath::~MediaFastPath()
{
  stop();
}

bool MediaFastPath::start(UniqueFd listener, std::string &error)
{
  /* sendfile(2) has no MSG_NOSIGNAL: writing to a client that has gone
   * would raise SIGPIPE, which kills a process that has not said otherwise. */
  struct sigaction current;
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
    signal(SIGPIPE, SIG_IGN);
  const auto make = [this, &listener](int i) {
    return std::make_unique<Worker>(*shared_, i == 0 ? std::move(listener) : UniqueFd(), i);
  };
  if (!shared_->pool.start(shared_->options.threads, make, error)) {
    stop();
    return false;
  }
  return true;
}

void MediaFastPath::stop()
{
  shared_->stopping.store(true, std::memory_order_release);
  shared_->pool.clear();
}

} // namespace sugarcast
