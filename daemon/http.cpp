/* sugarcastd — the HTTP server. See http.h. */
#include "http.h"

#include "fastpath.h"
#include "prefixstream.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace sugarcast {

std::vector<std::string> split_path(const std::string &path)
{
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos)
      end = path.size();
    if (end > start)
      out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

namespace {

void set_no_store(SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  if (!soup_message_headers_get_one(headers, "Cache-Control"))
    soup_message_headers_replace(headers, "Cache-Control", "no-store");
}

} // namespace

std::string HttpRequest::query_param(const char *name, const std::string &fallback) const
{
  if (!query)
    return fallback;
  auto *value = static_cast<const char *>(g_hash_table_lookup(query, name));
  return value ? value : fallback;
}

void respond_text(SoupServerMessage *msg, guint status, const char *content_type,
                  const std::string &text)
{
  set_no_store(msg);
  soup_server_message_set_status(msg, status, nullptr);
  soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, text.data(), text.size());
}

void respond_bytes(SoupServerMessage *msg, const std::string &method, const char *content_type,
                   GBytes *bytes)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_set_content_type(headers, content_type, nullptr);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  if (method == "GET")
    soup_message_body_append_bytes(soup_server_message_get_response_body(msg), bytes);
  else
    soup_message_headers_set_content_length(headers, g_bytes_get_size(bytes));
}

void respond_json(SoupServerMessage *msg, guint status, JsonNode *body)
{
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, body);
  gsize length = 0;
  g_autofree gchar *text = json_generator_to_data(gen, &length);
  respond_text(msg, status, "application/json", std::string(text, length) + "\n");
}

void respond_json_builder(SoupServerMessage *msg, guint status, JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  respond_json(msg, status, root);
}

std::string error_json(const char *code, const std::string &message)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "error");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "code");
  json_builder_add_string_value(b, code);
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message.c_str());
  json_builder_end_object(b);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, root);
  gsize length = 0;
  g_autofree gchar *text = json_generator_to_data(gen, &length);
  return std::string(text, length) + "\n";
}

void respond_error(SoupServerMessage *msg, guint status, const char *code,
                   const std::string &message)
{
  respond_text(msg, status, "application/json", error_json(code, message));
}

std::string_view cors_allow_origin(const std::vector<std::string> &allowed, std::string_view origin,
                                   bool &vary_origin)
{
  vary_origin = false;
  for (const auto &a : allowed) {
    if (a == "*")
      return a;
    if (!origin.empty() && a == origin) {
      vary_origin = true;
      return a;
    }
  }
  return {};
}

JsonNode *read_json_object(SoupServerMessage *msg, int64_t max_bytes)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  const char *type = soup_message_headers_get_content_type(headers, nullptr);
  if (type && g_ascii_strcasecmp(type, "application/json") != 0) {
    respond_error(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                  std::string("Expected a JSON body (Content-Type: application/json), got ") +
                      type);
    return nullptr;
  }
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  if (body->length > max_bytes) {
    respond_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                  "The JSON body is " + std::to_string(body->length) + " bytes; the limit is " +
                      std::to_string(max_bytes));
    return nullptr;
  }
  g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
  gsize size = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
  if (size == 0) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_json",
                  "Expected a JSON object body, got nothing");
    return nullptr;
  }
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = nullptr;
  if (!json_parser_load_from_data(parser, data, static_cast<gssize>(size), &error)) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_json",
                  std::string("The body is not valid JSON: ") + error->message);
    return nullptr;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_json", "Expected a JSON object body");
    return nullptr;
  }
  return json_node_copy(root);
}

JsonNode *read_json_body(SoupServerMessage *msg, int64_t max_bytes, const char *definition)
{
  static std::unique_ptr<JsonSchema> schema = [] {
    std::string error;
    auto s = JsonSchema::load_resource("/sugarcast/schemas/api.schema.json", error);
    if (!s)
      g_error("%s", error.c_str());
    return s;
  }();
  JsonNode *body = read_json_object(msg, max_bytes);
  if (!body)
    return nullptr;
  std::vector<SchemaViolation> problems = schema->validate(body, 20, definition);
  if (problems.empty())
    return body;
  json_node_unref(body);
  std::string message;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "error");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "code");
  json_builder_add_string_value(b, "bad_request");
  json_builder_set_member_name(b, "fields");
  json_builder_begin_array(b);
  for (const auto &p : problems) {
    const std::string path = p.path.empty() ? "/" : p.path;
    message += (message.empty() ? "" : "; ") + path + ": " + p.message;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, path.c_str());
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, p.message.c_str());
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message.c_str());
  json_builder_end_object(b);
  json_builder_end_object(b);
  respond_json_builder(msg, SOUP_STATUS_BAD_REQUEST, b);
  return nullptr;
}

bool constant_time_equal(const std::string &a, const std::string &b)
{
  /* Compare every byte of the longer string, whatever the first difference. */
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() != b.size();
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

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

struct Adoption
{
  std::shared_ptr<HttpServer::Door> door;
  int fd;
  std::string already_read;
};

} // namespace

HttpServer::HttpServer(const Config::Http &config, Metrics &metrics)
    : config_(config), metrics_(metrics), door_(std::make_shared<Door>())
{
  server_ = soup_server_new("server-header", "sugarcastd", nullptr);
  g_signal_connect(server_, "request-finished", G_CALLBACK(on_request_finished), this);
  /* Whatever no module claims is a JSON 404 like every other error. */
  soup_server_add_handler(server_, nullptr, on_request, this, nullptr);
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
  MediaFastPath::Options options{config_.media_threads, config_.idle_timeout_ms,
                                 config_.cors_origins};
  std::vector<MediaFastPath::Mount> mounts;
  for (const auto &[prefix, root] : media_mounts_)
    mounts.push_back({prefix, root});
  /* On a fast-path thread: hand the connection to the main context. */
  auto handoff = [door = door_](int fd, std::string already_read) {
    g_main_context_invoke_full(
        door->context, G_PRIORITY_DEFAULT,
        [](gpointer data) -> gboolean {
          auto *a = static_cast<Adoption *>(data);
          if (a->door->server)
            a->door->server->adopt(std::exchange(a->fd, -1), std::move(a->already_read));
          return G_SOURCE_REMOVE;
        },
        new Adoption{door, fd, std::move(already_read)},
        [](gpointer data) {
          auto *a = static_cast<Adoption *>(data);
          if (a->fd >= 0)
            close(a->fd);
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
    return;
  }
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
  const char *host =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Host");
  return std::string("http://") + (host ? host : ("127.0.0.1:" + std::to_string(port_)).c_str());
}

void HttpServer::route(const char *method, const std::string &pattern, Handler handler, bool admin)
{
  Route r{method, split_path(pattern), std::move(handler), admin};
  const std::string prefix = "/" + r.segments.at(0);
  if (std::find(prefixes_.begin(), prefixes_.end(), prefix) == prefixes_.end()) {
    prefixes_.push_back(prefix);
    soup_server_add_handler(server_, prefix.c_str(), on_request, this, nullptr);
  }
  routes_.push_back(std::move(r));
}

void HttpServer::add_early_handler(const char *path, SoupServerCallback callback, gpointer data)
{
  /* libsoup matches early and normal handlers together: the path needs its
   * own normal handler, or requests under it would only run the early one. */
  soup_server_add_early_handler(server_, path, callback, data, nullptr);
  soup_server_add_handler(server_, path, on_request, this, nullptr);
}

bool HttpServer::check_admin(SoupServerMessage *msg)
{
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
  const std::vector<std::string> segments = split_path(path);
  std::string allowed;
  for (Route &r : routes_) {
    if (r.segments.size() != segments.size())
      continue;
    std::map<std::string, std::string> params;
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const std::string &want = r.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}')
        params[want.substr(1, want.size() - 2)] = segments[i];
      else
        match = want == segments[i];
    }
    if (!match)
      continue;
    if (r.method != method && !(r.method == "GET" && method == "HEAD")) {
      allowed += (allowed.empty() ? "" : ", ") + r.method;
      continue;
    }
    if (r.admin && !check_admin(msg))
      return;
    HttpRequest request{server, msg, method, path, std::move(params), query};
    r.handler(request);
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

GSocket *message_socket(SoupServerMessage *msg)
{
  if (GSocket *socket = soup_server_message_get_socket(msg))
    return socket;
  GSocketAddress *remote = soup_server_message_get_remote_address(msg);
  return remote ? static_cast<GSocket *>(g_object_get_data(G_OBJECT(remote), kSocketKey)) : nullptr;
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
    g_source_set_callback(watch, G_SOURCE_FUNC(on_idle_connection), g_object_ref(msg),
                          g_object_unref);
    g_source_attach(watch, g_main_context_get_thread_default());
    g_source_unref(watch);
  }
  server->metrics_
      .counter("sugarcast_http_requests_total", "HTTP requests answered, by status",
               {{"status", std::to_string(status)}})
      .fetch_add(1, std::memory_order_relaxed);
}

} // namespace sugarcast
