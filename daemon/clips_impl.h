/* sugarcastd — uploaded clips: the service's private state, shared by its
 * parts: clips.cpp (the service's life, what a clip looks like as JSON, and
 * the routes that read and delete clips: one clip, the feed and the
 * listings), clips_upload.cpp (the single-body upload, streamed to disk,
 * and files handed over by resumable uploads), clips_jobs.cpp (the queue,
 * the `clip` pipeline, its progress and watchdog, the outcome) and
 * clips_events.cpp (the uploader's progress as server-sent events). Apart
 * because each can be read and changed without the others. Main context
 * only, except the watchdog's counter (pad probes on streaming threads). */
#pragma once

#include "clips.h"

#include "rest.h"
#include "tus.h"

#include <atomic>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#define LOG_DOMAIN "sugarcastd-clips"

namespace sugarcast {

namespace fs = std::filesystem;

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

  /* clips.cpp: the JSON a clip is shown as, telling the control WebSocket
   * and the clip's progress streams, the routes. */
  JsonObject *describe(SoupServerMessage *msg, const ClipRecord &c) const;
  void announce(const ClipRecord &c);
  bool asker(SoupServerMessage *msg, std::optional<Uploader> &who);
  static bool owns(const std::optional<Uploader> &who, const ClipRecord &c);
  static bool may_see(const std::optional<Uploader> &who, const ClipRecord &c);

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

  void show(HttpRequest &r);
  void list(HttpRequest &r);
  void remove(HttpRequest &r);

  /* clips_events.cpp: progress for the uploader, server-sent events. */
  static bool settled(const std::string &state);
  int streams_of(const std::string &user) const;
  static std::string user_key(const Uploader &who);
  bool stream_cap_reached(SoupServerMessage *msg, const std::string &user);
  static void send_event(SoupServerMessage *msg, const char *name, JsonObject *o);
  void arm_idle(SoupServerMessage *msg, EventStream &s);
  void end_stream(SoupServerMessage *msg, const char *name, JsonObject *o);
  void forget_stream(SoupServerMessage *msg);
  void notify_streams(const ClipRecord &c);
  void open_stream(SoupServerMessage *msg, const ClipRecord &stored, const std::string &user);
  void follow(HttpRequest &r);

  /* clips_upload.cpp: the upload. */
  static void on_early(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *query,
                       gpointer data);
  static void on_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data);
  void on_upload(HttpRequest &r);
  /* GIFTS: the clip's gifts.jsonl (giftoverlay events, one a line), "" for
   * none (an upload). */
  void accept_file(const std::string &file, const std::string &filename, const std::string &owner,
                   const std::string &gifts,
                   std::function<void(const std::string &, const std::string &)> done);
  static constexpr const char *kGiftsName = "gifts.jsonl";

  /* clips_jobs.cpp: the pipeline. */
  void save(const ClipRecord &c);
  void run_next();
  static constexpr int kRetrySeconds = 2;

  void retry_later(const std::string &id);
  static void watch_progress(GstElement *pipeline,
                             const std::shared_ptr<std::atomic<uint64_t>> &moved);
  void begin(ClipRecord c);
  void update_progress(const std::string &id);
  gboolean on_bus(const std::string &id, GstMessage *msg);
  void finish(const std::string &id, const std::string &state, const std::string &reason,
              const std::string &message);
  void conclude(ClipRecord &c, const std::string &state, const std::string &reason,
                const std::string &message);
  void maybe_done();
};

} // namespace sugarcast
