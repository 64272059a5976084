/* sugarcastd — media files through libsoup. See mediafiles.h. */
#include "mediafiles.h"

#include "guard.h"

#include "httpparse.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

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

void MediaFiles::on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                            gpointer self)
{
  static_cast<MediaFiles *>(self)->serve(msg, path);
}

void MediaFiles::serve(SoupServerMessage *msg, const char *path)
{
  const std::string method = soup_server_message_get_method(msg);
  if (method == "OPTIONS") {
    http_.respond_preflight(msg, "GET, HEAD, OPTIONS");
    return;
  }
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
