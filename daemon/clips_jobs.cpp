/* sugarcastd — uploaded clips: the queue and the `clip` pipeline. At most
 * clips.max_concurrent pipelines at once, a clip whose record the store
 * cannot hand over tried again kRetrySeconds later; the progress read from
 * the pipeline's position, a watchdog failing a clip that moves no buffer
 * for clips.stall_timeout seconds, the validator's verdict and the outcome
 * (ready, rejected, failed) stored and announced. */
#include "clips_impl.h"
#include "guard.h"

#include <algorithm>
#include <utility>

namespace sugarcast {

void ClipService::Impl::save(const ClipRecord &c)
{
  store.save_clip(c, [id = c.id](StoreResult<Done> saved) {
    if (!saved.ok())
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "clip %s: its state was not recorded: %s", id.c_str(),
            saved.error().message.c_str());
  });
}

/* ---- the pipeline ---- */

void ClipService::Impl::run_next()
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

void ClipService::Impl::retry_later(const std::string &id)
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
void ClipService::Impl::watch_progress(GstElement *pipeline,
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
        new std::shared_ptr<std::atomic<uint64_t>>(moved),
        [](gpointer data) { delete static_cast<std::shared_ptr<std::atomic<uint64_t>> *>(data); });
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

void ClipService::Impl::begin(ClipRecord c)
{
  auto run = std::make_unique<Running>();
  run->record = std::move(c);
  ClipRecord &rec = run->record;
  const std::string dir = dir_of(rec.id);
  std::error_code ec;
  PipelineParams params = {
      {"clip.id", rec.id},
      {"data_dir", config.data_dir},
      {"upload.path", dir + "/upload"},
      {"clip.dir", dir},
      {"clip.min_duration", std::to_string(static_cast<int64_t>(config.clips.min_duration * 1e9))},
      {"clip.max_duration", std::to_string(static_cast<int64_t>(config.clips.max_duration * 1e9))},
      /* A highlight's gifts; "" leaves the description's overlay out. */
      {"clip.gifts", fs::exists(dir + "/" + kGiftsName, ec) ? dir + "/" + kGiftsName : ""},
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

void ClipService::Impl::update_progress(const std::string &id)
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
  } else if (now - r.moved_at > static_cast<gint64>(config.clips.stall_timeout * G_USEC_PER_SEC)) {
    char seconds[32];
    g_snprintf(seconds, sizeof seconds, "%g", config.clips.stall_timeout);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING,
          "clip %s: no buffer moved for %s s (clips.stall_timeout); stopped", id.c_str(), seconds);
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

gboolean ClipService::Impl::on_bus(const std::string &id, GstMessage *msg)
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

void ClipService::Impl::finish(const std::string &id, const std::string &state,
                               const std::string &reason, const std::string &message)
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

void ClipService::Impl::conclude(ClipRecord &c, const std::string &state, const std::string &reason,
                                 const std::string &message)
{
  c.state = state;
  c.reason = reason;
  c.message = message;
  c.updated_at = now_ms();
  metrics
      .counter("sugarcast_clips_finished_total", "Clips processed, by outcome", {{"state", state}})
      .fetch_add(1);
  g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "clip %s %s%s%s", c.id.c_str(), state.c_str(),
        message.empty() ? "" : ": ", message.c_str());
  save(c);
  announce(c);
}

void ClipService::Impl::maybe_done()
{
  if (shutting_down && stopping == 0 && shutdown_done)
    std::exchange(shutdown_done, nullptr)();
}

} // namespace sugarcast
