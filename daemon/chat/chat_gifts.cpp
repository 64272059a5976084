/* sugarcastd chat — gifts: the catalogue, the exactly-once ledger through
 * the store, delivery to the room and the pipeline, the leaderboard. */
#include "chat_impl.h"

namespace sugarcast::chat {

const GiftType *ChatService::Impl::catalogue_item(const std::string &id) const
{
  for (const auto &g : config.gifts.catalogue)
    if (g.id == id)
      return &g;
  return nullptr;
}

void ChatService::Impl::record_gift(GiftRecord request,
                                    std::function<void(const StoreResult<GiftOutcome> &)> done)
{
  /* Retries racing the first attempt wait for its outcome. */
  auto [it, first] = gifts_in_flight.try_emplace(request.idempotency_key);
  it->second.waiters.push_back(std::move(done));
  if (!first)
    return;
  it->second.request = request;
  const std::string key = request.idempotency_key;
  store.record_gift(request, [this, key](StoreResult<GiftOutcome> r) {
    auto found = gifts_in_flight.find(key);
    if (found == gifts_in_flight.end())
      return;
    auto waiters = std::move(found->second.waiters);
    gifts_in_flight.erase(found);
    if (r.ok() && r.value().created) {
      gifts_recorded.fetch_add(1, std::memory_order_relaxed);
      deliver_gift(r.value().gift, true);
    }
    for (auto &w : waiters)
      w(r);
  });
}

void ChatService::Impl::gift_from_socket(Session &s, const ClientMessage &m)
{
  if (s.user.role == Role::Anonymous) {
    reply_error(s.id, "forbidden", "anonymous viewers cannot send gifts: connect with a token",
                m.ref);
    return;
  }
  /* Each gift costs a ledger write, a broadcast and a leaderboard query:
   * the same mute, ban and rate checks as chat, on a budget of its own. */
  if (!may_act(s, m, "gifts", Budget::Gifts))
    return;
  const GiftType *item = catalogue_item(m.gift);
  if (!item) {
    reply_error(s.id, "unknown_gift",
                "no gift \"" + m.gift + "\" in the catalogue (GET /api/gifts)", m.ref);
    return;
  }
  if (m.count > config.gifts.max_count) {
    reply_error(s.id, "bad_message",
                "/count: " + std::to_string(m.count) + " is over the limit of " +
                    std::to_string(config.gifts.max_count),
                m.ref);
    return;
  }
  GiftRecord g;
  g.idempotency_key = m.idempotency_key;
  g.stream_id = s.stream;
  g.user_id = s.user.id;
  g.user_name = s.user.name;
  g.gift_id = item->id;
  g.count = static_cast<int>(m.count);
  g.coins = item->coins * m.count;
  g.created_at = now_ms();
  const ConnId conn = s.id;
  const std::string ref = m.ref;
  record_gift(g, [this, conn, ref, g](const StoreResult<GiftOutcome> &r) {
    if (!r.ok()) {
      reply_error(conn, "unavailable",
                  r.error().retryable
                      ? "the gift was not recorded (the ledger is unavailable); retry with the "
                        "same idempotency_key"
                      : "the gift was not recorded: " + r.error().message,
                  ref, r.error().retryable ? 1000 : -1, r.error().retryable);
      return;
    }
    const std::string other = gift_mismatch(g, r.value().gift);
    if (!other.empty()) {
      reply_error(conn, "conflict",
                  "idempotency_key " + g.idempotency_key + " was already used for " + other, ref);
      return;
    }
    send(conn, encode_gift_ack(r.value().gift, ref));
  });
}

void ChatService::Impl::deliver_gift(const GiftRecord &gift, bool tell_others)
{
  const GiftType *item = catalogue_item(gift.gift_id);
  GiftView view{wire(gift), item ? item->name : gift.gift_id, item ? item->animation : ""};
  const std::string json = encode_gift(view);
  broadcast(gift.stream_id, json);
  if (tell_others) {
    JsonWriter f;
    f.integer("ledger_id", gift.ledger_id).string("key", gift.idempotency_key);
    f.string("user", gift.user_id).string("name", gift.user_name).string("gift", gift.gift_id);
    f.integer("count", gift.count).integer("coins", gift.coins).integer("ts", gift.created_at);
    tell_cluster("gift", gift.stream_id, f);
  }
  if (on_gift) {
    GiftDelivered d;
    d.ledger_id = gift.ledger_id;
    d.user_id = gift.user_id;
    d.user_name = gift.user_name;
    d.gift_id = gift.gift_id;
    d.name = view.name;
    d.animation = view.animation;
    d.count = gift.count;
    d.coins = gift.coins;
    d.created_at = gift.created_at;
    d.json = json;
    on_gift(gift.stream_id, d);
  }
  refresh_leaderboard(gift.stream_id);
}

void ChatService::Impl::refresh_leaderboard(const std::string &stream)
{
  auto it = rooms.find(stream);
  if (it == rooms.end())
    return; /* nobody here watches it; joiners load it */
  Room &rm = *it->second;
  if (rm.leaderboard_busy) {
    rm.leaderboard_again = true;
    return;
  }
  rm.leaderboard_busy = true;
  store.leaderboard(stream, 10, [this, stream](StoreResult<std::vector<LeaderboardEntry>> r) {
    auto found = rooms.find(stream);
    if (found == rooms.end())
      return;
    Room &room = *found->second;
    room.leaderboard_busy = false;
    if (r.ok()) {
      std::string entries = encode_leaderboard_entries(r.value());
      if (entries != room.leaderboard_json) {
        room.leaderboard_json = entries;
        broadcast(stream, encode_leaderboard(r.value()));
      }
    }
    if (room.leaderboard_again) {
      room.leaderboard_again = false;
      refresh_leaderboard(stream);
    }
  });
}

} // namespace sugarcast::chat
