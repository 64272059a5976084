/* sugarcastd — live streams. See streams.h. */
#include "streams.h"
#include "guard.h"

#include "clock.h"
#include "rtmpserver.h"
#include "secrets.h"

#include <filesystem>
#include <map>
#include <utility>

#define LOG_DOMAIN "sugarcastd-streams"

namespace sugarcast {

namespace {

enum class State { Live, Reconnecting, Ending };

/* Each stream has 10 s to drain after EOS; the whole shutdown a little more. */
constexpr int kShutdownDeadlineSeconds = 15;

const char *state_name(State s)
{
  switch (s) {
  case State::Live:
    return "live";
  case State::Reconnecting:
    return "reconnecting";
  case State::Ending:
    return "ending";
  }
  return "live";
}

struct Stream
{
  LiveInfo info;
  std::string key;
  State state = State::Live;
  GstElement *pipeline = nullptr;
  GstElement *ingest = nullptr;            /* the rtmpserversrc node, borrowed */
  SugarcastRtmpSession *session = nullptr; /* the current publisher */
  guint bus_watch = 0;
  guint grace_timer = 0;
  guint eos_timer = 0;
  guint first_segment_timer = 0; /* until hlsabrsink reports its first segment */
  std::string end_reason;
};

} // namespace

struct StreamManager::Impl
{
  const Config &config;
  Store &store;
  const PipelineCatalog &pipelines;
  EventSink events;
  Metrics &metrics;
  StreamManager *owner;
  const PipelineDescription *description = nullptr;
  std::vector<std::unique_ptr<rtmp::Server>> servers; /* RTMP, and RTMPS when configured */
  std::map<std::string, std::unique_ptr<Stream>> streams;
  bool shutting_down = false;
  int tearing_down = 0; /* pipelines still being stopped on other threads */
  guint shutdown_deadline = 0;
  std::function<void()> shutdown_forced;
  bool destroying = false;
  std::function<void()> shutdown_done;

  Impl(const Config &c, Store &s, const PipelineCatalog &p, EventSink e, Metrics &m,
       StreamManager *o)
      : config(c), store(s), pipelines(p), events(std::move(e)), metrics(m), owner(o)
  {}

  void count_refusal(const char *reason)
  {
    metrics
        .counter("sugarcast_publishes_refused_total", "RTMP publishes refused, by reason",
                 {{"reason", reason}})
        .fetch_add(1);
  }

  void announce(const Stream &s, const char *state, const std::string &reason = "")
  {
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "stream", s.info.id.c_str());
    json_object_set_string_member(o, "state", state);
    if (!reason.empty())
      json_object_set_string_member(o, "reason", reason.c_str());
    if (!s.info.client_address.empty())
      json_object_set_string_member(o, "client_address", s.info.client_address.c_str());
    events("stream", o);
  }

  void on_publish(std::shared_ptr<rtmp::PublishRequest> request)
  {
    const rtmp::PublishInfo &info = request->info();
    if (shutting_down) {
      request->refuse("the server is shutting down", rtmp::RefuseCode::Denied);
      return;
    }
    if (info.app != "live") {
      count_refusal("bad_app");
      request->refuse("unknown application \"" + info.app + "\"; push to rtmp://HOST/live/KEY",
                      rtmp::RefuseCode::BadName);
      return;
    }
    const std::string key = info.stream;
    store.find_stream_by_key_hash(
        sha256_hex(key), [this, request, key](StoreResult<std::optional<StreamRecord>> found) {
          authorize(request, key, std::move(found));
        });
  }

  void authorize(std::shared_ptr<rtmp::PublishRequest> request, const std::string &key,
                 StoreResult<std::optional<StreamRecord>> found)
  {
    const rtmp::PublishInfo &info = request->info();
    if (!found.ok()) {
      count_refusal("store");
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING,
            "publish from %s refused: the store cannot check stream keys now: %s",
            info.client_address.c_str(), found.error().message.c_str());
      request->refuse("the server cannot check stream keys right now; try again");
      return;
    }
    if (!found.value()) {
      count_refusal("bad_key");
      g_log(LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "publish from %s refused: unknown stream key %s",
            info.client_address.c_str(), redact_key(key).c_str());
      JsonObject *o = json_object_new();
      json_object_set_string_member(o, "client_address", info.client_address.c_str());
      json_object_set_string_member(o, "reason", "unknown stream key");
      events("publish_refused", o);
      request->refuse("unknown or revoked stream key");
      return;
    }
    const StreamRecord &record = *found.value();
    auto it = streams.find(record.id);
    if (it != streams.end()) {
      Stream &s = *it->second;
      if (s.state == State::Reconnecting) {
        resume(s, request, key);
        return;
      }
      count_refusal("already_live");
      request->refuse("stream " + record.id + " is already live", rtmp::RefuseCode::BadName);
      return;
    }
    if (static_cast<int>(streams.size()) >= config.streams.max_live) {
      count_refusal("capacity");
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING,
            "publish of stream %s from %s refused: %zu streams are live, the limit "
            "(streams.max_live) is %d",
            record.id.c_str(), info.client_address.c_str(), streams.size(),
            config.streams.max_live);
      request->refuse("this server is at capacity; try again later");
      return;
    }
    begin(record, request, key);
  }

  void begin(const StreamRecord &record, std::shared_ptr<rtmp::PublishRequest> request,
             const std::string &key)
  {
    const rtmp::PublishInfo &info = request->info();
    auto stream = std::make_unique<Stream>();
    Stream &s = *stream;
    s.info.id = record.id;
    s.info.title = record.title;
    s.info.started_at = now_ms();
    s.info.client_address = info.client_address;
    s.info.encoder = info.encoder;
    s.key = key;

    const std::string hls_dir = config.hls.dir + "/" + record.id;
    std::error_code ec;
    std::filesystem::remove_all(hls_dir, ec); /* a new show starts a new playlist */
    std::filesystem::create_directories(hls_dir, ec);

    PipelineParams params = {
        {"stream.id", record.id},
        {"stream.key", key},
        {"stream.title", record.title},
        {"data_dir", config.data_dir},
        {"hls_dir", hls_dir},
        {"hls.segment_duration", std::to_string(config.hls.segment_duration)},
        {"hls.playlist_length", std::to_string(config.hls.playlist_length)},
        {"hls.ladder", config.hls.ladder},
        {"recordings_dir", config.recordings.dir + "/" + record.id},
        {"recordings.enabled",
         owner->record_by_default && owner->record_by_default(record.id) ? "true" : "false"},
        {"recordings.segment_duration_ns",
         std::to_string(static_cast<int64_t>(config.recordings.segment_duration) * GST_SECOND)},
        {"recordings.max_age", std::to_string(config.recordings.max_age)},
        {"recordings.max_stream_bytes", std::to_string(config.recordings.max_stream_bytes)},
    };
    std::string error;
    s.pipeline = description->instantiate("live-" + record.id, params, error);
    if (!s.pipeline) {
      count_refusal("pipeline");
      g_log(LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "stream %s: cannot build its pipeline: %s",
            record.id.c_str(), error.c_str());
      request->refuse("the server could not start the stream");
      return;
    }
    const auto ingest_nodes = description->nodes_made_by("rtmpserversrc");
    s.ingest = ingest_nodes.empty()
                   ? nullptr
                   : gst_bin_get_by_name(GST_BIN(s.pipeline), ingest_nodes.front().c_str());
    if (!s.ingest) { /* the description is checked at load; this cannot happen */
      count_refusal("pipeline");
      g_log(LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "stream %s: its pipeline has no rtmpserversrc",
            record.id.c_str());
      gst_object_unref(s.pipeline);
      request->refuse("the server could not start the stream");
      return;
    }
    gst_object_unref(s.ingest); /* the pipeline keeps it alive */
    s.session = request->allow();
    if (!s.session) {
      g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s: the publisher left before it was let in",
            record.id.c_str());
      gst_object_unref(s.pipeline);
      return;
    }
    g_object_set(s.ingest, "session", s.session, nullptr);
    g_autoptr(GstBus) bus = gst_element_get_bus(s.pipeline);
    s.bus_watch = gst_bus_add_watch(bus, SUGARCAST_GUARD(on_bus), this);
    g_object_set_data_full(G_OBJECT(s.pipeline), "sugarcast-stream-id", g_strdup(record.id.c_str()),
                           g_free);
    streams[record.id] = std::move(stream);
    if (owner->on_pipeline)
      owner->on_pipeline(record.id, s.pipeline);

    if (gst_element_set_state(s.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      fail(s, "the pipeline would not start");
      return;
    }
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s (\"%s\") live from %s (%s)", record.id.c_str(),
          record.title.c_str(), info.client_address.c_str(), info.encoder.c_str());
    announce(s, "live");
    watch_first_segment(s);
    if (owner->on_live_changed)
      owner->on_live_changed(record.id, true);

    SessionRecord session;
    session.stream_id = record.id;
    session.started_at = s.info.started_at;
    session.client_address = info.client_address;
    session.encoder = info.encoder;
    const std::string id = record.id;
    store.start_session(session, [this, id](StoreResult<int64_t> started) {
      auto it = streams.find(id);
      if (!started.ok()) {
        g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "stream %s: the session was not recorded: %s",
              id.c_str(), started.error().message.c_str());
        return;
      }
      if (it != streams.end())
        it->second->info.session_id = started.value();
      else /* ended before the store answered */
        store.end_session(started.value(), now_ms(), "ended", [](StoreResult<Done>) {});
    });
  }

  /* The same encoder is back within the grace period: the same pipeline
   * and playlists go on. */
  void resume(Stream &s, std::shared_ptr<rtmp::PublishRequest> request, const std::string &key)
  {
    SugarcastRtmpSession *session = request->allow();
    if (!session)
      return;
    if (s.grace_timer) {
      g_source_remove(s.grace_timer);
      s.grace_timer = 0;
    }
    if (s.session)
      g_object_unref(s.session);
    s.session = session;
    s.key = key;
    s.state = State::Live;
    s.info.client_address = request->info().client_address;
    s.info.encoder = request->info().encoder;
    s.info.reconnects++;
    g_object_set(s.ingest, "session", session, nullptr);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s: encoder reconnected from %s (reconnect %d)",
          s.info.id.c_str(), s.info.client_address.c_str(), s.info.reconnects);
    announce(s, "live", "reconnected");
    if (owner->on_reconnecting)
      owner->on_reconnecting(s.info.id, false);
  }

  Stream *find_by_session(SugarcastRtmpSession *session)
  {
    for (auto &[id, s] : streams)
      if (s->session == session)
        return s.get();
    return nullptr;
  }

  void on_session_end(SugarcastRtmpSession *session, const std::string &reason)
  {
    Stream *s = find_by_session(session);
    if (!s || s->state != State::Live || shutting_down)
      return;
    if (config.streams.grace_period_ms == 0) {
      end(*s, reason);
      return;
    }
    s->state = State::Reconnecting;
    s->end_reason = reason;
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO,
          "stream %s: encoder gone (%s); waiting %d ms for it to reconnect", s->info.id.c_str(),
          reason.c_str(), config.streams.grace_period_ms);
    announce(*s, "reconnecting", reason);
    if (owner->on_reconnecting)
      owner->on_reconnecting(s->info.id, true);
    struct Ctx
    {
      Impl *self;
      std::string id;
    };
    s->grace_timer = g_timeout_add_full(
        G_PRIORITY_DEFAULT, static_cast<guint>(config.streams.grace_period_ms),
        SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
          auto *ctx = static_cast<Ctx *>(data);
          auto it = ctx->self->streams.find(ctx->id);
          if (it != ctx->self->streams.end()) {
            it->second->grace_timer = 0;
            ctx->self->end(*it->second, it->second->end_reason + "; no reconnect in time");
          }
          return G_SOURCE_REMOVE;
        }),
        new Ctx{this, s->info.id}, [](gpointer data) { delete static_cast<Ctx *>(data); });
  }

  /* A pipeline that takes the publish and writes nothing fails silently for
   * its viewers (a description whose links deadlocked once did exactly
   * that): with no segment from hlsabrsink a while after going live, say
   * so, naming the stream, the description and what was waited for. */
  void watch_first_segment(Stream &s)
  {
    if (description->nodes_made_by("hlsabrsink").empty())
      return;
    const int seconds = std::max(15, 5 * config.hls.segment_duration);
    struct Ctx
    {
      Impl *self;
      std::string id;
      int seconds;
    };
    s.first_segment_timer = g_timeout_add_full(
        G_PRIORITY_DEFAULT, static_cast<guint>(seconds) * 1000,
        SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
          auto *ctx = static_cast<Ctx *>(data);
          auto it = ctx->self->streams.find(ctx->id);
          if (it != ctx->self->streams.end()) {
            it->second->first_segment_timer = 0;
            ctx->self->metrics
                .counter("sugarcast_streams_without_segments_total",
                         "Streams live for a while with no HLS segment written")
                .fetch_add(1);
            g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING,
                  "stream %s: live for %d s and its pipeline (description \"%s\") has written "
                  "no HLS segment: no media reached hlsabrsink (a stalled branch or an encoder "
                  "sending no keyframe; GST_DEBUG=3 shows the elements' view)",
                  ctx->id.c_str(), ctx->seconds, ctx->self->config.streams.pipeline.c_str());
          }
          return G_SOURCE_REMOVE;
        }),
        new Ctx{this, s.info.id, seconds}, [](gpointer data) { delete static_cast<Ctx *>(data); });
  }

  /* ending: EOS through the pipeline so every output is finalised. */
  void end(Stream &s, const std::string &reason)
  {
    if (s.state == State::Ending)
      return;
    s.state = State::Ending;
    s.end_reason = reason;
    if (s.grace_timer) {
      g_source_remove(s.grace_timer);
      s.grace_timer = 0;
    }
    if (s.session && !sugarcast_rtmp_session_is_ended(s.session))
      sugarcast_rtmp_session_close(s.session);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s ending: %s", s.info.id.c_str(), reason.c_str());
    announce(s, "ending", reason);
    /* Sending EOS to a live source waits for its streaming thread, which may
     * be held up downstream: never on the main loop. */
    send_eos(s.pipeline);
    /* A pipeline that cannot drain in time is stopped anyway. */
    struct Ctx
    {
      Impl *self;
      std::string id;
    };
    s.eos_timer = g_timeout_add_full(
        G_PRIORITY_DEFAULT, 10000, SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
          auto *ctx = static_cast<Ctx *>(data);
          auto it = ctx->self->streams.find(ctx->id);
          if (it != ctx->self->streams.end()) {
            it->second->eos_timer = 0;
            g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING,
                  "stream %s: the pipeline did not finish within 10 s of EOS; stopping it",
                  ctx->id.c_str());
            ctx->self->finish(*it->second);
          }
          return G_SOURCE_REMOVE;
        }),
        new Ctx{this, s.info.id}, [](gpointer data) { delete static_cast<Ctx *>(data); });
  }

  void fail(Stream &s, const std::string &why)
  {
    metrics.counter("sugarcast_pipeline_errors_total", "Pipelines that failed").fetch_add(1);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "stream %s failed: %s", s.info.id.c_str(), why.c_str());
    s.state = State::Ending; /* closing the session below must not start a grace period */
    s.end_reason = "error: " + why;
    if (s.session && !sugarcast_rtmp_session_is_ended(s.session))
      sugarcast_rtmp_session_close(s.session);
    finish(s);
  }

  /* ended: the pipeline is gone, the session recorded. */
  void finish(Stream &s)
  {
    const std::string id = s.info.id;
    if (s.grace_timer)
      g_source_remove(s.grace_timer);
    if (s.eos_timer)
      g_source_remove(s.eos_timer);
    if (s.first_segment_timer)
      g_source_remove(s.first_segment_timer);
    if (s.bus_watch)
      g_source_remove(s.bus_watch);
    tear_down(s.pipeline);
    if (s.session)
      g_object_unref(s.session);
    if (s.info.session_id)
      store.end_session(s.info.session_id, now_ms(), s.end_reason, [id](StoreResult<Done> r) {
        if (!r.ok())
          g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "stream %s: the session end was not recorded: %s",
                id.c_str(), r.error().message.c_str());
      });
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s ended (%s)", id.c_str(), s.end_reason.c_str());
    announce(s, "ended", s.end_reason);
    streams.erase(id);
    if (owner->on_live_changed)
      owner->on_live_changed(id, false);
    maybe_done_shutting_down();
  }

  void tear_down(GstElement *pipeline)
  {
    if (destroying) { /* the daemon is going away: no one would hear back */
      gst_element_set_state(pipeline, GST_STATE_NULL);
      gst_object_unref(pipeline);
      return;
    }
    ++tearing_down;
    stop_pipeline(pipeline, [this] {
      --tearing_down;
      maybe_done_shutting_down();
    });
  }

  void maybe_done_shutting_down()
  {
    if (shutting_down && streams.empty() && tearing_down == 0 && shutdown_done) {
      if (shutdown_deadline)
        g_source_remove(std::exchange(shutdown_deadline, 0));
      shutdown_forced = nullptr;
      std::exchange(shutdown_done, nullptr)();
    }
  }

  static gboolean on_bus(GstBus *, GstMessage *msg, gpointer data)
  {
    auto *self = static_cast<Impl *>(data);
    GstObject *src = GST_MESSAGE_SRC(msg);
    /* Messages come from elements inside the pipeline: find whose. */
    GstObject *top = src;
    while (GST_OBJECT_PARENT(top))
      top = GST_OBJECT_PARENT(top);
    const char *id =
        static_cast<const char *>(g_object_get_data(G_OBJECT(top), "sugarcast-stream-id"));
    auto it = id ? self->streams.find(id) : self->streams.end();
    if (it == self->streams.end())
      return G_SOURCE_CONTINUE;
    Stream &s = *it->second;
    switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_EOS:
      self->finish(s);
      return G_SOURCE_REMOVE;
    case GST_MESSAGE_ERROR: {
      g_autoptr(GError) err = nullptr;
      g_autofree gchar *debug = nullptr;
      gst_message_parse_error(msg, &err, &debug);
      g_log(LOG_DOMAIN, G_LOG_LEVEL_DEBUG, "stream %s: %s: %s", s.info.id.c_str(),
            GST_OBJECT_NAME(src), debug ? debug : "");
      self->fail(s, std::string(GST_OBJECT_NAME(src)) + ": " + err->message);
      return G_SOURCE_REMOVE;
    }
    case GST_MESSAGE_WARNING: {
      g_autoptr(GError) err = nullptr;
      gst_message_parse_warning(msg, &err, nullptr);
      g_log(LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "stream %s: %s: %s", s.info.id.c_str(),
            GST_OBJECT_NAME(src), err->message);
      break;
    }
    case GST_MESSAGE_ELEMENT:
      if (s.first_segment_timer && gst_message_has_name(msg, "hlsabrsink-segment"))
        g_source_remove(std::exchange(s.first_segment_timer, 0));
      break;
    default:
      break;
    }
    return G_SOURCE_CONTINUE;
  }
};

StreamManager::StreamManager(const Config &config, Store &store, const PipelineCatalog &pipelines,
                             EventSink events, Metrics &metrics)
    : impl_(std::make_unique<Impl>(config, store, pipelines, std::move(events), metrics, this))
{
  metrics.gauge("sugarcast_streams_live", "Streams live on this daemon",
                [this] { return static_cast<double>(impl_->streams.size()); });
}

StreamManager::~StreamManager()
{
  impl_->destroying = true;
  for (auto &server : impl_->servers)
    server->stop();
  while (!impl_->streams.empty())
    impl_->finish(*impl_->streams.begin()->second);
}

bool StreamManager::start(std::string &error)
{
  Impl &d = *impl_;
  d.description = d.pipelines.find(d.config.streams.pipeline);
  if (!d.description || d.description->kind() != "live") {
    error = "streams.pipeline names \"" + d.config.streams.pipeline +
            "\", which is not a live pipeline description";
    return false;
  }
  auto make = [&](int port, bool tls) {
    rtmp::ServerConfig sc;
    sc.address = d.config.rtmp.address;
    sc.port = static_cast<uint16_t>(port);
    if (tls) {
      sc.tls_certificate = d.config.rtmp.tls_certificate;
      sc.tls_key = d.config.rtmp.tls_key;
    }
    sc.limits.handshake_timeout_ms = static_cast<unsigned>(d.config.rtmp.handshake_timeout_ms);
    sc.limits.idle_timeout_ms = static_cast<unsigned>(d.config.rtmp.idle_timeout_ms);
    sc.limits.max_connections = static_cast<unsigned>(d.config.rtmp.max_connections);
    sc.limits.max_connections_per_address =
        static_cast<unsigned>(d.config.rtmp.max_connections_per_address);
    auto server = std::make_unique<rtmp::Server>(sc, g_main_context_get_thread_default());
    server->on_publish = [&d](std::shared_ptr<rtmp::PublishRequest> r) { d.on_publish(r); };
    server->on_session_end = [&d](SugarcastRtmpSession *s, const std::string &reason) {
      d.on_session_end(s, reason);
    };
    g_autoptr(GError) err = nullptr;
    if (!server->start(&err)) {
      error = std::string("cannot listen for ") + (tls ? "RTMPS" : "RTMP") + " on " +
              d.config.rtmp.address + ":" + std::to_string(port) + ": " + err->message;
      return false;
    }
    d.servers.push_back(std::move(server));
    return true;
  };
  if (!make(d.config.rtmp.port, false))
    return false;
  if (d.config.rtmp.tls_port != 0 && !make(d.config.rtmp.tls_port, true))
    return false;
  return true;
}

int StreamManager::rtmp_port() const
{
  return impl_->servers.empty() ? 0 : impl_->servers[0]->port();
}

int StreamManager::rtmps_port() const
{
  return impl_->servers.size() < 2 ? 0 : impl_->servers[1]->port();
}

std::optional<LiveInfo> StreamManager::live(const std::string &stream_id) const
{
  auto it = impl_->streams.find(stream_id);
  if (it == impl_->streams.end())
    return std::nullopt;
  LiveInfo info = it->second->info;
  info.state = state_name(it->second->state);
  return info;
}

std::vector<LiveInfo> StreamManager::live_streams() const
{
  std::vector<LiveInfo> out;
  for (const auto &[id, s] : impl_->streams) {
    out.push_back(s->info);
    out.back().state = state_name(s->state);
  }
  return out;
}

void StreamManager::stop(const std::string &stream_id, const std::string &reason)
{
  auto it = impl_->streams.find(stream_id);
  if (it != impl_->streams.end())
    impl_->end(*it->second, reason);
}

bool StreamManager::add_daterange(const std::string &stream_id, const std::string &id,
                                  const std::string &cls, GstClockTime duration,
                                  const GstStructure *attributes, bool recording_only)
{
  auto it = impl_->streams.find(stream_id);
  if (it == impl_->streams.end() || it->second->state == State::Ending)
    return false;
  /* The live playlists (hlsabrsink) and the recording's (recordsink): both
   * take the same arguments. */
  bool any = false;
  for (const char *factory : {"hlsabrsink", "recordsink"}) {
    if (recording_only && std::string_view(factory) != "recordsink")
      continue;
    const auto sinks = impl_->description->nodes_made_by(factory);
    if (sinks.empty())
      continue;
    g_autoptr(GstElement) sink =
        gst_bin_get_by_name(GST_BIN(it->second->pipeline), sinks[0].c_str());
    gboolean added = FALSE;
    if (sink)
      g_signal_emit_by_name(sink, "add-daterange", id.c_str(), cls.c_str(),
                            static_cast<guint64>(GST_CLOCK_TIME_NONE),
                            static_cast<guint64>(duration), attributes, &added);
    any |= static_cast<bool>(added);
  }
  return any;
}

/* The recordsink of a live stream's pipeline (a new reference), or nullptr. */
static GstElement *recordsink_of(const PipelineDescription &description, GstElement *pipeline)
{
  const auto sinks = description.nodes_made_by("recordsink");
  return sinks.empty() ? nullptr : gst_bin_get_by_name(GST_BIN(pipeline), sinks[0].c_str());
}

std::optional<bool> StreamManager::set_recording(const std::string &stream_id, bool on)
{
  auto it = impl_->streams.find(stream_id);
  if (it == impl_->streams.end() || it->second->state == State::Ending)
    return std::nullopt;
  const std::optional<bool> was = recording(stream_id);
  if (!was)
    return std::nullopt;
  g_autoptr(GstElement) rec = recordsink_of(*impl_->description, it->second->pipeline);
  if (*was != on)
    g_object_set(rec, "recording", on, nullptr);
  g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s: recording %s", stream_id.c_str(),
        on ? (*was ? "stays on" : "switched on") : (*was ? "switched off" : "stays off"));
  return was;
}

std::optional<bool> StreamManager::recording(const std::string &stream_id) const
{
  auto it = impl_->streams.find(stream_id);
  if (it == impl_->streams.end())
    return std::nullopt;
  g_autoptr(GstElement) rec = recordsink_of(*impl_->description, it->second->pipeline);
  if (!rec)
    return std::nullopt;
  gboolean on = FALSE;
  g_object_get(rec, "recording", &on, nullptr);
  return static_cast<bool>(on);
}

StreamManager::GiftPush StreamManager::push_gift(const std::string &stream_id,
                                                 const std::string &event_json)
{
  auto it = impl_->streams.find(stream_id);
  if (it == impl_->streams.end() || it->second->state == State::Ending)
    return GiftPush::NotLive;
  const auto overlays = impl_->description->nodes_made_by("giftoverlay");
  if (overlays.empty())
    return GiftPush::NoOverlay;
  /* Every overlay of the description (one per branch it draws on; their
   * DATERANGEs share the gift's id and hlsabrsink writes one). */
  bool taken = false;
  for (const auto &name : overlays) {
    g_autoptr(GstElement) overlay =
        gst_bin_get_by_name(GST_BIN(it->second->pipeline), name.c_str());
    gboolean ok = FALSE;
    if (overlay)
      g_signal_emit_by_name(overlay, "push-gift", event_json.c_str(), &ok);
    taken = taken || ok;
  }
  return taken ? GiftPush::Overlay : GiftPush::Refused;
}

StreamManager::Drawing StreamManager::drawing(const std::string &stream_id) const
{
  Drawing d;
  d.gifts = !impl_->description->nodes_made_by("giftoverlay").empty();
  auto it = impl_->streams.find(stream_id);
  if (it == impl_->streams.end() || !it->second->pipeline)
    return d;
  for (const auto &name : impl_->description->nodes_made_by("abrladder")) {
    g_autoptr(GstElement) ladder = gst_bin_get_by_name(GST_BIN(it->second->pipeline), name.c_str());
    g_autofree gchar *rungs = nullptr;
    if (ladder)
      g_object_get(ladder, "ladder", &rungs, nullptr);
    if (rungs && g_str_has_prefix(rungs, "source"))
      d.source_rung = true;
  }
  return d;
}

void StreamManager::shutdown(std::function<void(bool clean)> done)
{
  Impl &d = *impl_;
  d.shutting_down = true;
  for (auto &server : d.servers)
    server->stop();
  d.shutdown_done = [done] { done(true); };
  /* A pipeline wedged in one of its elements must not keep the daemon up:
   * after the deadline it goes without them, and says so. */
  d.shutdown_deadline = g_timeout_add_seconds(
      kShutdownDeadlineSeconds, SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
        auto *d = static_cast<Impl *>(data);
        d->shutdown_deadline = 0;
        if (d->shutdown_done) {
          g_log(LOG_DOMAIN, G_LOG_LEVEL_CRITICAL,
                "%zu stream(s) and %d pipeline(s) did not stop within %d s; exiting without them",
                d->streams.size(), d->tearing_down, kShutdownDeadlineSeconds);
          d->shutdown_done = nullptr;
          std::exchange(d->shutdown_forced, nullptr)();
        }
        return G_SOURCE_REMOVE;
      }),
      &d);
  d.shutdown_forced = [done] { done(false); };
  if (d.streams.empty()) {
    d.maybe_done_shutting_down();
    return;
  }
  std::vector<std::string> ids;
  for (auto &[id, s] : d.streams)
    ids.push_back(id);
  for (const auto &id : ids) {
    auto it = d.streams.find(id);
    if (it != d.streams.end())
      d.end(*it->second, "shutdown");
  }
}

} // namespace sugarcast
