/* Sugarcast RTMP — the server: one listener, many publishers. */
#define G_LOG_DOMAIN "sugarcast-rtmp"
#include "rtmpserver.h"
#include "guard.h"

#include "auth.h"

#include <deque>
#include <map>
#include <mutex>
#include <utility>

namespace sugarcast::rtmp {

namespace {

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

gint64 now_ms()
{
  return g_get_monotonic_time() / 1000;
}

} // namespace

/* The queue between a publisher's connection and its consumer. */
struct SessionChannel
{
  PublishInfo info;
  size_t max_bytes = 0;

  std::mutex lock;
  std::deque<Message> queue;
  size_t queued_bytes = 0;
  bool ended = false;
  bool reading_paused = false;
  std::string end_reason;

  std::mutex notify_lock;
  std::function<void()> notify;

  /* Set by the connection once; safe to call from any thread. */
  std::function<void()> resume_reading;
  std::function<void()> request_close;

  /* Returns true when the producer should stop reading for now. */
  bool push(Message &&m)
  {
    bool pause = false;
    {
      std::lock_guard<std::mutex> guard(lock);
      if (ended)
        return false;
      queued_bytes += m.payload.size();
      queue.push_back(std::move(m));
      if (queued_bytes > max_bytes) {
        reading_paused = true;
        pause = true;
      }
    }
    call_notify();
    return pause;
  }

  PopResult pop(Message &out)
  {
    bool resume = false;
    {
      std::lock_guard<std::mutex> guard(lock);
      if (queue.empty())
        return ended ? PopResult::Ended : PopResult::Empty;
      out = std::move(queue.front());
      queue.pop_front();
      queued_bytes -= out.payload.size();
      if (reading_paused && queued_bytes <= max_bytes / 2) {
        reading_paused = false;
        resume = true;
      }
    }
    if (resume && resume_reading)
      resume_reading();
    return PopResult::Message;
  }

  void end(const std::string &reason)
  {
    {
      std::lock_guard<std::mutex> guard(lock);
      if (ended)
        return;
      ended = true;
      end_reason = reason;
    }
    call_notify();
  }

  void call_notify()
  {
    std::lock_guard<std::mutex> guard(notify_lock);
    if (notify)
      notify();
  }
};

} // namespace sugarcast::rtmp

using sugarcast::rtmp::SessionChannel;

struct _SugarcastRtmpSession
{
  GObject parent;
  std::shared_ptr<SessionChannel> *channel;
};

G_DEFINE_TYPE(SugarcastRtmpSession, sugarcast_rtmp_session, G_TYPE_OBJECT)

enum {
  SESSION_PROP_0,
  SESSION_PROP_APP,
  SESSION_PROP_STREAM,
  SESSION_PROP_QUERY,
  SESSION_PROP_CLIENT_ADDRESS,
  SESSION_PROP_ENCODER,
  SESSION_PROP_TC_URL,
  SESSION_PROP_ENDED,
  SESSION_PROP_END_REASON,
};

static void sugarcast_rtmp_session_get_property(GObject *object, guint prop_id, GValue *value,
                                                GParamSpec *pspec)
{
  SessionChannel &c = **SUGARCAST_RTMP_SESSION(object)->channel;
  switch (prop_id) {
  case SESSION_PROP_APP:
    g_value_set_string(value, c.info.app.c_str());
    break;
  case SESSION_PROP_STREAM:
    g_value_set_string(value, c.info.stream.c_str());
    break;
  case SESSION_PROP_QUERY:
    g_value_set_string(value, c.info.query.c_str());
    break;
  case SESSION_PROP_CLIENT_ADDRESS:
    g_value_set_string(value, c.info.client_address.c_str());
    break;
  case SESSION_PROP_ENCODER:
    g_value_set_string(value, c.info.encoder.c_str());
    break;
  case SESSION_PROP_TC_URL:
    g_value_set_string(value, c.info.tc_url.c_str());
    break;
  case SESSION_PROP_ENDED: {
    std::lock_guard<std::mutex> guard(c.lock);
    g_value_set_boolean(value, c.ended);
    break;
  }
  case SESSION_PROP_END_REASON: {
    std::lock_guard<std::mutex> guard(c.lock);
    g_value_set_string(value, c.end_reason.c_str());
    break;
  }
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_rtmp_session_finalize(GObject *object)
{
  delete SUGARCAST_RTMP_SESSION(object)->channel;
  G_OBJECT_CLASS(sugarcast_rtmp_session_parent_class)->finalize(object);
}

static void sugarcast_rtmp_session_class_init(SugarcastRtmpSessionClass *klass)
{
  auto *object_class = G_OBJECT_CLASS(klass);
  object_class->get_property = SUGARCAST_GUARD(sugarcast_rtmp_session_get_property);
  object_class->finalize = SUGARCAST_GUARD(sugarcast_rtmp_session_finalize);
  const auto flags = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  struct
  {
    guint id;
    const char *name;
    const char *blurb;
  } strings[] = {
      {SESSION_PROP_APP, "app", "The application of the publish URL (rtmp://HOST/APP/STREAM)"},
      {SESSION_PROP_STREAM, "stream", "The stream name (the stream key), without the query"},
      {SESSION_PROP_QUERY, "query", "What followed '?' in the stream name"},
      {SESSION_PROP_CLIENT_ADDRESS, "client-address", "The publisher's IP address and port"},
      {SESSION_PROP_ENCODER, "encoder", "The encoder, from connect's flashVer"},
      {SESSION_PROP_TC_URL, "tc-url", "The URL the publisher connected to (tcUrl)"},
      {SESSION_PROP_END_REASON, "end-reason", "Why the publish ended; empty while it goes on"},
  };
  for (const auto &s : strings)
    g_object_class_install_property(object_class, s.id,
                                    g_param_spec_string(s.name, s.name, s.blurb, "", flags));
  g_object_class_install_property(object_class, SESSION_PROP_ENDED,
                                  g_param_spec_boolean("ended", "Ended",
                                                       "Whether the publisher has stopped or gone",
                                                       FALSE, flags));
}

static void sugarcast_rtmp_session_init(SugarcastRtmpSession *self)
{
  self->channel = new std::shared_ptr<SessionChannel>(std::make_shared<SessionChannel>());
}

const gchar *sugarcast_rtmp_session_get_app(SugarcastRtmpSession *session)
{
  g_return_val_if_fail(SUGARCAST_IS_RTMP_SESSION(session), nullptr);
  return (*session->channel)->info.app.c_str();
}

const gchar *sugarcast_rtmp_session_get_stream(SugarcastRtmpSession *session)
{
  g_return_val_if_fail(SUGARCAST_IS_RTMP_SESSION(session), nullptr);
  return (*session->channel)->info.stream.c_str();
}

const gchar *sugarcast_rtmp_session_get_client_address(SugarcastRtmpSession *session)
{
  g_return_val_if_fail(SUGARCAST_IS_RTMP_SESSION(session), nullptr);
  return (*session->channel)->info.client_address.c_str();
}

const gchar *sugarcast_rtmp_session_get_encoder(SugarcastRtmpSession *session)
{
  g_return_val_if_fail(SUGARCAST_IS_RTMP_SESSION(session), nullptr);
  return (*session->channel)->info.encoder.c_str();
}

gboolean sugarcast_rtmp_session_is_ended(SugarcastRtmpSession *session)
{
  g_return_val_if_fail(SUGARCAST_IS_RTMP_SESSION(session), TRUE);
  SessionChannel &c = **session->channel;
  std::lock_guard<std::mutex> guard(c.lock);
  return c.ended;
}

void sugarcast_rtmp_session_close(SugarcastRtmpSession *session)
{
  g_return_if_fail(SUGARCAST_IS_RTMP_SESSION(session));
  SessionChannel &c = **session->channel;
  if (c.request_close)
    c.request_close();
}

namespace sugarcast::rtmp {

PopResult session_pop(SugarcastRtmpSession *session, Message &out)
{
  return (*session->channel)->pop(out);
}

void session_set_notify(SugarcastRtmpSession *session, std::function<void()> notify)
{
  SessionChannel &c = **session->channel;
  std::lock_guard<std::mutex> guard(c.notify_lock);
  c.notify = std::move(notify);
}

const PublishInfo &session_info(SugarcastRtmpSession *session)
{
  return (*session->channel)->info;
}

std::string session_end_reason(SugarcastRtmpSession *session)
{
  SessionChannel &c = **session->channel;
  std::lock_guard<std::mutex> guard(c.lock);
  return c.end_reason;
}

struct PublishRequest::Shared
{
  std::mutex lock;
  bool answered = false;
  GMainContext *context = nullptr;
  std::weak_ptr<Connection> connection;
  SugarcastRtmpSession *session = nullptr;
  ~Shared()
  {
    if (session)
      g_object_unref(session);
    if (context)
      g_main_context_unref(context);
  }
};

struct Server::Impl
{
  ServerConfig config;
  GMainContext *context = nullptr;
  Server *owner = nullptr;
  GSocket *listener = nullptr;
  GSource *accept_source = nullptr;
  GTlsCertificate *certificate = nullptr;
  std::map<Connection *, std::shared_ptr<Connection>> connections;
  std::map<std::string, Connection *> publishing; /* "app/stream" → connection */
  std::map<std::string, size_t> per_host;         /* open connections by IP address */
  FailureThrottle throttle;
  bool accept_paused = false;
  GSource *accept_retry = nullptr;
  unsigned accept_backoff_ms = 0;
  uint64_t accept_failures = 0;

  void accept_ready();
  void watch_listener();
  void pause_accept(const GError *error);
  void resume_accept();
  void stop_accepting();
  void remove(Connection *c);
};

struct Connection : std::enable_shared_from_this<Connection>
{
  enum class Phase { Tls, Running, Lingering, Closed };

  Server::Impl *server;
  std::string address;
  GSocket *socket = nullptr;
  GIOStream *stream = nullptr;
  GPollableInputStream *in = nullptr;
  GPollableOutputStream *out = nullptr;
  GCancellable *cancellable = g_cancellable_new();
  GSource *read_source = nullptr;
  GSource *write_source = nullptr;
  GSource *timer = nullptr;
  GSource *refusal_timer = nullptr;
  Phase phase = Phase::Running;
  ServerProtocol protocol;
  std::vector<uint8_t> wbuf;
  size_t wpos = 0;
  gint64 accepted_at = now_ms();
  gint64 last_activity = now_ms();
  gint64 linger_deadline = 0;
  std::string linger_reason;
  bool reading_paused = false;
  bool shut_after_flush = false;

  std::string publish_key; /* registered in server->publishing */
  std::shared_ptr<PublishRequest::Shared> request;
  SugarcastRtmpSession *session = nullptr;
  std::shared_ptr<SessionChannel> channel;
  bool session_allowed = false;
  bool session_ended = false;
  std::string pending_refusal;
  RefuseCode pending_code = RefuseCode::Denied;

  Connection(Server::Impl *s, GSocket *sock, std::string addr)
      : server(s), address(std::move(addr)), socket(sock),
        protocol(ChunkLimits{s->config.limits.max_chunk_size, s->config.limits.max_message_size},
                 address)
  {}

  ~Connection()
  {
    destroy_source(read_source);
    destroy_source(write_source);
    destroy_source(timer);
    destroy_source(refusal_timer);
    g_cancellable_cancel(cancellable);
    g_object_unref(cancellable);
    if (stream)
      g_object_unref(stream);
    if (socket)
      g_object_unref(socket);
    if (session)
      g_object_unref(session);
  }

  static void destroy_source(GSource *&source)
  {
    if (source) {
      g_source_destroy(source);
      g_source_unref(source);
      source = nullptr;
    }
  }

  std::string who() const
  {
    std::string s = "client " + address;
    if (!protocol.publish_info().stream.empty())
      s += " (stream " + protocol.publish_info().app + "/" +
           redact(protocol.publish_info().stream) + ")";
    return s;
  }

  void start();
  void start_io();
  void attach_read();
  gboolean on_readable();
  gboolean on_writable();
  gboolean on_timer();
  void flush();
  /* Sends what is queued, then waits (up to 2 s) for the client to hang up.
   * answered: after a refusal or error, also shut our side down once sent. */
  void linger(const std::string &reason, bool answered);
  void close(const std::string &reason);
  void end_session(const std::string &reason);
  void on_publish(const PublishInfo &info);
  void answer_allow();
  void answer_refuse(const std::string &reason, RefuseCode code, bool throttle);
  void send_refusal();
};

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
