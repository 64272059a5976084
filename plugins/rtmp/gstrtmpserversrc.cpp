/* Sugarcast — rtmpserversrc. */
/**
 * SECTION:element-rtmpserversrc
 * @title: rtmpserversrc
 *
 * An RTMP and RTMPS server as a live source: publishers (OBS, FFmpeg,
 * GStreamer's rtmp2sink) push to it and it outputs their audio, video and
 * metadata as one `video/x-flv` byte stream for `flvdemux`.
 *
 * Two modes:
 * - listen: with no #SugarcastRtmpServerSrc:session set when it starts, the
 *   element listens itself on #SugarcastRtmpServerSrc:address and
 *   #SugarcastRtmpServerSrc:port and accepts one publisher at a time, after
 *   authentication (#SugarcastRtmpServerSrc:stream-keys,
 *   #SugarcastRtmpServerSrc:auth-secret, the #SugarcastRtmpServerSrc::authorize signal,
 *   #SugarcastRtmpServerSrc:auth-url; every one configured must allow).
 * - session: an application runs one sugarcast::rtmp::Server for many
 *   publishers, authenticates each itself and hands the accepted
 *   #SugarcastRtmpSession to this element through
 *   #SugarcastRtmpServerSrc:session. The element then opens no port.
 *
 * When the publisher stops or vanishes the element sends EOS. With
 * #SugarcastRtmpServerSrc:loop it waits instead for the next publisher (listen
 * mode) or the next session the application sets (session mode), and goes
 * on with the same FLV stream: no second FLV header, timestamps continuing
 * after the last tag, and before the new publisher's first tag a custom
 * downstream serialized event named `sugarcast-stream-restart` (fields
 * `app`, `stream`) that flvdemux forwards.
 *
 * Element messages: `rtmp-publish-start` and `rtmp-publish-stop` with
 * `app`, `stream`, `client-address`, `encoder`, `tc-url` (and `reason` on
 * stop). A refused publisher gets an onStatus error its encoder shows and
 * the element posts a RESOURCE/NOT_AUTHORIZED warning.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -e rtmpserversrc port=1935 stream-keys=secret ! flvdemux name=d \
 *     d.video ! h264parse ! mp4mux ! filesink location=out.mp4
 * ]|
 * |[
 * gst-launch-1.0 rtmpserversrc address=127.0.0.1 port=1935 stream-keys=a,b ! \
 *     flvdemux ! decodebin ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "gstrtmpserversrc.h"

#include "core/auth.h"
#include "core/flv.h"
#include "core/rtmpserver.h"
#include "streamrestart.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace sugarcast::rtmp;

GST_DEBUG_CATEGORY_STATIC(sugarcast_rtmp_server_src_debug);
#define GST_CAT_DEFAULT sugarcast_rtmp_server_src_debug

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_PORT,
  PROP_TLS_CERTIFICATE,
  PROP_TLS_KEY,
  PROP_STREAM_KEYS,
  PROP_AUTH_SECRET,
  PROP_AUTH_URL,
  PROP_AUTH_TIMEOUT,
  PROP_LOOP,
  PROP_SESSION,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_IDLE_TIMEOUT,
  PROP_MAX_CONNECTIONS,
  PROP_MAX_CONNECTIONS_PER_ADDRESS,
  PROP_MAX_CHUNK_SIZE,
  PROP_MAX_MESSAGE_SIZE,
};

enum {
  SIGNAL_AUTHORIZE,
  LAST_SIGNAL,
};
static guint signals[LAST_SIGNAL];

#define DEFAULT_ADDRESS "0.0.0.0"
#define DEFAULT_PORT 1935
#define DEFAULT_AUTH_TIMEOUT 5

static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("video/x-flv"));

namespace {

struct Settings
{
  std::string address = DEFAULT_ADDRESS;
  int port = DEFAULT_PORT;
  std::string tls_certificate;
  std::string tls_key;
  std::string stream_keys_text;
  std::vector<std::string> stream_keys;
  std::string auth_secret;
  std::string auth_url;
  guint auth_timeout = DEFAULT_AUTH_TIMEOUT;
  bool loop = false;
  ServerLimits limits;
};

/* The streaming thread waits on this for data, a new session or unlock().
 * Sessions notify it from the server's thread; it is shared so that a late
 * notification after the element is gone finds it alive. */
struct Waker
{
  std::mutex lock;
  std::condition_variable cond;
  bool waiting = false; /* the streaming thread sleeps on cond */
};

struct SessionRef
{
  SugarcastRtmpSession *session = nullptr;
  SessionRef() = default;
  SessionRef(const SessionRef &) = delete;
  SessionRef &operator=(const SessionRef &) = delete;
  ~SessionRef() { reset(); }
  void reset(SugarcastRtmpSession *s = nullptr)
  {
    if (session)
      g_object_unref(session);
    session = s;
  }
  SugarcastRtmpSession *release()
  {
    auto *s = session;
    session = nullptr;
    return s;
  }
  explicit operator bool() const { return session != nullptr; }
};

} // namespace

struct SugarcastRtmpServerSrcPrivate
{
  std::mutex settings_lock;
  Settings settings;
  SessionRef property_session; /* as last set; read back by the getter */

  /* Streaming state, protected by waker->lock. */
  std::shared_ptr<Waker> waker = std::make_shared<Waker>();
  SessionRef current; /* being read */
  SessionRef next;    /* handed over, read once current is done */
  bool flushing = false;
  bool listen_mode = false;
  bool loop = false;
  bool accepting = true;    /* listen mode without loop: false after the first publisher */
  bool authorizing = false; /* listen mode: a publish is being checked */
  bool header_sent = false;
  bool restart_pending = false;
  guint64 sessions_started = 0;
  FlvTimeline timeline;

  /* Listen mode: the element's own server. Its context is iterated by the
   * streaming thread inside create(), so a publisher's bytes go from the
   * socket to the FLV buffer on one thread, without a hand-over between
   * threads per message (which cost more CPU than the parsing itself). */
  GMainContext *context = nullptr;
  std::unique_ptr<Server> server;
  std::unique_ptr<AuthUrlCheck> auth_url; /* made on first use, in the streaming thread */
};

struct _SugarcastRtmpServerSrc
{
  GstPushSrc parent;
  SugarcastRtmpServerSrcPrivate *priv;
};

G_DEFINE_TYPE(SugarcastRtmpServerSrc, sugarcast_rtmp_server_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE(rtmpserversrc, "rtmpserversrc", GST_RANK_NONE,
                            SUGARCAST_TYPE_RTMP_SERVER_SRC);

static GstStructure *publish_structure(const char *name, const PublishInfo &info)
{
  return gst_structure_new(
      name, "app", G_TYPE_STRING, info.app.c_str(), "stream", G_TYPE_STRING, info.stream.c_str(),
      "client-address", G_TYPE_STRING, info.client_address.c_str(), "encoder", G_TYPE_STRING,
      info.encoder.c_str(), "tc-url", G_TYPE_STRING, info.tc_url.c_str(), nullptr);
}

/* Makes session the one read next and wakes the streaming thread. */
/* own: the session comes from the element's own server (listen mode). */
static void hand_over(SugarcastRtmpServerSrc *self, SugarcastRtmpSession *session, bool own)
{
  SugarcastRtmpServerSrcPrivate *p = self->priv;
  /* A session from the element's own server is filled by the streaming
   * thread itself, inside create(): nobody needs waking. */
  if (!own) {
    std::weak_ptr<Waker> weak = p->waker;
    /* A listen-mode element handed a foreign session sleeps in its own
     * context, not on the condition: wake that too. */
    std::shared_ptr<GMainContext> context(p->context ? g_main_context_ref(p->context) : nullptr,
                                          [](GMainContext *c) {
                                            if (c)
                                              g_main_context_unref(c);
                                          });
    session_set_notify(session, [weak, context] {
      if (auto w = weak.lock()) {
        std::lock_guard<std::mutex> guard(w->lock);
        if (w->waiting)
          w->cond.notify_one();
      }
      if (context)
        g_main_context_wakeup(context.get());
    });
  }
  std::lock_guard<std::mutex> guard(p->waker->lock);
  p->next.reset(session);
  p->waker->cond.notify_all();
  if (p->context)
    g_main_context_wakeup(p->context);
}

/* ---- listen mode: authentication on the element's server thread ---- */

namespace {

struct AuthRun
{
  SugarcastRtmpServerSrc *self;
  std::shared_ptr<PublishRequest> request;
  Settings settings;
};

} // namespace

static void finish_auth(std::unique_ptr<AuthRun> run, const AuthDecision &decision)
{
  SugarcastRtmpServerSrc *self = run->self;
  SugarcastRtmpServerSrcPrivate *p = self->priv;
  const PublishInfo &info = run->request->info();
  if (!decision.allow) {
    GST_INFO_OBJECT(self, "refused %s/%s from %s: %s", info.app.c_str(),
                    redact(info.stream).c_str(), info.client_address.c_str(),
                    decision.reason.c_str());
    run->request->refuse(decision.reason);
    {
      std::lock_guard<std::mutex> guard(p->waker->lock);
      p->authorizing = false;
    }
    GST_ELEMENT_WARNING(self, RESOURCE, NOT_AUTHORIZED,
                        ("Refused the publish of %s/%s from %s: %s", info.app.c_str(),
                         redact(info.stream).c_str(), info.client_address.c_str(),
                         decision.reason.c_str()),
                        ("encoder: %s", info.encoder.c_str()));
    return;
  }
  SugarcastRtmpSession *session = run->request->allow();
  {
    std::lock_guard<std::mutex> guard(p->waker->lock);
    p->authorizing = false;
  }
  if (session) {
    GST_INFO_OBJECT(self, "allowed %s/%s from %s (%s)", info.app.c_str(),
                    redact(info.stream).c_str(), info.client_address.c_str(), info.encoder.c_str());
    hand_over(self, session, true);
  }
}

static void check_publish(std::unique_ptr<AuthRun> run)
{
  SugarcastRtmpServerSrc *self = run->self;
  const Settings &s = run->settings;
  const PublishInfo &info = run->request->info();

  if (!s.stream_keys.empty()) {
    bool known = false;
    for (const auto &key : s.stream_keys)
      known |= constant_time_equal(key, info.stream); /* no early exit: constant time */
    if (!known)
      return finish_auth(std::move(run), {false, "unknown stream key"});
  }
  if (!s.auth_secret.empty()) {
    const TokenCheck token = check_token(s.auth_secret, info, g_get_real_time() / G_USEC_PER_SEC);
    if (token != TokenCheck::Valid)
      return finish_auth(std::move(run), {false, token_check_reason(token)});
  }
  if (g_signal_has_handler_pending(self, signals[SIGNAL_AUTHORIZE], 0, FALSE)) {
    GstStructure *publish = publish_structure("rtmp-publish", info);
    gst_structure_set(publish, "query", G_TYPE_STRING, info.query.c_str(), nullptr);
    gboolean allowed = FALSE;
    g_signal_emit(self, signals[SIGNAL_AUTHORIZE], 0, publish, &allowed);
    gst_structure_free(publish);
    if (!allowed)
      return finish_auth(std::move(run), {false, "refused by the application"});
  }
  if (!s.auth_url.empty()) {
    if (!self->priv->auth_url)
      self->priv->auth_url = std::make_unique<AuthUrlCheck>(); /* on the server's context */
    AuthUrlCheck *checker = self->priv->auth_url.get();
    const std::string url = s.auth_url;
    const auto timeout = std::chrono::milliseconds(s.auth_timeout * 1000ull);
    const PublishInfo copy = info;
    auto *raw = run.release();
    checker->check(url, copy, timeout, [raw](AuthDecision decision) {
      finish_auth(std::unique_ptr<AuthRun>(raw), decision);
    });
    return;
  }
  finish_auth(std::move(run), {true, {}});
}

static void on_listen_publish(SugarcastRtmpServerSrc *self, std::shared_ptr<PublishRequest> request)
{
  SugarcastRtmpServerSrcPrivate *p = self->priv;
  {
    std::lock_guard<std::mutex> guard(p->waker->lock);
    const bool current_live = p->current && !sugarcast_rtmp_session_is_ended(p->current.session);
    if (!p->accepting) {
      request->refuse("This source has already had its publisher and does not loop",
                      RefuseCode::BadName);
      return;
    }
    if (p->authorizing || p->next || current_live) {
      request->refuse("Another publisher is streaming to this source", RefuseCode::BadName);
      return;
    }
    p->authorizing = true;
  }
  auto run = std::make_unique<AuthRun>();
  run->self = self;
  run->request = std::move(request);
  {
    std::lock_guard<std::mutex> guard(p->settings_lock);
    run->settings = p->settings;
  }
  check_publish(std::move(run));
}

static gboolean start_listening(SugarcastRtmpServerSrc *self)
{
  SugarcastRtmpServerSrcPrivate *p = self->priv;
  ServerConfig config;
  {
    std::lock_guard<std::mutex> guard(p->settings_lock);
    config.address = p->settings.address;
    config.port = static_cast<uint16_t>(p->settings.port);
    config.tls_certificate = p->settings.tls_certificate;
    config.tls_key = p->settings.tls_key;
    config.limits = p->settings.limits;
  }
  p->context = g_main_context_new();
  p->server = std::make_unique<Server>(config, p->context);
  p->server->on_publish = [self](std::shared_ptr<PublishRequest> request) {
    on_listen_publish(self, std::move(request));
  };
  g_autoptr(GError) error = nullptr;
  if (!p->server->start(&error)) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                      ("Could not listen for RTMP%s publishers on %s port %u: %s",
                       config.tls_certificate.empty() ? "" : "S", config.address.c_str(),
                       config.port, error->message),
                      (nullptr));
    p->server.reset();
    g_main_context_unref(p->context);
    p->context = nullptr;
    return FALSE;
  }
  GST_INFO_OBJECT(self, "listening for RTMP%s on %s port %u",
                  config.tls_certificate.empty() ? "" : "S", config.address.c_str(),
                  p->server->port());
  return TRUE;
}

static void stop_listening(SugarcastRtmpServerSrc *self)
{
  SugarcastRtmpServerSrcPrivate *p = self->priv;
  if (!p->server)
    return;
  /* The streaming thread has stopped: this thread may iterate the context. */
  g_main_context_push_thread_default(p->context);
  if (p->auth_url)
    p->auth_url->cancel_all();
  p->server->drain(1000); /* lets a publisher that just stopped hang up itself */
  p->server.reset();
  p->auth_url.reset();
  g_main_context_pop_thread_default(p->context);
  g_main_context_unref(p->context);
  p->context = nullptr;
}

/* ---- streaming ---- */

static gboolean sugarcast_rtmp_server_src_start(GstBaseSrc *src)
{
  auto *self = SUGARCAST_RTMP_SERVER_SRC(src);
  SugarcastRtmpServerSrcPrivate *p = self->priv;
  SugarcastRtmpSession *handed = nullptr;
  {
    std::lock_guard<std::mutex> guard(p->settings_lock);
    if (p->property_session)
      handed = SUGARCAST_RTMP_SESSION(g_object_ref(p->property_session.session));
    p->loop = p->settings.loop;
  }
  {
    std::lock_guard<std::mutex> guard(p->waker->lock);
    p->current.reset();
    p->next.reset();
    p->flushing = false;
    p->accepting = true;
    p->authorizing = false;
    p->header_sent = false;
    p->restart_pending = false;
    p->sessions_started = 0;
    p->timeline = FlvTimeline();
    p->listen_mode = handed == nullptr;
  }
  if (handed) {
    GST_INFO_OBJECT(self, "session mode: reading the publish of %s/%s from %s",
                    sugarcast_rtmp_session_get_app(handed),
                    redact(sugarcast_rtmp_session_get_stream(handed)).c_str(),
                    sugarcast_rtmp_session_get_client_address(handed));
    hand_over(self, handed, false);
    return TRUE;
  }
  return start_listening(self);
}

static gboolean sugarcast_rtmp_server_src_stop(GstBaseSrc *src)
{
  auto *self = SUGARCAST_RTMP_SERVER_SRC(src);
  SugarcastRtmpServerSrcPrivate *p = self->priv;
  stop_listening(self);
  std::lock_guard<std::mutex> guard(p->waker->lock);
  p->current.reset();
  p->next.reset();
  return TRUE;
}

static gboolean sugarcast_rtmp_server_src_unlock(GstBaseSrc *src)
{
  SugarcastRtmpServerSrcPrivate *p = SUGARCAST_RTMP_SERVER_SRC(src)->priv;
  std::lock_guard<std::mutex> guard(p->waker->lock);
  p->flushing = true;
  p->waker->cond.notify_all();
  if (p->context)
    g_main_context_wakeup(p->context); /* create() may be iterating it */
  return TRUE;
}

static gboolean sugarcast_rtmp_server_src_unlock_stop(GstBaseSrc *src)
{
  SugarcastRtmpServerSrcPrivate *p = SUGARCAST_RTMP_SERVER_SRC(src)->priv;
  std::lock_guard<std::mutex> guard(p->waker->lock);
  p->flushing = false;
  return TRUE;
}

static GstBuffer *make_tag_buffer(SugarcastRtmpServerSrcPrivate *p, const Message &m)
{
  std::vector<uint8_t> header;
  if (!p->header_sent) {
    uint8_t flags = m.type == kDataAmf0 ? flv_flags_from_metadata(m.payload) : 0;
    header = flv_header(flags ? flags : kFlvHasAudio | kFlvHasVideo);
    p->header_sent = true;
  }
  const uint32_t ts = p->timeline.map(m.timestamp);
  const size_t size = header.size() + m.payload.size() + kFlvTagOverhead;
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, size, nullptr);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  std::copy(header.begin(), header.end(), map.data);
  write_flv_tag(map.data + header.size(), m.type, ts, m.payload.data(), m.payload.size());
  gst_buffer_unmap(buf, &map);
  if (!header.empty() || is_sequence_header(m) || m.type == kDataAmf0)
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_HEADER);
  if (m.type == kVideo && !is_video_keyframe(m))
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  return buf;
}

static GstFlowReturn sugarcast_rtmp_server_src_create(GstPushSrc *src, GstBuffer **out)
{
  auto *self = SUGARCAST_RTMP_SERVER_SRC(src);
  SugarcastRtmpServerSrcPrivate *p = self->priv;
  std::unique_lock<std::mutex> lock(p->waker->lock);
  for (;;) {
    if (p->flushing)
      return GST_FLOW_FLUSHING;

    if (!p->current && p->next) {
      p->current.reset(p->next.release());
      const PublishInfo &info = session_info(p->current.session);
      if (p->sessions_started++ > 0 && p->header_sent)
        p->restart_pending = true;
      GST_INFO_OBJECT(self, "publish of %s/%s from %s (%s) starts", info.app.c_str(),
                      redact(info.stream).c_str(), info.client_address.c_str(),
                      info.encoder.c_str());
      gst_element_post_message(
          GST_ELEMENT(self),
          gst_message_new_element(GST_OBJECT(self), publish_structure("rtmp-publish-start", info)));
    }

    if (p->current) {
      Message m;
      const PopResult r = session_pop(p->current.session, m);
      if (r == PopResult::Message) {
        if (p->restart_pending) {
          p->restart_pending = false;
          p->timeline.restart();
          const PublishInfo &info = session_info(p->current.session);
          GstEvent *restart =
              sugarcast_stream_restart_event_new(info.app.c_str(), info.stream.c_str());
          lock.unlock();
          GST_INFO_OBJECT(self, "a new publisher continues the stream");
          gst_pad_push_event(GST_BASE_SRC_PAD(self), restart);
          lock.lock();
        }
        *out = make_tag_buffer(p, m);
        return GST_FLOW_OK;
      }
      if (r == PopResult::Ended) {
        const PublishInfo info = session_info(p->current.session);
        const std::string reason = session_end_reason(p->current.session);
        p->current.reset();
        if (p->listen_mode && !p->loop)
          p->accepting = false;
        GST_INFO_OBJECT(self, "publish of %s/%s from %s ended: %s", info.app.c_str(),
                        redact(info.stream).c_str(), info.client_address.c_str(), reason.c_str());
        GstStructure *s = publish_structure("rtmp-publish-stop", info);
        gst_structure_set(s, "reason", G_TYPE_STRING, reason.c_str(), nullptr);
        gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
        if (!p->loop)
          return GST_FLOW_EOS;
        continue;
      }
    }
    if (p->listen_mode) {
      /* Serve the listener (handshakes, commands, this publisher's bytes)
       * until something happens; unlock() wakes the context. */
      lock.unlock();
      g_main_context_push_thread_default(p->context);
      g_main_context_iteration(p->context, TRUE);
      g_main_context_pop_thread_default(p->context);
      lock.lock();
      continue;
    }
    p->waker->waiting = true;
    p->waker->cond.wait(lock);
    p->waker->waiting = false;
  }
}

/* ---- properties ---- */

static void sugarcast_rtmp_server_src_set_property(GObject *object, guint prop_id,
                                                   const GValue *value, GParamSpec *pspec)
{
  auto *self = SUGARCAST_RTMP_SERVER_SRC(object);
  SugarcastRtmpServerSrcPrivate *p = self->priv;
  if (prop_id == PROP_SESSION) {
    auto *session = static_cast<SugarcastRtmpSession *>(g_value_dup_object(value));
    {
      std::lock_guard<std::mutex> guard(p->settings_lock);
      p->property_session.reset(session ? SUGARCAST_RTMP_SESSION(g_object_ref(session)) : nullptr);
    }
    GstState state = GST_STATE_NULL;
    GST_OBJECT_LOCK(self);
    state = GST_STATE(self);
    GST_OBJECT_UNLOCK(self);
    if (session && state >= GST_STATE_PAUSED)
      hand_over(self, session, false); /* a new publisher continues the running stream */
    else if (session)
      g_object_unref(session);
    return;
  }

  std::lock_guard<std::mutex> guard(p->settings_lock);
  Settings &s = p->settings;
  auto text = [value] {
    const gchar *v = g_value_get_string(value);
    return std::string(v ? v : "");
  };
  switch (prop_id) {
  case PROP_ADDRESS:
    s.address = g_value_get_string(value) ? text() : DEFAULT_ADDRESS;
    break;
  case PROP_PORT:
    s.port = g_value_get_int(value);
    break;
  case PROP_TLS_CERTIFICATE:
    s.tls_certificate = text();
    break;
  case PROP_TLS_KEY:
    s.tls_key = text();
    break;
  case PROP_STREAM_KEYS:
    s.stream_keys_text = text();
    s.stream_keys = parse_key_list(s.stream_keys_text);
    break;
  case PROP_AUTH_SECRET:
    s.auth_secret = text();
    break;
  case PROP_AUTH_URL:
    s.auth_url = text();
    break;
  case PROP_AUTH_TIMEOUT:
    s.auth_timeout = g_value_get_uint(value);
    break;
  case PROP_LOOP:
    s.loop = g_value_get_boolean(value);
    {
      std::lock_guard<std::mutex> wait_guard(p->waker->lock);
      p->loop = s.loop;
      p->waker->cond.notify_all();
    }
    break;
  case PROP_HANDSHAKE_TIMEOUT:
    s.limits.handshake_timeout_ms = g_value_get_uint(value) * 1000;
    break;
  case PROP_IDLE_TIMEOUT:
    s.limits.idle_timeout_ms = g_value_get_uint(value) * 1000;
    break;
  case PROP_MAX_CONNECTIONS:
    s.limits.max_connections = g_value_get_uint(value);
    break;
  case PROP_MAX_CONNECTIONS_PER_ADDRESS:
    s.limits.max_connections_per_address = g_value_get_uint(value);
    break;
  case PROP_MAX_CHUNK_SIZE:
    s.limits.max_chunk_size = g_value_get_uint(value);
    break;
  case PROP_MAX_MESSAGE_SIZE:
    s.limits.max_message_size = g_value_get_uint(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_rtmp_server_src_get_property(GObject *object, guint prop_id, GValue *value,
                                                   GParamSpec *pspec)
{
  auto *self = SUGARCAST_RTMP_SERVER_SRC(object);
  SugarcastRtmpServerSrcPrivate *p = self->priv;
  std::lock_guard<std::mutex> guard(p->settings_lock);
  const Settings &s = p->settings;
  switch (prop_id) {
  case PROP_ADDRESS:
    g_value_set_string(value, s.address.c_str());
    break;
  case PROP_PORT:
    g_value_set_int(value, s.port);
    break;
  case PROP_TLS_CERTIFICATE:
    g_value_set_string(value, s.tls_certificate.empty() ? nullptr : s.tls_certificate.c_str());
    break;
  case PROP_TLS_KEY:
    g_value_set_string(value, s.tls_key.empty() ? nullptr : s.tls_key.c_str());
    break;
  case PROP_STREAM_KEYS:
    /* Reading the keys back would leak them into logs and dumps. */
    g_value_set_string(value, s.stream_keys.empty() ? nullptr : "(set)");
    break;
  case PROP_AUTH_SECRET:
    g_value_set_string(value, s.auth_secret.empty() ? nullptr : "(set)");
    break;
  case PROP_AUTH_URL:
    g_value_set_string(value, s.auth_url.empty() ? nullptr : s.auth_url.c_str());
    break;
  case PROP_AUTH_TIMEOUT:
    g_value_set_uint(value, s.auth_timeout);
    break;
  case PROP_LOOP:
    g_value_set_boolean(value, s.loop);
    break;
  case PROP_SESSION:
    g_value_set_object(value, p->property_session.session);
    break;
  case PROP_HANDSHAKE_TIMEOUT:
    g_value_set_uint(value, s.limits.handshake_timeout_ms / 1000);
    break;
  case PROP_IDLE_TIMEOUT:
    g_value_set_uint(value, s.limits.idle_timeout_ms / 1000);
    break;
  case PROP_MAX_CONNECTIONS:
    g_value_set_uint(value, s.limits.max_connections);
    break;
  case PROP_MAX_CONNECTIONS_PER_ADDRESS:
    g_value_set_uint(value, s.limits.max_connections_per_address);
    break;
  case PROP_MAX_CHUNK_SIZE:
    g_value_set_uint(value, s.limits.max_chunk_size);
    break;
  case PROP_MAX_MESSAGE_SIZE:
    g_value_set_uint(value, s.limits.max_message_size);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_rtmp_server_src_finalize(GObject *object)
{
  delete SUGARCAST_RTMP_SERVER_SRC(object)->priv;
  G_OBJECT_CLASS(sugarcast_rtmp_server_src_parent_class)->finalize(object);
}

static gboolean authorize_accumulator(GSignalInvocationHint *, GValue *return_accu,
                                      const GValue *handler_return, gpointer)
{
  const gboolean allowed = g_value_get_boolean(handler_return);
  g_value_set_boolean(return_accu, allowed);
  return allowed; /* the first handler that refuses decides */
}

static void sugarcast_rtmp_server_src_class_init(SugarcastRtmpServerSrcClass *klass)
{
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  auto *basesrc_class = GST_BASE_SRC_CLASS(klass);
  auto *pushsrc_class = GST_PUSH_SRC_CLASS(klass);
  const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_READY);
  const ServerLimits defaults;

  gobject_class->set_property = SUGARCAST_GUARD(sugarcast_rtmp_server_src_set_property);
  gobject_class->get_property = SUGARCAST_GUARD(sugarcast_rtmp_server_src_get_property);
  gobject_class->finalize = SUGARCAST_GUARD(sugarcast_rtmp_server_src_finalize);

  g_object_class_install_property(
      gobject_class, PROP_ADDRESS,
      g_param_spec_string("address", "Address",
                          "Local IP address to listen on (listen mode); 0.0.0.0 is every IPv4 "
                          "address, :: every address",
                          DEFAULT_ADDRESS, flags));
  g_object_class_install_property(gobject_class, PROP_PORT,
                                  g_param_spec_int("port", "Port",
                                                   "TCP port to listen on (listen mode)", 0, 65535,
                                                   DEFAULT_PORT, flags));
  g_object_class_install_property(
      gobject_class, PROP_TLS_CERTIFICATE,
      g_param_spec_string("tls-certificate", "TLS certificate",
                          "PEM certificate (chain) file; with tls-key the element speaks RTMPS",
                          nullptr, flags));
  g_object_class_install_property(gobject_class, PROP_TLS_KEY,
                                  g_param_spec_string("tls-key", "TLS key",
                                                      "PEM private key file for tls-certificate",
                                                      nullptr, flags));
  g_object_class_install_property(
      gobject_class, PROP_STREAM_KEYS,
      g_param_spec_string("stream-keys", "Stream keys",
                          "Comma-separated stream keys a publisher may use as its stream name "
                          "(unset: any name); reads back as \"(set)\"",
                          nullptr, flags));
  g_object_class_install_property(
      gobject_class, PROP_AUTH_SECRET,
      g_param_spec_string("auth-secret", "Token secret",
                          "Secret for signed expiring tokens: the stream name must carry "
                          "?exp=UNIX&sig=HEX, HEX = hex HMAC-SHA256(secret, \"STREAM:EXP\")",
                          nullptr, flags));
  g_object_class_install_property(
      gobject_class, PROP_AUTH_URL,
      g_param_spec_string("auth-url", "Authentication URL",
                          "HTTP(S) URL POSTed each publish like nginx-rtmp on_publish (form "
                          "fields call, app, name, type, addr, tcurl, flashver, query "
                          "arguments); a 2xx answer allows",
                          nullptr, flags));
  g_object_class_install_property(
      gobject_class, PROP_AUTH_TIMEOUT,
      g_param_spec_uint("auth-timeout", "Authentication timeout",
                        "Seconds auth-url may take before the publish is refused", 1, 300,
                        DEFAULT_AUTH_TIMEOUT, flags));
  g_object_class_install_property(
      gobject_class, PROP_LOOP,
      g_param_spec_boolean("loop", "Loop",
                           "When the publisher stops, wait for the next one (or the next "
                           "session) and continue the same FLV stream instead of sending EOS",
                           FALSE,
                           static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                    GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property(
      gobject_class, PROP_SESSION,
      g_param_spec_object(
          "session", "Session",
          "A publish accepted by the application's sugarcast::rtmp::Server. Set before "
          "starting, the element reads it and opens no port; set while playing, it "
          "continues the stream as a new publisher",
          SUGARCAST_TYPE_RTMP_SESSION,
          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                   GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property(
      gobject_class, PROP_HANDSHAKE_TIMEOUT,
      g_param_spec_uint("handshake-timeout", "Handshake timeout",
                        "Seconds a new connection has to finish its (TLS and) RTMP handshake", 1,
                        3600, defaults.handshake_timeout_ms / 1000, flags));
  g_object_class_install_property(
      gobject_class, PROP_IDLE_TIMEOUT,
      g_param_spec_uint("idle-timeout", "Idle timeout",
                        "Seconds without media after which a publisher counts as gone", 1, 3600,
                        defaults.idle_timeout_ms / 1000, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_CONNECTIONS,
      g_param_spec_uint("max-connections", "Maximum connections",
                        "Connections open at once (listen mode); more are closed at once", 1,
                        100000, defaults.max_connections, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_CONNECTIONS_PER_ADDRESS,
      g_param_spec_uint("max-connections-per-address", "Maximum connections per address",
                        "Connections open at once from one IP address (listen mode); a newcomer "
                        "beyond it is answered NetConnection.Connect.Rejected (0: no limit)",
                        0, 100000, defaults.max_connections_per_address, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_CHUNK_SIZE,
      g_param_spec_uint("max-chunk-size", "Maximum chunk size",
                        "Largest chunk size a publisher may set, in bytes", 128, 0x7fffffff,
                        defaults.max_chunk_size, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_MESSAGE_SIZE,
      g_param_spec_uint("max-message-size", "Maximum message size",
                        "Largest RTMP message a publisher may send, in bytes", 1024, 0xffffff,
                        defaults.max_message_size, flags));

  /**
   * SugarcastRtmpServerSrc::authorize:
   * @src: the element
   * @publish: a `rtmp-publish` structure: app, stream, query, client-address,
   *   encoder, tc-url
   *
   * Emitted in listen mode for each publish that passed stream-keys and
   * auth-secret, from the element's server thread. Return %TRUE to allow it;
   * the first handler returning %FALSE refuses it.
   */
  signals[SIGNAL_AUTHORIZE] = g_signal_new(
      "authorize", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, authorize_accumulator, nullptr,
      nullptr, G_TYPE_BOOLEAN, 1, GST_TYPE_STRUCTURE | G_SIGNAL_TYPE_STATIC_SCOPE);

  basesrc_class->start = SUGARCAST_GUARD(sugarcast_rtmp_server_src_start);
  basesrc_class->stop = SUGARCAST_GUARD(sugarcast_rtmp_server_src_stop);
  basesrc_class->unlock = SUGARCAST_GUARD(sugarcast_rtmp_server_src_unlock);
  basesrc_class->unlock_stop = SUGARCAST_GUARD(sugarcast_rtmp_server_src_unlock_stop);
  pushsrc_class->create = SUGARCAST_GUARD(sugarcast_rtmp_server_src_create);

  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "RTMP server source", "Source/Network",
      "Receives RTMP and RTMPS publishes (OBS, FFmpeg), authenticates them and outputs FLV",
      "Sugarcast developers");
  GST_DEBUG_CATEGORY_INIT(sugarcast_rtmp_server_src_debug, "rtmpserversrc", 0,
                          "Sugarcast RTMP server source");
}

static void sugarcast_rtmp_server_src_init(SugarcastRtmpServerSrc *self)
{
  self->priv = new SugarcastRtmpServerSrcPrivate();
  gst_base_src_set_live(GST_BASE_SRC(self), TRUE);
  gst_base_src_set_format(GST_BASE_SRC(self), GST_FORMAT_TIME);
}
