/* sugarcastd — the daemon. See daemon.h. */
#include "daemon.h"

#include "api.h"
#include "chat/chat_service.h"
#include "clips.h"
#include "elements.h"
#include "events.h"
#include "giftdraw.h"
#include "http.h"
#include "mediafiles.h"
#include "metrics.h"
#include "pipelines.h"
#include "recordings.h"
#include "secrets.h"
#include "stats.h"
#include "store.h"
#include "streams.h"
#include "web.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <malloc.h>

#include <filesystem>

#define G_LOG_DOMAIN_NAME "sugarcastd"

/* How long a gift's date range lasts: about its animation's length. */
constexpr GstClockTime kGiftDisplay = 3 * GST_SECOND;

namespace sugarcast {

struct Daemon::Impl
{
  Config config;
  Metrics metrics;
  HttpServer http;
  PipelineCatalog pipelines;
  std::unique_ptr<Store> store;
  Events events;
  MediaFiles hls_files;
  MediaFiles clip_files;
  StreamManager streams;
  StreamsApi streams_api;
  ClipService clips;
  RecordingService recordings;
  WebPages pages;
  chat::ChatService chat;
  StatsService stats;

  explicit Impl(Config c)
      : config(std::move(c)), http(config.http, metrics),
        store(make_store({config.store.sqlite_path, config.store.database_url})), events(http),
        hls_files(http, "/hls", config.hls.dir), clip_files(http, "/clips", config.clips.dir),
        streams(
            config, *store, pipelines,
            [this](const std::string &type, JsonObject *fields) { events.publish(type, fields); },
            metrics),
        streams_api(config, http, *store, streams),
        clips(config, http, *store, pipelines, events, metrics),
        recordings(config, http, *store, streams, clips), pages(http),
        chat(config, *store, http, metrics,
             [this](const std::string &stream_id, const chat::GiftDelivered &gift) {
               deliver_gift(stream_id, gift);
             }),
        stats(config, http, *store, streams, chat, metrics)
  {
    streams.on_live_changed = [this](const std::string &id, bool live) {
      stats.live_changed(id, live);
      chat.set_stream_live(id, live);
      if (!live)
        recordings.show_ended(id);
    };
    streams.on_reconnecting = [this](const std::string &id, bool reconnecting) {
      chat.set_stream_reconnecting(id, reconnecting);
    };
    streams.record_by_default = [this](const std::string &id) {
      return recordings.record_by_default(id);
    };
    streams.on_pipeline = [this](const std::string &id, GstElement *pipeline) {
      stats.pipeline_built(id, pipeline);
    };
    chat.on_message([this](const std::string &id) { stats.chat_message(id); });
    hls_files.set_playlist_observer([this](std::string_view relative, std::string_view query,
                                           std::string_view address, std::string_view agent) {
      stats.viewers().playlist_served(relative, query, address, agent);
    });
  }

  /* A newly recorded gift goes onto the stream's picture and into its
   * playlists as timed metadata, in sync with the video, for players and
   * replays. When the description has a giftoverlay, the overlay draws it
   * and sends its DATERANGE on the frame it first appears on (a queued gift
   * appears later than it was sent); without one, or when the overlay
   * refuses the event, the DATERANGE goes straight to hlsabrsink at the
   * stream's current time. Both carry the same attributes. Only the daemon
   * running the stream's pipeline has it; the others pass. */
  void deliver_gift(const std::string &stream_id, const chat::GiftDelivered &gift)
  {
    stats.gift(stream_id, gift.count, gift.coins);
    const GiftDrawn drawn{gift.ledger_id, gift.user_id,   gift.user_name, gift.gift_id,
                          gift.name,      gift.animation, gift.count,     gift.coins};
    const std::string id = gift_daterange_id(drawn);
    g_autoptr(GstStructure) attributes = gift_daterange_attributes(drawn);
    const char *where = "not live on this daemon";
    switch (streams.push_gift(stream_id, gift_overlay_event(drawn, attributes))) {
    case StreamManager::GiftPush::Overlay:
      where = "in its overlay";
      /* The recording is of the publisher's own stream, upstream of the
       * overlay: its playlist gets the DATERANGE here, at the stream's
       * current time (the live playlists get the overlay's, on the frame
       * the gift first appears). */
      streams.add_daterange(stream_id, id, "com.sugarcast.gift", kGiftDisplay, attributes, true);
      break;
    case StreamManager::GiftPush::Refused:
      g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_WARNING,
            "stream %s: its giftoverlay refused gift %s; only its DATERANGE is written",
            stream_id.c_str(), id.c_str());
      [[fallthrough]];
    case StreamManager::GiftPush::NoOverlay:
      if (streams.add_daterange(stream_id, id, "com.sugarcast.gift", kGiftDisplay, attributes))
        where = "in the playlists";
      break;
    case StreamManager::GiftPush::NotLive:
      break;
    }
    g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_DEBUG, "gift %s for stream %s (%d x %s): %s", id.c_str(),
          stream_id.c_str(), gift.count, gift.gift_id.c_str(), where);
  }

  void add_routes()
  {
    http.route(
        "GET", "/healthz",
        [](HttpRequest &r) { respond_text(r.msg, SOUP_STATUS_OK, "text/plain", "ok\n"); }, false);
    http.route(
        "GET", "/metrics",
        [this](HttpRequest &r) {
          respond_text(r.msg, SOUP_STATUS_OK, "text/plain; version=0.0.4", metrics.render());
        },
        false);
    /* What the process holds through malloc, free of what the allocator keeps
     * back (RSS includes that): the figure to watch for leaks. */
    metrics.gauge("sugarcast_heap_bytes", "Bytes allocated with malloc and not freed (mallinfo2)",
                  [] {
                    const struct mallinfo2 m = mallinfo2();
                    return static_cast<double>(m.uordblks + m.hblkhd);
                  });
  }
};

Daemon::Daemon(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Daemon::~Daemon() = default;

const Config &Daemon::config() const
{
  return impl_->config;
}

int Daemon::http_port() const
{
  return impl_->http.port();
}

int Daemon::rtmp_port() const
{
  return impl_->streams.rtmp_port();
}

void Daemon::start(std::function<void(const std::string &error)> done)
{
  Impl &d = *impl_;
  std::string weak = check_secret_lengths(d.config);
  if (!weak.empty()) {
    done(weak);
    return;
  }
  std::error_code ec;
  for (const auto &dir :
       {d.config.data_dir, d.config.hls.dir, d.config.clips.dir, d.config.recordings.dir}) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      done("cannot create folder " + dir + ": " + ec.message());
      return;
    }
  }
  register_builtin_elements();
  std::string error;
  const std::string token = ensure_admin_token(d.config, error);
  if (token.empty()) {
    done(error);
    return;
  }
  d.http.set_admin_token(token);
  /* Descriptions are checked before anything listens: a bad one stops start-up. */
  if (!d.pipelines.load(d.config.pipelines_dir, error)) {
    done("pipeline descriptions are not valid:\n" + error);
    return;
  }
  d.store->open([this, done](StoreResult<Done> opened) {
    Impl &d = *impl_;
    if (!opened.ok()) {
      done(std::string("cannot open the ") + d.store->backend() +
           " store: " + opened.error().message);
      return;
    }
    d.add_routes();
    std::string error;
    /* Recordings a crash left unfinished are repaired before the port
     * listens: /healthz answers only once they are listed as interrupted. */
    if (!d.recordings.start(error) || !d.streams.start(error) || !d.clips.start(error) ||
        !d.chat.start(error) || !d.stats.start(error) || !d.http.listen(error)) {
      done(error);
      return;
    }
    g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_INFO, "RTMP on %s:%d, HTTP on %s:%d, %s store, data in %s",
          d.config.rtmp.address.c_str(), d.streams.rtmp_port(), d.config.http.address.c_str(),
          d.http.port(), d.store->backend(), d.config.data_dir.c_str());
    done("");
  });
}

void Daemon::shutdown(std::function<void(bool clean)> done)
{
  Impl &d = *impl_;
  /* Stop accepting, let every stream finish its outputs, then the store. */
  d.http.stop_listening();
  d.stats.shutdown([] {});
  d.streams.shutdown([this, done](bool clean) {
    impl_->recordings.shutdown([this, done, clean] {
      impl_->clips.shutdown([this, done, clean] {
        Impl &d = *impl_;
        d.events.close_all();
        /* Chat's last history batch goes to the store before it closes. */
        d.chat.shutdown([this, done, clean] {
          impl_->store->close([done, clean](StoreResult<Done> closed) {
            if (!closed.ok())
              g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_WARNING, "closing the store: %s",
                    closed.error().message.c_str());
            done(clean && closed.ok());
          });
        });
      });
    });
  });
}

std::string check_secret_lengths(const Config &config)
{
  std::string out;
  auto check = [&out](const std::string &secret, const char *field, const char *variable) {
    if (!secret.empty() && secret.size() < kMinSecretBytes)
      out += std::string(out.empty() ? "" : "\n") + field + " (or " + variable + ") is " +
             std::to_string(secret.size()) + " bytes long; it must have at least " +
             std::to_string(kMinSecretBytes) + " (make one with: head -c 24 /dev/urandom | base64)";
  };
  check(config.admin_token, "admin_token", "SUGARCAST_ADMIN_TOKEN");
  check(config.chat.jwt_secret, "chat.jwt_secret", "SUGARCAST_JWT_SECRET");
  return out;
}

std::string ensure_admin_token(const Config &config, std::string &error)
{
  if (!config.admin_token.empty())
    return config.admin_token;
  const std::string path = config.data_dir + "/admin-token";
  g_autofree gchar *existing = nullptr;
  if (g_file_get_contents(path.c_str(), &existing, nullptr, nullptr)) {
    std::string token = g_strstrip(existing);
    if (!token.empty())
      return token;
  }
  const std::string token = random_token(24);
  g_autoptr(GError) err = nullptr;
  if (!g_file_set_contents_full(path.c_str(), (token + "\n").c_str(), -1,
                                G_FILE_SET_CONTENTS_CONSISTENT, 0600, &err)) {
    error = "cannot write the admin token to " + path + ": " + err->message;
    return "";
  }
  g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_MESSAGE,
        "made an admin token for the control API; it is in %s", path.c_str());
  return token;
}

} // namespace sugarcast
