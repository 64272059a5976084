/* sugarcastd — serving media files. See media.h. */
#include "media.h"

#include <glib/gstdio.h>

#include <filesystem>
#include <map>

namespace sugarcast {

namespace {

struct Kind
{
  const char *content_type;
  const char *cache_control;
};

/* Playlists change every segment: a player must see the new one at once.
 * Segments and init sections never change once listed. */
const std::map<std::string, Kind> kKinds = {
    {".m3u8", {"application/vnd.apple.mpegurl", "no-cache"}},
    {".ts", {"video/mp2t", "public, max-age=31536000, immutable"}},
    {".m4s", {"video/iso.segment", "public, max-age=31536000, immutable"}},
    {".mp4", {"video/mp4", "public, max-age=3600"}},
    {".m4a", {"audio/mp4", "public, max-age=3600"}},
    {".webm", {"video/webm", "public, max-age=3600"}},
    {".jpg", {"image/jpeg", "public, max-age=3600"}},
    {".vtt", {"text/vtt", "public, max-age=3600"}},
    {".json", {"application/json", "no-cache"}},
};

const Kind *kind_of(const std::string &name)
{
  const auto dot = name.rfind('.');
  if (dot == std::string::npos)
    return nullptr;
  auto it = kKinds.find(name.substr(dot));
  return it == kKinds.end() ? nullptr : &it->second;
}

/* A path component a client may name: letters, digits, '-', '_', '.', not
 * starting with '.' (so neither ".." nor hidden files). */
bool plain_name(const std::string &part)
{
  if (part.empty() || part.size() > 128 || part[0] == '.')
    return false;
  for (char c : part)
    if (!g_ascii_isalnum(c) && c != '-' && c != '_' && c != '.')
      return false;
  return true;
}

} // namespace

const char *media_content_type(const std::string &file_name)
{
  const Kind *k = kind_of(file_name);
  return k ? k->content_type : nullptr;
}

MediaFiles::MediaFiles(HttpServer &http, std::string url_prefix, std::string root)
    : http_(http), prefix_(std::move(url_prefix)), root_(std::move(root))
{
  soup_server_add_handler(http_.soup(), prefix_.c_str(), on_request, this, nullptr);
}

void MediaFiles::on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                            gpointer self)
{
  static_cast<MediaFiles *>(self)->serve(msg, path);
}

void MediaFiles::serve(SoupServerMessage *msg, const char *path)
{
  namespace fs = std::filesystem;
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

  /* PREFIX/ID/name[/name...] */
  const std::vector<std::string> parts = split_path(std::string(path).substr(prefix_.size()));
  bool plain = parts.size() >= 2 && parts.size() <= 4;
  for (const auto &p : parts)
    plain = plain && plain_name(p);
  const Kind *kind = plain ? kind_of(parts.back()) : nullptr;
  if (!kind) {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", std::string("No such file: ") + path);
    return;
  }

  fs::path file = fs::path(root_);
  for (const auto &p : parts)
    file /= p;
  /* Symbolic links must not lead out of the root either. */
  std::error_code ec;
  const fs::path real = fs::canonical(file, ec);
  const fs::path real_root = fs::canonical(root_, ec);
  const auto rel = real.lexically_relative(real_root);
  if (real.empty() || rel.empty() || *rel.begin() == ".." || !fs::is_regular_file(real, ec)) {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", std::string("No such file: ") + path);
    return;
  }

  g_autoptr(GError) error = nullptr;
  g_autoptr(GMappedFile) mapped = g_mapped_file_new(real.c_str(), FALSE, &error);
  if (!mapped) {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", std::string("No such file: ") + path);
    return;
  }
  g_autoptr(GBytes) bytes = g_mapped_file_get_bytes(mapped);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Cache-Control", kind->cache_control);
  soup_message_headers_replace(headers, "Accept-Ranges", "bytes");
  soup_message_headers_set_content_type(headers, kind->content_type, nullptr);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  if (method == "GET")
    soup_message_body_append_bytes(soup_server_message_get_response_body(msg), bytes);
  else
    soup_message_headers_set_content_length(headers, g_bytes_get_size(bytes));
}

} // namespace sugarcast
