/* sugarcastd chat — events between daemons sharing one PostgreSQL.
 *
 * Every change a room sees (chat, deletions, bans, mutes, slow mode, gifts,
 * moderators, viewer counts) is also sent with store.notify() on one
 * channel as a small JSON object {"i": instance, "t": type, "s": stream,
 * ...}; each daemon applies the others' events to its own rooms and
 * ignores its own echo. With SQLite there are no other daemons and nothing
 * is sent.
 */
#include "chat_impl.h"

#include "../jsondepth.h"

namespace sugarcast::chat {

namespace {

std::string get_string(JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member(o, name);
  if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE || json_node_get_value_type(n) != G_TYPE_STRING)
    return "";
  return json_node_get_string(n);
}

int64_t get_int(JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member(o, name);
  if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE || json_node_get_value_type(n) != G_TYPE_INT64)
    return 0;
  return json_node_get_int(n);
}

} // namespace

void ChatService::Impl::listen_cluster()
{
  if (!store.supports_notify())
    return;
  store.listen(
      kClusterChannel, [this](const std::string &payload) { on_cluster(payload); },
      [](StoreResult<Done> ready) {
        /* Operators (and tests) read from here on that rooms are shared. */
        if (ready.ok())
          g_message("chat: hearing the other daemons' rooms (LISTEN %s)", kClusterChannel);
        else
          g_warning("chat: not hearing the other daemons yet (%s); retrying",
                    ready.error().message.c_str());
      });
}

void ChatService::Impl::tell_cluster(const char *type, const std::string &stream,
                                     JsonWriter &fields)
{
  if (!store.supports_notify())
    return;
  JsonWriter w;
  w.begin_object().string("i", config.instance_id).string("t", type).string("s", stream);
  std::string payload = w.take();
  if (!fields.text().empty())
    payload += "," + fields.text();
  payload += "}";
  if (payload.size() > 7000) {
    g_warning("chat: a %s event of %zu bytes is too long to reach the other daemons", type,
              payload.size());
    return;
  }
  store.notify(kClusterChannel, payload, [type = std::string(type)](StoreResult<Done> r) {
    if (!r.ok())
      g_warning("chat: the other daemons missed a %s event: %s", type.c_str(),
                r.error().message.c_str());
  });
}

void ChatService::Impl::on_cluster(const std::string &payload)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  if (!json_depth_within(payload, kMaxJsonDepth) ||
      !json_parser_load_from_data(parser, payload.data(), static_cast<gssize>(payload.size()),
                                  nullptr))
    return;
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root))
    return;
  JsonObject *o = json_node_get_object(root);
  const std::string from = get_string(o, "i");
  if (from == config.instance_id)
    return; /* our own echo */
  const std::string type = get_string(o, "t");
  const std::string stream = get_string(o, "s");
  if (stream.empty())
    return;
  const bool here = rooms.count(stream) > 0;

  if (type == "chat") {
    ChatRecord rec{get_string(o, "id"),   stream,
                   get_string(o, "user"), get_string(o, "name"),
                   get_string(o, "text"), get_int(o, "ts")};
    Role role = Role::Anonymous;
    parse_role(get_string(o, "role"), role);
    if (!here || rec.id.empty())
      return;
    HistoryEntry entry{rec, role, encode_chat(rec, role)};
    broadcast(stream, entry.json);
    add_to_history(*rooms[stream], std::move(entry));
  } else if (type == "deleted") {
    const std::string id = get_string(o, "id");
    pending_history.erase(std::remove_if(pending_history.begin() + static_cast<ptrdiff_t>(flushing),
                                         pending_history.end(),
                                         [&](const ChatRecord &r) { return r.id == id; }),
                          pending_history.end());
    if (here)
      apply_delete(stream, id, get_string(o, "by"));
  } else if (type == "ban") {
    BanRecord ban;
    ban.user_id = get_string(o, "user");
    ban.scope = get_string(o, "scope");
    ban.banned_by = get_string(o, "by");
    ban.reason = get_string(o, "reason");
    ban.expires_at = get_int(o, "expires_at");
    apply_ban(ban, stream);
  } else if (type == "unban") {
    if (here)
      broadcast(stream, encode_moderation({"unban", get_string(o, "user"), get_string(o, "by")}));
  } else if (type == "mute") {
    if (here)
      apply_mute(stream, get_string(o, "user"), get_int(o, "until"), get_int(o, "seconds"),
                 get_string(o, "by"), get_string(o, "reason"));
  } else if (type == "slow") {
    if (here)
      apply_slow(stream, get_int(o, "seconds"), get_string(o, "by"));
  } else if (type == "moderator") {
    JsonNode *on = json_object_get_member(o, "on");
    if (here && on) {
      if (json_node_get_boolean(on))
        rooms[stream]->moderators.insert(get_string(o, "user"));
      else
        rooms[stream]->moderators.erase(get_string(o, "user"));
    }
  } else if (type == "gift") {
    GiftRecord g;
    g.ledger_id = get_int(o, "ledger_id");
    g.idempotency_key = get_string(o, "key");
    g.stream_id = stream;
    g.user_id = get_string(o, "user");
    g.user_name = get_string(o, "name");
    g.gift_id = get_string(o, "gift");
    g.count = static_cast<int>(get_int(o, "count"));
    g.coins = get_int(o, "coins");
    g.created_at = get_int(o, "ts");
    deliver_gift(g, false);
  } else if (type == "viewers") {
    if (here)
      rooms[stream]->remote_viewers[from] = {get_int(o, "n"), g_get_monotonic_time() / 1000};
  }
}

} // namespace sugarcast::chat
