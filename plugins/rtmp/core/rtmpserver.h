/* Sugarcast RTMP — the server: one listener, many publishers.
 *
 * An application (sugarcastd) runs one Server on its GMainContext:
 *
 *   sugarcast::rtmp::ServerConfig config;        // 0.0.0.0:1935, limits
 *   auto server = std::make_unique<sugarcast::rtmp::Server>(config, context);
 *   server->on_publish = [](std::shared_ptr<sugarcast::rtmp::PublishRequest> request) {
 *     // request->info(): app, stream, args, client_address, encoder, tc_url.
 *     // Answer now or later, from any thread, exactly once:
 *     //   g_autoptr(SugarcastRtmpSession) session = request->allow();
 *     //   g_object_set(rtmpserversrc, "session", session, NULL);
 *     // or request->refuse("unknown stream key");
 *   };
 *   server->on_session_end = [](SugarcastRtmpSession *session, const std::string &reason) {};
 *   if (!server->start(&error)) ...
 *
 * Callbacks run on the server's context. The Server must be created, started
 * and destroyed on the thread that runs that context (or while no thread
 * runs it). Destroying it closes every connection; sessions already handed
 * out end (their consumers see the end of the stream).
 *
 * A SugarcastRtmpSession is one accepted publish: a GObject whose reference
 * the application hands to `rtmpserversrc` through its `session` property.
 * The element pulls the publisher's audio, video and metadata messages from
 * it and outputs FLV. Its read-only properties describe the publish (app,
 * stream, query, client-address, encoder, tc-url) and `ended`, `end-reason`
 * tell whether and why the publisher has gone.
 */
#pragma once

#include "protocol.h"

#include <gio/gio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

G_BEGIN_DECLS

#define SUGARCAST_TYPE_RTMP_SESSION (sugarcast_rtmp_session_get_type())
G_DECLARE_FINAL_TYPE(SugarcastRtmpSession, sugarcast_rtmp_session, SUGARCAST, RTMP_SESSION, GObject)

const gchar *sugarcast_rtmp_session_get_app(SugarcastRtmpSession *session);
const gchar *sugarcast_rtmp_session_get_stream(SugarcastRtmpSession *session);
const gchar *sugarcast_rtmp_session_get_client_address(SugarcastRtmpSession *session);
const gchar *sugarcast_rtmp_session_get_encoder(SugarcastRtmpSession *session);
/* TRUE once the publisher has stopped or vanished; queued media may remain. */
gboolean sugarcast_rtmp_session_is_ended(SugarcastRtmpSession *session);
/* Disconnects the publisher (e.g. a ban); the consumer then sees the end. */
void sugarcast_rtmp_session_close(SugarcastRtmpSession *session);

G_END_DECLS

namespace sugarcast::rtmp {

struct ServerLimits
{
  unsigned handshake_timeout_ms = 10000; /* accept to the end of the RTMP (and TLS) handshake */
  unsigned idle_timeout_ms = 15000;      /* without audio or video (or, before that, a publish) */
  uint32_t max_chunk_size = 16 * 1024 * 1024;
  uint32_t max_message_size = 0xffffff; /* 16 MiB, the most a chunk header can say */
  /* Connections open at once; a newcomer beyond it is closed at accept,
   * before the handshake, so it costs no more than the accept. */
  unsigned max_connections = 1000;
  /* Connections open at once from one IP address (0: no limit); a newcomer
   * beyond it completes the handshake and its connect is answered
   * NetConnection.Connect.Rejected, so its encoder says why. */
  unsigned max_connections_per_address = 10;
  /* Media queued for a slow consumer before the server stops reading the
   * publisher's socket (TCP then pushes back on the encoder). */
  size_t max_queued_bytes = 64 * 1024 * 1024;
};

struct ServerConfig
{
  std::string address = "0.0.0.0";
  uint16_t port = 1935; /* 0 picks a free port; port() tells which */
  /* PEM files; both set makes the server speak RTMPS (TLS) only. */
  std::string tls_certificate;
  std::string tls_key;
  ServerLimits limits;
};

class Server;
struct Connection;

/* One publish waiting for the application's answer. Answer exactly once,
 * from any thread; dropping the last reference unanswered refuses it. */
class PublishRequest
{
public:
  ~PublishRequest();
  PublishRequest(const PublishRequest &) = delete;
  PublishRequest &operator=(const PublishRequest &) = delete;

  const PublishInfo &info() const { return info_; }
  /* The publisher gets NetStream.Publish.Start. Returns a new reference to
   * the session to hand to rtmpserversrc, or nullptr when the publisher has
   * gone meanwhile (or the request was already answered). */
  SugarcastRtmpSession *allow();
  /* The publisher gets an onStatus error with reason as its description
   * (its encoder shows it) and is disconnected. Refusals to an address that
   * keeps failing are delayed (see FailureThrottle). */
  void refuse(const std::string &reason, RefuseCode code = RefuseCode::Denied);
  bool answered() const;

private:
  friend struct Connection;
  PublishRequest() = default;
  struct Shared;
  std::shared_ptr<Shared> shared_;
  PublishInfo info_;
};

class Server
{
public:
  std::function<void(std::shared_ptr<PublishRequest>)> on_publish;
  /* An allowed session ended: the publisher stopped, vanished (idle timeout,
   * reset), or was closed. Not called for refused publishes. */
  std::function<void(SugarcastRtmpSession *, const std::string &reason)> on_session_end;

  /* context: where sockets, timers and callbacks run; nullptr means the
   * thread-default context of the calling thread. */
  explicit Server(ServerConfig config, GMainContext *context = nullptr);
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  /* Binds, loads the TLS certificate if any, starts accepting. */
  bool start(GError **error);
  /* Stops accepting and closes every connection. */
  void stop();
  /* Stops accepting, then gives connections whose publish has ended up to
   * grace_ms to be closed by their client (some encoders report an error
   * when the server hangs up first), then stop()s. Iterates the server's
   * context: call it from the thread that runs it, with nobody else running it. */
  void drain(unsigned grace_ms);
  uint16_t port() const;
  const ServerConfig &config() const;
  size_t connection_count() const;
  /* Connections open from host ("127.0.0.1", "::1"). */
  size_t connection_count(const std::string &host) const;
  /* False while accepting is paused after accept() failed (EMFILE: no file
   * descriptor left). It resumes when a connection closes, and otherwise
   * retries after 250 ms, doubling to 4 s — it never spins. */
  bool accepting() const;
  /* How many times accept() failed with something else than "try again". */
  uint64_t accept_failures() const;
  /* Whether app/stream has an allowed or pending publish right now. */
  bool is_publishing(const std::string &app, const std::string &stream) const;

private:
  friend struct Connection;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/* What a consumer (rtmpserversrc) does with a session; thread-safe. */
enum class PopResult { Message, Empty, Ended };
PopResult session_pop(SugarcastRtmpSession *session, Message &out);
/* notify runs (on the server's thread) whenever a message arrives or the
 * session ends. Set nullptr before the consumer goes away: when this returns
 * no call to the old function is running. */
void session_set_notify(SugarcastRtmpSession *session, std::function<void()> notify);
const PublishInfo &session_info(SugarcastRtmpSession *session);
std::string session_end_reason(SugarcastRtmpSession *session);

} // namespace sugarcast::rtmp
