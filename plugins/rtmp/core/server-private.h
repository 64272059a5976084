/* Sugarcast RTMP — what the server's files share: the connection, the
 * server's state and the publish request's shared half. Private to
 * rtmpserver.cpp (listening, accepting), connection.cpp (one publisher's
 * socket, its protocol and its answer) and rtmpsession.cpp. */
#pragma once

#include "auth.h"
#include "rtmpserver.h"
#include "session-channel.h"

#include <glib.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sugarcast::rtmp {

/* Runs fn on context: now when the caller owns it, else from an idle source. */
void run_on(GMainContext *context, std::function<void()> fn);

inline gint64 now_ms()
{
  return g_get_monotonic_time() / 1000;
}

struct Connection;

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

} // namespace sugarcast::rtmp
