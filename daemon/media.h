/* sugarcastd — which media files are served over HTTP, and how: HLS under
 * /hls/STREAM_ID/, clip outputs under /clips/CLIP_ID/.
 *
 * The rules live here, once, for both servers of the HTTP port: the media
 * fast path (fastpath.h, which serves most media requests on its own
 * threads) and MediaFiles (mediafiles.h: the libsoup handler, for the media
 * requests that reach libsoup); nothing here knows either server. Content
 * types and Cache-Control by extension (playlists are fetched again and
 * again, segments never change), and no request ever reads outside its
 * folder: the path must be 2 to 4 plain names, and the file is opened by the
 * kernel beneath the folder (openat2 RESOLVE_BENEATH), so neither "..", nor
 * a symbolic link, nor a path swapped meanwhile leads out. */
#pragma once

#include <glib.h>

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sugarcast {

/* How a file is served, by its extension. */
struct MediaKind
{
  const char *content_type;
  const char *cache_control;
};

/* The kind of "x.m3u8", "seg1.ts", ...; nullptr when such files are not served. */
const MediaKind *media_kind(std::string_view file_name);

/* "application/vnd.apple.mpegurl" for x.m3u8, ...; nullptr when not served. */
const char *media_content_type(const std::string &file_name);

/* The file that PATH names below a media folder. PATH is what follows the
 * URL prefix, as the request spelled it ("/ID/720p/seg1.ts", never decoded):
 * 2 to 4 components once empty ones are dropped, each a plain name (letters,
 * digits, '-', '_', '.', not starting with '.', at most 128 bytes), the last
 * with a served extension. Returns "ID/720p/seg1.ts" and sets `kind`, or ""
 * when the path is refused. */
std::string media_relative_path(std::string_view path, const MediaKind **kind);

/* Whether A and B (from stat) show the very same unchanged file: device,
 * inode, size, modification and change times. */
bool same_file_version(const struct stat &a, const struct stat &b);
/* Whether ST's file was last changed over 50 ms ago: file times move in
 * ticks of a few milliseconds, so only then can a later rewrite never look
 * unchanged to same_file_version(). */
bool file_settled(const struct stat &st);

/* Playlists are read whole to decide blocking reload; larger ones are
 * served without it. */
constexpr size_t kMaxPlaylistBytes = 65536;

/* What a media playlist's text says about blocking reload (RFC 8216bis
 * 6.2.5.2): whether it can block (EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES),
 * has ended (EXT-X-ENDLIST), the sequence number its next segment will
 * have (EXT-X-MEDIA-SEQUENCE plus the EXTINF lines) and its target duration
 * in seconds. Only the tags are read, the way hls.js reads them. */
struct HlsPlaylistState
{
  bool can_block = false;
  bool ended = false;
  int64_t next_msn = 0;
  int64_t target_duration = 0;
};
HlsPlaylistState hls_playlist_state(std::string_view text);

/* The _HLS_msn a playlist request's query (after '?', without '#') asks
 * for: -1 when it has none, -2 when its value is not a decimal number below
 * 2^53 (hls.js writes it that way). */
int64_t hls_requested_msn(std::string_view query);

/* What a playlist request asking for MSN (hls_requested_msn, not -1) gets
 * from a playlist in STATE, on both servers: Serve it now (the segment is
 * listed, or the playlist ended or cannot block), Wait until that changes,
 * or Refuse with 400 (`refusal` says why: MSN malformed, or more than two
 * past the last segment listed). */
enum class HlsHold { Serve, Wait, Refuse };
HlsHold hls_hold(int64_t msn, const HlsPlaylistState &state, std::string &refusal);
/* How long a request may wait: three target durations (RFC 8216bis), at
 * most CAP_MS; then 503 with hls_hold_expired(). */
int64_t hls_hold_ms(const HlsPlaylistState &state, int64_t cap_ms);
std::string hls_hold_expired(int64_t msn);
/* Whether a request target's path (before '?') names a playlist. */
bool is_playlist_path(std::string_view path);

/* Told of each playlist (.m3u8) a media folder served, by either server, on
 * its thread: the relative path ("ID/720p/index.m3u8"), the request's query
 * (after '?', may be empty), the client's address and User-Agent. Viewer
 * counting (viewers.h) listens here. */
using PlaylistObserver = std::function<void(std::string_view relative, std::string_view query,
                                            std::string_view address, std::string_view user_agent)>;

/* A media folder. Files are opened beneath it, never outside. Safe to use
 * from any thread. */
class MediaRoot
{
public:
  explicit MediaRoot(std::string dir);
  ~MediaRoot();
  MediaRoot(const MediaRoot &) = delete;
  MediaRoot &operator=(const MediaRoot &) = delete;

  const std::string &dir() const { return dir_; }
  /* The folder, opened on first use and kept open; -1 while it cannot be. */
  int fd() const;
  /* RELATIVE (from media_relative_path) opened read-only when it is a
   * regular file inside the folder once every symbolic link is followed
   * (absolute links are refused); -1 otherwise. Fills `st`. */
  int open(const std::string &relative, struct stat &st) const;
  /* The whole of the file FD opened (ST from open), when it is at most
   * MAX_BYTES; false otherwise or when it cannot be read. */
  static bool read_all(int fd, const struct stat &st, size_t max_bytes, std::string &out);

  /* Set before the servers start; called for each playlist served. */
  void set_playlist_observer(PlaylistObserver observer) { observer_ = std::move(observer); }
  bool observed() const { return static_cast<bool>(observer_); }
  void playlist_served(std::string_view relative, std::string_view query, std::string_view address,
                       std::string_view user_agent) const
  {
    if (observer_)
      observer_(relative, query, address, user_agent);
  }

private:
  std::string dir_;
  PlaylistObserver observer_;
  mutable std::atomic<int> fd_{-1};
};

} // namespace sugarcast
