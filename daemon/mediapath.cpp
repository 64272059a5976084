/* sugarcastd — which media paths and files are served, and how: pure
 * functions shared by both servers of the port (and the fuzz target). See
 * media.h. */
#include "media.h"

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

} // namespace sugarcast
