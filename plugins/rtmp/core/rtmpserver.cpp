/* Sugarcast RTMP — the server: one listener, many publishers. Its parts:
 * connection.cpp (one publisher's socket and protocol), rtmpsession.cpp
 * (the handle consumers hold), server-private.h (what they share). */
#define G_LOG_DOMAIN "sugarcast-rtmp"
#include "guard.h"
#include "server-private.h"

#include <utility>

namespace sugarcast::rtmp {

namespace {

std::string socket_address_string(GSocketAddress *address)
{
  if (!address || !G_IS_INET_SOCKET_ADDRESS(address))
    return "unknown";
  auto *inet = G_INET_SOCKET_ADDRESS(address);
  g_autofree gchar *ip = g_inet_address_to_string(g_inet_socket_address_get_address(inet));
  const guint16 port = g_inet_socket_address_get_port(inet);
  if (g_inet_address_get_family(g_inet_socket_address_get_address(inet)) == G_SOCKET_FAMILY_IPV6)
    return std::string("[") + ip + "]:" + std::to_string(port);
  return std::string(ip) + ":" + std::to_string(port);
}

} // namespace

/* Runs fn on context: now when the caller owns it, else from an idle source. */
void run_on(GMainContext *context, std::function<void()> fn)
{
  if (g_main_context_is_owner(context)) {
    fn();
    return;
  }
  GSource *idle = g_idle_source_new();
  g_source_set_priority(idle, G_PRIORITY_DEFAULT);
  g_source_set_callback(idle, SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
                          (*static_cast<std::function<void()> *>(data))();
                          return G_SOURCE_REMOVE;
                        }),
                        new std::function<void()>(std::move(fn)),
                        [](gpointer data) { delete static_cast<std::function<void()> *>(data); });
  g_source_attach(idle, context);
  g_source_unref(idle);
}

void Server::Impl::remove(Connection *c)
{
  auto found = connections.find(c);
  if (found == connections.end())
    return;
  auto host = per_host.find(address_host(c->address));
  if (host != per_host.end() && --host->second == 0)
    per_host.erase(host);
  connections.erase(found);
  if (accept_paused) /* a descriptor is free again */
    resume_accept();
}

void Server::Impl::watch_listener()
{
  accept_source = g_socket_create_source(listener, G_IO_IN, nullptr);
  g_source_set_can_recurse(accept_source, TRUE);
  g_source_set_callback(
      accept_source,
      G_SOURCE_FUNC(SUGARCAST_GUARD(+[](GSocket *, GIOCondition, gpointer data) -> gboolean {
        static_cast<Impl *>(data)->accept_ready();
        return G_SOURCE_CONTINUE;
      })),
      this, nullptr);
  g_source_attach(accept_source, context);
}

void Server::Impl::stop_accepting()
{
  for (GSource **source : {&accept_source, &accept_retry})
    if (*source) {
      g_source_destroy(*source);
      g_source_unref(*source);
      *source = nullptr;
    }
  accept_paused = false;
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS...): the connection stays in the
 * kernel's queue, so the listener stays readable and watching it would spin.
 * Stop watching until a connection of ours closes or a timer fires. */
void Server::Impl::pause_accept(const GError *error)
{
  ++accept_failures;
  accept_backoff_ms = accept_backoff_ms ? std::min(accept_backoff_ms * 2, 4000u) : 250u;
  g_warning("rtmp: accept failed (%s): not accepting for %u ms or until a connection closes",
            error->message, accept_backoff_ms);
  const bool listening = listener != nullptr;
  stop_accepting();
  if (!listening)
    return;
  accept_paused = true;
  accept_retry = g_timeout_source_new(accept_backoff_ms);
  g_source_set_callback(accept_retry, SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
                          auto *self = static_cast<Impl *>(data);
                          g_source_unref(self->accept_retry);
                          self->accept_retry = nullptr;
                          self->resume_accept();
                          return G_SOURCE_REMOVE;
                        }),
                        this, nullptr);
  g_source_attach(accept_retry, context);
}

void Server::Impl::resume_accept()
{
  if (accept_retry) {
    g_source_destroy(accept_retry);
    g_source_unref(accept_retry);
    accept_retry = nullptr;
  }
  accept_paused = false;
  if (listener && !accept_source)
    watch_listener();
}

void Server::Impl::accept_ready()
{
  for (;;) {
    g_autoptr(GError) error = nullptr;
    GSocket *client = g_socket_accept(listener, nullptr, &error);
    if (!client) {
      if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        pause_accept(error);
      return;
    }
    accept_backoff_ms = 0;
    g_autoptr(GSocketAddress) remote = g_socket_get_remote_address(client, nullptr);
    std::string address = socket_address_string(remote);
    if (connections.size() >= config.limits.max_connections) {
      g_debug("rtmp: client %s refused: %u connections already open", address.c_str(),
              config.limits.max_connections);
      g_socket_close(client, nullptr);
      g_object_unref(client);
      continue;
    }
    size_t &from_host = per_host[address_host(address)];
    auto c = std::make_shared<Connection>(this, client, std::move(address));
    if (config.limits.max_connections_per_address &&
        from_host >= config.limits.max_connections_per_address) {
      const std::string why = std::to_string(from_host) +
                              " connections from this address are already open (the limit is " +
                              std::to_string(config.limits.max_connections_per_address) + ")";
      g_debug("rtmp: client %s: %s", c->address.c_str(), why.c_str());
      c->protocol.reject_connect(why);
    }
    ++from_host;
    connections[c.get()] = c;
    c->start();
  }
}

Server::Server(ServerConfig config, GMainContext *context) : impl_(std::make_shared<Impl>())
{
  impl_->config = std::move(config);
  impl_->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
  impl_->owner = this;
}

Server::~Server()
{
  stop();
  if (impl_->certificate)
    g_object_unref(impl_->certificate);
  g_main_context_unref(impl_->context);
}

bool Server::start(GError **error)
{
  Impl &s = *impl_;
  if (s.listener)
    return true;
  if (!s.config.tls_certificate.empty() || !s.config.tls_key.empty()) {
    if (s.config.tls_certificate.empty() || s.config.tls_key.empty()) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "RTMPS needs both a certificate and a key (PEM files)");
      return false;
    }
    s.certificate = g_tls_certificate_new_from_files(s.config.tls_certificate.c_str(),
                                                     s.config.tls_key.c_str(), error);
    if (!s.certificate) {
      g_prefix_error(error, "cannot load the TLS certificate %s and key %s: ",
                     s.config.tls_certificate.c_str(), s.config.tls_key.c_str());
      return false;
    }
  }
  g_autoptr(GInetAddress) ip = g_inet_address_new_from_string(s.config.address.c_str());
  if (!ip) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "address '%s' is not an IP address (e.g. 0.0.0.0, 127.0.0.1, ::)",
                s.config.address.c_str());
    return false;
  }
  g_autoptr(GSocketAddress) where = g_inet_socket_address_new(ip, s.config.port);
  g_autoptr(GSocket) sock = g_socket_new(g_inet_address_get_family(ip), G_SOCKET_TYPE_STREAM,
                                         G_SOCKET_PROTOCOL_TCP, error);
  if (!sock)
    return false;
  g_socket_set_blocking(sock, FALSE);
  g_socket_set_listen_backlog(sock, 128);
  if (!g_socket_bind(sock, where, TRUE, error) || !g_socket_listen(sock, error)) {
    g_prefix_error(error, "cannot listen on %s port %u: ", s.config.address.c_str(), s.config.port);
    return false;
  }
  s.listener = G_SOCKET(g_steal_pointer(&sock));
  s.watch_listener();
  return true;
}

void Server::stop()
{
  Impl &s = *impl_;
  s.stop_accepting();
  if (s.listener) {
    g_socket_close(s.listener, nullptr);
    g_object_unref(s.listener);
    s.listener = nullptr;
  }
  while (!s.connections.empty()) {
    auto c = s.connections.begin()->second;
    c->close("the server is shutting down");
  }
}

void Server::drain(unsigned grace_ms)
{
  Impl &s = *impl_;
  s.stop_accepting();
  std::vector<std::shared_ptr<Connection>> open;
  for (auto &[raw, c] : s.connections)
    open.push_back(c);
  for (auto &c : open)
    if (c->phase != Connection::Phase::Lingering)
      c->close("the server is shutting down");
  open.clear();
  const gint64 deadline = g_get_monotonic_time() + gint64(grace_ms) * 1000;
  while (!s.connections.empty() && g_get_monotonic_time() < deadline) {
    GSource *tick = g_timeout_source_new(20);
    g_source_set_callback(tick, SUGARCAST_GUARD(+[](gpointer) { return G_SOURCE_REMOVE; }), nullptr,
                          nullptr);
    g_source_attach(tick, s.context);
    g_main_context_iteration(s.context, TRUE);
    g_source_destroy(tick);
    g_source_unref(tick);
  }
  stop();
}

uint16_t Server::port() const
{
  if (!impl_->listener)
    return impl_->config.port;
  g_autoptr(GSocketAddress) local = g_socket_get_local_address(impl_->listener, nullptr);
  return local ? g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local)) : 0;
}

const ServerConfig &Server::config() const
{
  return impl_->config;
}

size_t Server::connection_count() const
{
  return impl_->connections.size();
}

size_t Server::connection_count(const std::string &host) const
{
  auto found = impl_->per_host.find(host);
  return found == impl_->per_host.end() ? 0 : found->second;
}

bool Server::accepting() const
{
  return impl_->listener && !impl_->accept_paused;
}

uint64_t Server::accept_failures() const
{
  return impl_->accept_failures;
}

bool Server::is_publishing(const std::string &app, const std::string &stream) const
{
  return impl_->publishing.count(app + "/" + stream) > 0;
}

} // namespace sugarcast::rtmp
