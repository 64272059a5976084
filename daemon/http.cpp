/* sugarcastd — the HTTP server. See http.h. */
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

/* The key under which a handed-over connection's remote address carries its
 * GSocket: libsoup gives no socket for connections made from a stream. */
const char *const kSocketKey = "sugarcast-socket";
/* On a connection's GSocket: it has answered a request (the next one is
 * kept alive), and it carries a WebSocket. */
const char *const kIdleKey = "sugarcast-idle";
const char *const kWebSocketKey = "sugarcast-websocket";

/* A kept-alive connection waiting for its next request: closed when none
 * starts within http.idle_timeout_ms. Lives on the connection's GSocket. */
struct IdleDeadline
{
  SoupServerMessage *msg; /* the last one answered, to take the connection from */
  GSocket *socket;
  guint timer;

  static void destroy(gpointer data)
  {
    auto *idle = static_cast<IdleDeadline *>(data);
    if (idle->timer)
      g_source_remove(idle->timer);
    g_object_unref(idle->msg);
    delete idle;
  }
  static gboolean on_expired(gpointer data)
  {
    auto *idle = static_cast<IdleDeadline *>(data);
    idle->timer = 0;
    GSocket *socket = G_SOCKET(g_object_ref(idle->socket));
    if (!g_socket_is_closed(socket)) {
      if (GIOStream *io = soup_server_message_steal_connection(idle->msg)) {
        g_io_stream_close(io, nullptr, nullptr);
        g_object_unref(io);
      }
      g_socket_close(socket, nullptr);
    }
    g_object_set_data(G_OBJECT(socket), kIdleKey, nullptr);
    g_object_unref(socket);
    return G_SOURCE_REMOVE;
  }
};

struct WebSocketCount
{
  std::shared_ptr<int> open; /* HttpServer::websockets_, which may be gone */
};

struct Adoption
{
  std::shared_ptr<HttpServer::Door> door;
  int fd;
  std::string already_read;
  std::shared_ptr<std::atomic<int>> open;
};

/* On an adopted connection's GSocket: the fast path counted it in `open`
 * when it accepted it; the count goes when the socket does. */
const char *const kOpenKey = "sugarcast-open";
struct OpenCount
{
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

void HttpServer::adopt(int fd, std::string already_read)
{
  g_autoptr(GError) error = nullptr;
  g_autoptr(GSocket) socket = g_socket_new_from_fd(fd, &error);
  if (!socket) {
    close(fd);
    open_->fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  g_object_set_data_full(G_OBJECT(socket), kOpenKey, new OpenCount{open_}, [](gpointer data) {
    auto *count = static_cast<OpenCount *>(data);
    count->open->fetch_sub(1, std::memory_order_relaxed);
    delete count;
  });
  g_autoptr(GSocketAddress) local = g_socket_get_local_address(socket, nullptr);
  g_autoptr(GSocketAddress) remote = g_socket_get_remote_address(socket, nullptr);
  if (!local || !remote) {
    g_socket_close(socket, nullptr); /* the client has already gone */
    return;
  }
  g_object_set_data_full(G_OBJECT(remote), kSocketKey, g_object_ref(socket), g_object_unref);
  g_autoptr(GSocketConnection) connection = g_socket_connection_factory_create_connection(socket);
  g_autoptr(GIOStream) stream =
      already_read.empty()
          ? G_IO_STREAM(g_object_ref(connection))
          : prefixed_io_stream_new(G_IO_STREAM(connection), std::move(already_read));
  soup_server_accept_iostream(server_, stream, local, remote, nullptr);
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

GSocket *message_socket(SoupServerMessage *msg)
{
  if (GSocket *socket = soup_server_message_get_socket(msg))
    return socket;
  GSocketAddress *remote = soup_server_message_get_remote_address(msg);
  return remote ? static_cast<GSocket *>(g_object_get_data(G_OBJECT(remote), kSocketKey)) : nullptr;
}

void close_connection(SoupServerMessage *msg)
{
  GSocket *socket = message_socket(msg);
  if (socket)
    g_object_ref(socket);
  if (GIOStream *io = soup_server_message_steal_connection(msg)) {
    g_io_stream_close(io, nullptr, nullptr);
    g_object_unref(io);
  }
  if (socket) {
    g_socket_close(socket, nullptr);
    g_object_unref(socket);
  }
}

/* libsoup 3.2 (Debian 12) never notices a keep-alive client closing an idle
 * connection (fixed upstream in 3.3.0, commit d20c6601): the socket stays in
 * CLOSE_WAIT and the connection, with its buffers, is never freed. Until the
 * next request arrives, watch the socket ourselves; when the peer has gone,
 * take the connection from libsoup (which frees its side of it) and close
 * it. The watch runs at a higher priority than libsoup's own reader of the
 * socket, so it always sees the connection waiting for a request, never
 * half-way through libsoup's handling of the end. Upgraded connections
 * (WebSockets) are not ours to watch. */
static gboolean on_idle_connection(GSocket *socket, GIOCondition condition, gpointer data)
{
  if (g_socket_is_closed(socket))
    return G_SOURCE_REMOVE;
  char byte;
  const ssize_t n = recv(g_socket_get_fd(socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
      (condition & (G_IO_HUP | G_IO_ERR))) {
    g_object_ref(socket);
    if (GIOStream *io = soup_server_message_steal_connection(SOUP_SERVER_MESSAGE(data))) {
      g_io_stream_close(io, nullptr, nullptr);
      g_object_unref(io);
    }
    g_socket_close(socket, nullptr);
    g_object_set_data(G_OBJECT(socket), kIdleKey, nullptr);
    g_object_unref(socket);
  }
  return G_SOURCE_REMOVE; /* a request is coming, or the connection is gone */
}

void HttpServer::on_request_finished(SoupServer *, SoupServerMessage *msg, gpointer self)
{
  auto *server = static_cast<HttpServer *>(self);
  const guint status = soup_server_message_get_status(msg);
  GSocket *socket = message_socket(msg);
  if (status != SOUP_STATUS_SWITCHING_PROTOCOLS && socket && !g_socket_is_closed(socket) &&
      soup_get_major_version() == 3 && soup_get_minor_version() < 3) {
    GSource *watch = g_socket_create_source(
        socket, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR), nullptr);
    g_source_set_priority(watch, G_PRIORITY_HIGH);
    g_source_set_callback(watch, G_SOURCE_FUNC(SUGARCAST_GUARD(on_idle_connection)),
                          g_object_ref(msg), g_object_unref);
    g_source_attach(watch, g_main_context_get_thread_default());
    g_source_unref(watch);
  }
  if (status != SOUP_STATUS_SWITCHING_PROTOCOLS && socket && !g_socket_is_closed(socket)) {
    /* libsoup starts the next request only once its first bytes arrive:
     * the idle deadline runs from here (a connection libsoup closes now
     * lets it go when it expires). */
    auto *idle = new IdleDeadline{SOUP_SERVER_MESSAGE(g_object_ref(msg)), socket, 0};
    idle->timer = g_timeout_add(static_cast<guint>(server->config_.idle_timeout_ms),
                                SUGARCAST_GUARD(IdleDeadline::on_expired), idle);
    g_object_set_data_full(G_OBJECT(socket), kIdleKey, idle, IdleDeadline::destroy);
  }
  server->count_answer(status);
}

void HttpServer::count_answer(guint status)
{
  metrics_
      .counter("sugarcast_http_requests_total", "HTTP requests answered, by status",
               {{"status", std::to_string(status)}})
      .fetch_add(1, std::memory_order_relaxed);
}

/* ---- limits before work ---- */

namespace {

/* A timer whose expiry moves: g_source_set_ready_time() on every touch. */
gboolean dispatch_deadline(GSource *, GSourceFunc callback, gpointer data)
{
  return callback(data);
}
GSourceFuncs deadline_funcs = {nullptr, nullptr, SUGARCAST_GUARD(dispatch_deadline),
                               nullptr, nullptr, nullptr};

/* A refused connection after its answer: output shut, what the client still
 * sends read and dropped for a moment (so that closing does not reset the
 * connection before the client has read the answer), then closed. */
struct Lingering
{
  GSocket *socket;
  GIOStream *io;
  GSource *reader = nullptr;
  guint timer = 0;

  static constexpr guint kLingerMs = 2000;

  static void finish(Lingering *l)
  {
    if (l->timer)
      g_source_remove(l->timer);
    if (l->reader) {
      g_source_destroy(l->reader);
      g_source_unref(l->reader);
    }
    g_io_stream_close(l->io, nullptr, nullptr);
    g_object_unref(l->io);
    g_socket_close(l->socket, nullptr);
    g_object_unref(l->socket);
    delete l;
  }
  static gboolean on_readable(GSocket *socket, GIOCondition, gpointer data)
  {
    char sink[16384];
    for (;;) {
      const ssize_t n = recv(g_socket_get_fd(socket), sink, sizeof sink, MSG_DONTWAIT);
      if (n > 0)
        continue;
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return G_SOURCE_CONTINUE;
      break; /* the client closed, or the connection failed */
    }
    auto *l = static_cast<Lingering *>(data);
    g_source_unref(std::exchange(l->reader, nullptr)); /* removed by returning REMOVE */
    finish(l);
    return G_SOURCE_REMOVE;
  }
  static gboolean on_timeout(gpointer data)
  {
    auto *l = static_cast<Lingering *>(data);
    l->timer = 0;
    finish(l);
    return G_SOURCE_REMOVE;
  }
};

bool has_body(SoupMessageHeaders *headers)
{
  switch (soup_message_headers_get_encoding(headers)) {
  case SOUP_ENCODING_CONTENT_LENGTH:
    return soup_message_headers_get_content_length(headers) > 0;
  case SOUP_ENCODING_NONE:
    return false;
  default:
    return true; /* chunked */
  }
}

bool wants_websocket(SoupMessageHeaders *headers)
{
  return soup_message_headers_header_contains(headers, "Upgrade", "websocket");
}

} // namespace

struct HttpServer::Watch
{
  HttpServer *server;
  SoupServerMessage *msg; /* owns this Watch */
  GSource *timer = nullptr;
  int timeout_ms = 0;
  int64_t body_limit = -1; /* counted as it arrives: chunked bodies */
  int64_t body_received = 0;

  Watch(HttpServer *s, SoupServerMessage *m) : server(s), msg(m) {}
  ~Watch() { stop(); }
  Watch(const Watch &) = delete;
  Watch &operator=(const Watch &) = delete;

  void arm(int ms)
  {
    timeout_ms = ms;
    if (!timer) {
      timer = g_source_new(&deadline_funcs, sizeof(GSource));
      g_source_set_callback(timer, SUGARCAST_GUARD(on_deadline), this, nullptr);
      g_source_attach(timer, g_main_context_get_thread_default());
    }
    touch();
  }
  void touch()
  {
    if (timer)
      g_source_set_ready_time(timer, g_get_monotonic_time() + int64_t{timeout_ms} * 1000);
  }
  void stop()
  {
    if (timer) {
      g_source_destroy(timer);
      g_source_unref(timer);
      timer = nullptr;
    }
  }
  static gboolean on_deadline(gpointer data)
  {
    auto *w = static_cast<Watch *>(data);
    g_source_set_ready_time(w->timer, -1);
    /* The message may go away while the connection is taken from it. */
    g_autoptr(SoupServerMessage) msg = SOUP_SERVER_MESSAGE(g_object_ref(w->msg));
    g_log("sugarcastd-http", G_LOG_LEVEL_DEBUG,
          "closing a connection from %s: no progress in %d ms",
          soup_server_message_get_remote_host(msg), w->timeout_ms);
    close_connection(msg);
    return G_SOURCE_CONTINUE; /* destroyed with the Watch */
  }
};

namespace {
const char *const kWatchKey = "sugarcast-watch";
}

void HttpServer::on_request_started(SoupServer *, SoupServerMessage *msg, gpointer self)
{
  auto *server = static_cast<HttpServer *>(self);
  auto *watch = new Watch(server, msg);
  g_object_set_data_full(G_OBJECT(msg), kWatchKey, watch,
                         [](gpointer w) { delete static_cast<Watch *>(w); });
  /* A connection's first request has head_timeout_ms to arrive; the next
   * ones on a kept-alive connection idle_timeout_ms from the last answer. */
  GSocket *socket = message_socket(msg);
  if (socket)
    g_object_set_data(G_OBJECT(socket), kIdleKey, nullptr); /* the next request is here */
  watch->arm(server->config_.head_timeout_ms);
  g_signal_connect(msg, "got-headers", G_CALLBACK(SUGARCAST_GUARD(on_got_headers)), self);
  g_signal_connect(msg, "got-chunk", G_CALLBACK(SUGARCAST_GUARD(on_got_chunk)), self);
  g_signal_connect(msg, "got-body", G_CALLBACK(SUGARCAST_GUARD(on_got_body)), self);
}

void HttpServer::on_got_headers(SoupServerMessage *msg, gpointer self)
{
  static_cast<HttpServer *>(self)->check_head(msg);
}

void HttpServer::check_head(SoupServerMessage *msg)
{
  auto *watch = static_cast<Watch *>(g_object_get_data(G_OBJECT(msg), kWatchKey));
  if (!watch)
    return;
  watch->stop();
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  const bool body = has_body(headers);
  /* libsoup refused the head, or an early handler (the clip upload) did. */
  if (soup_server_message_get_status(msg) != 0) {
    if (body)
      refuse_now(msg);
    return;
  }
  if (body)
    watch->arm(config_.body_timeout_ms);
  /* An early handler that takes the body as it comes (and not into
   * memory) has checked it and bounds it itself. */
  if (body && !soup_message_body_get_accumulate(soup_server_message_get_request_body(msg)))
    return;

  const std::string method = soup_server_message_get_method(msg);
  const char *path = g_uri_get_path(soup_server_message_get_uri(msg));
  if (wants_websocket(headers))
    g_signal_connect(msg, "wrote-informational", G_CALLBACK(SUGARCAST_GUARD(on_upgraded)), this);
  if (wants_websocket(headers) && *websockets_ >= config_.max_websockets) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "5");
    respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "too_many_websockets",
                  "The server holds its most WebSocket connections (http.max_websockets = " +
                      std::to_string(config_.max_websockets) + "); try again shortly");
    return;
  }
  std::string allowed;
  const Route *route = match(method, path ? path : "/", nullptr, allowed);
  if (route && route->admin && !check_admin(msg)) {
    if (body)
      refuse_now(msg);
    return;
  }
  if (!body)
    return; /* the handlers answer, after an empty body */
  const int64_t limit = config_.max_body_bytes;
  if (!route) {
    /* Only routes take bodies (media, pages and WebSockets never do): the
     * handler refuses it once it is in, and nothing of it is kept. */
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
  }
  if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH) {
    const goffset length = soup_message_headers_get_content_length(headers);
    if (length > limit) {
      respond_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                    "The body is " + std::to_string(length) + " bytes; the limit is " +
                        std::to_string(limit) + " (http.max_body_bytes)");
      refuse_now(msg);
    }
    return;
  }
  watch->body_limit = limit; /* chunked: counted as it comes */
}

void HttpServer::on_upgraded(SoupServerMessage *msg, gpointer self)
{
  /* Runs before libsoup takes the connection for the WebSocket (its own
   * handler is connected later); the socket lives as long as that
   * connection does. */
  auto *server = static_cast<HttpServer *>(self);
  GSocket *socket = message_socket(msg);
  if (soup_server_message_get_status(msg) != SOUP_STATUS_SWITCHING_PROTOCOLS || !socket ||
      g_object_get_data(G_OBJECT(socket), kWebSocketKey))
    return;
  ++*server->websockets_;
  g_object_set_data_full(G_OBJECT(socket), kWebSocketKey, new WebSocketCount{server->websockets_},
                         [](gpointer data) {
                           auto *count = static_cast<WebSocketCount *>(data);
                           --*count->open;
                           delete count;
                         });
}

void HttpServer::on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer self)
{
  auto *watch = static_cast<Watch *>(g_object_get_data(G_OBJECT(msg), kWatchKey));
  if (!watch)
    return;
  watch->touch();
  if (watch->body_limit < 0)
    return;
  watch->body_received += static_cast<int64_t>(g_bytes_get_size(chunk));
  if (watch->body_received > watch->body_limit) {
    respond_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                  "The body is over " + std::to_string(watch->body_limit) +
                      " bytes (http.max_body_bytes)");
    static_cast<HttpServer *>(self)->refuse_now(msg);
  }
}

void HttpServer::on_got_body(SoupServerMessage *msg, gpointer)
{
  if (auto *watch = static_cast<Watch *>(g_object_get_data(G_OBJECT(msg), kWatchKey)))
    watch->stop();
}

void HttpServer::refuse_now(SoupServerMessage *msg)
{
  g_object_ref(msg);
  add_cors_headers(msg);
  const guint status = soup_server_message_get_status(msg);
  SoupMessageHeaders *out = soup_server_message_get_response_headers(msg);
  soup_message_headers_remove(out, "Connection");
  soup_message_headers_remove(out, "Content-Length");
  soup_message_headers_remove(out, "Transfer-Encoding");
  g_autoptr(GBytes) body = soup_message_body_flatten(soup_server_message_get_response_body(msg));
  std::string answer =
      "HTTP/1.1 " + std::to_string(status) + " " + soup_status_get_phrase(status) + "\r\n";
  soup_message_headers_foreach(
      out, SUGARCAST_GUARD(+[](const char *name, const char *value, gpointer data) {
        *static_cast<std::string *>(data) += std::string(name) + ": " + value + "\r\n";
      }),
      &answer);
  answer +=
      "Content-Length: " + std::to_string(g_bytes_get_size(body)) + "\r\nConnection: close\r\n\r\n";
  answer.append(static_cast<const char *>(g_bytes_get_data(body, nullptr)), g_bytes_get_size(body));
  count_answer(status);

  GSocket *socket = message_socket(msg);
  if (socket)
    g_object_ref(socket);
  GIOStream *io = soup_server_message_steal_connection(msg);
  g_object_unref(msg);
  if (!socket || !io) {
    if (io) {
      g_io_stream_close(io, nullptr, nullptr);
      g_object_unref(io);
    }
    if (socket) {
      g_socket_close(socket, nullptr);
      g_object_unref(socket);
    }
    return;
  }
  /* A fresh connection's send buffer holds a short answer whole. */
  const int fd = g_socket_get_fd(socket);
  if (send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    g_log("sugarcastd-http", G_LOG_LEVEL_DEBUG, "answering a refused request: %s",
          g_strerror(errno));
  shutdown(fd, SHUT_WR);
  auto *l = new Lingering{socket, io};
  l->reader = g_socket_create_source(
      socket, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR), nullptr);
  g_source_set_callback(l->reader, G_SOURCE_FUNC(SUGARCAST_GUARD(Lingering::on_readable)), l,
                        nullptr);
  g_source_attach(l->reader, g_main_context_get_thread_default());
  l->timer = g_timeout_add(Lingering::kLingerMs, SUGARCAST_GUARD(Lingering::on_timeout), l);
}

} // namespace sugarcast
