/* sugarcastd chat — the service's private state, shared by its parts:
 * chat_service.cpp (start, connections, rooms, the periodic tick),
 * chat_messages.cpp (what clients send, chat, history),
 * chat_moderation.cpp (delete, mute, ban, slow mode), chat_gifts.cpp (gifts, leaderboard),
 * chat_rest.cpp (REST routes), chat_cluster.cpp (events between daemons). Main context only. */
#pragma once

#include "../clock.h"
#include "../store/mailbox.h"
#include "chat_service.h"
#include "fanout.h"
#include "protocol.h"
#include "ratelimit.h"
#include "wordfilter.h"

#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace sugarcast::chat {

/* The store's records as the chat protocol shows them (protocol.h takes its
 * own structs), and the encoders over records: the one place that knows
 * both. */
inline ChatLine wire(const ChatRecord &r)
{
  return {r.id, r.user_id, r.user_name, r.text, r.created_at};
}
inline GiftLine wire(const GiftRecord &r)
{
  return {r.ledger_id, r.idempotency_key, r.user_id, r.user_name,
          r.gift_id,   r.count,           r.coins,   r.created_at};
}
inline std::vector<LeaderLine> wire(const std::vector<LeaderboardEntry> &entries)
{
  std::vector<LeaderLine> lines;
  lines.reserve(entries.size());
  for (const LeaderboardEntry &e : entries)
    lines.push_back({e.user_id, e.user_name, e.coins, e.gifts});
  return lines;
}
inline std::string encode_chat(const ChatRecord &r, Role role)
{
  return encode_chat(wire(r), role);
}
inline std::string encode_gift_ack(const GiftRecord &r, const std::string &ref)
{
  return encode_gift_ack(wire(r), ref);
}
inline std::string encode_leaderboard_entries(const std::vector<LeaderboardEntry> &entries)
{
  return encode_leaderboard_entries(wire(entries));
}
inline std::string encode_leaderboard(const std::vector<LeaderboardEntry> &entries)
{
  return encode_leaderboard(wire(entries));
}

struct Session
{
  ConnId id = 0;
  std::string stream;
  UserInfo user;
  bool banned = false; /* kicked: its close is on the way, it may do nothing more */
  std::string client;  /* "address\nUser-Agent", for de-duplicated viewer counts (viewers.h) */
};

/* Which token bucket a client message draws on. */
enum class Budget { Chat, Gifts };

struct HistoryEntry
{
  ChatRecord record;
  Role role = Role::Anonymous; /* unknown for messages loaded from the store */
  std::string json;
};

struct Room
{
  std::string id;
  std::unordered_set<ConnId> conns;
  std::deque<HistoryEntry> history;            /* oldest first, at most chat.history_size */
  std::set<std::string> moderators;            /* named in the store */
  std::map<std::string, int64_t> muted_until;  /* user id -> Unix ms */
  std::map<std::string, int64_t> last_message; /* user id -> Unix ms, for slow mode */
  std::map<std::string, std::pair<int64_t, int64_t>> remote_viewers; /* instance -> (count, seen) */
  int64_t slow_seconds = 0;
  int64_t viewers_sent = -1;
  int64_t local_viewers_told = -1;
  int64_t local_viewers_told_at = 0; /* monotonic ms */
  int64_t empty_since = 0;
  std::string leaderboard_json = "[]";
  bool leaderboard_busy = false;
  bool leaderboard_again = false;
  bool loaded = false;
  int loading = 0;
  std::vector<std::function<void()>> on_loaded;
};

struct PendingGift
{
  GiftRecord request;
  std::vector<std::function<void(const StoreResult<GiftOutcome> &)>> waiters;
};

struct ChatService::Impl
{
  Impl(const Config &config, Store &store, HttpServer &http, Metrics &metrics, GiftSink on_gift);
  ~Impl();

  /* chat_service.cpp */
  bool start(std::string &error);
  void on_upgrade(HttpRequest &request);
  void accept_connection(SoupServerMessage *msg, const std::string &stream, UserInfo user,
                         std::string refusal_code, std::string refusal, uint16_t close);
  void steal_and_join(SoupServerMessage *msg, const std::string &stream, const UserInfo &user,
                      const std::string &refusal_code, const std::string &refusal, uint16_t close);
  Room &room(const std::string &stream);
  void when_loaded(Room &room, std::function<void()> fn);
  void on_closed(ConnId conn);
  void send(ConnId conn, const std::string &json);
  void reply_error(ConnId conn, const char *code, const std::string &message,
                   const std::string &ref, int64_t retry_after_ms = -1, bool retryable = false);
  void broadcast(const std::string &stream, const std::string &json);
  void tick();
  int64_t viewers(Room &room);
  std::string next_message_id();
  std::vector<std::string> ban_scopes(const std::string &stream) const;
  int64_t now_ms() const;

  /* chat_messages.cpp */
  void handle(ConnId conn, ClientMessage message);
  /* The checks chat and gifts share: banned, muted, slow mode (chat only)
   * and the budget's rate; false (after an error reply) when refused. */
  bool may_act(Session &session, const ClientMessage &m, const char *what, Budget budget);
  void chat(Session &session, const ClientMessage &m);
  void add_to_history(Room &room, HistoryEntry entry);
  void queue_history(const ChatRecord &record);
  void flush_history();
  void schedule_flush(int delay_ms);

  /* chat_moderation.cpp */
  bool is_moderator(const Session &session);
  bool protected_user(Room &room, const std::string &user_id);
  void moderate(Session &session, const ClientMessage &m);
  void apply_delete(const std::string &stream, const std::string &id, const std::string &by);
  void apply_ban(const BanRecord &ban, const std::string &stream);
  void apply_mute(const std::string &stream, const std::string &user, int64_t until,
                  int64_t seconds, const std::string &by, const std::string &reason);
  void apply_slow(const std::string &stream, int64_t seconds, const std::string &by);
  void kick_user(const std::string &user_id, const std::string &scope, const std::string &why);

  /* chat_gifts.cpp */
  const GiftType *catalogue_item(const std::string &id) const;
  /* Records the gift (once per key) and calls `done` with the outcome. */
  void record_gift(GiftRecord request, std::function<void(const StoreResult<GiftOutcome> &)> done);
  void gift_from_socket(Session &session, const ClientMessage &m);
  void deliver_gift(const GiftRecord &gift, bool tell_others);
  void refresh_leaderboard(const std::string &stream);

  /* chat_rest.cpp */
  void add_routes();

  /* chat_cluster.cpp */
  void listen_cluster();
  void tell_cluster(const char *type, const std::string &stream, JsonWriter &fields);
  void on_cluster(const std::string &payload);

  Config config;
  Store &store;
  HttpServer &http;
  Metrics &metrics;
  GiftSink on_gift;
  std::function<void(const std::string &stream)> on_message;
  std::unique_ptr<ProtocolParser> parser;
  WordFilter filter;
  Mailbox main_queue; /* from the fan-out threads; what is left at the end is dropped */
  std::unique_ptr<Fanout> fanout;

  std::unordered_map<ConnId, Session> sessions;
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms;
  std::set<std::string> live_streams;
  std::set<std::string> reconnecting_streams;                /* live, their encoder gone for now */
  std::unordered_map<std::string, TokenBucket> buckets;      /* user id -> chat bucket */
  std::unordered_map<std::string, TokenBucket> gift_buckets; /* user id -> gift bucket */
  std::map<std::string, PendingGift> gifts_in_flight;        /* idempotency key -> waiters */

  std::vector<ChatRecord> pending_history; /* accepted, not yet in the store */
  size_t flushing = 0;                     /* the first `flushing` of them are being written */
  guint flush_source = 0;
  int flush_backoff_ms = 0;
  std::function<void()> after_flush; /* shutdown waits for the last write */

  uint64_t accepted_messages = 0;
  uint64_t accept_wait_us = 0;
  uint64_t accept_wait_max_us = 0;

  guint tick_source = 0;
  uint32_t message_seq = 0;
  uint32_t instance_tag = 0;
  bool started = false;
  bool stopping = false;

  std::atomic<uint64_t> &messages_total;
  std::atomic<uint64_t> &history_dropped;
  std::atomic<uint64_t> &gifts_recorded;
};

/* "" when `recorded` is the gift `asked` for; otherwise what the key was used
 * for: the same key recorded for another gift is a client bug, not a retry. */
inline std::string gift_mismatch(const GiftRecord &asked, const GiftRecord &recorded)
{
  if (asked.stream_id != recorded.stream_id)
    return "stream " + recorded.stream_id;
  if (asked.user_id != recorded.user_id)
    return "another user";
  if (asked.gift_id != recorded.gift_id || asked.count != recorded.count)
    return std::to_string(recorded.count) + " x " + recorded.gift_id;
  return "";
}

constexpr size_t kMaxPendingHistory = 100000;
constexpr const char *kClusterChannel = "sugarcast_chat";

} // namespace sugarcast::chat
