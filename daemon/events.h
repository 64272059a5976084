/* sugarcastd — live events for operators: the control WebSocket.
 *
 * WS /ws/control, with the admin token (Authorization: Bearer TOKEN, or
 * ?token=TOKEN for browsers, which cannot set headers on WebSockets). Every
 * event is one JSON object {"type": ..., "at": UNIX_MS, ...}: stream state
 * changes, publishes refused, clip progress. Clients only listen; what they
 * send is ignored. */
#pragma once

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

/* Milliseconds since the Unix epoch. */
int64_t now_ms();

} // namespace sugarcast
