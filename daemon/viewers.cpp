/* sugarcastd — concurrent viewers. See viewers.h. */
#include "viewers.h"

#include <glib.h>

#include <map>

namespace sugarcast {

namespace {

/* User-Agents are cut here: the grouping needs no more, and a client must
 * not make the tracker keep kilobytes per session. */
constexpr size_t kMaxAgentBytes = 256;
constexpr size_t kMaxSessionBytes = 64;

bool id_char(char c)
{
  return g_ascii_isalnum(c) || c == '-' || c == '_';
}

} // namespace

ViewerTracker::ViewerTracker(Metrics &metrics, int64_t window_ms)
    : metrics_(metrics), window_ms_(window_ms),
      refused_(metrics.counter("sugarcast_viewer_sessions_refused_total",
                               "HLS viewer sessions not counted because the tracker was full"))
{
  metrics_.gauge("sugarcast_viewer_sessions_tracked",
                 "HLS viewer sessions (and fallback address+User-Agent pairs) tracked", [this] {
                   std::lock_guard<std::mutex> hold(lock_);
                   return static_cast<double>(total_);
                 });
}

std::string ViewerTracker::client_of(std::string_view address, std::string_view user_agent)
{
  std::string out(address);
  out += '\n';
  out.append(user_agent.substr(0, kMaxAgentBytes));
  return out;
}

std::string_view ViewerTracker::session_of(std::string_view query)
{
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos)
      end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    if (pair.substr(0, 8) == "session=") {
      const std::string_view id = pair.substr(8);
      if (id.empty() || id.size() > kMaxSessionBytes)
        return {};
      for (char c : id)
        if (!id_char(c))
          return {};
      return id;
    }
    start = end + 1;
  }
  return {};
}

void ViewerTracker::playlist_served(std::string_view relative, std::string_view query,
                                    std::string_view address, std::string_view user_agent) noexcept
{
  const size_t slash = relative.find('/');
  if (slash == std::string_view::npos || slash == 0)
    return;
  try {
    const std::string stream(relative.substr(0, slash));
    const std::string_view session = session_of(query);
    std::string client = client_of(address, user_agent);
    std::string key = session.empty() ? "a:" + client : "s:" + std::string(session);
    const int64_t now = g_get_monotonic_time() / 1000;
    std::lock_guard<std::mutex> hold(lock_);
    auto &sessions = streams_[stream];
    auto it = sessions.find(key);
    if (it == sessions.end()) {
      if (total_ >= kMaxSessions) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      it = sessions.emplace(std::move(key), Entry{std::move(client), now}).first;
      ++total_;
    }
    it->second.seen = now;
  } catch (const std::bad_alloc &) {
    refused_.fetch_add(1, std::memory_order_relaxed);
  }
}

ViewerTracker::Count ViewerTracker::count(const std::string &stream,
                                          const std::vector<std::pair<std::string, uint64_t>> &chat)
{
  Count c;
  c.chat_connections = static_cast<int64_t>(chat.size());
  /* client -> (HLS viewers, chat connections) */
  std::map<std::string, std::pair<int64_t, int64_t>> groups;
  const int64_t now = g_get_monotonic_time() / 1000;
  {
    std::lock_guard<std::mutex> hold(lock_);
    auto s = streams_.find(stream);
    if (s != streams_.end()) {
      for (auto it = s->second.begin(); it != s->second.end();) {
        if (now - it->second.seen > window_ms_) {
          it = s->second.erase(it);
          --total_;
          continue;
        }
        (it->first[0] == 's' ? c.hls_sessions : c.hls_estimated) += 1;
        groups[it->second.client].first += 1;
        c.seen.emplace_back(it->second.client, it->first[0] == 's' ? it->first : "a:");
        ++it;
      }
      if (s->second.empty())
        streams_.erase(s);
    }
  }
  for (const auto &[client, conn] : chat) {
    groups[client].second += 1;
    c.seen.emplace_back(client, "c:" + std::to_string(conn));
  }
  for (const auto &[client, n] : groups)
    c.viewers += std::max(n.first, n.second);
  return c;
}

} // namespace sugarcast
