/* sugarcastd — the HTTP server: listening (and the hand-off to the media fast
 * path), routes, the admin token and CORS. A connection's life and the limits
 * checked before work are in http_connections.cpp. See http.h. */
#include "http.h"
#include "guard.h"

#include "fastpath.h"
#include "jsondepth.h"
#include "prefixstream.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

namespace sugarcast {

/* What the fast path's threads hold to reach the server: the main context
 * to run on, and the server while it is still accepting. */
struct HttpServer::Door
{
  GMainContext *context = nullptr;
  HttpServer *server = nullptr; /* read and cleared on the main context only */
  ~Door()
  {
    if (context)
      g_main_context_unref(context);
  }
};

namespace {

struct Adoption
{
  std::shared_ptr<HttpServer::Door> door;
  int fd;
  std::string already_read;
  std::shared_ptr<std::atomic<int>> open;
};

/* What the descriptor limit allows: the soft limit is raised to the hard
 * one, and a reserve is kept for RTMP, files, pipelines and the store. */
constexpr int kReservedDescriptors = 256;
int connection_budget(int configured)
{
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return configured;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur == RLIM_INFINITY)
    return configured;
  const int64_t room = static_cast<int64_t>(limit.rlim_cur) - kReservedDescriptors;
  if (room >= configured)
    return configured;
  const int budget = static_cast<int>(std::max<int64_t>(room, 16));
  g_log("sugarcastd-http", G_LOG_LEVEL_WARNING,
        "http.max_connections is %d, but the descriptor limit (ulimit -n) is %llu: at most %d "
        "connections are taken",
        configured, static_cast<unsigned long long>(limit.rlim_cur), budget);
  return budget;
}

} // namespace

HttpServer::HttpServer(const Config::Http &config, Metrics &metrics)
    : config_(config), metrics_(metrics), door_(std::make_shared<Door>()),
      open_(std::make_shared<std::atomic<int>>(0)), held_(std::make_shared<std::atomic<int>>(0))
{
  metrics_.gauge("sugarcast_hls_held_requests",
                 "Playlist requests held until the segment their _HLS_msn names is listed",
                 [held = held_] { return held->load(std::memory_order_relaxed); });
  server_ = soup_server_new("server-header", "sugarcastd", nullptr);
  g_signal_connect(server_, "request-started", G_CALLBACK(SUGARCAST_GUARD(on_request_started)),
                   this);
  g_signal_connect(server_, "request-finished", G_CALLBACK(SUGARCAST_GUARD(on_request_finished)),
                   this);
  /* Whatever no module claims is a JSON 404 like every other error. */
  soup_server_add_handler(server_, nullptr, SUGARCAST_GUARD(on_request), this, nullptr);
}

HttpServer::~HttpServer()
{
  stop_listening();
  g_signal_handlers_disconnect_by_data(server_, this);
  g_object_unref(server_);
}

void HttpServer::add_media_mount(const std::string &url_prefix,
                                 std::shared_ptr<const MediaRoot> root)
{
  media_mounts_.emplace_back(url_prefix, std::move(root));
}

bool HttpServer::listen(std::string &error)
{
  g_autoptr(GError) err = nullptr;
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string(config_.address.c_str());
  if (!address) {
    error = "http.address \"" + config_.address + "\" is not an IP address";
    return false;
  }
  if (config_.media_threads > 0 && !media_mounts_.empty())
    return listen_fast_path(address, error);
  g_autoptr(GSocketAddress) socket_address =
      g_inet_socket_address_new(address, static_cast<guint16>(config_.port));
  socket_ = g_socket_new(g_inet_address_get_family(address), G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, &err);
  if (socket_) {
    g_socket_set_listen_backlog(socket_, config_.listen_backlog);
  }
  if (!socket_ || !g_socket_bind(socket_, socket_address, TRUE, &err) ||
      !g_socket_listen(socket_, &err) ||
      !soup_server_listen_socket(server_, socket_, static_cast<SoupServerListenOptions>(0), &err)) {
    error = "cannot listen for HTTP on " + config_.address + ":" + std::to_string(config_.port) +
            ": " + err->message;
    g_clear_object(&socket_);
    return false;
  }
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address(socket_, nullptr);
  port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  return true;
}

/* The listening socket goes to the fast path's threads. */
bool HttpServer::listen_fast_path(GInetAddress *address, std::string &error)
{
  g_autoptr(GError) err = nullptr;
  g_autoptr(GSocketAddress) socket_address =
      g_inet_socket_address_new(address, static_cast<guint16>(config_.port));
  g_autoptr(GSocket) listening = g_socket_new(g_inet_address_get_family(address),
                                              G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &err);
  if (listening)
    g_socket_set_listen_backlog(listening, config_.listen_backlog);
  if (!listening || !g_socket_bind(listening, socket_address, TRUE, &err) ||
      !g_socket_listen(listening, &err)) {
    error = "cannot listen for HTTP on " + config_.address + ":" + std::to_string(config_.port) +
            ": " + err->message;
    return false;
  }
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address(listening, nullptr);
  port_ = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  UniqueFd listener(fcntl(g_socket_get_fd(listening), F_DUPFD_CLOEXEC, 0));
  if (!listener) {
    error = std::string("cannot listen for HTTP: ") + g_strerror(errno);
    return false;
  }

  /* libsoup keeps a connection alive only while it has a listener (3.2 to
   * 3.6, request_finished in soup-server.c); what it gets here is one end of
   * a socket pair no one writes to, so it never accepts anything itself. */
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    error = std::string("cannot make the API server's idle listener: ") + g_strerror(errno);
    return false;
  }
  listener_peer_.reset(pair[1]);
  socket_ = g_socket_new_from_fd(pair[0], &err);
  if (!socket_ ||
      !soup_server_listen_socket(server_, socket_, static_cast<SoupServerListenOptions>(0), &err)) {
    error = std::string("cannot make the API server's idle listener: ") + err->message;
    if (!socket_)
      close(pair[0]);
    g_clear_object(&socket_);
    listener_peer_.reset();
    return false;
  }

  door_->context = g_main_context_ref_thread_default();
  door_->server = this;
  MediaFastPath::Options options{config_.media_threads,
                                 config_.idle_timeout_ms,
                                 config_.cors_origins,
                                 connection_budget(config_.max_connections),
                                 open_,
                                 held_};
  std::vector<MediaFastPath::Mount> mounts;
  for (const auto &[prefix, root] : media_mounts_)
    mounts.push_back({prefix, root});
  /* On a fast-path thread: hand the connection to the main context. */
  auto handoff = [door = door_, open = open_](int fd, std::string already_read) {
    g_main_context_invoke_full(
        door->context, G_PRIORITY_DEFAULT, SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
          auto *a = static_cast<Adoption *>(data);
          if (a->door->server) {
            a->door->server->adopt(std::exchange(a->fd, -1), std::move(a->already_read));
          }
          return G_SOURCE_REMOVE;
        }),
        new Adoption{door, fd, std::move(already_read), open}, [](gpointer data) {
          auto *a = static_cast<Adoption *>(data);
          if (a->fd >= 0) {
            close(a->fd);
            a->open->fetch_sub(1, std::memory_order_relaxed);
          }
          delete a;
        });
  };
  fast_path_ = std::make_unique<MediaFastPath>(std::move(options), std::move(mounts), metrics_,
                                               std::move(handoff));
  if (!fast_path_->start(std::move(listener), error)) {
    fast_path_.reset();
    door_->server = nullptr;
    return false;
  }
  return true;
}

void HttpServer::stop_listening()
{
  if (fast_path_) {
    door_->server = nullptr; /* connections on their way here are closed */
    fast_path_->stop();
    fast_path_.reset();
  }
  if (!socket_)
    return;
  soup_server_disconnect(server_);
  g_clear_object(&socket_);
  listener_peer_.reset();
}

std::string HttpServer::base_url(SoupServerMessage *msg) const
{
  if (!config_.public_url.empty()) {
    std::string url = config_.public_url;
    while (!url.empty() && url.back() == '/')
      url.pop_back();
    return url;
  }
  return "http://" + local_host(msg) + ":" + std::to_string(port_);
}

std::string local_host(SoupServerMessage *msg)
{
  /* Where the connection arrived, never the client's Host header: a
   * client must not choose the URLs the daemon hands to others. */
  std::string host = "127.0.0.1";
  GSocketAddress *local = soup_server_message_get_local_address(msg);
  if (local && G_IS_INET_SOCKET_ADDRESS(local)) {
    g_autofree gchar *text =
        g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(local)));
    host = text;
  }
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

void HttpServer::route(const char *method, const std::string &pattern, Handler handler, bool admin)
{
  Route r{method, split_path(pattern), std::move(handler), admin};
  /* "/" itself reaches the default handler, which every server has. */
  const std::string prefix = r.segments.empty() ? "" : "/" + r.segments.front();
  if (!prefix.empty() && std::find(prefixes_.begin(), prefixes_.end(), prefix) == prefixes_.end()) {
    prefixes_.push_back(prefix);
    soup_server_add_handler(server_, prefix.c_str(), SUGARCAST_GUARD(on_request), this, nullptr);
  }
  routes_.push_back(std::move(r));
}

void HttpServer::add_early_handler(const char *path, SoupServerCallback callback, gpointer data)
{
  /* libsoup matches early and normal handlers together: the path needs its
   * own normal handler, or requests under it would only run the early one. */
  soup_server_add_early_handler(server_, path, callback, data, nullptr);
  soup_server_add_handler(server_, path, SUGARCAST_GUARD(on_request), this, nullptr);
}

bool HttpServer::admin_attempt_allowed(SoupServerMessage *msg)
{
  const char *host = soup_server_message_get_remote_host(msg);
  auto it = admin_failures_.find(host ? host : "");
  if (it == admin_failures_.end())
    return true;
  const int64_t now = g_get_monotonic_time() / 1000;
  const int64_t left = it->second.window_start_ms + 60000 - now;
  if (left <= 0) {
    admin_failures_.erase(it);
    return true;
  }
  if (it->second.count < config_.admin_failures_per_minute)
    return true;
  const std::string seconds = std::to_string((left + 999) / 1000);
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After",
                               seconds.c_str());
  respond_error(msg, 429 /* Too Many Requests */, "too_many_attempts",
                "Too many wrong admin tokens from this address; try again in " + seconds + " s");
  return false;
}

void HttpServer::admin_attempt_failed(SoupServerMessage *msg)
{
  const char *host = soup_server_message_get_remote_host(msg);
  const int64_t now = g_get_monotonic_time() / 1000;
  /* Bounded: an address space of attackers cannot grow it without end. */
  if (admin_failures_.size() >= 65536) {
    for (auto it = admin_failures_.begin(); it != admin_failures_.end();)
      it = it->second.window_start_ms + 60000 <= now ? admin_failures_.erase(it) : std::next(it);
    if (admin_failures_.size() >= 65536)
      admin_failures_.clear();
  }
  Failures &f = admin_failures_[host ? host : ""];
  if (f.count == 0 || f.window_start_ms + 60000 <= now) {
    f.window_start_ms = now;
    f.count = 0;
  }
  ++f.count;
  g_log("sugarcastd-http", G_LOG_LEVEL_WARNING, "wrong admin token from %s (%d in this minute)",
        host ? host : "?", f.count);
}

bool HttpServer::check_admin(SoupServerMessage *msg)
{
  if (!admin_attempt_allowed(msg))
    return false;
  const char *auth =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
  if (!auth || g_ascii_strncasecmp(auth, "Bearer ", 7) != 0) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                                 "Bearer");
    respond_error(msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                  "This route needs the admin token: Authorization: Bearer TOKEN");
    return false;
  }
  if (admin_token_.empty() || !constant_time_equal(auth + 7, admin_token_)) {
    admin_attempt_failed(msg);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "WWW-Authenticate",
                                 "Bearer error=\"invalid_token\"");
    respond_error(msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized", "The admin token is not valid");
    return false;
  }
  return true;
}

void HttpServer::add_cors_headers(SoupServerMessage *msg) const
{
  const char *origin =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Origin");
  bool vary = false;
  const std::string allow(cors_allow_origin(config_.cors_origins, origin ? origin : "", vary));
  if (allow.empty())
    return;
  SoupMessageHeaders *out = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(out, "Access-Control-Allow-Origin", allow.c_str());
  if (vary)
    soup_message_headers_append(out, "Vary", "Origin");
}

void HttpServer::respond_preflight(SoupServerMessage *msg, const char *methods) const
{
  add_cors_headers(msg);
  SoupMessageHeaders *out = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(out, "Access-Control-Allow-Methods", methods);
  soup_message_headers_replace(out, "Access-Control-Allow-Headers", kPreflightAllowHeaders);
  soup_message_headers_replace(out, "Access-Control-Max-Age", kPreflightMaxAge);
  soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
}

void HttpServer::on_request(SoupServer *server, SoupServerMessage *msg, const char *path,
                            GHashTable *query, gpointer self)
{
  static_cast<HttpServer *>(self)->dispatch(server, msg, path, query);
}

void HttpServer::dispatch(SoupServer *server, SoupServerMessage *msg, const char *path,
                          GHashTable *query)
{
  add_cors_headers(msg);
  const std::string method = soup_server_message_get_method(msg);
  std::string allowed;
  std::map<std::string, std::string> params;
  if (const Route *r = match(method, path, &params, allowed)) {
    if (r->admin && !check_admin(msg))
      return;
    HttpRequest request{server, msg, method, path, std::move(params), query};
    r->handler(request);
    return;
  }
  if (method == "OPTIONS" && !allowed.empty()) {
    respond_preflight(msg, (allowed + ", OPTIONS").c_str());
    return;
  }
  if (!allowed.empty()) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                 allowed.c_str());
    respond_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                  method + " is not allowed on " + path + "; allowed: " + allowed);
    return;
  }
  respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found",
                "No such route: " + method + " " + std::string(path));
}

const HttpServer::Route *HttpServer::match(const std::string &method, const std::string &path,
                                           std::map<std::string, std::string> *params,
                                           std::string &allowed) const
{
  const std::vector<std::string> segments = split_path(path);
  for (const Route &r : routes_) {
    if (r.segments.size() != segments.size())
      continue;
    std::map<std::string, std::string> found;
    bool same = true;
    for (size_t i = 0; i < segments.size() && same; ++i) {
      const std::string &want = r.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}')
        found[want.substr(1, want.size() - 2)] = segments[i];
      else
        same = want == segments[i];
    }
    if (!same)
      continue;
    if (r.method != method && !(r.method == "GET" && method == "HEAD")) {
      allowed += (allowed.empty() ? "" : ", ") + r.method;
      continue;
    }
    if (params)
      *params = std::move(found);
    return &r;
  }
  return nullptr;
}

void HttpServer::count_answer(guint status)
{
  metrics_
      .counter("sugarcast_http_requests_total", "HTTP requests answered, by status",
               {{"status", std::to_string(status)}})
      .fetch_add(1, std::memory_order_relaxed);
}

} // namespace sugarcast
