/* sugarcastd — media files through libsoup. See mediafiles.h. */
#include "mediafiles.h"

#include "guard.h"

#include "httpparse.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>

namespace sugarcast {

namespace {

/* A file answer sent a block at a time (MediaFiles::serve). */
struct FileBody
{
  int fd;
  off_t offset;
  off_t end;
  static constexpr size_t kBlock = 65536;

  ~FileBody() { close(fd); }
  FileBody(int f, off_t o, off_t e) : fd(f), offset(o), end(e) {}
  FileBody(const FileBody &) = delete;
  FileBody &operator=(const FileBody &) = delete;

  void append_next(SoupServerMessage *msg)
  {
    if (offset >= end)
      return; /* libsoup ends the answer at its Content-Length */
    const size_t want = static_cast<size_t>(std::min<off_t>(end - offset, kBlock));
    char *block = static_cast<char *>(g_malloc(want));
    ssize_t n;
    do
      n = pread(fd, block, want, offset);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
      /* The file got shorter: the promised length cannot be sent. */
      g_free(block);
      g_object_ref(msg);
      close_connection(msg);
      g_object_unref(msg);
      return;
    }
    offset += n;
    soup_message_body_append(soup_server_message_get_response_body(msg), SOUP_MEMORY_TAKE, block,
                             static_cast<gsize>(n));
  }
  static void on_wrote_chunk(SoupServerMessage *msg, gpointer self)
  {
    static_cast<FileBody *>(self)->append_next(msg);
  }
};

} // namespace

MediaFiles::MediaFiles(HttpServer &http, std::string url_prefix, std::string root)
    : http_(http), prefix_(std::move(url_prefix)), root_(std::make_shared<MediaRoot>(root))
{
  soup_server_add_handler(http_.soup(), prefix_.c_str(), SUGARCAST_GUARD(on_request), this,
                          nullptr);
  http_.add_media_mount(prefix_, root_);
}

MediaFiles::~MediaFiles()
{
  if (tick_)
    g_source_remove(tick_);
  while (!held_.empty())
    g_object_unref(forget(held_.begin()));
}

SoupServerMessage *MediaFiles::forget(std::list<Held>::iterator it)
{
  SoupServerMessage *msg = it->msg;
  g_signal_handler_disconnect(msg, it->disconnected);
  held_.erase(it);
  http_.held_requests().fetch_sub(1, std::memory_order_relaxed);
  return msg;
}

bool MediaFiles::playlist_state(const std::string &relative, HlsPlaylistState &state) const
{
  struct stat st;
  const int fd = root_->open(relative, st);
  if (fd < 0)
    return false;
  std::string text;
  const bool read = MediaRoot::read_all(fd, st, kMaxPlaylistBytes, text);
  close(fd);
  if (read)
    state = hls_playlist_state(text);
  return read;
}

bool MediaFiles::hold(SoupServerMessage *msg, const char *path, const std::string &relative)
{
  const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
  const int64_t msn = query ? hls_requested_msn(query) : -1;
  HlsPlaylistState state;
  if (msn == -1 || !is_playlist_path(relative) || !playlist_state(relative, state))
    return false;
  std::string refusal;
  switch (hls_hold(msn, state, refusal)) {
  case HlsHold::Serve:
    return false;
  case HlsHold::Refuse:
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_hls_msn", refusal);
    return true;
  case HlsHold::Wait:
    break;
  }
  soup_server_message_pause(msg);
  const gint64 wait_us = hls_hold_ms(state, http_.idle_timeout_ms() / 2) * 1000;
  held_.push_back({SOUP_SERVER_MESSAGE(g_object_ref(msg)), path, relative, msn,
                   g_get_monotonic_time() + wait_us, 0});
  held_.back().disconnected =
      g_signal_connect(msg, "disconnected", G_CALLBACK(SUGARCAST_GUARD(on_disconnected)), this);
  http_.held_requests().fetch_add(1, std::memory_order_relaxed);
  if (!tick_)
    tick_ = g_timeout_add(10, SUGARCAST_GUARD(on_tick), this);
  return true;
}

void MediaFiles::on_disconnected(SoupServerMessage *msg, gpointer self)
{
  /* libsoup has let go of the connection: nothing to unpause or answer. */
  auto *files = static_cast<MediaFiles *>(self);
  for (auto it = files->held_.begin(); it != files->held_.end(); ++it)
    if (it->msg == msg) {
      g_object_unref(files->forget(it));
      return;
    }
}

bool MediaFiles::client_left(SoupServerMessage *msg)
{
  GSocket *socket = message_socket(msg); /* also for connections the fast path handed over */
  if (!socket)
    return false; /* cannot tell: the hold's deadline ends it */
  char byte;
  const ssize_t n = recv(g_socket_get_fd(socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

gboolean MediaFiles::on_tick(gpointer self)
{
  auto *files = static_cast<MediaFiles *>(self);
  const gint64 now = g_get_monotonic_time();
  /* libsoup does not read a paused connection, so a client that left is
   * found by looking, every 50th tick (0.5 s): one recv(MSG_PEEK) each. */
  const bool look = ++files->ticks_ % 50 == 0;
  std::string refusal;
  /* Each playlist read once a tick, however many wait for it. */
  std::map<std::string, std::optional<HlsPlaylistState>> states;
  for (auto it = files->held_.begin(); it != files->held_.end();) {
    const auto next = std::next(it);
    auto [at, fresh] = states.try_emplace(it->relative);
    if (fresh) {
      HlsPlaylistState state;
      if (files->playlist_state(it->relative, state))
        at->second = state;
    }
    /* Forgotten before it is answered: answering may end the connection
     * and emit "disconnected" there and then. */
    if (!at->second || hls_hold(it->msn, *at->second, refusal) != HlsHold::Wait) {
      const std::string path = it->path;
      SoupServerMessage *msg = files->forget(it);
      files->serve(msg, path.c_str(), false);
      soup_server_message_unpause(msg);
      g_object_unref(msg);
    } else if (it->deadline_us <= now || (look && client_left(it->msg))) {
      const int64_t msn = it->msn;
      SoupServerMessage *msg = files->forget(it);
      respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "segment_not_ready",
                    hls_hold_expired(msn));
      soup_server_message_unpause(msg);
      g_object_unref(msg);
    }
    it = next;
  }
  if (!files->held_.empty())
    return G_SOURCE_CONTINUE;
  files->tick_ = 0;
  return G_SOURCE_REMOVE;
}

void MediaFiles::on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                            gpointer self)
{
  static_cast<MediaFiles *>(self)->serve(msg, path);
}

void MediaFiles::serve(SoupServerMessage *msg, const char *path, bool may_hold)
{
  const std::string method = soup_server_message_get_method(msg);
  if (method == "OPTIONS") {
    http_.respond_preflight(msg, "GET, HEAD, OPTIONS");
    return;
  }
  if (may_hold) /* a held request has them already */
    http_.add_cors_headers(msg);
  if (method != "GET" && method != "HEAD") {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                 "GET, HEAD, OPTIONS");
    respond_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                  method + " is not allowed on media; use GET");
    return;
  }

  const MediaKind *kind = nullptr;
  const std::string relative =
      media_relative_path(std::string_view(path).substr(prefix_.size()), &kind);
  if (may_hold && !relative.empty() && hold(msg, path, relative))
    return;
  struct stat st;
  const int fd = relative.empty() ? -1 : root_->open(relative, st);
  if (fd < 0) {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", std::string("No such file: ") + path);
    return;
  }
  if (root_->observed() && relative.size() > 5 &&
      relative.compare(relative.size() - 5, 5, ".m3u8") == 0) {
    const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
    const char *address = soup_server_message_get_remote_host(msg);
    const char *agent =
        soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "User-Agent");
    root_->playlist_served(relative, query ? query : "", address ? address : "",
                           agent ? agent : "");
  }
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Cache-Control", kind->cache_control);
  soup_message_headers_replace(headers, "Accept-Ranges", "bytes");
  /* One byte range, by the fast path's rules (httpparse.h). */
  SoupMessageHeaders *in = soup_server_message_get_request_headers(msg);
  const char *range = soup_message_headers_get_list(in, "Range");
  int64_t first = 0, last = st.st_size - 1;
  http1::RangeKind ranged = http1::RangeKind::None;
  if (range && !soup_message_headers_get_one(in, "If-Range"))
    ranged = http1::parse_range(range, st.st_size, first, last);
  if (ranged == http1::RangeKind::Unsatisfiable) {
    close(fd);
    soup_message_headers_replace(headers, "Content-Range",
                                 ("bytes */" + std::to_string(st.st_size)).c_str());
    respond_error(msg, SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE, "range_not_satisfiable",
                  std::string("The range ") + range + " is outside the file's " +
                      std::to_string(st.st_size) + " bytes");
    return;
  }
  if (ranged == http1::RangeKind::None) {
    first = 0;
    last = st.st_size - 1;
  } else {
    soup_message_headers_set_content_range(headers, first, last, st.st_size);
  }
  soup_message_headers_set_content_type(headers, kind->content_type, nullptr);
  soup_message_headers_set_content_length(headers, last - first + 1);
  soup_server_message_set_status(
      msg, ranged == http1::RangeKind::Satisfiable ? SOUP_STATUS_PARTIAL_CONTENT : SOUP_STATUS_OK,
      nullptr);
  if (method == "HEAD" || last < first) {
    close(fd);
    return;
  }
  /* Read as it is sent, a block at a time, never mapped: a file truncated
   * under a mapping raises SIGBUS in whoever touches the lost pages. */
  auto *file = new FileBody{fd, static_cast<off_t>(first), static_cast<off_t>(last + 1)};
  g_object_set_data_full(G_OBJECT(msg), "sugarcast-file", file,
                         [](gpointer f) { delete static_cast<FileBody *>(f); });
  soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
  g_signal_connect(msg, "wrote-chunk", G_CALLBACK(SUGARCAST_GUARD(FileBody::on_wrote_chunk)), file);
  file->append_next(msg);
}

} // namespace sugarcast
