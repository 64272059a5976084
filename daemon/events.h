/* sugarcastd — live events for operators: the control WebSocket.
 *
 * WS /ws/control, with the admin token: Authorization: Bearer TOKEN, or,
 * for browsers (which cannot set headers on WebSockets), the subprotocols
 * "sugarcast.control" and "bearer.TOKEN" (new WebSocket(url,
 * ["sugarcast.control", "bearer." + token])); the answer names
 * "sugarcast.control". ?token=TOKEN in the URL is deprecated. Every
 * event is one JSON object {"type": ..., "at": UNIX_MS, ...}: stream state
 * changes, publishes refused, clip progress. Clients only listen; what they
 * send is ignored. */
#pragma once

#include "clock.h"
#include "http.h"

#include <json-glib/json-glib.h>

#include <memory>
#include <string>
#include <vector>

namespace sugarcast {

class Events
{
public:
  explicit Events(HttpServer &http);
  ~Events();
  Events(const Events &) = delete;
  Events &operator=(const Events &) = delete;

  /* Sends {"type": type, "at": now, ...fields} to every client; takes
   * ownership of `fields` (may be nullptr). */
  void publish(const std::string &type, JsonObject *fields);
  size_t clients() const { return clients_.size(); }
  /* Closes every connection with 1001 Going Away. */
  void close_all();

private:
  static void on_check(SoupServer *, SoupServerMessage *msg, const char *, GHashTable *query,
                       gpointer self);
  static void on_connect(SoupServer *, SoupServerMessage *, const char *,
                         SoupWebsocketConnection *connection, gpointer self);
  static void on_closed(SoupWebsocketConnection *connection, gpointer self);

  HttpServer &http_;
  std::vector<SoupWebsocketConnection *> clients_;
};

/* The control socket's subprotocol. */
inline constexpr const char *kControlProtocol = "sugarcast.control";
/* TOKEN from a Sec-WebSocket-Protocol list that offers "bearer.TOKEN"; "" when none does. */
std::string bearer_from_protocols(const char *offered);

} // namespace sugarcast
