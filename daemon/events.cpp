/* sugarcastd — the control WebSocket. See events.h. */
#include "events.h"
#include "guard.h"

#include <algorithm>

namespace sugarcast {

std::string bearer_from_protocols(const char *offered)
{
  if (!offered)
    return "";
  std::string_view rest(offered);
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
      item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
      item.remove_suffix(1);
    if (item.size() > 7 && item.substr(0, 7) == "bearer.")
      return std::string(item.substr(7));
  }
  return "";
}

Events::Events(HttpServer &http) : http_(http)
{
  /* The plain handler runs first and refuses; the WebSocket handler then
   * only upgrades requests left without a status. */
  soup_server_add_handler(http_.soup(), "/ws/control", SUGARCAST_GUARD(on_check), this, nullptr);
  static const char *protocols[] = {kControlProtocol, nullptr};
  soup_server_add_websocket_handler(http_.soup(), "/ws/control", nullptr,
                                    const_cast<char **>(protocols), SUGARCAST_GUARD(on_connect),
                                    this, nullptr);
}

Events::~Events()
{
  soup_server_remove_handler(http_.soup(), "/ws/control");
  close_all();
}

void Events::on_check(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *query,
                      gpointer self)
{
  auto *events = static_cast<Events *>(self);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  /* Browsers cannot set headers on a WebSocket: they offer the token as a
   * subprotocol, "bearer.TOKEN", beside "sugarcast.control" (the one the
   * answer names). Same check as the header. */
  std::string token =
      bearer_from_protocols(soup_message_headers_get_one(headers, "Sec-WebSocket-Protocol"));
  const char *in_query =
      query ? static_cast<const char *>(g_hash_table_lookup(query, "token")) : nullptr;
  if (token.empty() && in_query) {
    /* Deprecated: the URL, and the token with it, ends up in logs. */
    static bool warned = false;
    if (!warned) {
      warned = true;
      g_log("sugarcastd-events", G_LOG_LEVEL_WARNING,
            "a client sent the admin token in the URL of /ws/control (?token=); this is "
            "deprecated and goes away in the next release: use the Authorization header or the "
            "subprotocol bearer.TOKEN");
    }
    token = in_query;
  }
  if (!token.empty())
    soup_message_headers_replace(headers, "Authorization", ("Bearer " + token).c_str());
  events->http_.check_admin(msg); /* sets 401 when the token is wrong */
}

void Events::on_connect(SoupServer *, SoupServerMessage *, const char *,
                        SoupWebsocketConnection *connection, gpointer self)
{
  auto *events = static_cast<Events *>(self);
  events->clients_.push_back(SOUP_WEBSOCKET_CONNECTION(g_object_ref(connection)));
  g_signal_connect(connection, "closed", G_CALLBACK(SUGARCAST_GUARD(on_closed)), self);
  /* Operators tolerate nothing between them and the daemon dropping idle
   * connections: keep them alive. */
  soup_websocket_connection_set_keepalive_interval(connection, 20);
}

void Events::on_closed(SoupWebsocketConnection *connection, gpointer self)
{
  auto *events = static_cast<Events *>(self);
  auto it = std::find(events->clients_.begin(), events->clients_.end(), connection);
  if (it != events->clients_.end()) {
    events->clients_.erase(it);
    g_signal_handlers_disconnect_by_data(connection, self);
    g_object_unref(connection);
  }
}

void Events::publish(const std::string &type, JsonObject *fields)
{
  JsonObject *event = fields ? fields : json_object_new();
  json_object_set_string_member(event, "type", type.c_str());
  json_object_set_int_member(event, "at", now_ms());
  g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), event);
  json_object_unref(event);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, node);
  g_autofree gchar *text = json_generator_to_data(gen, nullptr);
  for (SoupWebsocketConnection *c : clients_)
    if (soup_websocket_connection_get_state(c) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_send_text(c, text);
}

void Events::close_all()
{
  std::vector<SoupWebsocketConnection *> open = clients_;
  for (SoupWebsocketConnection *c : open)
    if (soup_websocket_connection_get_state(c) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(c, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "sugarcastd is stopping");
}

} // namespace sugarcast
