/* sugarcastd — the media fast path: the HTTP port's connections, accepted on
 * a few threads of their own, and the media requests on them served there.
 *
 * Each thread runs one epoll loop with no GLib main context (a WorkerLoop of
 * workerpool.h); the first also accepts and deals new connections out to all
 * of them in turn, so that long keep-alive connections spread evenly. A new connection's first
 * request line is peeked at without being read: GET, HEAD or OPTIONS under a media mount ("/hls/",
 * "/clips/") keeps the connection on the thread for its whole life; anything
 * else is handed, unread, to `Handoff`, which gives it to libsoup.
 *
 * On a media connection: HTTP/1.1 keep-alive (HTTP/1.0 with
 * "Connection: keep-alive"), pipelined requests answered in order,
 * "Connection: close" honoured. A request the fast path does not serve —
 * another method, another path, a body, an absolute URL, a request it cannot
 * parse — is handed over too, with the bytes already read, once the responses
 * before it are sent: libsoup answers it and the rest of the connection
 * exactly as if it had been its own from the start.
 *
 * Media requests are answered by the rules of media.h: content types and
 * Cache-Control by extension, CORS (http.cors_origins) and OPTIONS preflights,
 * Accept-Ranges, one byte range (206, or 416 when unsatisfiable; several
 * ranges or If-Range get the whole file), HEAD, JSON 404s, and blocking
 * playlist reload: a playlist request with _HLS_msn=N for a playlist that
 * says CAN-BLOCK-RELOAD is held until segment N is listed (checked every
 * 10 ms), 400 when N is more than two past the last one, 503 after three
 * target durations (RFC 8216bis 6.2.5.2). Bodies go out with
 * sendfile(2); files of at most 64 KiB (playlists) are kept in memory per
 * thread and served while a stat(2) shows the same file unchanged (device,
 * inode, size, modification and change times; a file changed within the last
 * 50 ms is not kept, so a rewrite can never look unchanged).
 *
 * Limits: beyond Options::max_connections open connections a new one is
 * answered 503 (what it sent so far is read first) and closed. A request
 * head (request line and headers) over 16 KiB gets 431 (or
 * 414 when the request line alone is) and the connection is closed. A
 * connection is closed when no complete request arrives within
 * `idle_timeout_ms` of its opening or of the previous response, or when a
 * response makes no progress for that long. Responses count in
 * sugarcast_http_requests_total{status}. */
#pragma once

#include "httpparse.h"
#include "httprules.h"
#include "media.h"
#include "metrics.h"
#include "unique_fd.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sugarcast {

class MediaFastPath
{
public:
  struct Options
  {
    int threads = 2;
    int idle_timeout_ms = 30000;
    std::vector<std::string> cors_origins;
    /* Connections the port holds at most: the fast path's and those it
     * handed over, counted together in `open` (the receiver of a handed-over
     * connection decrements it when that connection closes). Beyond it a
     * newcomer gets 503 and is closed at once. */
    int max_connections = 10000;
    std::shared_ptr<std::atomic<int>> open = std::make_shared<std::atomic<int>>(0);
    /* Playlist requests held now (blocking reload), counted with the API
     * server's in sugarcast_hls_held_requests. */
    std::shared_ptr<std::atomic<int>> held = std::make_shared<std::atomic<int>>(0);
  };
  struct Mount
  {
    std::string url_prefix; /* "/hls" */
    std::shared_ptr<const MediaRoot> root;
  };
  /* Called on a fast-path thread with a connection that is not the fast
   * path's and what was already read from it (often nothing); it owns the
   * descriptor from then on. */
  using Handoff = std::function<void(int fd, std::string already_read)>;

  static constexpr size_t kMaxHeadBytes = http1::kMaxHeadBytes;
  static constexpr size_t kMaxCachedFileBytes = 65536;

  MediaFastPath(Options options, std::vector<Mount> mounts, Metrics &metrics, Handoff handoff);
  ~MediaFastPath();
  MediaFastPath(const MediaFastPath &) = delete;
  MediaFastPath &operator=(const MediaFastPath &) = delete;

  /* Starts the threads on LISTENER (non-blocking, listening). */
  bool start(UniqueFd listener, std::string &error);
  /* Stops accepting, closes every connection still on the fast path, joins
   * the threads. Connections already handed over are not touched. */
  void stop();

  class Worker;

private:
  struct Shared; /* what every thread reads, and the threads (a WorkerPool) */
  std::unique_ptr<Shared> shared_;
};

} // namespace sugarcast
