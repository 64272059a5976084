/* sugarcastd — which media paths and files are served, and how: pure
 * functions shared by both servers of the port (and the fuzz target). See
 * media.h. */
#include "media.h"

#include <algorithm>

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

namespace {

/* The decimal number at the start of TEXT; -1 when there is none or it has
 * more than 15 digits. */
int64_t leading_number(std::string_view text)
{
  int64_t value = 0;
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    if (digits == 15)
      return -1;
    value = value * 10 + (text[digits] - '0');
    ++digits;
  }
  return digits == 0 ? -1 : value;
}

bool starts_with(std::string_view text, std::string_view prefix)
{
  return text.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

HlsPlaylistState hls_playlist_state(std::string_view text)
{
  HlsPlaylistState state;
  int64_t first = 0, segments = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.size() < 4 || line[0] != '#')
      continue;
    if (starts_with(line, "#EXTINF:"))
      ++segments;
    else if (starts_with(line, "#EXT-X-MEDIA-SEQUENCE:"))
      first = std::max<int64_t>(0, leading_number(line.substr(22)));
    else if (starts_with(line, "#EXT-X-TARGETDURATION:"))
      state.target_duration = std::max<int64_t>(0, leading_number(line.substr(22)));
    else if (line == "#EXT-X-ENDLIST")
      state.ended = true;
    else if (starts_with(line, "#EXT-X-SERVER-CONTROL:"))
      state.can_block = line.find("CAN-BLOCK-RELOAD=YES") != std::string_view::npos;
  }
  state.next_msn = first + segments;
  return state;
}

int64_t hls_requested_msn(std::string_view query)
{
  while (!query.empty()) {
    const size_t end = query.find('&');
    const std::string_view pair = query.substr(0, end);
    query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
    if (!starts_with(pair, "_HLS_msn="))
      continue;
    const std::string_view value = pair.substr(9);
    if (value.empty() || value.size() > 15 ||
        value.find_first_not_of("0123456789") != std::string_view::npos)
      return -2;
    return leading_number(value);
  }
  return -1;
}

HlsHold hls_hold(int64_t msn, const HlsPlaylistState &state, std::string &refusal)
{
  if (!state.can_block || state.ended || (msn >= 0 && msn < state.next_msn))
    return HlsHold::Serve;
  if (msn < 0) {
    refusal = "_HLS_msn must be a segment's media sequence number";
    return HlsHold::Refuse;
  }
  if (msn > state.next_msn + 1) {
    refusal = "_HLS_msn=" + std::to_string(msn) +
              " is more than two segments past the last one listed (" +
              std::to_string(state.next_msn - 1) + ")";
    return HlsHold::Refuse;
  }
  return HlsHold::Wait;
}

int64_t hls_hold_ms(const HlsPlaylistState &state, int64_t cap_ms)
{
  return std::min<int64_t>(3 * 1000 * std::max<int64_t>(1, state.target_duration), cap_ms);
}

std::string hls_hold_expired(int64_t msn)
{
  return "The segment this playlist request waits for (_HLS_msn=" + std::to_string(msn) +
         ") was not listed within three target durations: the stream may have stalled; ask "
         "again";
}

bool is_playlist_path(std::string_view path)
{
  return path.size() > 5 && path.substr(path.size() - 5) == ".m3u8";
}

} // namespace sugarcast
