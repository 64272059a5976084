/* sugarcastd — the HTTP server: listening, routing, JSON replies, admin
 * authentication, CORS and request metrics. Modules add their routes.
 *
 * Errors are JSON {"error": {"code": "...", "message": "..."}} with the
 * status that fits; routes with `admin` need Authorization: Bearer TOKEN. */
#pragma once

#include "config.h"
#include "jsonschema.h"
#include "metrics.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sugarcast {

struct HttpRequest
{
  SoupServer *server = nullptr;
  SoupServerMessage *msg = nullptr;
  std::string method;
  std::string path;
  std::map<std::string, std::string> params; /* "{id}" parts of the route */
  GHashTable *query = nullptr;               /* may be nullptr */

  /* A query parameter, or `fallback`. */
  std::string query_param(const char *name, const std::string &fallback = "") const;
};

/* Replies. All of them set Cache-Control: no-store unless the caller set one. */
void respond_json(SoupServerMessage *msg, guint status, JsonNode *body);
void respond_json_builder(SoupServerMessage *msg, guint status, JsonBuilder *builder);
void respond_error(SoupServerMessage *msg, guint status, const char *code,
                   const std::string &message);
void respond_text(SoupServerMessage *msg, guint status, const char *content_type,
                  const std::string &text);

/* The request body as a JSON object; on failure replies 400/413/415 itself
 * and returns nullptr. The node is owned by the caller. */
JsonNode *read_json_object(SoupServerMessage *msg, int64_t max_bytes);

/* The body checked against "#/definitions/DEFINITION" of
 * schemas/api.schema.json; on failure replies 400 naming every field that is
 * wrong ({"error": {"code": "bad_request", "message", "fields": [...]}}). */
JsonNode *read_json_body(SoupServerMessage *msg, int64_t max_bytes, const char *definition);

bool constant_time_equal(const std::string &a, const std::string &b);

/* "/a//b/c" → {"a", "b", "c"} */
std::vector<std::string> split_path(const std::string &path);

class HttpServer
{
public:
  using Handler = std::function<void(HttpRequest &)>;

  HttpServer(const Config::Http &config, Metrics &metrics);
  ~HttpServer();
  HttpServer(const HttpServer &) = delete;
  HttpServer &operator=(const HttpServer &) = delete;

  /* Binds with the configured backlog (libsoup's own listen leaves it at 10). */
  bool listen(std::string &error);
  /* Stops accepting connections; requests under way finish. */
  void stop_listening();
  int port() const { return port_; }
  SoupServer *soup() const { return server_; }
  /* "http://127.0.0.1:8080" or the configured public URL. */
  std::string base_url(SoupServerMessage *msg) const;

  void set_admin_token(const std::string &token) { admin_token_ = token; }
  /* pattern: "/api/streams/{id}/key"; `admin` routes check the bearer token. */
  void route(const char *method, const std::string &pattern, Handler handler, bool admin);
  /* An early handler (run when the headers are in, before the body) for the
   * routes under `path`; the routes themselves still run after the body. */
  void add_early_handler(const char *path, SoupServerCallback callback, gpointer data);
  /* Handlers outside /api (media, WebSockets) use this to check the token. */
  bool check_admin(SoupServerMessage *msg);
  /* CORS headers for the request's origin, when the configuration allows it. */
  void add_cors_headers(SoupServerMessage *msg) const;
  /* A reply to a CORS preflight, for handlers that are not routes. */
  void respond_preflight(SoupServerMessage *msg, const char *methods) const;

private:
  struct Route
  {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
    bool admin;
  };
  static void on_request(SoupServer *server, SoupServerMessage *msg, const char *path,
                         GHashTable *query, gpointer self);
  static void on_request_finished(SoupServer *server, SoupServerMessage *msg, gpointer self);
  void dispatch(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query);

  Config::Http config_;
  Metrics &metrics_;
  SoupServer *server_ = nullptr;
  GSocket *socket_ = nullptr;
  int port_ = 0;
  std::string admin_token_;
  std::vector<Route> routes_;
  std::vector<std::string> prefixes_;
};

} // namespace sugarcast
