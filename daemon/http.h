/* sugarcastd — the HTTP server: listening, routing, JSON replies, admin
 * authentication, CORS and request metrics. Modules add their routes.
 *
 * Errors are JSON {"error": {"code": "...", "message": "..."}} with the
 * status that fits; routes with `admin` need Authorization: Bearer TOKEN.
 *
 * With http.media_threads > 0 the server accepts connections on the media
 * fast path's threads (fastpath.h): a connection whose requests are for the
 * media folders is served there; every other one, and every other request,
 * is handed to libsoup on the main context and behaves as if libsoup had
 * accepted it. */
#pragma once

#include "config.h"
#include "consttime.h" /* constant_time_equal, for token checks */
#include "httprules.h"
#include "jsonschema.h"
#include "metrics.h"
#include "unique_fd.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sugarcast {

class MediaFastPath;
class MediaRoot;

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
/* 200 with BYTES (a file) for GET, or only their length for HEAD. */
void respond_bytes(SoupServerMessage *msg, const std::string &method, const char *content_type,
                   GBytes *bytes);

/* The request body as a JSON object; on failure replies 400/413/415 itself
 * and returns nullptr. The node is owned by the caller. */
JsonNode *read_json_object(SoupServerMessage *msg, int64_t max_bytes);

/* The body checked against "#/definitions/DEFINITION" of
 * schemas/api.schema.json; on failure replies 400 naming every field that is
 * wrong ({"error": {"code": "bad_request", "message", "fields": [...]}}). */
JsonNode *read_json_body(SoupServerMessage *msg, int64_t max_bytes, const char *definition);

/* "/a//b/c" → {"a", "b", "c"} */
std::vector<std::string> split_path(const std::string &path);

/* The address MSG's connection arrived on, for URLs when no public URL is
 * configured: "127.0.0.1", "[::1]". */
std::string local_host(SoupServerMessage *msg);

/* The socket of MSG's connection, also for connections the media fast path
 * handed over (libsoup knows no socket for those); null when there is none. */
GSocket *message_socket(SoupServerMessage *msg);

/* Takes MSG's connection away from libsoup and closes it, whatever state
 * the request or its answer is in. */
void close_connection(SoupServerMessage *msg);

class HttpServer
{
public:
  using Handler = std::function<void(HttpRequest &)>;

  HttpServer(const Config::Http &config, Metrics &metrics);
  ~HttpServer();
  HttpServer(const HttpServer &) = delete;
  HttpServer &operator=(const HttpServer &) = delete;

  /* Binds with the configured backlog (libsoup's own listen leaves it at 10)
   * and starts the media fast path's threads when there are any. */
  bool listen(std::string &error);
  /* Stops accepting connections and closes the media fast path's; requests
   * under way on libsoup's connections finish. */
  void stop_listening();
  /* Files of ROOT served at URL_PREFIX/... by the fast path; call before
   * listen(). Requests that reach libsoup need their own handler (MediaFiles). */
  void add_media_mount(const std::string &url_prefix, std::shared_ptr<const MediaRoot> root);
  int port() const { return port_; }
  int idle_timeout_ms() const { return config_.idle_timeout_ms; }
  SoupServer *soup() const { return server_; }
  /* The configured public URL, or "http://ADDRESS:PORT" with the address the
   * connection arrived on (never the client's Host header). */
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

  struct Door;  /* (http.cpp) */
  struct Watch; /* (http_connections.cpp) one request's deadlines and body count */

  /* Open connections on the port (the fast path's and libsoup's) and
   * WebSocket connections among them. */
  int open_connections() const { return open_->load(std::memory_order_relaxed); }
  /* Playlist requests held for blocking reload, the fast path's and
   * MediaFiles' (sugarcast_hls_held_requests). */
  std::atomic<int> &held_requests() { return *held_; }
  int open_websockets() const { return *websockets_; }

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
  static void on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer self);
  static void on_got_headers(SoupServerMessage *msg, gpointer self);
  static void on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer self);
  static void on_got_body(SoupServerMessage *msg, gpointer self);
  static void on_upgraded(SoupServerMessage *msg, gpointer self);
  /* The route for METHOD and PATH; nullptr with `allowed` listing the
   * methods of the path when only the method is wrong. */
  const Route *match(const std::string &method, const std::string &path,
                     std::map<std::string, std::string> *params, std::string &allowed) const;
  /* Limits decided from the request head (see docs/security.md). */
  void check_head(SoupServerMessage *msg);
  /* Sends the status and body already set on MSG at once, with
   * Connection: close, and closes the connection without reading the
   * body (what is still on its way is read and dropped for a moment). */
  void refuse_now(SoupServerMessage *msg);
  /* Failed admin attempts per address: whether this one may try now. */
  bool admin_attempt_allowed(SoupServerMessage *msg);
  void admin_attempt_failed(SoupServerMessage *msg);
  void count_answer(guint status);
  void dispatch(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query);
  bool listen_fast_path(GInetAddress *address, std::string &error);
  /* On the main context: a connection the fast path hands over, with the
   * bytes it already read from it. */
  void adopt(int fd, std::string already_read);

  Config::Http config_;
  Metrics &metrics_;
  SoupServer *server_ = nullptr;
  GSocket *socket_ = nullptr;
  int port_ = 0;
  std::string admin_token_;
  std::vector<Route> routes_;
  std::vector<std::string> prefixes_;
  std::vector<std::pair<std::string, std::shared_ptr<const MediaRoot>>> media_mounts_;
  std::unique_ptr<MediaFastPath> fast_path_;
  UniqueFd listener_peer_;     /* the other end of libsoup's idle listener */
  std::shared_ptr<Door> door_; /* how the fast path's threads reach this object */
  std::shared_ptr<std::atomic<int>> open_;
  std::shared_ptr<std::atomic<int>> held_;
  std::shared_ptr<int> websockets_ = std::make_shared<int>(0);
  struct Failures
  {
    int64_t window_start_ms = 0;
    int count = 0;
  };
  std::map<std::string, Failures> admin_failures_;
};

} // namespace sugarcast
