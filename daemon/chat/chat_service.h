/* sugarcastd chat — live chat and gifts, one room per stream.
 *
 * Offers:
 *   WS  /ws/chat/{stream}?token=JWT   the chat protocol (docs/protocol.md)
 *   GET /api/streams/{id}/chat        history, paged back (?before=ID&limit=N)
 *   GET /api/gifts                    the gift catalogue
 *   POST /api/gifts                   a confirmed gift from the payment service (admin)
 *   GET /api/streams/{id}/leaderboard top gifters
 *   moderation routes (admin), docs/api.md "Chat and gifts"
 *
 * Needs: the configuration, the store (streams, chat history, bans,
 * moderators, the gift ledger, notify/listen between daemons), the HTTP
 * server to add its routes to, metrics, and where recorded gifts go (the
 * streams module hands them to the live pipeline).
 *
 * Threads: everything here runs on the main context except the sockets,
 * which chat.threads workers own (fanout.h).
 */
#pragma once

#include "../config.h"
#include "../http.h"
#include "../metrics.h"
#include "../store/store.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sugarcast::chat {

/* A gift newly recorded in the ledger, for the stream's live pipeline. */
struct GiftDelivered
{
  int64_t ledger_id = 0;
  std::string user_id;
  std::string user_name;
  std::string gift_id;   /* catalogue id */
  std::string name;      /* catalogue name */
  std::string animation; /* catalogue animation asset */
  int count = 1;
  int64_t coins = 0;
  int64_t created_at = 0; /* Unix ms, when the ledger recorded it */
  std::string json;       /* the `gift` protocol message, as the room saw it */
};

/* Called on the main context once per newly recorded gift, on every daemon
 * sharing the store (a daemon that does not run the stream's pipeline
 * ignores it), never for a retry of a recorded one. */
using GiftSink = std::function<void(const std::string &stream_id, const GiftDelivered &gift)>;

class ChatService
{
public:
  ChatService(const Config &config, Store &store, HttpServer &http, Metrics &metrics,
              GiftSink on_gift);
  ~ChatService();
  ChatService(const ChatService &) = delete;
  ChatService &operator=(const ChatService &) = delete;

  /* Adds the routes, starts the worker threads and listens for other
   * daemons' events. Call after the store is open, before http.listen(). */
  bool start(std::string &error);

  /* Tells the room (`stream` message) and remembers it for joiners. */
  void set_stream_live(const std::string &stream_id, bool live);
  /* A live stream whose encoder went and may come back (streams.grace_period_ms):
   * the room is told `reconnecting`, then `live` again or `offline`. */
  void set_stream_reconnecting(const std::string &stream_id, bool reconnecting);

  /* Refuses new connections, closes every socket with 1001 Going Away,
   * writes the history still waiting to the store, then calls `done`. */
  void shutdown(std::function<void()> done);

  /* ("address\nUser-Agent" (viewers.h), connection id) per chat connection
   * to the stream on this daemon. */
  std::vector<std::pair<std::string, uint64_t>> clients(const std::string &stream_id) const;
  /* Called on the main context for each chat message this daemon accepted. */
  void on_message(std::function<void(const std::string &stream_id)> callback);

  /* Open chat connections on this daemon. */
  size_t connections() const;

  struct Impl; /* chat_impl.h */

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace sugarcast::chat
