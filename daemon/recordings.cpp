/* sugarcastd — recordings. See recordings.h. */
#include "recordings.h"

#include "guard.h"

#include "api.h"
#include "authz.h"
#include "giftdraw.h"
#include "manifest.h"
#include "media.h"
#include "mediafiles.h"
#include "repair.h"
#include "retention.h"
#include "secrets.h"

#include <glib/gstdio.h>

#include <sys/stat.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

#define LOG_DOMAIN "sugarcastd-recordings"

namespace sugarcast {

namespace {

namespace fs = std::filesystem;

/* Limits before work: a listing page, a chat replay, highlight cuts at once. */
constexpr int kDefaultPage = 20;
constexpr int kMaxPage = 100;
constexpr int kChatPage = 500;
constexpr size_t kMaxChatReplay = 20000;
constexpr int kMaxCuts = 2;
/* A cut reads at most 60 s of already-encoded media: it takes well under a
 * second here; past this it has stalled. */
constexpr guint kCutTimeoutSeconds = 60;
constexpr const char *kSettingsName = ".settings.json";

struct Recording
{
  std::string id; /* STREAM-FOLDER */
  std::string stream;
  std::string folder_name;
  std::string folder; /* the path */
  record::Manifest manifest;
};

bool plain_name(const std::string &name)
{
  if (name.empty() || name.size() > 128 || name[0] == '.')
    return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return g_ascii_isalnum(c) || c == '-' || c == '_' || c == '.'; });
}

void respond_object(SoupServerMessage *msg, guint status, JsonObject *o)
{
  g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
  json_object_unref(o);
  respond_json(msg, status, node);
}

/* Newest first: by folder name (the UTC start), then stream. */
bool newer(const Recording &a, const Recording &b)
{
  if (a.folder_name != b.folder_name)
    return a.folder_name > b.folder_name;
  return a.stream > b.stream;
}

} // namespace

struct RecordingService::Impl
{
  const Config &config;
  HttpServer &http;
  Store &store;
  StreamManager &streams;
  ClipService &clips;
  MediaFiles media;
  std::map<std::string, bool> switched; /* stream → recording on/off for its next shows */
  /* Manifests as last read, by path, with the file they were read from: a
   * listing parses only what changed since (a 2-hour recording's manifest
   * lists 1,800 segments). recordsink replaces a manifest by renaming a new
   * file over it, so a changed one never shows the same inode and times. */
  struct KnownManifest
  {
    struct stat st;
    record::Manifest manifest;
  };
  mutable std::map<std::string, KnownManifest> manifests;
  static constexpr size_t kMaxKnownManifests = 4096;
  int cuts = 0;
  bool shutting_down = false;
  std::function<void()> shutdown_done;

  Impl(const Config &c, HttpServer &h, Store &s, StreamManager &st, ClipService &cl)
      : config(c), http(h), store(s), streams(st), clips(cl),
        media(h, "/recordings", c.recordings.dir)
  {}

  std::string stream_dir(const std::string &stream) const
  {
    return config.recordings.dir + "/" + stream;
  }

  /* ---- what is on disk ---- */

  std::optional<Recording> load(const std::string &stream, const std::string &folder_name) const
  {
    if (!plain_name(stream) || !plain_name(folder_name))
      return std::nullopt;
    Recording r;
    r.stream = stream;
    r.folder_name = folder_name;
    r.id = stream + "-" + folder_name;
    r.folder = stream_dir(stream) + "/" + folder_name;
    const std::string path = r.folder + "/" + record::kManifestName;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      manifests.erase(path);
      return std::nullopt;
    }
    auto known = manifests.find(path);
    if (known != manifests.end() && same_file_version(known->second.st, st)) {
      r.manifest = known->second.manifest;
      return r;
    }
    std::string error;
    auto m = record::read_manifest(path, error);
    if (!m)
      return std::nullopt;
    if (manifests.size() >= kMaxKnownManifests)
      manifests.clear();
    if (file_settled(st))
      manifests[path] = {st, *m};
    else
      manifests.erase(path);
    r.manifest = std::move(*m);
    return r;
  }

  /* "k3x9q2mfa7-20261202T140908Z": stream ids have no '-'. */
  std::optional<Recording> find(const std::string &id) const
  {
    const size_t dash = id.find('-');
    if (dash == std::string::npos)
      return std::nullopt;
    return load(id.substr(0, dash), id.substr(dash + 1));
  }

  std::vector<Recording> all(const std::string &only_stream) const
  {
    std::vector<Recording> out;
    std::error_code ec;
    auto add_stream = [&](const std::string &stream) {
      std::error_code ec2;
      for (const auto &e : fs::directory_iterator(stream_dir(stream), ec2))
        if (e.is_directory(ec2))
          if (auto r = load(stream, e.path().filename().string()))
            out.push_back(std::move(*r));
    };
    if (!only_stream.empty()) {
      if (plain_name(only_stream))
        add_stream(only_stream);
    } else {
      for (const auto &e : fs::directory_iterator(config.recordings.dir, ec))
        if (e.is_directory(ec))
          add_stream(e.path().filename().string());
    }
    std::sort(out.begin(), out.end(), newer);
    return out;
  }

  /* ---- the API's shape ---- */

  JsonObject *describe(SoupServerMessage *msg, const Recording &r, const std::string &title,
                       bool with_segments) const
  {
    const record::Manifest &m = r.manifest;
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "id", r.id.c_str());
    json_object_set_string_member(o, "stream", r.stream.c_str());
    json_object_set_string_member(o, "title", title.c_str());
    json_object_set_string_member(o, "state", record::state_name(m.state));
    json_object_set_int_member(o, "started_at", m.started_us / 1000);
    if (m.ended_us > 0)
      json_object_set_int_member(o, "ended_at", m.ended_us / 1000);
    else
      json_object_set_null_member(o, "ended_at");
    json_object_set_double_member(o, "duration", static_cast<double>(m.duration()) / 1e9);
    json_object_set_string_member(o, "hls_url",
                                  (http.base_url(msg) + "/recordings/" + r.stream + "/" +
                                   r.folder_name + "/" + record::kPlaylistName)
                                      .c_str());
    json_object_set_string_member(o, "watch_url",
                                  ("/watch/" + r.stream + "?recording=" + r.id).c_str());
    if (with_segments) {
      json_object_set_int_member(o, "segments", static_cast<int64_t>(m.segments.size()));
      json_object_set_int_member(o, "bytes", static_cast<int64_t>(m.bytes()));
      if (!m.reason.empty())
        json_object_set_string_member(o, "reason", m.reason.c_str());
    }
    return o;
  }

  void no_such_recording(SoupServerMessage *msg, const std::string &id)
  {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", "No recording with id \"" + id + "\"");
  }

  /* Titles of the streams, then REPLY with `recordings`. */
  void respond_list(std::shared_ptr<Deferred> reply, std::vector<Recording> recordings, bool more)
  {
    store.list_streams([this, reply, recordings = std::move(recordings),
                        more](StoreResult<std::vector<StreamRecord>> listed) {
      std::map<std::string, std::string> titles;
      if (listed.ok())
        for (const auto &s : listed.value())
          titles[s.id] = s.title;
      JsonArray *a = json_array_new();
      for (const auto &r : recordings)
        json_array_add_object_element(a, describe(reply->msg(), r, titles[r.stream], false));
      JsonObject *o = json_object_new();
      json_object_set_array_member(o, "recordings", a);
      if (more && !recordings.empty())
        json_object_set_string_member(o, "next", recordings.back().id.c_str());
      else
        json_object_set_null_member(o, "next");
      respond_object(reply->msg(), SOUP_STATUS_OK, o);
    });
  }

  void list(HttpRequest &r, const std::string &stream)
  {
    const std::string limit_text = r.query_param("limit", std::to_string(kDefaultPage));
    char *end = nullptr;
    const long limit = std::strtol(limit_text.c_str(), &end, 10);
    if (!end || *end || limit < 1 || limit > kMaxPage) {
      respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                    "limit must be a whole number from 1 to " + std::to_string(kMaxPage) +
                        ", not \"" + limit_text + "\"");
      return;
    }
    const std::string before = r.query_param("before");
    std::vector<Recording> found = all(stream);
    auto from = found.begin();
    if (!before.empty()) {
      const size_t dash = before.find('-');
      Recording cursor;
      if (dash != std::string::npos) {
        cursor.stream = before.substr(0, dash);
        cursor.folder_name = before.substr(dash + 1);
      }
      from = std::find_if(found.begin(), found.end(),
                          [&](const Recording &x) { return newer(cursor, x); });
    }
    std::vector<Recording> page;
    for (auto it = from; it != found.end() && static_cast<long>(page.size()) < limit; ++it)
      page.push_back(*it);
    const bool more = (from + static_cast<long>(page.size())) != found.end();
    respond_list(std::make_shared<Deferred>(r.msg), std::move(page), more);
  }

  void show(HttpRequest &r)
  {
    const std::string id = r.params["id"];
    auto rec = find(id);
    if (!rec) {
      no_such_recording(r.msg, id);
      return;
    }
    auto reply = std::make_shared<Deferred>(r.msg);
    store.get_stream(
        rec->stream, [this, reply, rec = *rec](StoreResult<std::optional<StreamRecord>> found) {
          const std::string title = found.ok() && found.value() ? found.value()->title : "";
          respond_object(reply->msg(), SOUP_STATUS_OK, describe(reply->msg(), rec, title, true));
        });
  }

  /* ---- switching ---- */

  void load_settings()
  {
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(config.recordings.dir, ec)) {
      const std::string stream = e.path().filename().string();
      g_autofree gchar *text = nullptr;
      if (!plain_name(stream) ||
          !g_file_get_contents((stream_dir(stream) + "/" + kSettingsName).c_str(), &text, nullptr,
                               nullptr))
        continue;
      switched[stream] = std::string(text).find("true") != std::string::npos;
    }
  }

  bool save_setting(const std::string &stream, bool on, std::string &error)
  {
    std::error_code ec;
    fs::create_directories(stream_dir(stream), ec);
    if (ec) {
      error = "cannot create " + stream_dir(stream) + ": " + ec.message();
      return false;
    }
    if (!record::write_atomically(stream_dir(stream) + "/" + kSettingsName,
                                  std::string("{\"recording\":") + (on ? "true" : "false") + "}\n",
                                  true, error))
      return false;
    switched[stream] = on;
    return true;
  }

  void switch_recording(HttpRequest &r)
  {
    const std::string stream = r.params["id"];
    Caller caller;
    if (!authorize_stream_manager(config, http, r.msg, stream, caller))
      return;
    g_autoptr(JsonNode) body =
        read_json_body(r.msg, config.http.max_body_bytes, "recording_switch");
    if (!body)
      return;
    const bool on = json_object_get_boolean_member(json_node_get_object(body), "recording");
    auto reply = std::make_shared<Deferred>(r.msg);
    store.get_stream(stream, [this, reply, stream,
                              on](StoreResult<std::optional<StreamRecord>> found) {
      if (!found.ok()) {
        respond_store_error(reply->msg(), found.error());
        return;
      }
      if (!found.value()) {
        respond_error(reply->msg(), SOUP_STATUS_NOT_FOUND, "not_found",
                      "No stream with id \"" + stream + "\"");
        return;
      }
      JsonObject *o = json_object_new();
      json_object_set_string_member(o, "stream", stream.c_str());
      if (streams.live(stream)) {
        /* This show only; the stream's setting for later shows stays. */
        auto was = streams.set_recording(stream, on);
        if (!was) {
          json_object_unref(o);
          respond_error(reply->msg(), SOUP_STATUS_CONFLICT, "not_recordable",
                        "Stream " + stream +
                            " is live with a pipeline description that has no recordsink");
          return;
        }
        json_object_set_boolean_member(o, "live", true);
        json_object_set_boolean_member(o, "recording", on);
        json_object_set_boolean_member(o, "changed", *was != on);
      } else {
        std::string error;
        if (!save_setting(stream, on, error)) {
          json_object_unref(o);
          g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "stream %s: %s", stream.c_str(), error.c_str());
          respond_error(reply->msg(), SOUP_STATUS_INTERNAL_SERVER_ERROR, "storage_error",
                        "The setting could not be saved");
          return;
        }
        json_object_set_boolean_member(o, "live", false);
        json_object_set_boolean_member(o, "recording", on);
      }
      json_object_set_boolean_member(o, "default", owner_default(stream));
      respond_object(reply->msg(), SOUP_STATUS_OK, o);
    });
  }

  bool owner_default(const std::string &stream) const
  {
    auto it = switched.find(stream);
    return it != switched.end() ? it->second : config.recordings.enabled;
  }

  /* ---- highlights ---- */

  struct Cut
  {
    Impl *self;
    std::shared_ptr<Deferred> reply;
    std::string recording;
    std::string file;
    std::string owner;
    std::string filename;
    std::string stream;
    int64_t from_ms = 0, to_ms = 0; /* the span, wall clock (the ledger's), [from, to) */
    GstElement *pipeline = nullptr;
    guint bus_watch = 0;
    guint timeout = 0;
    bool finished = false;
  };

  void cut(HttpRequest &r)
  {
    const std::string id = r.params["id"];
    auto rec = find(id);
    if (!rec) {
      no_such_recording(r.msg, id);
      return;
    }
    Caller caller;
    if (!authorize_stream_manager(config, http, r.msg, rec->stream, caller))
      return;
    g_autoptr(JsonNode) body = read_json_body(r.msg, config.http.max_body_bytes, "recording_clip");
    if (!body)
      return;
    JsonObject *b = json_node_get_object(body);
    const double in = json_object_get_double_member(b, "in");
    const double out = json_object_get_double_member(b, "out");
    const double length = static_cast<double>(rec->manifest.duration()) / 1e9;
    if (!(out > in) || out > length + 0.001) {
      respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_range",
                    "in and out must satisfy 0 <= in < out <= " + std::to_string(length) +
                        " (the recording's length in seconds); got in " + std::to_string(in) +
                        ", out " + std::to_string(out));
      return;
    }
    if (out - in < config.clips.min_duration || out - in > config.clips.max_duration) {
      respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_range",
                    "A highlight lasts " + std::to_string(config.clips.min_duration) + " to " +
                        std::to_string(config.clips.max_duration) +
                        " s (clips.min_duration, "
                        "clips.max_duration); out - in is " +
                        std::to_string(out - in));
      return;
    }
    if (shutting_down || cuts >= kMaxCuts) {
      soup_message_headers_replace(soup_server_message_get_response_headers(r.msg), "Retry-After",
                                   "2");
      respond_error(r.msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "busy",
                    shutting_down ? "The server is shutting down"
                                  : "Highlights are being cut; try again in a moment");
      return;
    }
    /* On the clips folder's file system: the clip path moves it, never copies. */
    const std::string file = config.clips.dir + "/.cut-" + random_id() + ".mp4";
    /* frame-exact: the highlight starts at the creator's in point (only the
     * GOP it falls in is re-encoded), not at the keyframe before it. */
    std::string desc = "replaysrc name=r frame-exact=true mp4mux name=m ! filesink name=f";
    if (rec->manifest.video)
      desc += " r.video ! queue ! h264parse ! m.";
    if (rec->manifest.audio)
      desc += " r.audio ! queue ! aacparse ! m.";
    g_autoptr(GError) err = nullptr;
    GstElement *pipeline = gst_parse_launch(desc.c_str(), &err);
    if (!pipeline || err) {
      if (pipeline)
        gst_object_unref(pipeline);
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "recording %s: cannot build the cut: %s", id.c_str(),
            err ? err->message : "?");
      respond_error(r.msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "cut_failed",
                    "The highlight could not be cut");
      return;
    }
    g_autoptr(GstElement) src = gst_bin_get_by_name(GST_BIN(pipeline), "r");
    g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), "f");
    g_object_set(src, "location", rec->folder.c_str(), "start",
                 static_cast<gint64>(std::llround(in * 1e9)), "stop",
                 static_cast<gint64>(std::llround(out * 1e9)), nullptr);
    g_object_set(sink, "location", file.c_str(), nullptr);

    auto *c = new Cut{this,
                      std::make_shared<Deferred>(r.msg),
                      id,
                      file,
                      caller.user,
                      rec->stream + "-" + rec->folder_name + "-" + std::to_string(std::lround(in)) +
                          "s.mp4"};
    c->pipeline = pipeline;
    /* Offsets into the recording are from its wall-clock start, as the chat
     * replay gives them. */
    c->stream = rec->stream;
    c->from_ms = rec->manifest.started_us / 1000 + std::llround(in * 1000);
    c->to_ms = rec->manifest.started_us / 1000 + std::llround(out * 1000);
    ++cuts;
    g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
    c->bus_watch = gst_bus_add_watch(bus, SUGARCAST_GUARD(on_cut_bus), c);
    c->timeout =
        g_timeout_add_seconds(kCutTimeoutSeconds, SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
                                auto *c = static_cast<Cut *>(data);
                                c->timeout = 0;
                                c->self->end_cut(c, "the cut did not finish within " +
                                                        std::to_string(kCutTimeoutSeconds) + " s");
                                return G_SOURCE_REMOVE;
                              }),
                              c);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "recording %s: cutting %.3f–%.3f s", id.c_str(), in, out);
    if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
      end_cut(c, "the cut pipeline would not start");
  }

  static gboolean on_cut_bus(GstBus *, GstMessage *message, gpointer data)
  {
    auto *c = static_cast<Cut *>(data);
    switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_EOS:
      c->self->end_cut(c, "");
      break;
    case GST_MESSAGE_ERROR: {
      g_autoptr(GError) err = nullptr;
      g_autofree gchar *dbg = nullptr;
      gst_message_parse_error(message, &err, &dbg);
      c->self->end_cut(c, err ? err->message : "error");
      break;
    }
    default:
      break;
    }
    return G_SOURCE_CONTINUE;
  }

  /* EOS or a failure: the pipeline stops on another thread, then the file
   * goes to the clip path (or away). */
  void end_cut(Cut *c, const std::string &failure)
  {
    if (c->finished)
      return;
    c->finished = true;
    if (c->timeout)
      g_source_remove(c->timeout);
    c->timeout = 0;
    if (c->bus_watch)
      g_source_remove(c->bus_watch);
    c->bus_watch = 0;
    GstElement *pipeline = std::exchange(c->pipeline, nullptr);
    stop_pipeline(pipeline, [this, c, failure] {
      --cuts;
      std::unique_ptr<Cut> owned(c);
      std::error_code ec;
      if (!failure.empty()) {
        g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "recording %s: the cut failed: %s",
              c->recording.c_str(), failure.c_str());
        fs::remove(c->file, ec);
        respond_error(c->reply->msg(), SOUP_STATUS_INTERNAL_SERVER_ERROR, "cut_failed",
                      "The highlight could not be cut from recording " + c->recording + ": " +
                          failure);
        maybe_done();
        return;
      }
      queue_highlight(*c);
      maybe_done();
    });
  }

  /* The cut file becomes a clip, with the gifts sent during its span drawn
   * in as the show's overlay drew them live (the recording is the
   * publisher's own stream, without them). */
  void queue_highlight(const Cut &c)
  {
    auto reply = c.reply;
    const std::string file = c.file, recording = c.recording, filename = c.filename,
                      owner = c.owner;
    const int64_t from = c.from_ms, to = c.to_ms;
    /* One more than can be drawn, to know when some are left out. */
    store.list_gifts(
        c.stream, from, to, static_cast<int>(ClipService::kMaxGiftEvents) + 1,
        [this, reply, file, recording, filename, owner, from,
         to](StoreResult<std::vector<GiftRecord>> gifts) {
          if (!gifts.ok()) {
            std::error_code ec;
            fs::remove(file, ec);
            respond_store_error(reply->msg(), gifts.error());
            return;
          }
          const auto events = highlight_gifts(recording, gifts.value(), from, to);
          clips.queue_file(
              file, filename, owner, events,
              [this, reply, file, recording](JsonObject *clip, const std::string &error) {
                if (!clip) {
                  std::error_code ec;
                  fs::remove(file, ec);
                  respond_error(reply->msg(), SOUP_STATUS_SERVICE_UNAVAILABLE, "clip_unavailable",
                                "The highlight was cut but not queued: " + error);
                  return;
                }
                json_object_set_string_member(clip, "recording", recording.c_str());
                g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "recording %s: highlight is clip %s",
                      recording.c_str(), json_object_get_string_member(clip, "id"));
                respond_object(reply->msg(), SOUP_STATUS_ACCEPTED, clip);
              });
        });
  }

  /* The gifts recorded in [from, to) as giftoverlay events due at their
   * offset into the highlight, within what a clip can draw (the first
   * ones, oldest first, when a gift storm has more). */
  std::vector<std::string> highlight_gifts(const std::string &recording,
                                           const std::vector<GiftRecord> &gifts, int64_t from,
                                           int64_t to) const
  {
    std::vector<std::string> events;
    size_t bytes = 0;
    size_t left_out = 0;
    for (const auto &g : gifts) {
      if (g.created_at < from || g.created_at >= to)
        continue;
      GiftDrawn drawn{g.ledger_id, g.user_id, g.user_name, g.gift_id,
                      g.gift_id,   "",        g.count,     g.coins};
      for (const auto &t : config.gifts.catalogue)
        if (t.id == g.gift_id) {
          drawn.name = t.name;
          drawn.animation = t.animation;
        }
      g_autoptr(GstStructure) attributes = gift_daterange_attributes(drawn);
      std::string event =
          gift_overlay_event(drawn, attributes, static_cast<double>(g.created_at - from) / 1000.0);
      if (events.size() >= ClipService::kMaxGiftEvents ||
          bytes + event.size() + 1 > ClipService::kMaxGiftEventBytes) {
        ++left_out;
        continue;
      }
      bytes += event.size() + 1;
      events.push_back(std::move(event));
    }
    if (left_out || gifts.size() > ClipService::kMaxGiftEvents)
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING,
            "recording %s: the highlight draws the first %zu of its gifts, the most a clip "
            "draws (%zu events, %zu bytes); later ones are left out",
            recording.c_str(), events.size(), ClipService::kMaxGiftEvents,
            ClipService::kMaxGiftEventBytes);
    return events;
  }

  void maybe_done()
  {
    if (shutting_down && cuts == 0 && shutdown_done)
      std::exchange(shutdown_done, nullptr)();
  }

  /* ---- chat replay ---- */

  struct ChatReplay
  {
    std::shared_ptr<Deferred> reply;
    std::string stream;
    int64_t from = 0, to = 0; /* ms */
    std::vector<ChatRecord> messages;
  };

  void chat(HttpRequest &r)
  {
    const std::string id = r.params["id"];
    auto rec = find(id);
    if (!rec) {
      no_such_recording(r.msg, id);
      return;
    }
    auto replay = std::make_shared<ChatReplay>();
    replay->reply = std::make_shared<Deferred>(r.msg);
    replay->stream = rec->stream;
    replay->from = rec->manifest.started_us / 1000;
    replay->to = rec->manifest.ended_us > 0 ? rec->manifest.ended_us / 1000 : now_ms();
    /* Message ids start with their time in hex (chat_service.cpp): every id
     * of a message up to `to` sorts below this. */
    char before[32];
    g_snprintf(before, sizeof before, "%011" PRIx64, static_cast<uint64_t>(replay->to + 1));
    next_chat_page(replay, before);
  }

  void next_chat_page(std::shared_ptr<ChatReplay> replay, const std::string &before)
  {
    store.list_chat(replay->stream, before, kChatPage,
                    [this, replay](StoreResult<std::vector<ChatRecord>> got) {
                      if (!got.ok()) {
                        respond_store_error(replay->reply->msg(), got.error());
                        return;
                      }
                      bool older = got.value().size() < static_cast<size_t>(kChatPage);
                      for (const auto &m : got.value()) {
                        if (m.created_at < replay->from) {
                          older = true;
                          break;
                        }
                        if (m.created_at <= replay->to)
                          replay->messages.push_back(m);
                      }
                      if (!older && replay->messages.size() < kMaxChatReplay &&
                          !got.value().empty()) {
                        next_chat_page(replay, got.value().back().id);
                        return;
                      }
                      add_gifts(replay);
                    });
  }

  void add_gifts(std::shared_ptr<ChatReplay> replay)
  {
    store.list_gifts(
        replay->stream, replay->from, replay->to, static_cast<int>(kMaxChatReplay),
        [this, replay](StoreResult<std::vector<GiftRecord>> gifts) {
          if (!gifts.ok()) {
            respond_store_error(replay->reply->msg(), gifts.error());
            return;
          }
          struct Item
          {
            int64_t at;
            JsonObject *o;
          };
          std::vector<Item> items;
          auto offset = [&](int64_t at) {
            return static_cast<double>(std::max<int64_t>(0, at - replay->from)) / 1000.0;
          };
          for (auto it = replay->messages.rbegin(); it != replay->messages.rend(); ++it) {
            JsonObject *o = json_object_new();
            json_object_set_double_member(o, "offset", offset(it->created_at));
            json_object_set_string_member(o, "kind", "chat");
            json_object_set_string_member(o, "id", it->id.c_str());
            json_object_set_string_member(o, "user", it->user_id.c_str());
            json_object_set_string_member(o, "name", it->user_name.c_str());
            json_object_set_string_member(o, "text", it->text.c_str());
            json_object_set_int_member(o, "at", it->created_at);
            items.push_back({it->created_at, o});
          }
          for (const auto &g : gifts.value()) {
            std::string gift_name = g.gift_id;
            for (const auto &t : config.gifts.catalogue)
              if (t.id == g.gift_id)
                gift_name = t.name;
            JsonObject *o = json_object_new();
            json_object_set_double_member(o, "offset", offset(g.created_at));
            json_object_set_string_member(o, "kind", "gift");
            json_object_set_string_member(o, "id", ("gift-" + std::to_string(g.ledger_id)).c_str());
            json_object_set_string_member(o, "user", g.user_id.c_str());
            json_object_set_string_member(o, "name", g.user_name.c_str());
            json_object_set_string_member(
                o, "text",
                (g.count > 1 ? std::to_string(g.count) + " × " + gift_name : gift_name).c_str());
            json_object_set_string_member(o, "gift", g.gift_id.c_str());
            json_object_set_int_member(o, "count", g.count);
            json_object_set_int_member(o, "coins", g.coins);
            json_object_set_int_member(o, "at", g.created_at);
            items.push_back({g.created_at, o});
          }
          std::stable_sort(items.begin(), items.end(),
                           [](const Item &a, const Item &b) { return a.at < b.at; });
          JsonArray *a = json_array_new();
          for (auto &i : items)
            json_array_add_object_element(a, i.o);
          JsonObject *o = json_object_new();
          json_object_set_array_member(o, "messages", a);
          respond_object(replay->reply->msg(), SOUP_STATUS_OK, o);
        });
  }

  /* ---- start-up ---- */

  void repair_unfinished()
  {
    const int64_t now_us = g_get_real_time();
    std::error_code ec;
    for (const auto &s : fs::directory_iterator(config.recordings.dir, ec)) {
      std::error_code ec2;
      if (!s.is_directory(ec2))
        continue;
      for (const auto &e : fs::directory_iterator(s.path(), ec2)) {
        const std::string folder = e.path().string();
        std::string error;
        auto m = record::read_manifest(folder + "/" + record::kManifestName, error);
        if (!m || m->state != record::State::Recording)
          continue;
        record::RepairReport report;
        const gint64 t0 = g_get_monotonic_time();
        if (!record::repair_recording(folder, now_us, report, error)) {
          g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "recording %s cannot be repaired: %s",
                folder.c_str(), error.c_str());
          continue;
        }
        g_log(LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
              "recording %s was left unfinished (a crash); repaired in %.1f ms: %s", folder.c_str(),
              static_cast<double>(g_get_monotonic_time() - t0) / 1000.0, report.message.c_str());
      }
    }
  }

  void apply_overall_retention()
  {
    if (config.recordings.max_age == 0 && config.recordings.max_total_bytes == 0)
      return;
    std::vector<std::string> errors;
    const auto removed =
        record::apply_retention(config.recordings.dir,
                                {config.recordings.max_age * G_USEC_PER_SEC,
                                 static_cast<uint64_t>(config.recordings.max_total_bytes)},
                                g_get_real_time(), errors);
    for (const auto &f : removed)
      g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "retention: deleted recording %s", f.c_str());
    for (const auto &e : errors)
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "retention: %s", e.c_str());
  }
};

RecordingService::RecordingService(const Config &config, HttpServer &http, Store &store,
                                   StreamManager &streams, ClipService &clips)
    : impl_(std::make_unique<Impl>(config, http, store, streams, clips))
{
  Impl *d = impl_.get();
  http.route(
      "GET", "/api/recordings", [d](HttpRequest &r) { d->list(r, r.query_param("stream")); },
      false);
  http.route(
      "GET", "/api/streams/{id}/recordings", [d](HttpRequest &r) { d->list(r, r.params["id"]); },
      false);
  http.route(
      "GET", "/api/recordings/{id}", [d](HttpRequest &r) { d->show(r); }, false);
  http.route(
      "GET", "/api/recordings/{id}/chat", [d](HttpRequest &r) { d->chat(r); }, false);
  /* Authorization is the route's own (admin, or the stream's streamer). */
  http.route(
      "POST", "/api/streams/{id}/recording", [d](HttpRequest &r) { d->switch_recording(r); },
      false);
  http.route(
      "POST", "/api/recordings/{id}/clips", [d](HttpRequest &r) { d->cut(r); }, false);
}

RecordingService::~RecordingService() = default;

bool RecordingService::start(std::string &error)
{
  std::error_code ec;
  fs::create_directories(impl_->config.recordings.dir, ec);
  if (ec) {
    error =
        "cannot create the recordings folder " + impl_->config.recordings.dir + ": " + ec.message();
    return false;
  }
  impl_->repair_unfinished();
  impl_->load_settings();
  impl_->apply_overall_retention();
  return true;
}

bool RecordingService::record_by_default(const std::string &stream_id) const
{
  return impl_->owner_default(stream_id);
}

void RecordingService::show_ended(const std::string &)
{
  impl_->apply_overall_retention();
}

void RecordingService::shutdown(std::function<void()> done)
{
  impl_->shutting_down = true;
  if (impl_->cuts == 0) {
    done();
    return;
  }
  impl_->shutdown_done = std::move(done);
}

} // namespace sugarcast
