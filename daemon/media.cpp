/* sugarcastd — serving media files. See media.h. */
#include "media.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

namespace sugarcast {

namespace {

const char *const kImmutable = "public, max-age=31536000, immutable";

struct Extension
{
  std::string_view extension;
  MediaKind kind;
};

/* Playlists change every segment: a player must see the new one at once.
 * Segments and init sections never change once listed. */
const Extension kKinds[] = {
    {".m3u8", {"application/vnd.apple.mpegurl", "no-cache"}},
    {".ts", {"video/mp2t", kImmutable}},
    {".m4s", {"video/iso.segment", kImmutable}},
    {".mp4", {"video/mp4", "public, max-age=3600"}},
    {".m4a", {"audio/mp4", "public, max-age=3600"}},
    {".webm", {"video/webm", "public, max-age=3600"}},
    {".jpg", {"image/jpeg", "public, max-age=3600"}},
    {".vtt", {"text/vtt", "public, max-age=3600"}},
    {".json", {"application/json", "no-cache"}},
};

/* A path component a client may name: letters, digits, '-', '_', '.', not
 * starting with '.' (so neither ".." nor hidden files). */
bool plain_name(std::string_view part)
{
  if (part.empty() || part.size() > 128 || part[0] == '.')
    return false;
  for (char c : part)
    if (!g_ascii_isalnum(c) && c != '-' && c != '_' && c != '.')
      return false;
  return true;
}

/* Where the kernel has no openat2 (before 5.6) or a sandbox refuses it: open
 * beneath the folder, then check where the descriptor really is. */
int open_checked_by_path(int root, const std::string &dir, const std::string &relative)
{
  const int fd = openat(root, relative.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -1;
  char real_root[PATH_MAX], real_file[PATH_MAX];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = readlink(link.c_str(), real_file, sizeof real_file - 1);
  if (n > 0 && realpath(dir.c_str(), real_root)) {
    const std::string file(real_file, static_cast<size_t>(n));
    const std::string inside = std::string(real_root) + "/";
    if (file.compare(0, inside.size(), inside) == 0)
      return fd;
  }
  close(fd);
  errno = EXDEV;
  return -1;
}

} // namespace

const MediaKind *media_kind(std::string_view name)
{
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos)
    return nullptr;
  const std::string_view extension = name.substr(dot);
  for (const Extension &e : kKinds)
    if (e.extension == extension)
      return &e.kind;
  return nullptr;
}

const char *media_content_type(const std::string &file_name)
{
  const MediaKind *k = media_kind(file_name);
  return k ? k->content_type : nullptr;
}

std::string media_relative_path(std::string_view path, const MediaKind **kind)
{
  std::string relative;
  int parts = 0;
  std::string_view last;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos)
      end = path.size();
    const std::string_view part = path.substr(start, end - start);
    start = end + 1;
    if (part.empty())
      continue;
    if (!plain_name(part) || ++parts > 4)
      return "";
    if (!relative.empty())
      relative += '/';
    relative += part;
    last = part;
  }
  const MediaKind *k = parts >= 2 ? media_kind(last) : nullptr;
  if (!k)
    return "";
  *kind = k;
  return relative;
}

MediaRoot::MediaRoot(std::string dir) : dir_(std::move(dir)) {}

MediaRoot::~MediaRoot()
{
  const int fd = fd_.load();
  if (fd >= 0)
    close(fd);
}

int MediaRoot::fd() const
{
  int fd = fd_.load(std::memory_order_acquire);
  if (fd >= 0)
    return fd;
  const int opened = ::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (opened < 0)
    return -1;
  /* Two threads may race to open it: one keeps its descriptor. */
  if (fd_.compare_exchange_strong(fd, opened, std::memory_order_acq_rel))
    return opened;
  close(opened);
  return fd;
}

int MediaRoot::open(const std::string &relative, struct stat &st) const
{
  const int root = fd();
  if (root < 0 || relative.empty())
    return -1;
  /* The kernel resolves every component and every symbolic link, and fails
   * with EXDEV when any step would leave the folder. */
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, root, relative.c_str(), &how, sizeof how));
  if (fd < 0 && (errno == ENOSYS || errno == EPERM))
    fd = open_checked_by_path(root, dir_, relative);
  if (fd < 0)
    return -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return -1;
  }
  return fd;
}

MediaFiles::MediaFiles(HttpServer &http, std::string url_prefix, std::string root)
    : http_(http), prefix_(std::move(url_prefix)), root_(std::make_shared<MediaRoot>(root))
{
  soup_server_add_handler(http_.soup(), prefix_.c_str(), on_request, this, nullptr);
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
  g_autoptr(GError) error = nullptr;
  g_autoptr(GMappedFile) mapped = g_mapped_file_new_from_fd(fd, FALSE, &error);
  close(fd); /* the mapping stays */
  if (!mapped) {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", std::string("No such file: ") + path);
    return;
  }
  g_autoptr(GBytes) bytes = g_mapped_file_get_bytes(mapped);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Cache-Control", kind->cache_control);
  soup_message_headers_replace(headers, "Accept-Ranges", "bytes");
  respond_bytes(msg, method, kind->content_type, bytes);
}

} // namespace sugarcast
