/* sugarcastd chat — REST routes: history, gifts, leaderboard, moderation.
 * docs/api.md "Chat and gifts" documents each with a curl example. */
#include "chat_impl.h"

#include "../rest.h"

#include <cinttypes>

namespace sugarcast::chat {

namespace {

using PendingPtr = std::shared_ptr<Deferred>;

bool valid_id(const std::string &s, size_t max = 64)
{
  if (s.empty() || s.size() > max)
    return false;
  for (char c : s)
    if (!g_ascii_isalnum(c) && c != '-' && c != '_')
      return false;
  return true;
}

/* The {id} and {user} of a route about one user of one stream; false (and a
 * 404 sent) when either cannot be one. */
bool stream_and_user(HttpRequest &r, std::string &stream, std::string &user)
{
  stream = r.params["id"];
  g_autofree gchar *unescaped = g_uri_unescape_string(r.params["user"].c_str(), nullptr);
  user = unescaped ? unescaped : "";
  if (valid_id(stream) && !user.empty() && user.size() <= 128 &&
      g_utf8_validate(user.c_str(), -1, nullptr))
    return true;
  respond_error(r.msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such user");
  return false;
}

/* A string member, or "" when absent; false (and a 400 sent) when present but wrong. */
bool opt_string(SoupServerMessage *msg, JsonObject *o, const char *name, size_t max,
                std::string &out)
{
  JsonNode *n = json_object_get_member(o, name);
  if (!n)
    return true;
  if (JSON_NODE_TYPE(n) != JSON_NODE_VALUE || json_node_get_value_type(n) != G_TYPE_STRING) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                  std::string("/") + name + ": expected a string");
    return false;
  }
  out = json_node_get_string(n);
  if (g_utf8_strlen(out.c_str(), -1) > static_cast<glong>(max)) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                  std::string("/") + name + ": longer than " + std::to_string(max) + " characters");
    return false;
  }
  return true;
}

bool opt_int(SoupServerMessage *msg, JsonObject *o, const char *name, int64_t min, int64_t max,
             int64_t &out)
{
  JsonNode *n = json_object_get_member(o, name);
  if (!n)
    return true;
  if (JSON_NODE_TYPE(n) != JSON_NODE_VALUE || json_node_get_value_type(n) != G_TYPE_INT64 ||
      json_node_get_int(n) < min || json_node_get_int(n) > max) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                  std::string("/") + name + ": expected an integer from " + std::to_string(min) +
                      " to " + std::to_string(max));
    return false;
  }
  out = json_node_get_int(n);
  return true;
}

void add_ledger_row(JsonBuilder *b, const GiftRecord &g)
{
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "ledger_id");
  json_builder_add_int_value(b, g.ledger_id);
  json_builder_set_member_name(b, "idempotency_key");
  json_builder_add_string_value(b, g.idempotency_key.c_str());
  json_builder_set_member_name(b, "stream_id");
  json_builder_add_string_value(b, g.stream_id.c_str());
  json_builder_set_member_name(b, "user_id");
  json_builder_add_string_value(b, g.user_id.c_str());
  json_builder_set_member_name(b, "user_name");
  json_builder_add_string_value(b, g.user_name.c_str());
  json_builder_set_member_name(b, "gift");
  json_builder_add_string_value(b, g.gift_id.c_str());
  json_builder_set_member_name(b, "count");
  json_builder_add_int_value(b, g.count);
  json_builder_set_member_name(b, "coins");
  json_builder_add_int_value(b, g.coins);
  json_builder_set_member_name(b, "created_at");
  json_builder_add_int_value(b, g.created_at);
  json_builder_end_object(b);
}

void respond_raw_json(SoupServerMessage *msg, guint status, const std::string &json)
{
  respond_text(msg, status, "application/json", json + "\n");
}

} // namespace

void ChatService::Impl::add_routes()
{
  http.route(
      "GET", "/api/gifts",
      [this](HttpRequest &r) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "gifts");
        json_builder_begin_array(b);
        for (const auto &g : config.gifts.catalogue) {
          json_builder_begin_object(b);
          json_builder_set_member_name(b, "id");
          json_builder_add_string_value(b, g.id.c_str());
          json_builder_set_member_name(b, "name");
          json_builder_add_string_value(b, g.name.c_str());
          json_builder_set_member_name(b, "coins");
          json_builder_add_int_value(b, g.coins);
          json_builder_set_member_name(b, "animation");
          json_builder_add_string_value(b, g.animation.c_str());
          json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "max_count");
        json_builder_add_int_value(b, config.gifts.max_count);
        json_builder_end_object(b);
        respond_json_builder(r.msg, SOUP_STATUS_OK, b);
      },
      false);

  http.route(
      "POST", "/api/gifts",
      [this](HttpRequest &r) {
        g_autoptr(JsonNode) body = read_json_object(r.msg, config.http.max_body_bytes);
        if (!body)
          return;
        JsonObject *o = json_node_get_object(body);
        static const char *known[] = {"stream_id", "user_id", "user_name",
                                      "gift",      "count",   "idempotency_key"};
        g_autoptr(GList) members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next) {
          bool ok = false;
          for (const char *k : known)
            ok |= g_strcmp0(k, static_cast<const char *>(l->data)) == 0;
          if (!ok) {
            respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                          std::string("/") + static_cast<const char *>(l->data) +
                              ": unknown field");
            return;
          }
        }
        GiftRecord g;
        int64_t count = 1;
        if (!opt_string(r.msg, o, "stream_id", 64, g.stream_id) ||
            !opt_string(r.msg, o, "user_id", 128, g.user_id) ||
            !opt_string(r.msg, o, "user_name", 64, g.user_name) ||
            !opt_string(r.msg, o, "gift", 32, g.gift_id) ||
            !opt_string(r.msg, o, "idempotency_key", 128, g.idempotency_key) ||
            !opt_int(r.msg, o, "count", 1, config.gifts.max_count, count))
          return;
        const char *missing = g.stream_id.empty()         ? "stream_id"
                              : g.user_id.empty()         ? "user_id"
                              : g.gift_id.empty()         ? "gift"
                              : g.idempotency_key.empty() ? "idempotency_key"
                                                          : nullptr;
        if (missing) {
          respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                        std::string("/") + missing + ": required");
          return;
        }
        bool key_ok = g.idempotency_key.size() >= 8;
        for (char c : g.idempotency_key)
          key_ok &= g_ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
        if (!key_ok) {
          respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                        "/idempotency_key: 8 to 128 of A-Z a-z 0-9 . _ : -");
          return;
        }
        const GiftType *item = catalogue_item(g.gift_id);
        if (!item) {
          respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "unknown_gift",
                        "/gift: no gift \"" + g.gift_id + "\" in the catalogue");
          return;
        }
        if (g.user_name.empty())
          g.user_name = g.user_id;
        g.count = static_cast<int>(count);
        g.coins = item->coins * count;
        g.created_at = now_ms();
        auto pending = std::make_shared<Deferred>(r.msg);
        store.get_stream(
            g.stream_id, [this, pending, g](StoreResult<std::optional<StreamRecord>> s) {
              SoupServerMessage *msg = pending->msg();
              if (!s.ok())
                return respond_store_error(msg, s.error());
              if (!s.value())
                return respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found",
                                     "/stream_id: no stream \"" + g.stream_id + "\"");
              record_gift(g, [pending, g](const StoreResult<GiftOutcome> &out) {
                SoupServerMessage *msg = pending->msg();
                if (!out.ok())
                  return respond_store_error(msg, out.error());
                const GiftRecord &row = out.value().gift;
                const std::string other = gift_mismatch(g, row);
                if (!other.empty())
                  return respond_error(msg, SOUP_STATUS_CONFLICT, "conflict",
                                       "idempotency_key " + g.idempotency_key +
                                           " was already used for " + other);
                if (!out.value().created)
                  soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                               "Idempotent-Replayed", "true");
                g_autoptr(JsonBuilder) b = json_builder_new();
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "gift");
                add_ledger_row(b, row);
                json_builder_end_object(b);
                respond_json_builder(msg, SOUP_STATUS_OK, b);
              });
            });
      },
      true);

  http.route(
      "GET", "/api/streams/{id}/leaderboard",
      [this](HttpRequest &r) {
        const std::string stream = r.params["id"];
        const int64_t limit = g_ascii_strtoll(r.query_param("limit", "10").c_str(), nullptr, 10);
        if (!valid_id(stream))
          return respond_error(r.msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such stream");
        if (limit < 1 || limit > 100)
          return respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                               "limit: expected 1 to 100");
        auto pending = std::make_shared<Deferred>(r.msg);
        store.leaderboard(stream, static_cast<int>(limit),
                          [pending, stream](StoreResult<std::vector<LeaderboardEntry>> got) {
                            if (!got.ok())
                              return respond_store_error(pending->msg(), got.error());
                            JsonWriter w;
                            w.begin_object().string("stream", stream);
                            w.raw("entries", encode_leaderboard_entries(got.value()));
                            respond_raw_json(pending->msg(), SOUP_STATUS_OK, w.end_object().take());
                          });
      },
      false);

  http.route(
      "GET", "/api/streams/{id}/chat",
      [this](HttpRequest &r) {
        const std::string stream = r.params["id"];
        const std::string before = r.query_param("before");
        const int64_t limit = g_ascii_strtoll(r.query_param("limit", "50").c_str(), nullptr, 10);
        if (!valid_id(stream))
          return respond_error(r.msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such stream");
        if (!before.empty() && !valid_id(before))
          return respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                               "before: expected a message id");
        if (limit < 1 || limit > 200)
          return respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                               "limit: expected 1 to 200");
        auto pending = std::make_shared<Deferred>(r.msg);
        store.get_stream(stream, [this, pending, stream, before,
                                  limit](StoreResult<std::optional<StreamRecord>> s) {
          if (!s.ok())
            return respond_store_error(pending->msg(), s.error());
          if (!s.value())
            return respond_error(pending->msg(), SOUP_STATUS_NOT_FOUND, "not_found",
                                 "no stream \"" + stream + "\"");
          store.list_chat(stream, before, static_cast<int>(limit),
                          [pending, stream, limit](StoreResult<std::vector<ChatRecord>> got) {
                            if (!got.ok())
                              return respond_store_error(pending->msg(), got.error());
                            JsonWriter w;
                            w.begin_object().string("stream", stream).begin_array("messages");
                            for (const auto &m : got.value())
                              w.raw(nullptr, encode_chat(m, Role::Anonymous));
                            w.end_array();
                            if (static_cast<int64_t>(got.value().size()) == limit)
                              w.string("next_before", got.value().back().id);
                            respond_raw_json(pending->msg(), SOUP_STATUS_OK, w.end_object().take());
                          });
        });
      },
      false);

  http.route(
      "DELETE", "/api/streams/{id}/chat/{message}",
      [this](HttpRequest &r) {
        const std::string stream = r.params["id"];
        const std::string id = r.params["message"];
        if (!valid_id(stream) || !valid_id(id))
          return respond_error(r.msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such message");
        bool local = false;
        if (auto it = rooms.find(stream); it != rooms.end())
          for (const auto &h : it->second->history)
            local |= h.record.id == id;
        for (const auto &p : pending_history)
          local |= p.id == id && p.stream_id == stream;
        auto pending = std::make_shared<Deferred>(r.msg);
        store.delete_chat(stream, id, [this, pending, stream, id, local](StoreResult<bool> got) {
          if (!got.ok())
            return respond_store_error(pending->msg(), got.error());
          if (!got.value() && !local)
            return respond_error(pending->msg(), SOUP_STATUS_NOT_FOUND, "not_found",
                                 "no message " + id + " in stream " + stream);
          apply_delete(stream, id, "admin");
          JsonWriter f;
          f.string("id", id).string("by", "admin");
          tell_cluster("deleted", stream, f);
          soup_server_message_set_status(pending->msg(), SOUP_STATUS_NO_CONTENT, nullptr);
        });
      },
      true);

  http.route(
      "POST", "/api/streams/{id}/bans/{user}",
      [this](HttpRequest &r) {
        std::string stream, user;
        if (!stream_and_user(r, stream, user))
          return;
        BanRecord ban;
        ban.user_id = user;
        ban.scope = config.chat.ban_scope == "global" ? "*" : stream;
        ban.banned_by = "admin";
        ban.created_at = now_ms();
        SoupMessageBody *body = soup_server_message_get_request_body(r.msg);
        if (body->length > 0) {
          g_autoptr(JsonNode) json = read_json_object(r.msg, config.http.max_body_bytes);
          if (!json)
            return;
          JsonObject *o = json_node_get_object(json);
          int64_t seconds = 0;
          std::string scope;
          if (!opt_string(r.msg, o, "reason", 200, ban.reason) ||
              !opt_int(r.msg, o, "seconds", 0, 31536000, seconds) ||
              !opt_string(r.msg, o, "scope", 16, scope))
            return;
          if (!scope.empty() && scope != "stream" && scope != "global")
            return respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                                 "/scope: expected \"stream\" or \"global\"");
          if (!scope.empty())
            ban.scope = scope == "global" ? "*" : stream;
          if (seconds > 0)
            ban.expires_at = ban.created_at + seconds * 1000;
        }
        auto pending = std::make_shared<Deferred>(r.msg);
        store.ban_user(ban, [this, pending, ban, stream](StoreResult<Done> got) {
          if (!got.ok())
            return respond_store_error(pending->msg(), got.error());
          apply_ban(ban, stream);
          JsonWriter f;
          f.string("user", ban.user_id).string("scope", ban.scope).string("by", ban.banned_by);
          f.string("reason", ban.reason).integer("expires_at", ban.expires_at);
          tell_cluster("ban", stream, f);
          JsonWriter w;
          w.begin_object().key("ban").begin_object();
          w.string("user_id", ban.user_id).string("scope", ban.scope == "*" ? "global" : "stream");
          w.string("stream", stream).string("reason", ban.reason);
          w.integer("created_at", ban.created_at).integer("expires_at", ban.expires_at);
          w.end_object().end_object();
          respond_raw_json(pending->msg(), SOUP_STATUS_CREATED, w.take());
        });
      },
      true);

  http.route(
      "DELETE", "/api/streams/{id}/bans/{user}",
      [this](HttpRequest &r) {
        std::string stream, user;
        if (!stream_and_user(r, stream, user))
          return;
        const std::string scope_param = r.query_param("scope");
        std::string scope = config.chat.ban_scope == "global" ? "*" : stream;
        if (scope_param == "global")
          scope = "*";
        else if (scope_param == "stream")
          scope = stream;
        else if (!scope_param.empty())
          return respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                               "scope: expected stream or global");
        auto pending = std::make_shared<Deferred>(r.msg);
        store.unban_user(user, scope, [this, pending, user, stream](StoreResult<bool> got) {
          if (!got.ok())
            return respond_store_error(pending->msg(), got.error());
          if (!got.value())
            return respond_error(pending->msg(), SOUP_STATUS_NOT_FOUND, "not_found",
                                 user + " is not banned there");
          broadcast(stream, encode_moderation({"unban", user, "admin"}));
          JsonWriter f;
          f.string("user", user).string("by", "admin");
          tell_cluster("unban", stream, f);
          soup_server_message_set_status(pending->msg(), SOUP_STATUS_NO_CONTENT, nullptr);
        });
      },
      true);

  http.route(
      "POST", "/api/streams/{id}/mutes/{user}",
      [this](HttpRequest &r) {
        std::string stream, user;
        if (!stream_and_user(r, stream, user))
          return;
        int64_t seconds = 600;
        std::string reason;
        SoupMessageBody *body = soup_server_message_get_request_body(r.msg);
        if (body->length > 0) {
          g_autoptr(JsonNode) json = read_json_object(r.msg, config.http.max_body_bytes);
          if (!json)
            return;
          JsonObject *o = json_node_get_object(json);
          if (!opt_int(r.msg, o, "seconds", 1, 604800, seconds) ||
              !opt_string(r.msg, o, "reason", 200, reason))
            return;
        }
        const int64_t until = now_ms() + seconds * 1000;
        apply_mute(stream, user, until, seconds, "admin", reason);
        JsonWriter f;
        f.string("user", user).integer("until", until).integer("seconds", seconds);
        f.string("by", "admin").string("reason", reason);
        tell_cluster("mute", stream, f);
        JsonWriter w;
        w.begin_object().key("mute").begin_object().string("user_id", user);
        w.string("stream", stream).integer("until", until).end_object().end_object();
        respond_raw_json(r.msg, SOUP_STATUS_CREATED, w.take());
      },
      true);

  http.route(
      "GET", "/api/streams/{id}/moderators",
      [this](HttpRequest &r) {
        const std::string stream = r.params["id"];
        if (!valid_id(stream))
          return respond_error(r.msg, SOUP_STATUS_NOT_FOUND, "not_found", "no such stream");
        auto pending = std::make_shared<Deferred>(r.msg);
        store.list_moderators(stream, [pending, stream](StoreResult<std::vector<std::string>> got) {
          if (!got.ok())
            return respond_store_error(pending->msg(), got.error());
          JsonWriter w;
          w.begin_object().string("stream", stream).begin_array("moderators");
          for (const auto &m : got.value())
            w.string(nullptr, m);
          w.end_array();
          respond_raw_json(pending->msg(), SOUP_STATUS_OK, w.end_object().take());
        });
      },
      true);

  for (const bool on : {true, false}) {
    http.route(
        on ? "PUT" : "DELETE", "/api/streams/{id}/moderators/{user}",
        [this, on](HttpRequest &r) {
          std::string stream, user;
          if (!stream_and_user(r, stream, user))
            return;
          auto pending = std::make_shared<Deferred>(r.msg);
          store.set_moderator(
              stream, user, on, [this, pending, stream, user, on](StoreResult<Done> got) {
                if (!got.ok())
                  return respond_store_error(pending->msg(), got.error());
                if (auto it = rooms.find(stream); it != rooms.end()) {
                  if (on)
                    it->second->moderators.insert(user);
                  else
                    it->second->moderators.erase(user);
                }
                JsonWriter f;
                f.string("user", user).boolean("on", on);
                tell_cluster("moderator", stream, f);
                soup_server_message_set_status(pending->msg(), SOUP_STATUS_NO_CONTENT, nullptr);
              });
        },
        true);
  }
}

} // namespace sugarcast::chat
