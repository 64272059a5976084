/* sugarcastd — the control API for streams. See api.h. */
#include "api.h"

#include "authz.h"
#include "events.h"
#include "secrets.h"

#include <filesystem>

#define LOG_DOMAIN "sugarcastd-api"

namespace sugarcast {

namespace {

void set_int(JsonObject *o, const char *name, int64_t value)
{
  json_object_set_int_member(o, name, value);
}

void respond_object(SoupServerMessage *msg, guint status, JsonObject *o)
{
  g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
  json_object_unref(o);
  respond_json(msg, status, node);
}

void no_such_stream(SoupServerMessage *msg, const std::string &id)
{
  respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", "No stream with id \"" + id + "\"");
}

/* Whether a store answer about stream `id` can be used; replies otherwise
 * (503/500 for the store, 404 when there is no such stream). */
template <typename T>
bool found_stream(SoupServerMessage *msg, const StoreResult<T> &result, const std::string &id)
{
  if (!result.ok()) {
    respond_store_error(msg, result.error());
    return false;
  }
  if (!result.value()) {
    no_such_stream(msg, id);
    return false;
  }
  return true;
}

} // namespace

StreamsApi::StreamsApi(const Config &config, HttpServer &http, Store &store, StreamManager &streams)
    : config_(config), http_(http), store_(store), streams_(streams)
{
  auto bind = [this](void (StreamsApi::*f)(HttpRequest &)) {
    return [this, f](HttpRequest &r) { (this->*f)(r); };
  };
  http.route("POST", "/api/streams", bind(&StreamsApi::create), true);
  http.route("GET", "/api/streams", bind(&StreamsApi::list), true);
  /* A streamer may see and re-key their own stream (authz.h); the rest is admin. */
  http.route("GET", "/api/streams/{id}", bind(&StreamsApi::show), false);
  http.route("DELETE", "/api/streams/{id}", bind(&StreamsApi::remove), true);
  http.route("POST", "/api/streams/{id}/key", bind(&StreamsApi::rotate_key), false);
  http.route("DELETE", "/api/streams/{id}/key", bind(&StreamsApi::revoke_key), true);
  http.route("GET", "/api/live", bind(&StreamsApi::live), true);
  http.route("GET", "/api/watch/{id}", bind(&StreamsApi::watch), false);
}

std::string StreamsApi::rtmp_base(SoupServerMessage *msg) const
{
  std::string base = config_.rtmp.public_url;
  if (base.empty())
    base = "rtmp://" + local_host(msg) + ":" + std::to_string(streams_.rtmp_port()) + "/live";
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  return base;
}

std::string StreamsApi::hls_url(SoupServerMessage *msg, const std::string &id) const
{
  return http_.base_url(msg) + "/hls/" + id + "/master.m3u8";
}

JsonObject *StreamsApi::describe(SoupServerMessage *msg, const StreamRecord &s) const
{
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "id", s.id.c_str());
  json_object_set_string_member(o, "title", s.title.c_str());
  set_int(o, "created_at", s.created_at);
  set_int(o, "key_updated_at", s.key_updated_at);
  json_object_set_boolean_member(o, "has_key", !s.key_hash.empty());
  json_object_set_string_member(o, "rtmp_url", rtmp_base(msg).c_str());
  json_object_set_string_member(o, "hls_url", hls_url(msg, s.id).c_str());
  auto live = streams_.live(s.id);
  json_object_set_string_member(o, "state", live ? live->state.c_str() : "idle");
  if (live) {
    JsonObject *l = json_object_new();
    set_int(l, "started_at", live->started_at);
    json_object_set_string_member(l, "client_address", live->client_address.c_str());
    json_object_set_string_member(l, "encoder", live->encoder.c_str());
    set_int(l, "reconnects", live->reconnects);
    json_object_set_object_member(o, "live", l);
  }
  return o;
}

void StreamsApi::create(HttpRequest &r)
{
  g_autoptr(JsonNode) body = read_json_body(r.msg, config_.http.max_body_bytes, "stream_create");
  if (!body)
    return;
  StreamRecord s;
  s.id = random_id();
  s.title = json_object_get_string_member(json_node_get_object(body), "title");
  s.created_at = s.key_updated_at = now_ms();
  const std::string key = new_stream_key();
  s.key_hash = sha256_hex(key);
  auto reply = std::make_shared<Deferred>(r.msg);
  store_.create_stream(s, [this, reply, key](StoreResult<StreamRecord> created) {
    if (!created.ok()) {
      respond_store_error(reply->msg(), created.error());
      return;
    }
    const StreamRecord &s = created.value();
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s (\"%s\") created", s.id.c_str(),
          s.title.c_str());
    JsonObject *o = describe(reply->msg(), s);
    /* The key leaves the server this once: only its hash is kept. */
    json_object_set_string_member(o, "key", key.c_str());
    json_object_set_string_member(o, "rtmp_url", (rtmp_base(reply->msg()) + "/" + key).c_str());
    json_object_set_string_member(o, "rtmp_server", rtmp_base(reply->msg()).c_str());
    respond_object(reply->msg(), SOUP_STATUS_CREATED, o);
  });
}

void StreamsApi::list(HttpRequest &r)
{
  auto reply = std::make_shared<Deferred>(r.msg);
  store_.list_streams([this, reply](StoreResult<std::vector<StreamRecord>> all) {
    if (!all.ok()) {
      respond_store_error(reply->msg(), all.error());
      return;
    }
    JsonArray *a = json_array_new();
    for (const auto &s : all.value())
      json_array_add_object_element(a, describe(reply->msg(), s));
    JsonObject *o = json_object_new();
    json_object_set_array_member(o, "streams", a);
    respond_object(reply->msg(), SOUP_STATUS_OK, o);
  });
}

void StreamsApi::show(HttpRequest &r)
{
  const std::string id = r.params["id"];
  Caller caller;
  if (!authorize_stream_manager(config_, http_, r.msg, id, caller))
    return;
  auto reply = std::make_shared<Deferred>(r.msg);
  store_.get_stream(id, [this, reply, id](StoreResult<std::optional<StreamRecord>> found) {
    if (!found_stream(reply->msg(), found, id))
      return;
    JsonObject *o = describe(reply->msg(), *found.value());
    store_.list_sessions(id, 10, [reply, o](StoreResult<std::vector<SessionRecord>> sessions) {
      JsonArray *a = json_array_new();
      if (sessions.ok()) {
        for (const auto &s : sessions.value()) {
          JsonObject *so = json_object_new();
          set_int(so, "id", s.id);
          set_int(so, "started_at", s.started_at);
          set_int(so, "ended_at", s.ended_at);
          json_object_set_string_member(so, "client_address", s.client_address.c_str());
          json_object_set_string_member(so, "encoder", s.encoder.c_str());
          json_object_set_string_member(so, "end_reason", s.end_reason.c_str());
          json_array_add_object_element(a, so);
        }
      }
      json_object_set_array_member(o, "sessions", a);
      respond_object(reply->msg(), SOUP_STATUS_OK, o);
    });
  });
}

void StreamsApi::remove(HttpRequest &r)
{
  auto reply = std::make_shared<Deferred>(r.msg);
  const std::string id = r.params["id"];
  store_.delete_stream(id, [this, reply, id](StoreResult<bool> deleted) {
    if (!found_stream(reply->msg(), deleted, id))
      return;
    streams_.stop(id, "stream deleted");
    std::error_code ec;
    std::filesystem::remove_all(config_.hls.dir + "/" + id, ec);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s deleted", id.c_str());
    soup_server_message_set_status(reply->msg(), SOUP_STATUS_NO_CONTENT, nullptr);
  });
}

void StreamsApi::rotate_key(HttpRequest &r)
{
  const std::string id = r.params["id"];
  Caller caller;
  if (!authorize_stream_manager(config_, http_, r.msg, id, caller))
    return;
  auto reply = std::make_shared<Deferred>(r.msg);
  const std::string key = new_stream_key();
  store_.set_stream_key(
      id, sha256_hex(key), now_ms(), [this, reply, id, key](StoreResult<bool> changed) {
        if (!found_stream(reply->msg(), changed, id))
          return;
        g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s: key rotated", id.c_str());
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "id", id.c_str());
        json_object_set_string_member(o, "key", key.c_str());
        json_object_set_string_member(o, "rtmp_url", (rtmp_base(reply->msg()) + "/" + key).c_str());
        respond_object(reply->msg(), SOUP_STATUS_OK, o);
      });
}

void StreamsApi::revoke_key(HttpRequest &r)
{
  auto reply = std::make_shared<Deferred>(r.msg);
  const std::string id = r.params["id"];
  store_.set_stream_key(id, "", now_ms(), [this, reply, id](StoreResult<bool> changed) {
    if (!found_stream(reply->msg(), changed, id))
      return;
    streams_.stop(id, "stream key revoked");
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s: key revoked", id.c_str());
    soup_server_message_set_status(reply->msg(), SOUP_STATUS_NO_CONTENT, nullptr);
  });
}

/* What a viewer's page may know: no key, no sessions, no addresses. */
void StreamsApi::watch(HttpRequest &r)
{
  auto reply = std::make_shared<Deferred>(r.msg);
  const std::string id = r.params["id"];
  store_.get_stream(id, [this, reply, id](StoreResult<std::optional<StreamRecord>> found) {
    if (!found_stream(reply->msg(), found, id))
      return;
    const StreamRecord &s = *found.value();
    auto live = streams_.live(id);
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "id", s.id.c_str());
    json_object_set_string_member(o, "title", s.title.c_str());
    json_object_set_string_member(o, "state", live ? live->state.c_str() : "idle");
    json_object_set_string_member(o, "hls_url", hls_url(reply->msg(), id).c_str());
    std::string ws = http_.base_url(reply->msg());
    ws.replace(0, ws.find(':'), ws.rfind("https", 0) == 0 ? "wss" : "ws");
    json_object_set_string_member(o, "chat_url", (ws + "/ws/chat/" + id).c_str());
    const StreamManager::Drawing drawing = streams_.drawing(id);
    json_object_set_boolean_member(o, "gift_overlay", drawing.gifts);
    json_object_set_boolean_member(o, "source_rung", drawing.source_rung);
    JsonArray *gifts = json_array_new();
    for (const auto &g : config_.gifts.catalogue) {
      JsonObject *go = json_object_new();
      json_object_set_string_member(go, "id", g.id.c_str());
      json_object_set_string_member(go, "name", g.name.c_str());
      json_object_set_int_member(go, "coins", g.coins);
      json_object_set_string_member(go, "animation", g.animation.c_str());
      json_array_add_object_element(gifts, go);
    }
    json_object_set_array_member(o, "gifts", gifts);
    respond_object(reply->msg(), SOUP_STATUS_OK, o);
  });
}

void StreamsApi::live(HttpRequest &r)
{
  JsonArray *a = json_array_new();
  for (const auto &l : streams_.live_streams()) {
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "id", l.id.c_str());
    json_object_set_string_member(o, "title", l.title.c_str());
    json_object_set_string_member(o, "state", l.state.c_str());
    set_int(o, "started_at", l.started_at);
    json_object_set_string_member(o, "client_address", l.client_address.c_str());
    json_object_set_string_member(o, "encoder", l.encoder.c_str());
    json_object_set_string_member(o, "hls_url", hls_url(r.msg, l.id).c_str());
    json_array_add_object_element(a, o);
  }
  JsonObject *o = json_object_new();
  json_object_set_array_member(o, "streams", a);
  respond_object(r.msg, SOUP_STATUS_OK, o);
}

} // namespace sugarcast
