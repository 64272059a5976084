/* sugarcastd — uploaded clips. See clips.h. */
#include "clips.h"
#include "guard.h"

#include "rest.h"
#include "secrets.h"
#include "tus.h"

#include <glib/gstdio.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#define LOG_DOMAIN "sugarcastd-clips"

namespace sugarcast {

namespace {

namespace fs = std::filesystem;

/* One upload being received, attached to its request. */
struct Upload
{
  std::string id;
  std::string dir;
  std::string path;
  std::string owner;
  FILE *file = nullptr;
  int64_t expected = 0;
  int64_t received = 0;
  bool complete = false;
  ~Upload()
  {
    if (file)
      std::fclose(file);
    if (!complete) { /* the client went away, or the upload was refused */
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
};

/* A name a creator gave their file, safe to show and store. */
std::string display_name(const std::string &name)
{
  std::string out;
  for (char c : name.substr(0, 200))
    out += (static_cast<unsigned char>(c) < 0x20 || c == '/' || c == '\\') ? '_' : c;
  g_autofree gchar *valid = g_utf8_make_valid(out.c_str(), -1);
  return valid;
}

} // namespace

struct ClipService::Impl
{
  const Config &config;
  HttpServer &http;
  Store &store;
  const PipelineCatalog &pipelines;
  Events &events;
  Metrics &metrics;
  const PipelineDescription *description = nullptr;
  std::unique_ptr<TusUploads> tus; /* resumable uploads end in accept_file() */

  struct Running
  {
    ClipRecord record;
    GstElement *pipeline = nullptr;
    guint bus_watch = 0;
    guint progress_timer = 0;
    bool verdict_valid = false;
    /* The watchdog: buffers the pipeline moved (counted by pad probes in the
     * streaming threads; shared because the probes outlive this record while
     * the pipeline stops), and when that count last changed. */
    std::shared_ptr<std::atomic<uint64_t>> moved = std::make_shared<std::atomic<uint64_t>>(0);
    uint64_t moved_seen = 0;
    gint64 moved_at = 0; /* monotonic µs */
  };
  std::deque<std::string> queue;
  /* Clips whose record could not be read (the store was down): tried again. */
  std::deque<std::string> retry;
  guint retry_timer = 0;
  std::map<std::string, std::unique_ptr<Running>> running;
  /* Progress streams (GET /api/clips/{id}/events), by their message. */
  struct EventStream
  {
    std::string clip;
    std::string user; /* whose streams count against the cap */
    guint idle_timer = 0;
  };
  std::map<SoupServerMessage *, EventStream> event_streams;
  bool shutting_down = false;
  int stopping = 0;
  std::function<void()> shutdown_done;

  Impl(const Config &c, HttpServer &h, Store &s, const PipelineCatalog &p, Events &e, Metrics &m)
      : config(c), http(h), store(s), pipelines(p), events(e), metrics(m)
  {}

  std::string dir_of(const std::string &id) const { return config.clips.dir + "/" + id; }

  JsonObject *describe(SoupServerMessage *msg, const ClipRecord &c) const
  {
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "id", c.id.c_str());
    json_object_set_string_member(o, "filename", c.filename.c_str());
    json_object_set_int_member(o, "size", c.size);
    json_object_set_string_member(o, "state", c.state.c_str());
    if (!c.owner.empty())
      json_object_set_string_member(o, "owner", c.owner.c_str());
    json_object_set_int_member(o, "progress", c.progress);
    if (!c.reason.empty())
      json_object_set_string_member(o, "reason", c.reason.c_str());
    if (!c.message.empty())
      json_object_set_string_member(o, "message", c.message.c_str());
    if (c.duration > 0) {
      json_object_set_int_member(o, "duration_ms", std::llround(c.duration * 1000));
      json_object_set_int_member(o, "width", c.width);
      json_object_set_int_member(o, "height", c.height);
      json_object_set_string_member(o, "codec", c.codec.c_str());
    }
    json_object_set_int_member(o, "created_at", c.created_at);
    json_object_set_int_member(o, "updated_at", c.updated_at);
    if (c.state == "ready" && msg) {
      const std::string base = http.base_url(msg) + "/clips/" + c.id + "/";
      JsonObject *outputs = json_object_new();
      json_object_set_string_member(outputs, "mp4", (base + "clip.mp4").c_str());
      json_object_set_string_member(outputs, "webm", (base + "clip.webm").c_str());
      json_object_set_string_member(outputs, "thumbnail", (base + "thumbnail-01.jpg").c_str());
      json_object_set_object_member(o, "outputs", outputs);
    }
    return o;
  }

  void announce(const ClipRecord &c)
  {
    events.publish("clip", describe(nullptr, c));
    notify_streams(c);
  }

  /* ---- progress for the uploader: server-sent events ---- */

  static bool settled(const std::string &state)
  {
    return state == "ready" || state == "rejected" || state == "failed";
  }

  int streams_of(const std::string &user) const
  {
    return static_cast<int>(
        std::count_if(event_streams.begin(), event_streams.end(),
                      [&user](const auto &s) { return s.second.user == user; }));
  }

  static std::string user_key(const Uploader &who)
  {
    return who.owner.empty() ? std::string("(admin)") : who.owner;
  }

  bool stream_cap_reached(SoupServerMessage *msg, const std::string &user)
  {
    if (streams_of(user) < config.clips.max_event_streams_per_user)
      return false;
    respond_error(msg, 429, "too_many_streams",
                  "You have " + std::to_string(config.clips.max_event_streams_per_user) +
                      " progress streams open (clips.max_event_streams_per_user); close one "
                      "first");
    return true;
  }

  /* Appends one event and lets libsoup write it (it pauses itself when the
   * body has nothing more to send). */
  static void send_event(SoupServerMessage *msg, const char *name, JsonObject *o)
  {
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
    json_object_unref(o);
    g_autofree gchar *data = json_to_string(node, FALSE);
    std::string text = std::string("event: ") + name + "\ndata: " + data + "\n\n";
    soup_message_body_append(soup_server_message_get_response_body(msg), SOUP_MEMORY_COPY,
                             text.data(), text.size());
    soup_server_message_unpause(msg);
  }

  void arm_idle(SoupServerMessage *msg, EventStream &s)
  {
    if (s.idle_timer)
      g_source_remove(s.idle_timer);
    struct Ctx
    {
      Impl *self;
      SoupServerMessage *msg;
    };
    s.idle_timer = g_timeout_add_full(
        G_PRIORITY_DEFAULT, static_cast<guint>(config.clips.events_idle_timeout * 1000),
        SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
          auto *ctx = static_cast<Ctx *>(data);
          auto it = ctx->self->event_streams.find(ctx->msg);
          if (it != ctx->self->event_streams.end()) {
            it->second.idle_timer = 0;
            JsonObject *o = json_object_new();
            json_object_set_string_member(o, "id", it->second.clip.c_str());
            json_object_set_string_member(
                o, "message",
                "Nothing changed for clips.events_idle_timeout seconds; reconnect "
                "to go on following the clip");
            ctx->self->end_stream(ctx->msg, "idle", o);
          }
          return G_SOURCE_REMOVE;
        }),
        new Ctx{this, msg}, [](gpointer d) { delete static_cast<Ctx *>(d); });
  }

  /* The last event, then the end of the body; the message's "finished"
   * forgets the stream. */
  void end_stream(SoupServerMessage *msg, const char *name, JsonObject *o)
  {
    auto it = event_streams.find(msg);
    if (it != event_streams.end() && it->second.idle_timer)
      g_source_remove(std::exchange(it->second.idle_timer, 0u));
    if (o)
      send_event(msg, name, o);
    soup_message_body_complete(soup_server_message_get_response_body(msg));
    soup_server_message_unpause(msg);
  }

  void forget_stream(SoupServerMessage *msg)
  {
    auto it = event_streams.find(msg);
    if (it == event_streams.end())
      return;
    if (it->second.idle_timer)
      g_source_remove(it->second.idle_timer);
    g_signal_handlers_disconnect_by_data(msg, this);
    event_streams.erase(it);
    g_object_unref(msg);
  }

  void notify_streams(const ClipRecord &c)
  {
    std::vector<SoupServerMessage *> to;
    for (auto &[msg, s] : event_streams)
      if (s.clip == c.id)
        to.push_back(msg);
    for (SoupServerMessage *msg : to) {
      if (settled(c.state)) {
        end_stream(msg, "clip", describe(msg, c));
      } else {
        send_event(msg, "clip", describe(msg, c));
        if (auto it = event_streams.find(msg); it != event_streams.end())
          arm_idle(msg, it->second); /* not if the client went away meanwhile */
      }
    }
  }

  void open_stream(SoupServerMessage *msg, const ClipRecord &stored, const std::string &user)
  {
    if (stream_cap_reached(msg, user)) /* again: others may have opened meanwhile */
      return;
    auto run = running.find(stored.id);
    const ClipRecord &c = run != running.end() && run->second ? run->second->record : stored;
    SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(headers, "Content-Type", "text/event-stream");
    soup_message_headers_replace(headers, "Cache-Control", "no-store");
    soup_message_headers_replace(headers, "X-Accel-Buffering", "no");
    soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
    soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    if (settled(c.state)) {
      end_stream(msg, "clip", describe(msg, c));
      return;
    }
    event_streams[SOUP_SERVER_MESSAGE(g_object_ref(msg))] = EventStream{c.id, user, 0};
    /* Whichever comes first forgets the stream (forget_stream is idempotent). */
    for (const char *signal : {"finished", "disconnected"})
      g_signal_connect(msg, signal,
                       G_CALLBACK(SUGARCAST_GUARD(+[](SoupServerMessage *m, gpointer data) {
                         static_cast<Impl *>(data)->forget_stream(m);
                       })),
                       this);
    send_event(msg, "clip", describe(msg, c));
    if (auto it = event_streams.find(msg); it != event_streams.end())
      arm_idle(msg, it->second);
  }

  /* GET /api/clips/{id}/events: the clip's owner or the admin. */
  void follow(HttpRequest &r)
  {
    Uploader who;
    if (!authorize_uploader(config, http, r.msg, who))
      return;
    const std::string user = user_key(who);
    if (stream_cap_reached(r.msg, user))
      return; /* before the store is asked */
    if (shutting_down) {
      respond_error(r.msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "shutting_down",
                    "The server is shutting down; reconnect shortly");
      return;
    }
    std::optional<Uploader> asker = who;
    auto reply = std::make_shared<Deferred>(r.msg);
    with_clip(
        reply, r.params["id"], [asker](const ClipRecord &c) { return owns(asker, c); },
        "No clip of yours with id",
        [this, reply, user](const ClipRecord &c) { open_stream(reply->msg(), c, user); });
  }

  void save(const ClipRecord &c)
  {
    store.save_clip(c, [id = c.id](StoreResult<Done> saved) {
      if (!saved.ok())
        g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "clip %s: its state was not recorded: %s",
              id.c_str(), saved.error().message.c_str());
    });
  }

  /* ---- the upload ---- */

  static void on_early(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *query,
                       gpointer data)
  {
    auto *self = static_cast<Impl *>(data);
    if (g_strcmp0(soup_server_message_get_method(msg), "POST") != 0 ||
        g_strcmp0(path, "/api/clips") != 0)
      return;
    Uploader who;
    if (!authorize_uploader(self->config, self->http, msg, who))
      return; /* refused before a byte of the body is read */
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    const goffset length = soup_message_headers_get_content_length(headers);
    if (soup_message_headers_get_encoding(headers) != SOUP_ENCODING_CONTENT_LENGTH) {
      respond_error(msg, SOUP_STATUS_LENGTH_REQUIRED, "length_required",
                    "Send the clip with a Content-Length header");
      return;
    }
    if (length > self->config.clips.max_upload_bytes) {
      respond_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                    "The upload is " + std::to_string(length) + " bytes; the limit is " +
                        std::to_string(self->config.clips.max_upload_bytes));
      return;
    }
    if (length == 0) {
      respond_error(msg, SOUP_STATUS_BAD_REQUEST, "empty_upload", "The upload is empty");
      return;
    }
    if (self->shutting_down) {
      respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "shutting_down",
                    "The server is shutting down; upload again shortly");
      return;
    }
    auto *upload = new Upload;
    upload->id = random_id();
    upload->dir = self->dir_of(upload->id);
    upload->path = upload->dir + "/upload";
    upload->expected = length;
    upload->owner = who.owner;
    std::error_code ec;
    fs::create_directories(upload->dir, ec);
    upload->file = ec ? nullptr : std::fopen(upload->path.c_str(), "wb");
    if (!upload->file) {
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "cannot write uploads to %s: %s", upload->dir.c_str(),
            ec ? ec.message().c_str() : g_strerror(errno));
      delete upload;
      respond_error(msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "storage",
                    "The server cannot store uploads right now");
      return;
    }
    (void)query;
    g_object_set_data_full(G_OBJECT(msg), "sugarcast-upload", upload,
                           [](gpointer u) { delete static_cast<Upload *>(u); });
    /* Write the body as it comes instead of holding it in memory. */
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
    g_signal_connect(msg, "got-chunk", G_CALLBACK(SUGARCAST_GUARD(on_chunk)), upload);
  }

  static void on_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data)
  {
    auto *upload = static_cast<Upload *>(data);
    gsize size = 0;
    const void *bytes = g_bytes_get_data(chunk, &size);
    upload->received += static_cast<int64_t>(size);
    if (upload->file && std::fwrite(bytes, 1, size, upload->file) != size) {
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "clip %s: writing %s failed: %s", upload->id.c_str(),
            upload->path.c_str(), g_strerror(errno));
      std::fclose(upload->file);
      upload->file = nullptr;
    }
    (void)msg;
  }

  void on_upload(HttpRequest &r)
  {
    auto *upload = static_cast<Upload *>(g_object_get_data(G_OBJECT(r.msg), "sugarcast-upload"));
    if (!upload) {
      respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_upload", "The upload was not received");
      return;
    }
    if (!upload->file || std::fclose(upload->file) != 0 || upload->received != upload->expected) {
      upload->file = nullptr;
      respond_error(r.msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "storage",
                    "The upload could not be stored");
      return;
    }
    upload->file = nullptr;
    upload->complete = true;
    ClipRecord c;
    c.id = upload->id;
    c.filename = display_name(r.query_param("filename", "upload"));
    c.size = upload->received;
    c.owner = upload->owner;
    c.state = "queued";
    c.created_at = c.updated_at = now_ms();
    metrics.counter("sugarcast_clips_uploaded_total", "Clips uploaded").fetch_add(1);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "clip %s uploaded: \"%s\", %" G_GINT64_FORMAT " bytes",
          c.id.c_str(), c.filename.c_str(), c.size);
    auto reply = std::make_shared<Deferred>(r.msg);
    store.save_clip(c, [this, reply, c](StoreResult<Done> saved) {
      if (!saved.ok()) {
        std::error_code ec;
        fs::remove_all(dir_of(c.id), ec);
        respond_store_error(reply->msg(), saved.error());
        return;
      }
      JsonObject *o = describe(reply->msg(), c);
      json_object_set_string_member(o, "status_url",
                                    (http.base_url(reply->msg()) + "/api/clips/" + c.id).c_str());
      g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
      json_object_unref(o);
      respond_json(reply->msg(), SOUP_STATUS_ACCEPTED, node);
      announce(c);
      queue.push_back(c.id);
      run_next();
    });
  }

  /* A complete file from elsewhere (a resumable upload) is moved into a
   * new clip's folder and queued like a single-body upload. */
  void accept_file(const std::string &file, const std::string &filename, const std::string &owner,
                   std::function<void(const std::string &, const std::string &)> done)
  {
    if (shutting_down) {
      done("", "the server is shutting down");
      return;
    }
    ClipRecord c;
    c.id = random_id();
    std::error_code ec;
    fs::create_directories(dir_of(c.id), ec);
    if (!ec)
      fs::rename(file, dir_of(c.id) + "/upload", ec);
    if (ec) {
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "clip %s: cannot take %s: %s", c.id.c_str(),
            file.c_str(), ec.message().c_str());
      fs::remove_all(dir_of(c.id), ec);
      done("", "the server cannot store clips right now");
      return;
    }
    c.filename = display_name(filename);
    c.owner = owner;
    c.size = static_cast<int64_t>(fs::file_size(dir_of(c.id) + "/upload", ec));
    c.state = "queued";
    c.created_at = c.updated_at = now_ms();
    metrics.counter("sugarcast_clips_uploaded_total", "Clips uploaded").fetch_add(1);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO,
          "clip %s uploaded (resumable): \"%s\", %" G_GINT64_FORMAT " bytes", c.id.c_str(),
          c.filename.c_str(), c.size);
    store.save_clip(c, [this, c, file, done](StoreResult<Done> saved) {
      std::error_code ec;
      if (!saved.ok()) { /* back where it was, for a retry */
        fs::rename(dir_of(c.id) + "/upload", file, ec);
        fs::remove_all(dir_of(c.id), ec);
        done("", saved.error().message);
        return;
      }
      done(c.id, "");
      announce(c);
      queue.push_back(c.id);
      run_next();
    });
  }

  /* ---- the pipeline ---- */

  void run_next()
  {
    while (!shutting_down && !queue.empty() &&
           static_cast<int>(running.size()) < config.clips.max_concurrent) {
      const std::string id = queue.front();
      queue.pop_front();
      /* begin() fills the slot when the record arrives: reserve it first (the
       * store may answer at once, before get_clip returns). */
      running[id] = nullptr;
      store.get_clip(id, [this, id](StoreResult<std::optional<ClipRecord>> found) {
        auto slot = running.find(id);
        if (slot == running.end() || slot->second)
          return; /* a shutdown dropped the reservation */
        if (!found.ok() || !found.value() || shutting_down) {
          running.erase(slot); /* free the slot, or no clip ever runs again */
          if (!found.ok()) {
            g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING,
                  "clip %s: its record could not be read (%s); trying again in %d s", id.c_str(),
                  found.error().message.c_str(), kRetrySeconds);
            retry_later(id);
          } else if (!found.value()) {
            g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "clip %s: its record is gone; skipped",
                  id.c_str());
          }
          run_next();
          return;
        }
        begin(*found.value());
      });
    }
  }

  static constexpr int kRetrySeconds = 2;

  void retry_later(const std::string &id)
  {
    retry.push_back(id);
    if (retry_timer)
      return;
    retry_timer = g_timeout_add_seconds(
        kRetrySeconds, SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
          auto *self = static_cast<Impl *>(data);
          self->retry_timer = 0;
          if (self->shutting_down)
            return G_SOURCE_REMOVE;
          /* Ahead of later uploads: they were queued after these. */
          self->queue.insert(self->queue.begin(), self->retry.begin(), self->retry.end());
          self->retry.clear();
          self->run_next();
          return G_SOURCE_REMOVE;
        }),
        this);
  }

  /* Counts every buffer that leaves the validator (the upload being read) and
   * every buffer a sink receives (the outputs being written, and the
   * encoders draining after the input has ended). */
  static void watch_progress(GstElement *pipeline,
                             const std::shared_ptr<std::atomic<uint64_t>> &moved)
  {
    auto add_probe = [&moved](GstPad *pad) {
      gst_pad_add_probe(
          pad,
          static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
          SUGARCAST_GUARD(+[](GstPad *, GstPadProbeInfo *, gpointer data) -> GstPadProbeReturn {
            static_cast<std::shared_ptr<std::atomic<uint64_t>> *>(data)->get()->fetch_add(
                1, std::memory_order_relaxed);
            return GST_PAD_PROBE_OK;
          }),
          new std::shared_ptr<std::atomic<uint64_t>>(moved), [](gpointer data) {
            delete static_cast<std::shared_ptr<std::atomic<uint64_t>> *>(data);
          });
    };
    g_autoptr(GstIterator) it = gst_bin_iterate_elements(GST_BIN(pipeline));
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
      auto *element = GST_ELEMENT(g_value_get_object(&item));
      GstElementFactory *factory = gst_element_get_factory(element);
      const bool validator = factory && g_strcmp0(GST_OBJECT_NAME(factory), "clipvalidate") == 0;
      const bool sink = GST_OBJECT_FLAG_IS_SET(element, GST_ELEMENT_FLAG_SINK);
      if (validator || sink) {
        g_autoptr(GstIterator) pads = validator ? gst_element_iterate_src_pads(element)
                                                : gst_element_iterate_sink_pads(element);
        GValue pad = G_VALUE_INIT;
        while (gst_iterator_next(pads, &pad) == GST_ITERATOR_OK) {
          add_probe(GST_PAD(g_value_get_object(&pad)));
          g_value_reset(&pad);
        }
        g_value_unset(&pad);
      }
      g_value_reset(&item);
    }
    g_value_unset(&item);
  }

  void begin(ClipRecord c)
  {
    auto run = std::make_unique<Running>();
    run->record = std::move(c);
    ClipRecord &rec = run->record;
    const std::string dir = dir_of(rec.id);
    PipelineParams params = {
        {"clip.id", rec.id},
        {"data_dir", config.data_dir},
        {"upload.path", dir + "/upload"},
        {"clip.dir", dir},
        {"clip.min_duration",
         std::to_string(static_cast<int64_t>(config.clips.min_duration * 1e9))},
        {"clip.max_duration",
         std::to_string(static_cast<int64_t>(config.clips.max_duration * 1e9))},
    };
    std::string error;
    run->pipeline = description->instantiate("clip-" + rec.id, params, error);
    if (!run->pipeline) {
      running.erase(rec.id);
      conclude(rec, "failed", "pipeline", "The clip could not be processed: " + error);
      run_next();
      return;
    }
    g_autoptr(GstBus) bus = gst_element_get_bus(run->pipeline);
    struct Ctx
    {
      Impl *self;
      std::string id;
    };
    run->bus_watch = gst_bus_add_watch_full(
        bus, G_PRIORITY_DEFAULT,
        SUGARCAST_GUARD(+[](GstBus *, GstMessage *msg, gpointer data) -> gboolean {
          auto *ctx = static_cast<Ctx *>(data);
          return ctx->self->on_bus(ctx->id, msg);
        }),
        new Ctx{this, rec.id}, [](gpointer d) { delete static_cast<Ctx *>(d); });
    run->progress_timer =
        g_timeout_add_full(G_PRIORITY_DEFAULT, 500, SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
                             auto *ctx = static_cast<Ctx *>(data);
                             ctx->self->update_progress(ctx->id);
                             return G_SOURCE_CONTINUE;
                           }),
                           new Ctx{this, rec.id}, [](gpointer d) { delete static_cast<Ctx *>(d); });
    watch_progress(run->pipeline, run->moved);
    run->moved_at = g_get_monotonic_time();
    rec.state = "processing";
    rec.updated_at = now_ms();
    save(rec);
    announce(rec);
    GstElement *pipeline = run->pipeline;
    running[rec.id] = std::move(run);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "clip %s: processing", running[rec.id]->record.id.c_str());
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
  }

  void update_progress(const std::string &id)
  {
    auto it = running.find(id);
    if (it == running.end() || !it->second)
      return;
    Running &r = *it->second;
    const uint64_t moved = r.moved->load(std::memory_order_relaxed);
    const gint64 now = g_get_monotonic_time();
    if (moved != r.moved_seen) {
      r.moved_seen = moved;
      r.moved_at = now;
    } else if (now - r.moved_at >
               static_cast<gint64>(config.clips.stall_timeout * G_USEC_PER_SEC)) {
      char seconds[32];
      g_snprintf(seconds, sizeof seconds, "%g", config.clips.stall_timeout);
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING,
            "clip %s: no buffer moved for %s s (clips.stall_timeout); stopped", id.c_str(),
            seconds);
      finish(id, "failed", "stalled",
             std::string("Processing the clip stopped making progress (nothing for ") + seconds +
                 " s) and was abandoned; upload it again, and if that fails too, export it "
                 "again from your phone or editor");
      return;
    }
    gint64 position = 0, duration = 0;
    if (!gst_element_query_position(r.pipeline, GST_FORMAT_TIME, &position) ||
        !gst_element_query_duration(r.pipeline, GST_FORMAT_TIME, &duration) || duration <= 0)
      return;
    const int percent = static_cast<int>(std::min<gint64>(99, position * 100 / duration));
    if (percent == r.record.progress)
      return;
    const bool decade = percent / 10 != r.record.progress / 10;
    r.record.progress = percent;
    r.record.updated_at = now_ms();
    if (decade) { /* the store and the control socket every 10 % */
      save(r.record);
      announce(r.record);
    } else { /* the uploader's progress streams at every percent */
      notify_streams(r.record);
    }
  }

  gboolean on_bus(const std::string &id, GstMessage *msg)
  {
    auto it = running.find(id);
    if (it == running.end() || !it->second)
      return G_SOURCE_REMOVE;
    Running &r = *it->second;
    switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure(msg);
      if (gst_structure_has_name(s, "clip-validation")) {
        gboolean valid = FALSE;
        guint64 duration = GST_CLOCK_TIME_NONE;
        gst_structure_get_boolean(s, "valid", &valid);
        gst_structure_get_uint64(s, "duration", &duration);
        gst_structure_get_int(s, "width", &r.record.width);
        gst_structure_get_int(s, "height", &r.record.height);
        if (const char *codec = gst_structure_get_string(s, "codec"))
          r.record.codec = codec;
        if (GST_CLOCK_TIME_IS_VALID(duration))
          r.record.duration = static_cast<double>(duration) / GST_SECOND;
        r.verdict_valid = valid;
        if (!valid) {
          const char *reason = gst_structure_get_string(s, "reason");
          const char *message = gst_structure_get_string(s, "message");
          finish(id, "rejected", reason ? reason : "rejected", message ? message : "");
          return G_SOURCE_REMOVE;
        }
      }
      break;
    }
    case GST_MESSAGE_EOS:
      if (r.verdict_valid)
        finish(id, "ready", "", "");
      else
        finish(id, "failed", "no-verdict", "The clip ended before it could be validated");
      return G_SOURCE_REMOVE;
    case GST_MESSAGE_ERROR: {
      g_autoptr(GError) err = nullptr;
      g_autofree gchar *debug = nullptr;
      gst_message_parse_error(msg, &err, &debug);
      g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "clip %s: %s: %s (%s)", id.c_str(),
            GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)), err->message, debug ? debug : "");
      finish(id, "failed", "unreadable",
             std::string("The file could not be read as a video: ") + err->message);
      return G_SOURCE_REMOVE;
    }
    default:
      break;
    }
    return G_SOURCE_CONTINUE;
  }

  void finish(const std::string &id, const std::string &state, const std::string &reason,
              const std::string &message)
  {
    auto it = running.find(id);
    std::unique_ptr<Running> r = std::move(it->second);
    running.erase(it);
    if (r->progress_timer)
      g_source_remove(r->progress_timer);
    if (r->bus_watch)
      g_source_remove(r->bus_watch);
    ++stopping;
    const std::string dir = dir_of(id);
    stop_pipeline(r->pipeline, [this, dir, state] {
      --stopping;
      std::error_code ec;
      if (state == "ready")
        fs::remove(dir + "/upload", ec);
      else if (!shutting_down)
        fs::remove_all(dir, ec); /* nothing of a refused clip is kept */
      maybe_done();
    });
    if (state == "ready")
      r->record.progress = 100;
    conclude(r->record, state, reason, message);
    run_next();
  }

  void conclude(ClipRecord &c, const std::string &state, const std::string &reason,
                const std::string &message)
  {
    c.state = state;
    c.reason = reason;
    c.message = message;
    c.updated_at = now_ms();
    metrics
        .counter("sugarcast_clips_finished_total", "Clips processed, by outcome",
                 {{"state", state}})
        .fetch_add(1);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "clip %s %s%s%s", c.id.c_str(), state.c_str(),
          message.empty() ? "" : ": ", message.c_str());
    save(c);
    announce(c);
  }

  void maybe_done()
  {
    if (shutting_down && stopping == 0 && shutdown_done)
      std::exchange(shutdown_done, nullptr)();
  }

  /* ---- the API ---- */

  /* Who asks: no Authorization header is an anonymous reader (published
   * clips only); a header must be the admin token or an uploader's token. */
  bool asker(SoupServerMessage *msg, std::optional<Uploader> &who)
  {
    if (!soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
                                      "Authorization"))
      return true;
    who.emplace();
    return authorize_uploader(config, http, msg, *who);
  }

  /* A clip is its uploader's (and the admin's). */
  static bool owns(const std::optional<Uploader> &who, const ClipRecord &c)
  {
    return who && (who->admin || who->owner == c.owner);
  }

  /* Published clips are public; the others only their owner's. */
  static bool may_see(const std::optional<Uploader> &who, const ClipRecord &c)
  {
    return c.state == "ready" || owns(who, c);
  }

  /* Reads clip ID from the store and runs FN with it when
   * ALLOWED says the asker may have it; otherwise the reply is the store's
   * error or a 404 saying NOT_FOUND (as if the clip did not exist). */
  template <typename Allowed, typename Fn>
  void with_clip(std::shared_ptr<Deferred> reply, const std::string &id, Allowed allowed,
                 const std::string &not_found, Fn fn)
  {
    store.get_clip(
        id, [reply, id, allowed, not_found, fn](StoreResult<std::optional<ClipRecord>> found) {
          if (!found.ok()) {
            respond_store_error(reply->msg(), found.error());
            return;
          }
          if (!found.value() || !allowed(*found.value())) {
            respond_error(reply->msg(), SOUP_STATUS_NOT_FOUND, "not_found",
                          not_found + " \"" + id + "\"");
            return;
          }
          fn(*found.value());
        });
  }

  void show(HttpRequest &r)
  {
    std::optional<Uploader> who;
    if (!asker(r.msg, who))
      return;
    auto reply = std::make_shared<Deferred>(r.msg);
    const std::string id = r.params["id"];
    with_clip(
        reply, id, [who](const ClipRecord &c) { return may_see(who, c); }, "No clip with id",
        [this, reply](const ClipRecord &c) {
          g_autoptr(JsonNode) node =
              json_node_init_object(json_node_alloc(), describe(reply->msg(), c));
          json_object_unref(json_node_get_object(node));
          respond_json(reply->msg(), SOUP_STATUS_OK, node);
        });
  }

  /* ?state=ready: the feed of published clips, everyone's, for anyone;
   * otherwise the asker's own clips (every clip for the admin). Pages:
   * ?limit=N&before=CURSOR, the cursor from the last page's "next". */
  void list(HttpRequest &r)
  {
    std::optional<Uploader> who;
    ClipQuery q;
    q.state = r.query_param("state");
    const bool feed = q.state == "ready";
    if (!feed && !soup_message_headers_get_one(soup_server_message_get_request_headers(r.msg),
                                               "Authorization")) {
      respond_error(r.msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                    "Listing clips other than ?state=ready needs a token: Authorization: Bearer "
                    "TOKEN");
      return;
    }
    if (!asker(r.msg, who))
      return;
    static const char *const states[] = {"", "queued", "processing", "ready", "rejected", "failed"};
    if (std::find(std::begin(states), std::end(states), q.state) == std::end(states)) {
      respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_state",
                    "state is one of queued, processing, ready, rejected, failed; not \"" +
                        q.state + "\"");
      return;
    }
    q.any_owner = feed || (who && who->admin);
    q.owner = who ? who->owner : "";
    const std::string limit = r.query_param("limit", feed ? "20" : "100");
    char *end = nullptr;
    q.limit = static_cast<int>(std::strtol(limit.c_str(), &end, 10));
    if (limit.empty() || *end || q.limit < 1 || q.limit > 100) {
      respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_limit",
                    "limit is a number from 1 to 100, not \"" + limit + "\"");
      return;
    }
    const std::string before = r.query_param("before");
    if (!before.empty()) {
      const size_t sep = before.find('_');
      q.before_created_at = std::strtoll(before.c_str(), &end, 10);
      if (sep == std::string::npos || end != before.c_str() + sep || q.before_created_at <= 0) {
        respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_cursor",
                      "before is the \"next\" of a previous page, not \"" + before + "\"");
        return;
      }
      q.before_id = before.substr(sep + 1);
    }
    auto reply = std::make_shared<Deferred>(r.msg);
    store.list_clips_where(q, [this, reply, q](StoreResult<std::vector<ClipRecord>> all) {
      if (!all.ok()) {
        respond_store_error(reply->msg(), all.error());
        return;
      }
      JsonArray *a = json_array_new();
      for (const auto &c : all.value())
        json_array_add_object_element(a, describe(reply->msg(), c));
      JsonObject *o = json_object_new();
      json_object_set_array_member(o, "clips", a);
      if (static_cast<int>(all.value().size()) == q.limit) {
        const ClipRecord &last = all.value().back();
        json_object_set_string_member(o, "next",
                                      (std::to_string(last.created_at) + "_" + last.id).c_str());
      }
      g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
      json_object_unref(o);
      respond_json(reply->msg(), SOUP_STATUS_OK, node);
    });
  }

  void remove(HttpRequest &r)
  {
    std::optional<Uploader> who;
    who.emplace();
    if (!authorize_uploader(config, http, r.msg, *who))
      return;
    auto reply = std::make_shared<Deferred>(r.msg);
    const std::string id = r.params["id"];
    with_clip(
        reply, id, [who](const ClipRecord &c) { return owns(who, c); }, "No clip of yours with id",
        [this, reply, id](const ClipRecord &) {
          if (running.count(id)) {
            respond_error(reply->msg(), SOUP_STATUS_CONFLICT, "processing",
                          "The clip is being processed; delete it once it is ready, rejected or "
                          "failed");
            return;
          }
          store.delete_clip(id, [this, reply, id](StoreResult<bool> deleted) {
            if (!deleted.ok()) {
              respond_store_error(reply->msg(), deleted.error());
              return;
            }
            queue.erase(std::remove(queue.begin(), queue.end(), id), queue.end());
            std::error_code ec;
            fs::remove_all(dir_of(id), ec);
            g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "clip %s deleted", id.c_str());
            soup_server_message_set_status(reply->msg(), SOUP_STATUS_NO_CONTENT, nullptr);
          });
        });
  }
};

ClipService::ClipService(const Config &config, HttpServer &http, Store &store,
                         const PipelineCatalog &pipelines, Events &events, Metrics &metrics)
    : impl_(std::make_unique<Impl>(config, http, store, pipelines, events, metrics))
{
  Impl *d = impl_.get();
  http.add_early_handler("/api/clips", SUGARCAST_GUARD(Impl::on_early), d);
  http.route(
      "POST", "/api/clips", [d](HttpRequest &r) { d->on_upload(r); },
      false); /* authorized by on_early, before the body */
  http.route(
      "GET", "/api/clips", [d](HttpRequest &r) { d->list(r); }, false);
  http.route(
      "GET", "/api/clips/{id}", [d](HttpRequest &r) { d->show(r); }, false);
  http.route(
      "DELETE", "/api/clips/{id}", [d](HttpRequest &r) { d->remove(r); }, false);
  http.route(
      "GET", "/api/clips/{id}/events", [d](HttpRequest &r) { d->follow(r); }, false);
  d->tus = std::make_unique<TusUploads>(
      config, http,
      [d](const std::string &file, const std::string &filename, const std::string &owner,
          std::function<void(const std::string &, const std::string &)> done) {
        d->accept_file(file, filename, owner, std::move(done));
      });
}

ClipService::~ClipService()
{
  while (!impl_->event_streams.empty())
    impl_->forget_stream(impl_->event_streams.begin()->first);
  if (impl_->retry_timer)
    g_source_remove(impl_->retry_timer);
  for (auto &[id, r] : impl_->running) {
    if (!r)
      continue;
    if (r->progress_timer)
      g_source_remove(r->progress_timer);
    if (r->bus_watch)
      g_source_remove(r->bus_watch);
    gst_element_set_state(r->pipeline, GST_STATE_NULL);
    gst_object_unref(r->pipeline);
  }
}

bool ClipService::start(std::string &error)
{
  Impl &d = *impl_;
  d.description = d.pipelines.find(d.config.clips.pipeline);
  if (!d.description || d.description->kind() != "clip") {
    error = "clips.pipeline names \"" + d.config.clips.pipeline +
            "\", which is not a clip pipeline description";
    return false;
  }
  if (!d.tus->start(error))
    return false;
  /* Clips a shutdown cut short run again. */
  d.store.list_clips(1000, [&d](StoreResult<std::vector<ClipRecord>> all) {
    if (!all.ok())
      return;
    for (auto it = all.value().rbegin(); it != all.value().rend(); ++it)
      if ((it->state == "queued" || it->state == "processing") &&
          fs::exists(d.dir_of(it->id) + "/upload")) {
        g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "clip %s: processing it again after a restart",
              it->id.c_str());
        d.queue.push_back(it->id);
      }
    d.run_next();
  });
  return true;
}

void ClipService::queue_file(const std::string &file, const std::string &filename,
                             const std::string &owner,
                             std::function<void(JsonObject *, const std::string &)> done)
{
  impl_->accept_file(
      file, filename, owner, [this, done](const std::string &id, const std::string &error) {
        if (id.empty()) {
          done(nullptr, error);
          return;
        }
        impl_->store.get_clip(id, [this, done, id](StoreResult<std::optional<ClipRecord>> got) {
          if (!got.ok() || !got.value()) {
            JsonObject *o = json_object_new();
            json_object_set_string_member(o, "id", id.c_str());
            json_object_set_string_member(o, "state", "queued");
            done(o, "");
            return;
          }
          done(impl_->describe(nullptr, *got.value()), "");
        });
      });
}

void ClipService::shutdown(std::function<void()> done)
{
  Impl &d = *impl_;
  d.shutting_down = true;
  d.queue.clear();
  d.retry.clear();
  if (d.retry_timer)
    g_source_remove(std::exchange(d.retry_timer, 0u));
  d.shutdown_done = std::move(done);
  std::vector<SoupServerMessage *> streams;
  for (auto &[msg, s] : d.event_streams)
    streams.push_back(msg);
  for (SoupServerMessage *msg : streams)
    d.end_stream(msg, nullptr, nullptr);
  std::vector<std::string> ids;
  for (auto &[id, r] : d.running)
    if (r)
      ids.push_back(id);
  for (const auto &id : ids) {
    Impl::Running &r = *d.running[id];
    if (r.progress_timer)
      g_source_remove(r.progress_timer);
    if (r.bus_watch)
      g_source_remove(r.bus_watch);
    ++d.stopping;
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO,
          "clip %s: stopped by the shutdown; it runs again at the "
          "next start",
          id.c_str());
    stop_pipeline(r.pipeline, [&d] {
      --d.stopping;
      d.maybe_done();
    });
  }
  d.running.clear();
  d.maybe_done();
}

} // namespace sugarcast
