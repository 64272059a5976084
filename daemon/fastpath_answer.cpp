/* sugarcastd — the media fast path's answers: whether a request is the
 * fast path's, and what it gets: the status (200, 206, 204 for a
 * preflight, 404, 416, the JSON errors), the response head (content type,
 * cache and CORS headers, ranges, keep-alive), and the body it points at,
 * a file to sendfile(2) or playlist bytes kept in memory while the file is
 * unchanged. Apart from fastpath.cpp, which moves the bytes, so that the
 * HTTP rules can be read in one place. See fastpath.h for the behaviour. */
#include "fastpath_impl.h"

#include <glib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

namespace sugarcast {

namespace {

using namespace http1;

constexpr size_t kCacheEntries = 1024;
constexpr size_t kCacheBytes = 8u << 20;

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

} // namespace sugarcast
