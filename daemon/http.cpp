/* sugarcastd — the HTTP server. See http.h. */
#include "http.h"

#include <algorithm>
#include <cerrno>

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

void respond_error(SoupServerMessage *msg, guint status, const char *code,
                   const std::string &message)
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
  respond_json_builder(msg, status, b);
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

HttpServer::HttpServer(const Config::Http &config, Metrics &metrics)
    : config_(config), metrics_(metrics)
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

bool HttpServer::listen(std::string &error)
{
  g_autoptr(GError) err = nullptr;
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string(config_.address.c_str());
  if (!address) {
    error = "http.address \"" + config_.address + "\" is not an IP address";
    return false;
  }
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

void HttpServer::stop_listening()
{
  if (!socket_)
    return;
  soup_server_disconnect(server_);
  g_clear_object(&socket_);
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
  SoupMessageHeaders *out = soup_server_message_get_response_headers(msg);
  for (const auto &allowed : config_.cors_origins) {
    if (allowed == "*") {
      soup_message_headers_replace(out, "Access-Control-Allow-Origin", "*");
      return;
    }
    if (origin && allowed == origin) {
      soup_message_headers_replace(out, "Access-Control-Allow-Origin", origin);
      soup_message_headers_append(out, "Vary", "Origin");
      return;
    }
  }
}

void HttpServer::respond_preflight(SoupServerMessage *msg, const char *methods) const
{
  add_cors_headers(msg);
  SoupMessageHeaders *out = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(out, "Access-Control-Allow-Methods", methods);
  soup_message_headers_replace(out, "Access-Control-Allow-Headers",
                               "Authorization, Content-Type, Range");
  soup_message_headers_replace(out, "Access-Control-Max-Age", "600");
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

/* libsoup 3.2 (Debian 12) never notices a keep-alive client closing an idle
 * connection (fixed upstream in 3.3.0, commit d20c6601): the socket stays in
 * CLOSE_WAIT and its descriptor is never freed. Until the next request
 * arrives, watch the socket ourselves and close it when the peer has gone.
 * Closing the GSocket (not the bare descriptor) keeps libsoup's later
 * operations on it harmless. Upgraded connections (WebSockets) are not ours
 * to watch. */
static gboolean on_idle_connection(GSocket *socket, GIOCondition condition, gpointer)
{
  if (g_socket_is_closed(socket))
    return G_SOURCE_REMOVE;
  char byte;
  const ssize_t n = recv(g_socket_get_fd(socket), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
      (condition & (G_IO_HUP | G_IO_ERR)))
    g_socket_close(socket, nullptr);
  return G_SOURCE_REMOVE; /* a request is coming, or the socket is closed */
}

void HttpServer::on_request_finished(SoupServer *, SoupServerMessage *msg, gpointer self)
{
  auto *server = static_cast<HttpServer *>(self);
  const guint status = soup_server_message_get_status(msg);
  GSocket *socket = soup_server_message_get_socket(msg);
  if (status != SOUP_STATUS_SWITCHING_PROTOCOLS && socket && !g_socket_is_closed(socket)) {
    GSource *watch = g_socket_create_source(
        socket, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR), nullptr);
    g_source_set_callback(watch, G_SOURCE_FUNC(on_idle_connection), nullptr, nullptr);
    g_source_attach(watch, g_main_context_get_thread_default());
    g_source_unref(watch);
  }
  server->metrics_
      .counter("sugarcast_http_requests_total", "HTTP requests answered, by status",
               {{"status", std::to_string(status)}})
      .fetch_add(1, std::memory_order_relaxed);
}

} // namespace sugarcast
