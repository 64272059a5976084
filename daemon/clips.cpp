/* sugarcastd — uploaded clips: the service's life (routes registered,
 * interrupted clips queued again at start, pipelines stopped at shutdown),
 * what a clip looks like as JSON, and the routes that read and delete
 * clips: one clip, the feed of published clips and the listings. The
 * upload, the pipeline and the progress streams are in clips_upload.cpp,
 * clips_jobs.cpp and clips_events.cpp (clips_impl.h). See clips.h. */
#include "clips_impl.h"
#include "guard.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace sugarcast {

JsonObject *ClipService::Impl::describe(SoupServerMessage *msg, const ClipRecord &c) const
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

void ClipService::Impl::announce(const ClipRecord &c)
{
  events.publish("clip", describe(nullptr, c));
  notify_streams(c);
}

/* ---- the API ---- */

/* Who asks: no Authorization header is an anonymous reader (published
 * clips only); a header must be the admin token or an uploader's token. */
bool ClipService::Impl::asker(SoupServerMessage *msg, std::optional<Uploader> &who)
{
  if (!soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization"))
    return true;
  who.emplace();
  return authorize_uploader(config, http, msg, *who);
}

/* A clip is its uploader's (and the admin's). */
bool ClipService::Impl::owns(const std::optional<Uploader> &who, const ClipRecord &c)
{
  return who && (who->admin || who->owner == c.owner);
}

/* Published clips are public; the others only their owner's. */
bool ClipService::Impl::may_see(const std::optional<Uploader> &who, const ClipRecord &c)
{
  return c.state == "ready" || owns(who, c);
}

void ClipService::Impl::show(HttpRequest &r)
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
void ClipService::Impl::list(HttpRequest &r)
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
                  "state is one of queued, processing, ready, rejected, failed; not \"" + q.state +
                      "\"");
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

void ClipService::Impl::remove(HttpRequest &r)
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
        d->accept_file(file, filename, owner, "", std::move(done));
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
                             const std::string &owner, const std::vector<std::string> &gift_events,
                             std::function<void(JsonObject *, const std::string &)> done)
{
  std::string gifts;
  for (const auto &e : gift_events)
    gifts += e + "\n";
  if (gift_events.size() > kMaxGiftEvents || gifts.size() > kMaxGiftEventBytes) {
    done(nullptr, std::to_string(gift_events.size()) + " gift events (" +
                      std::to_string(gifts.size()) + " bytes) are more than the " +
                      std::to_string(kMaxGiftEvents) + " events and " +
                      std::to_string(kMaxGiftEventBytes) + " bytes a clip can draw");
    return;
  }
  impl_->accept_file(
      file, filename, owner, gifts, [this, done](const std::string &id, const std::string &error) {
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
