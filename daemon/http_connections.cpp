/* sugarcastd — the HTTP server's connections: what a connection carries on
 * its GSocket, connections the media fast path hands over, the idle deadline
 * after an answer and libsoup 3.2's missed closes, and the limits checked
 * before work (head and body deadlines, body sizes, WebSocket count, refusing
 * a request at once). Routing, admin checks and listening are in http.cpp.
 * See http.h. */
#include "guard.h"
#include "http.h"

#include "prefixstream.h"

#include <cerrno>
#include <utility>

#include <sys/socket.h>

namespace sugarcast {

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

/* On an adopted connection's GSocket: the fast path counted it in `open`
 * when it accepted it; the count goes when the socket does. */
const char *const kOpenKey = "sugarcast-open";
struct OpenCount
{
  std::shared_ptr<std::atomic<int>> open;
};

} // namespace

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