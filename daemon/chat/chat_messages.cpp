/* sugarcastd chat — what a client sends: dispatching its messages, the
 * checks every action passes (ban, mute, slow mode, rate), chat messages
 * (filter, broadcast, the room's history) and writing history to the store
 * in batches. Apart from the connections (chat_service.cpp), which only
 * hand messages here. */
#include "chat_impl.h"
#include "guard.h"

#include <algorithm>

namespace sugarcast::chat {

void ChatService::Impl::handle(ConnId conn, ClientMessage m)
{
  auto it = sessions.find(conn);
  if (it == sessions.end())
    return; /* closed meanwhile */
  Session &s = it->second;
  using T = ClientMessage::Type;
  switch (m.type) {
  case T::Chat:
    chat(s, m);
    break;
  case T::Gift:
    gift_from_socket(s, m);
    break;
  case T::Ping:
    break;
  default:
    moderate(s, m);
    break;
  }
}

bool ChatService::Impl::may_act(Session &s, const ClientMessage &m, const char *what, Budget budget)
{
  if (s.banned) {
    /* Banned meanwhile: the close is on its way, nothing more is taken. */
    reply_error(s.id, "banned", std::string("you are banned: no more ") + what, m.ref);
    return false;
  }
  Room &rm = room(s.stream);
  const int64_t now = now_ms();
  if (auto mute = rm.muted_until.find(s.user.id); mute != rm.muted_until.end()) {
    if (mute->second > now) {
      reply_error(s.id, "muted",
                  "you are muted in this room for another " +
                      std::to_string((mute->second - now + 999) / 1000) + " s",
                  m.ref, mute->second - now);
      return false;
    }
    rm.muted_until.erase(mute);
  }
  const bool gifts = budget == Budget::Gifts;
  if (!gifts && rm.slow_seconds > 0 && !is_moderator(s)) {
    auto last = rm.last_message.find(s.user.id);
    if (last != rm.last_message.end() && now - last->second < rm.slow_seconds * 1000) {
      const int64_t wait = rm.slow_seconds * 1000 - (now - last->second);
      reply_error(s.id, "slow_mode",
                  "slow mode: one message every " + std::to_string(rm.slow_seconds) + " s; wait " +
                      std::to_string((wait + 999) / 1000) + " s",
                  m.ref, wait);
      return false;
    }
  }
  const double rate = gifts ? config.gifts.rate_per_second : config.chat.rate_per_second;
  const int burst = gifts ? config.gifts.rate_burst : config.chat.rate_burst;
  const int64_t mono = monotonic_ms();
  auto &map = gifts ? gift_buckets : buckets;
  auto bucket = map.try_emplace(s.user.id, rate, burst, mono);
  int64_t retry_after = 0;
  if (!bucket.first->second.take(mono, retry_after)) {
    char per_second[32];
    g_snprintf(per_second, sizeof per_second, "%g", rate);
    reply_error(s.id, "rate_limited",
                std::string("you are sending faster than ") + per_second + " " + what +
                    " a second (bursts of " + std::to_string(burst) + ")",
                m.ref, retry_after);
    return false;
  }
  return true;
}

void ChatService::Impl::chat(Session &s, const ClientMessage &m)
{
  if (s.user.role == Role::Anonymous) {
    reply_error(s.id, "forbidden",
                "anonymous viewers can read the chat but not write: connect with a token", m.ref);
    return;
  }
  if (!may_act(s, m, "messages", Budget::Chat))
    return;
  Room &rm = room(s.stream);
  const int64_t now = now_ms();
  std::string text = m.text;
  if (!filter.empty()) {
    if (config.chat.filter_mode == "reject") {
      if (filter.matches(text)) {
        reply_error(s.id, "filtered", "the message contains a word this room does not allow",
                    m.ref);
        return;
      }
    } else {
      text = filter.mask(text);
    }
  }
  ChatRecord rec{next_message_id(), s.stream, s.user.id, s.user.name, std::move(text), now};
  rm.last_message[s.user.id] = now;
  HistoryEntry entry{rec, s.user.role, encode_chat(rec, s.user.role)};
  broadcast(s.stream, entry.json);
  JsonWriter fields;
  fields.string("id", rec.id).string("user", rec.user_id).string("name", rec.user_name);
  fields.string("role", role_name(s.user.role))
      .string("text", rec.text)
      .integer("ts", rec.created_at);
  tell_cluster("chat", s.stream, fields);
  add_to_history(rm, std::move(entry));
  queue_history(rec);
  messages_total.fetch_add(1, std::memory_order_relaxed);
  if (on_message)
    on_message(s.stream);
}

void ChatService::Impl::add_to_history(Room &rm, HistoryEntry entry)
{
  if (config.chat.history_size <= 0)
    return;
  rm.history.push_back(std::move(entry));
  while (rm.history.size() > static_cast<size_t>(config.chat.history_size))
    rm.history.pop_front();
}
/* ---- history --------------------------------------------------------- */

void ChatService::Impl::queue_history(const ChatRecord &record)
{
  pending_history.push_back(record);
  if (pending_history.size() > kMaxPendingHistory) {
    /* The oldest not being written goes: memory stays bounded. */
    pending_history.erase(pending_history.begin() + static_cast<ptrdiff_t>(flushing));
    if (history_dropped.fetch_add(1, std::memory_order_relaxed) % 1000 == 0)
      g_warning("chat: the store has been unavailable for %zu messages; dropping the oldest "
                "unstored ones",
                kMaxPendingHistory);
  }
  if (pending_history.size() - flushing >= 100 && flushing == 0 && flush_backoff_ms == 0)
    flush_history();
  else
    schedule_flush(200);
}

void ChatService::Impl::schedule_flush(int delay_ms)
{
  if (flush_source)
    return;
  flush_source =
      g_timeout_add(static_cast<guint>(delay_ms), SUGARCAST_GUARD(+[](gpointer self) -> gboolean {
                      auto *impl = static_cast<Impl *>(self);
                      impl->flush_source = 0;
                      impl->flush_history();
                      return G_SOURCE_REMOVE;
                    }),
                    this);
}

void ChatService::Impl::flush_history()
{
  if (flushing > 0)
    return;
  if (pending_history.empty()) {
    if (after_flush) {
      auto done = std::move(after_flush);
      after_flush = nullptr;
      done();
    }
    return;
  }
  flushing = std::min<size_t>(pending_history.size(), 500);
  std::vector<ChatRecord> batch(pending_history.begin(),
                                pending_history.begin() + static_cast<ptrdiff_t>(flushing));
  store.append_chat(batch, [this](StoreResult<Done> r) {
    const size_t written = flushing;
    flushing = 0;
    if (r.ok() || !r.error().retryable) {
      if (!r.ok())
        g_warning("chat: %zu messages could not be stored and were dropped: %s", written,
                  r.error().message.c_str());
      pending_history.erase(pending_history.begin(),
                            pending_history.begin() + static_cast<ptrdiff_t>(written));
      flush_backoff_ms = 0;
      if (!pending_history.empty())
        schedule_flush(pending_history.size() >= 100 ? 0 : 200);
      else
        flush_history(); /* tells shutdown, if it waits */
      return;
    }
    if (flush_backoff_ms == 0)
      g_warning("chat: cannot store chat history (%s); keeping %zu messages in memory and "
                "retrying",
                r.error().message.c_str(), pending_history.size());
    flush_backoff_ms = std::min(std::max(flush_backoff_ms * 2, 250), 5000);
    if (stopping && after_flush) {
      auto done = std::move(after_flush);
      after_flush = nullptr;
      g_warning("chat: shutting down with %zu chat messages not stored", pending_history.size());
      done();
      return;
    }
    schedule_flush(flush_backoff_ms);
  });
}

} // namespace sugarcast::chat
