/* sugarcastd — the media fast path's private parts, shared by its two
 * files: fastpath.cpp (connection I/O: the worker threads accepting,
 * their epoll events, reading, writing with sendfile(2), deadlines, and
 * playlist requests held for a blocking reload) and fastpath_answer.cpp
 * (what a media request gets: the status, the response head, the file or
 * the kept playlist bytes that follow it). One Worker class serves both:
 * the split is by concern, not by thread; every member runs on the
 * worker's own thread. See fastpath.h for the behaviour. */
#pragma once

#include "fastpath.h"

#include "httpparse.h"
#include "workerpool.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

  /* Used by both halves: the I/O side answers refusals and expired holds,
   * the answering side everything else. */
  static void append_number(std::string &out, int64_t value)
  {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    out.append(digits, static_cast<size_t>(end - digits));
  }
  /* Whether the connection closes after answering R: HTTP/1.1 unless
   * "Connection: close", HTTP/1.0 unless "Connection: keep-alive". */
  static bool closes_after(const http1::Request &r)
  {
    return r.http10 ? !r.connection_keep_alive || r.connection_close : r.connection_close;
  }

  /* fastpath.cpp: connection I/O. */

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
  /* A playlist request with _HLS_msn for a segment not yet listed, in a
   * playlist that can block: Parked (answered later by check_parked), or
   * Answered with 400 when it asks too far ahead, or 503 once it waited
   * three target durations (RFC 8216bis 6.2.5.2). Serve otherwise. */
  Hold hold(Connection &c, const http1::Request &r, size_t mount);
  void unpark(Connection &c);
  /* Answers the held requests whose segment is listed, or whose playlist
   * ended or went, or whose time is up. */
  void check_parked();

  /* fastpath_answer.cpp: what a request gets. */

  bool serves(const http1::Request &r, size_t &mount) const;
  /* What the playlist says now; false when it cannot be read (or is over
   * 64 KiB): the request is then served as it is. */
  bool playlist_state(size_t mount, const std::string &relative, struct stat &st,
                      HlsPlaylistState &state);
  void respond(Connection &c, const http1::Request &r, size_t mount);
  /* Tells the folder's PlaylistObserver (viewer counting) of a playlist served. */
  void observe_playlist(Connection &c, const http1::Request &r, const MediaRoot &root,
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

} // namespace sugarcast
