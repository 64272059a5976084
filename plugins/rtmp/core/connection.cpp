/* Sugarcast RTMP — one publisher's connection: TLS, reading and writing
 * its socket, the protocol, deadlines, the publish and its answer
 * (PublishRequest), lingering and closing. */
#define G_LOG_DOMAIN "sugarcast-rtmp"
#include "guard.h"
#include "server-private.h"

#include <utility>

namespace sugarcast::rtmp {

void Connection::start()
{
  g_socket_set_blocking(socket, FALSE);
  g_autoptr(GSocketConnection) base = g_socket_connection_factory_create_connection(socket);
  timer =
      g_timeout_source_new(std::max(50u, std::min({server->config.limits.handshake_timeout_ms,
                                                   server->config.limits.idle_timeout_ms, 4000u}) /
                                             4));
  g_source_set_callback(timer, SUGARCAST_GUARD(+[](gpointer self) {
                          return static_cast<Connection *>(self)->on_timer();
                        }),
                        this, nullptr);
  g_source_attach(timer, server->context);

  protocol.on_publish = [this](const PublishInfo &info) { on_publish(info); };
  protocol.on_media = [this](Message &&m) {
    last_activity = now_ms();
    if (channel && session_allowed && channel->push(std::move(m)))
      reading_paused = true;
  };
  protocol.on_unpublish = [this] { end_session("the publisher stopped publishing"); };

  if (!server->certificate) {
    stream = G_IO_STREAM(g_object_ref(base));
    start_io();
    return;
  }
  g_autoptr(GError) error = nullptr;
  GIOStream *tls = g_tls_server_connection_new(G_IO_STREAM(base), server->certificate, &error);
  if (!tls) {
    close(std::string("cannot start TLS: ") + error->message);
    return;
  }
  stream = tls;
  phase = Phase::Tls;
  g_main_context_push_thread_default(server->context);
  g_tls_connection_handshake_async(
      G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT, cancellable,
      SUGARCAST_GUARD(+[](GObject *source, GAsyncResult *result, gpointer data) {
        auto *weak = static_cast<std::weak_ptr<Connection> *>(data);
        std::shared_ptr<Connection> self = weak->lock();
        delete weak;
        g_autoptr(GError) error = nullptr;
        const gboolean ok =
            g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), result, &error);
        if (!self || self->phase != Phase::Tls)
          return;
        if (!ok) {
          self->close(std::string("TLS handshake failed: ") + error->message);
          return;
        }
        self->phase = Phase::Running;
        self->start_io();
      }),
      new std::weak_ptr<Connection>(shared_from_this()));
  g_main_context_pop_thread_default(server->context);
}

void Connection::start_io()
{
  in = G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(stream));
  out = G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stream));
  attach_read();
}

void Connection::attach_read()
{
  if (read_source || phase == Phase::Closed)
    return;
  /* Plain TCP watches the socket itself; TLS needs the pollable stream (it
   * may hold decrypted bytes the socket no longer signals). */
  if (server->certificate)
    read_source = g_pollable_input_stream_create_source(in, nullptr);
  else
    read_source = g_socket_create_source(socket, G_IO_IN, nullptr);
  /* GLib blocks a dispatched source by taking its fd out of the poll set and
   * putting it back afterwards, which wakes the context (an eventfd write,
   * a read and an extra poll) on every dispatch. We never iterate the
   * context from inside a callback, so let it "recurse" and skip all that. */
  g_source_set_can_recurse(read_source, TRUE);
  if (server->certificate)
    g_source_set_callback(read_source,
                          G_SOURCE_FUNC(SUGARCAST_GUARD(+[](GObject *, gpointer self) -> gboolean {
                            return static_cast<Connection *>(self)->on_readable();
                          })),
                          this, nullptr);
  else
    g_source_set_callback(
        read_source,
        G_SOURCE_FUNC(SUGARCAST_GUARD(+[](GSocket *, GIOCondition, gpointer self) -> gboolean {
          return static_cast<Connection *>(self)->on_readable();
        })),
        this, nullptr);
  g_source_attach(read_source, server->context);
}

gboolean Connection::on_readable()
{
  auto keep = shared_from_this();
  uint8_t buf[65536];
  for (int round = 0; round < 8; ++round) {
    g_autoptr(GError) error = nullptr;
    const gssize n =
        server->certificate
            ? g_pollable_input_stream_read_nonblocking(in, buf, sizeof buf, nullptr, &error)
            : g_socket_receive(socket, reinterpret_cast<gchar *>(buf), sizeof buf, nullptr, &error);
    if (n < 0) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return G_SOURCE_CONTINUE;
      close(phase == Phase::Lingering ? linger_reason
                                      : std::string("read failed: ") + error->message);
      return G_SOURCE_REMOVE;
    }
    if (n == 0) {
      if (phase == Phase::Lingering)
        close(linger_reason);
      else if (protocol.publishing())
        close("the publisher disconnected without unpublishing");
      else
        close("the client closed the connection");
      return G_SOURCE_REMOVE;
    }
    if (phase == Phase::Lingering)
      continue; /* the answer is on its way; what the client still sends is dropped */
    const bool was_handshaking = !protocol.handshake_done();
    const bool ok = protocol.feed(buf, static_cast<size_t>(n), wbuf);
    if (was_handshaking && protocol.handshake_done())
      last_activity = now_ms();
    flush();
    if (phase == Phase::Closed)
      return G_SOURCE_REMOVE;
    if (!ok || protocol.ended()) {
      if (phase == Phase::Lingering)
        return G_SOURCE_CONTINUE;
      if (protocol.error().empty())
        linger("the publisher stopped publishing", false); /* it hangs up itself */
      else if (wpos < wbuf.size() || protocol.awaiting_answer() || !ok)
        linger(protocol.error(), true); /* an answer (an error status) may be on its way */
      return phase == Phase::Closed ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
    }
    if (reading_paused) {
      destroy_source(read_source);
      return G_SOURCE_REMOVE;
    }
    if (static_cast<size_t>(n) < sizeof buf)
      break; /* drained: skip the read that would only say EAGAIN */
  }
  return G_SOURCE_CONTINUE;
}

void Connection::flush()
{
  while (wpos < wbuf.size()) {
    g_autoptr(GError) error = nullptr;
    const gssize n = g_pollable_output_stream_write_nonblocking(
        out, wbuf.data() + wpos, wbuf.size() - wpos, nullptr, &error);
    if (n < 0) {
      if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        if (wbuf.size() - wpos > 1024 * 1024) {
          close("the client does not read what the server sends");
          return;
        }
        if (!write_source) {
          write_source = g_pollable_output_stream_create_source(out, nullptr);
          g_source_set_can_recurse(write_source, TRUE);
          g_source_set_callback(
              write_source,
              G_SOURCE_FUNC(SUGARCAST_GUARD(+[](GObject *, gpointer self) -> gboolean {
                return static_cast<Connection *>(self)->on_writable();
              })),
              this, nullptr);
          g_source_attach(write_source, server->context);
        }
        return;
      }
      close(phase == Phase::Lingering ? linger_reason
                                      : std::string("write failed: ") + error->message);
      return;
    }
    wpos += static_cast<size_t>(n);
  }
  wbuf.clear();
  wpos = 0;
  destroy_source(write_source);
  if (phase == Phase::Lingering && shut_after_flush) {
    shut_after_flush = false;
    /* The client has the answer: EOF tells it there is nothing more. On TLS
     * the raw socket cannot be shut without breaking the record layer. */
    if (!server->certificate)
      g_socket_shutdown(socket, FALSE, TRUE, nullptr);
  }
}

gboolean Connection::on_writable()
{
  auto keep = shared_from_this();
  destroy_source(write_source);
  flush();
  return G_SOURCE_REMOVE;
}

gboolean Connection::on_timer()
{
  auto keep = shared_from_this();
  const gint64 now = now_ms();
  const ServerLimits &limits = server->config.limits;
  if (phase == Phase::Lingering) {
    if (now >= linger_deadline)
      close(linger_reason);
  } else if (phase == Phase::Tls || !protocol.handshake_done()) {
    if (now - accepted_at >= limits.handshake_timeout_ms)
      close("no " + std::string(phase == Phase::Tls ? "TLS" : "RTMP") + " handshake within " +
            std::to_string(limits.handshake_timeout_ms) + " ms");
  } else if (reading_paused) {
    last_activity = now; /* the consumer is slow, not the publisher */
  } else if (now - last_activity >= limits.idle_timeout_ms) {
    close(std::string(protocol.publishing() ? "no media" : "no publish") + " for " +
          std::to_string(limits.idle_timeout_ms) + " ms: the publisher is gone");
  }
  return phase == Phase::Closed ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

void Connection::linger(const std::string &reason, bool answered)
{
  g_debug("rtmp: %s: ending: %s", who().c_str(), reason.c_str());
  end_session(reason);
  if (answered && wbuf.size() == wpos && !protocol.handshake_done()) {
    close(reason); /* nothing to tell a client that never spoke RTMP */
    return;
  }
  phase = Phase::Lingering;
  linger_reason = reason;
  linger_deadline = now_ms() + 2000;
  shut_after_flush = answered;
  attach_read();
  flush();
}

void Connection::end_session(const std::string &reason)
{
  if (!publish_key.empty()) {
    server->publishing.erase(publish_key);
    publish_key.clear();
  }
  if (channel)
    channel->end(reason);
  if (request) {
    std::lock_guard<std::mutex> guard(request->lock);
    request->answered = true; /* too late to answer now */
  }
  if (session_allowed && !session_ended) {
    session_ended = true;
    if (server->owner->on_session_end)
      server->owner->on_session_end(session, reason);
  }
}

void Connection::close(const std::string &reason)
{
  if (phase == Phase::Closed)
    return;
  auto keep = shared_from_this();
  end_session(reason);
  phase = Phase::Closed;
  destroy_source(read_source);
  destroy_source(write_source);
  destroy_source(timer);
  destroy_source(refusal_timer);
  g_cancellable_cancel(cancellable);
  g_socket_close(socket, nullptr);
  g_debug("rtmp: %s: closed: %s", who().c_str(), reason.c_str());
  server->remove(this);
}

void Connection::on_publish(const PublishInfo &info)
{
  const std::string key = info.app + "/" + info.stream;
  if (server->publishing.count(key)) {
    std::vector<uint8_t> &w = wbuf;
    protocol.refuse_publish(
        RefuseCode::BadName,
        "Stream " + info.app + "/" + redact(info.stream) + " is already being published", w);
    return;
  }
  publish_key = key;
  server->publishing[key] = this;

  channel = std::make_shared<SessionChannel>();
  channel->info = info;
  channel->max_bytes = server->config.limits.max_queued_bytes;
  session = SUGARCAST_RTMP_SESSION(g_object_new(SUGARCAST_TYPE_RTMP_SESSION, nullptr));
  *session->channel = channel;
  /* The consumer may call these after the server is gone: keep the context. */
  std::shared_ptr<GMainContext> context(g_main_context_ref(server->context), g_main_context_unref);
  std::weak_ptr<Connection> weak = shared_from_this();
  channel->resume_reading = [context, weak] {
    run_on(context.get(), [weak] {
      if (auto self = weak.lock()) {
        self->reading_paused = false;
        if (self->phase == Phase::Running)
          self->attach_read();
      }
    });
  };
  channel->request_close = [context, weak] {
    run_on(context.get(), [weak] {
      if (auto self = weak.lock())
        self->close("closed by the application");
    });
  };

  request = std::make_shared<PublishRequest::Shared>();
  request->context = g_main_context_ref(server->context);
  request->connection = weak;
  request->session = SUGARCAST_RTMP_SESSION(g_object_ref(session));
  std::shared_ptr<PublishRequest> handle(new PublishRequest());
  handle->shared_ = request;
  handle->info_ = info;

  g_debug("rtmp: %s: publish %s/%s from %s", who().c_str(), info.app.c_str(),
          redact(info.stream).c_str(), info.encoder.c_str());
  if (server->owner->on_publish)
    server->owner->on_publish(std::move(handle));
  else
    handle->allow();
}

void Connection::answer_allow()
{
  if (phase == Phase::Closed || phase == Phase::Lingering || !protocol.awaiting_answer())
    return;
  server->throttle.success(address_host(address));
  session_allowed = true;
  last_activity = now_ms();
  protocol.accept_publish(wbuf);
  flush();
}

void Connection::answer_refuse(const std::string &reason, RefuseCode code, bool throttle)
{
  if (phase == Phase::Closed || phase == Phase::Lingering || !protocol.awaiting_answer())
    return;
  pending_refusal = reason;
  pending_code = code;
  const auto delay =
      throttle ? server->throttle.failure(address_host(address)) : std::chrono::milliseconds(0);
  if (delay.count() == 0) {
    send_refusal();
    return;
  }
  g_debug("rtmp: %s: refusal delayed by %lld ms after repeated failures", who().c_str(),
          static_cast<long long>(delay.count()));
  refusal_timer = g_timeout_source_new(static_cast<guint>(delay.count()));
  g_source_set_callback(refusal_timer, SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
                          auto *self = static_cast<Connection *>(data);
                          auto keep = self->shared_from_this();
                          g_source_unref(self->refusal_timer);
                          self->refusal_timer = nullptr;
                          self->send_refusal();
                          return G_SOURCE_REMOVE;
                        }),
                        this, nullptr);
  g_source_attach(refusal_timer, server->context);
}

void Connection::send_refusal()
{
  if (phase != Phase::Running || !protocol.awaiting_answer())
    return;
  protocol.refuse_publish(pending_code, pending_refusal, wbuf);
  linger("publish refused: " + pending_refusal, true);
}

PublishRequest::~PublishRequest()
{
  if (!answered())
    refuse("the server did not answer the publish");
}

bool PublishRequest::answered() const
{
  std::lock_guard<std::mutex> guard(shared_->lock);
  return shared_->answered;
}

SugarcastRtmpSession *PublishRequest::allow()
{
  {
    std::lock_guard<std::mutex> guard(shared_->lock);
    if (shared_->answered)
      return nullptr;
    shared_->answered = true;
  }
  if (sugarcast_rtmp_session_is_ended(shared_->session))
    return nullptr;
  std::weak_ptr<Connection> weak = shared_->connection;
  run_on(shared_->context, [weak] {
    if (auto c = weak.lock())
      c->answer_allow();
  });
  return SUGARCAST_RTMP_SESSION(g_object_ref(shared_->session));
}

void PublishRequest::refuse(const std::string &reason, RefuseCode code)
{
  {
    std::lock_guard<std::mutex> guard(shared_->lock);
    if (shared_->answered)
      return;
    shared_->answered = true;
  }
  std::weak_ptr<Connection> weak = shared_->connection;
  run_on(shared_->context, [weak, reason, code] {
    if (auto c = weak.lock())
      c->answer_refuse(reason, code, code == RefuseCode::Denied);
  });
}

} // namespace sugarcast::rtmp
