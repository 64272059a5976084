/* sugarcastd chat — the protocol. See protocol.h. */
#include "protocol.h"

#include "../jsondepth.h"

#include <json-glib/json-glib.h>

#include <cinttypes>

namespace sugarcast::chat {

namespace {

const char *kSchema = "/sugarcast/schemas/chat.schema.json";

std::unique_ptr<JsonSchema> load_part(JsonNode *document, const char *definition,
                                      std::string &error)
{
  /* The same definitions, rooted at one of them. */
  JsonObject *doc = json_node_get_object(document);
  g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), json_object_new());
  JsonObject *o = json_node_get_object(root);
  json_object_set_member(o, "definitions",
                         json_node_copy(json_object_get_member(doc, "definitions")));
  json_object_set_string_member(o, "$ref", (std::string("#/definitions/") + definition).c_str());
  return JsonSchema::load(root, error);
}

std::string member_string(JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member(o, name);
  if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE || json_node_get_value_type(n) != G_TYPE_STRING)
    return "";
  return json_node_get_string(n);
}

int64_t member_int(JsonObject *o, const char *name, int64_t fallback)
{
  JsonNode *n = json_object_get_member(o, name);
  if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE)
    return fallback;
  return json_node_get_int(n);
}

} // namespace

std::unique_ptr<ProtocolParser> ProtocolParser::load(std::string &error)
{
  g_autoptr(GError) err = nullptr;
  g_autoptr(GBytes) bytes = g_resources_lookup_data(kSchema, G_RESOURCE_LOOKUP_FLAGS_NONE, &err);
  if (!bytes) {
    error = std::string("cannot load ") + kSchema + ": " + err->message;
    return nullptr;
  }
  gsize size = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
  g_autoptr(JsonParser) parser = json_parser_new();
  if (!json_parser_load_from_data(parser, data, static_cast<gssize>(size), &err)) {
    error = std::string(kSchema) + ": " + err->message;
    return nullptr;
  }
  auto p = std::unique_ptr<ProtocolParser>(new ProtocolParser);
  p->client_ = load_part(json_parser_get_root(parser), "client_message", error);
  if (!p->client_)
    return nullptr;
  p->server_ = load_part(json_parser_get_root(parser), "server_message", error);
  if (!p->server_)
    return nullptr;
  return p;
}

std::variant<ClientMessage, ProtocolError> ProtocolParser::parse(std::string_view text,
                                                                 int max_chars) const
{
  /* json-glib recurses per level: a deep enough frame would overflow the
   * worker's stack, so depth is refused before it parses anything. */
  if (!json_depth_within(text, kMaxJsonDepth))
    return ProtocolError{"bad_message", "the message nests arrays or objects deeper than " +
                                            std::to_string(kMaxJsonDepth) + " levels"};
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) err = nullptr;
  if (!json_parser_load_from_data(parser, text.data(), static_cast<gssize>(text.size()), &err))
    return ProtocolError{"bad_message", std::string("not valid JSON: ") + err->message};
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root))
    return ProtocolError{"bad_message", "a message is one JSON object"};
  JsonObject *o = json_node_get_object(root);
  ProtocolError refusal{"bad_message", ""};
  refusal.ref = member_string(o, "ref");
  if (refusal.ref.size() > 64)
    refusal.ref.clear();

  /* The configured length limit is in characters and tighter than the
   * schema's; say too_long rather than a schema violation. */
  if (member_string(o, "type") == "chat") {
    const std::string t = member_string(o, "text");
    const auto chars = g_utf8_strlen(t.c_str(), static_cast<gssize>(t.size()));
    if (chars > max_chars) {
      refusal.code = "too_long";
      refusal.message = "the message is " + std::to_string(chars) +
                        " characters long; the limit is " + std::to_string(max_chars);
      return refusal;
    }
  }
  const auto violations = client_->validate(root, 3);
  if (!violations.empty()) {
    for (const auto &v : violations) {
      if (!refusal.message.empty())
        refusal.message += "; ";
      refusal.message += (v.path.empty() ? "/" : v.path) + ": " + v.message;
    }
    return refusal;
  }

  ClientMessage m;
  m.ref = refusal.ref;
  const std::string type = member_string(o, "type");
  using T = ClientMessage::Type;
  if (type == "chat")
    m.type = T::Chat;
  else if (type == "gift")
    m.type = T::Gift;
  else if (type == "delete")
    m.type = T::Delete;
  else if (type == "mute")
    m.type = T::Mute;
  else if (type == "ban")
    m.type = T::Ban;
  else if (type == "unban")
    m.type = T::Unban;
  else if (type == "slow")
    m.type = T::Slow;
  else
    m.type = T::Ping;
  m.text = member_string(o, "text");
  m.gift = member_string(o, "gift");
  m.count = member_int(o, "count", 0);
  m.idempotency_key = member_string(o, "idempotency_key");
  m.id = member_string(o, "id");
  m.user = member_string(o, "user");
  m.reason = member_string(o, "reason");
  m.seconds = member_int(o, "seconds", -1);
  if (m.type == T::Chat) {
    /* Nothing but blanks is not a message. */
    bool blank = true;
    for (const char *p = m.text.c_str(); *p && blank; p = g_utf8_next_char(p))
      blank = g_unichar_isspace(g_utf8_get_char(p)) || g_unichar_iszerowidth(g_utf8_get_char(p));
    if (blank)
      return ProtocolError{"bad_message", "/text: the message is blank", m.ref};
  }
  return m;
}

std::vector<SchemaViolation> ProtocolParser::check_server_message(JsonNode *message) const
{
  return server_->validate(message);
}

std::vector<SchemaViolation> ProtocolParser::check_client_message(JsonNode *message) const
{
  return client_->validate(message);
}

namespace {

JsonWriter start(const char *type)
{
  JsonWriter w;
  w.begin_object().integer("v", kProtocolVersion).string("type", type);
  return w;
}

void user_object(JsonWriter &w, const char *key, const std::string &id, const std::string &name,
                 Role role)
{
  w.key(key).begin_object().string("id", id).string("name", name);
  if (role != Role::Anonymous)
    w.string("role", role_name(role));
  w.end_object();
}

} // namespace

std::string encode_chat(const ChatLine &m, Role role)
{
  JsonWriter w = start("chat");
  w.string("id", m.id);
  user_object(w, "user", m.user_id, m.user_name, role);
  w.string("text", m.text).integer("ts", m.created_at).end_object();
  return w.take();
}

std::string encode_error(const ProtocolError &e)
{
  JsonWriter w = start("error");
  w.string("code", e.code).string("message", e.message.empty() ? e.code : e.message);
  if (!e.ref.empty())
    w.string("ref", e.ref);
  if (e.retry_after_ms >= 0)
    w.integer("retry_after_ms", e.retry_after_ms);
  if (e.retryable)
    w.boolean("retryable", true);
  return w.end_object().take();
}

std::string encode_error(const char *code, const std::string &message, const std::string &ref)
{
  return encode_error(ProtocolError{code, message, ref});
}

std::string encode_pong(const std::string &ref, int64_t now)
{
  JsonWriter w = start("pong");
  if (!ref.empty())
    w.string("ref", ref);
  return w.integer("ts", now).end_object().take();
}

std::string encode_deleted(const std::string &id, const std::string &by)
{
  JsonWriter w = start("deleted");
  w.string("id", id);
  if (!by.empty())
    w.string("by", by);
  return w.end_object().take();
}

std::string encode_viewers(int64_t count)
{
  return start("viewers").integer("count", count).end_object().take();
}

std::string encode_stream_state(const char *state)
{
  return start("stream").string("state", state).end_object().take();
}

std::string encode_moderation(const ModerationEvent &e)
{
  JsonWriter w = start("moderation");
  w.string("action", e.action);
  if (!e.user.empty())
    w.string("user", e.user);
  if (!e.by.empty())
    w.string("by", e.by);
  if (e.seconds >= 0)
    w.integer("seconds", e.seconds);
  if (e.until >= 0)
    w.integer("until", e.until);
  if (!e.reason.empty())
    w.string("reason", e.reason);
  return w.end_object().take();
}

std::string encode_leaderboard_entries(const std::vector<LeaderLine> &entries)
{
  std::string out = "[";
  for (const auto &e : entries) {
    JsonWriter w;
    w.begin_object();
    user_object(w, "user", e.user_id, e.user_name, Role::Anonymous);
    w.integer("coins", e.coins).integer("gifts", e.gifts).end_object();
    if (out.size() > 1)
      out.push_back(',');
    out += w.text();
  }
  out.push_back(']');
  return out;
}

std::string encode_leaderboard(const std::vector<LeaderLine> &entries)
{
  return start("leaderboard")
      .raw("entries", encode_leaderboard_entries(entries))
      .end_object()
      .take();
}

std::string encode_gift(const GiftView &g)
{
  JsonWriter w = start("gift");
  w.integer("ledger_id", g.record.ledger_id);
  user_object(w, "user", g.record.user_id, g.record.user_name, Role::Anonymous);
  w.string("gift", g.record.gift_id).string("name", g.name);
  if (!g.animation.empty())
    w.string("animation", g.animation);
  w.integer("count", g.record.count).integer("coins", g.record.coins);
  return w.integer("ts", g.record.created_at).end_object().take();
}

std::string encode_gift_ack(const GiftLine &g, const std::string &ref)
{
  JsonWriter w = start("gift_ack");
  if (!ref.empty())
    w.string("ref", ref);
  w.string("idempotency_key", g.idempotency_key).integer("ledger_id", g.ledger_id);
  w.string("gift", g.gift_id).integer("count", g.count).integer("coins", g.coins);
  return w.integer("ts", g.created_at).end_object().take();
}

std::string encode_welcome(const WelcomeInfo &info)
{
  JsonWriter w = start("welcome");
  w.string("stream", info.stream);
  w.key("you").begin_object();
  w.string("id", info.you.id).string("name", info.you.name);
  w.string("role", role_name(info.you.role));
  w.boolean("anonymous", info.you.role == Role::Anonymous);
  w.boolean("moderator", info.moderator).boolean("can_chat", info.can_chat).end_object();
  w.integer("viewers", info.viewers).boolean("live", info.live);
  if (info.reconnecting)
    w.boolean("reconnecting", true);
  w.integer("slow", info.slow);
  w.begin_array("history");
  for (const auto &h : info.history)
    w.raw(nullptr, h);
  w.end_array();
  if (!info.leaderboard_entries.empty())
    w.raw("leaderboard", info.leaderboard_entries);
  return w.end_object().take();
}

} // namespace sugarcast::chat
