/* sugarcastd — who is watching: concurrent viewers per stream, from the HLS
 * playlists players poll and the chat connections, counted once each.
 *
 * HLS: a player polls its media playlist about once a target duration. A
 * poll carrying `?session=ID` (the watch page adds a random ID to every
 * playlist URL; 1 to 64 of [A-Za-z0-9_-]) is that session; a poll without
 * one (a third-party player: VLC, ffplay, Safari with a pasted URL) is
 * counted as one viewer per client address and User-Agent, the fallback
 * estimate. A session is live while it polled within `window_ms` (2 target
 * durations plus a second for the network).
 *
 * De-duplication: the viewers of one address and User-Agent (one browser,
 * or a few people behind one NAT with the same browser) are max(HLS
 * sessions, chat connections) of that pair, not the sum: a page that plays
 * and chats polls playlists and holds a chat socket from the same browser.
 * Chat-only clients (a chat embed, a bot) still count. Unique viewers (of a
 * show, stats.h) follow the same rule over time: per address and
 * User-Agent, max(distinct sessions, distinct chat connections) seen.
 *
 * Limits: at most kMaxSessions sessions are tracked (beyond, new ones are
 * not counted, sugarcast_viewer_sessions_refused_total says how many);
 * sessions idle past the window are dropped by count().
 *
 * Threads: playlist_served() from any thread (the media fast path's);
 * everything else on the main context. Never throws. */
#pragma once

#include "metrics.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sugarcast {

class ViewerTracker
{
public:
  static constexpr size_t kMaxSessions = 200000;

  ViewerTracker(Metrics &metrics, int64_t window_ms);

  /* A PlaylistObserver (media.h): RELATIVE is "STREAM/.../x.m3u8". */
  void playlist_served(std::string_view relative, std::string_view query, std::string_view address,
                       std::string_view user_agent) noexcept;

  struct Count
  {
    int64_t viewers = 0;       /* de-duplicated */
    int64_t hls_sessions = 0;  /* with a session id */
    int64_t hls_estimated = 0; /* without: one per address and User-Agent */
    int64_t chat_connections = 0;
    /* Who was counted, for unique viewers: (client, identity), identity
     * "s:SESSION" or "a:" for a player without one, "c:CONNECTION" for a
     * chat socket. */
    std::vector<std::pair<std::string, std::string>> seen;
  };
  /* Viewers of STREAM now; CHAT is (client_of(), connection id) per chat
   * connection of the stream. Drops idle sessions. */
  Count count(const std::string &stream, const std::vector<std::pair<std::string, uint64_t>> &chat);

  /* "address\nUser-Agent": how a client is grouped (chat uses the same). */
  static std::string client_of(std::string_view address, std::string_view user_agent);
  /* The session parameter's value in QUERY when it is a valid id, or "". */
  static std::string_view session_of(std::string_view query);

private:
  struct Entry
  {
    std::string client; /* client_of() */
    int64_t seen = 0;   /* monotonic ms */
  };

  Metrics &metrics_;
  const int64_t window_ms_;
  std::mutex lock_;
  size_t total_ = 0;
  /* stream -> key ("s:ID" or "a:" + client) -> entry */
  std::unordered_map<std::string, std::unordered_map<std::string, Entry>> streams_;
  std::atomic<uint64_t> &refused_;
};

} // namespace sugarcast
