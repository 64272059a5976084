/* sugarcastd — statistics: sampling and the daemon's wiring. The ingest
 * meters on each live pipeline, the viewer counts, a point per live stream
 * every stats.interval with its show's totals, the gauges. The routes that
 * read them are stats_rest.cpp, thumbnails stats_thumbnail.cpp. See
 * stats.h. */
#include "stats_impl.h"

#include "guard.h"

#include <algorithm>
#include <cmath>

namespace sugarcast {

namespace {

/* Unique viewers are remembered per show up to this many keys; beyond, the
 * figure is a lower bound (and says so in the log once). */
constexpr size_t kMaxUniquePerShow = 100000;
/* A frame is late when it arrives this much later than the best
 * arrival-versus-timestamp offset seen. */
constexpr int64_t kLateUs = 1000000;

GstPadProbeReturn on_ingest_bytes(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto &meter = **static_cast<std::shared_ptr<IngestMeter> *>(data);
  gsize size = 0;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    size = gst_buffer_get_size(GST_PAD_PROBE_INFO_BUFFER(info));
  else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    size = gst_buffer_list_calculate_size(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
  std::lock_guard<std::mutex> hold(meter.lock);
  meter.bytes += size;
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn on_video(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto &meter = **static_cast<std::shared_ptr<IngestMeter> *>(data);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    meter.video(GST_PAD_PROBE_INFO_BUFFER(info));
  } else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
      GstCaps *caps = nullptr;
      gst_event_parse_caps(event, &caps);
      meter.caps(caps);
    }
  }
  return GST_PAD_PROBE_OK;
}

void add_probe(GstElement *element, const char *pad_name, GstPadProbeType type,
               GstPadProbeCallback callback, const std::shared_ptr<IngestMeter> &meter)
{
  g_autoptr(GstPad) pad = gst_element_get_static_pad(element, pad_name);
  if (!pad)
    return;
  gst_pad_add_probe(pad, type, callback, new std::shared_ptr<IngestMeter>(meter),
                    [](gpointer p) { delete static_cast<std::shared_ptr<IngestMeter> *>(p); });
}

/* The first element in BIN (recursively) made by FACTORY; a new reference. */
GstElement *find_by_factory(GstBin *bin, const char *factory)
{
  GstIterator *it = gst_bin_iterate_recurse(bin);
  GValue item = G_VALUE_INIT;
  GstElement *found = nullptr;
  while (!found && gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    auto *element = GST_ELEMENT(g_value_get_object(&item));
    GstElementFactory *f = gst_element_get_factory(element);
    if (f && g_strcmp0(gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(f)), factory) == 0)
      found = GST_ELEMENT(gst_object_ref(element));
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  return found;
}

} // namespace

void IngestMeter::video(GstBuffer *buffer)
{
  const GstClockTime ts =
      GST_BUFFER_DTS_IS_VALID(buffer) ? GST_BUFFER_DTS(buffer) : GST_BUFFER_PTS(buffer);
  const bool keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  const int64_t now = g_get_monotonic_time();
  std::lock_guard<std::mutex> hold(lock);
  ++frames;
  if (!GST_CLOCK_TIME_IS_VALID(ts))
    return;
  if (keyframe) {
    const GstClockTime pts = GST_BUFFER_PTS_IS_VALID(buffer) ? GST_BUFFER_PTS(buffer) : ts;
    if (GST_CLOCK_TIME_IS_VALID(last_keyframe) && pts > last_keyframe)
      keyframe_interval = double(pts - last_keyframe) / GST_SECOND;
    last_keyframe = pts;
  }
  if (GST_CLOCK_TIME_IS_VALID(last_dts) && ts > last_dts) {
    const double delta = double(ts - last_dts);
    const double expected =
        caps_fps > 0 ? GST_SECOND / caps_fps : (mean_frame_ns > 0 ? mean_frame_ns : delta);
    if (delta > 1.5 * expected)
      dropped += static_cast<uint64_t>(std::llround(delta / expected)) - 1;
    else
      mean_frame_ns = mean_frame_ns > 0 ? 0.9 * mean_frame_ns + 0.1 * delta : delta;
  }
  last_dts = ts;
  /* A reconnect restarts the timestamps: start the pace again. */
  const int64_t offset = now - static_cast<int64_t>(ts / 1000);
  if (!have_offset || offset < best_offset_us) {
    best_offset_us = offset;
    have_offset = true;
  } else if (offset - best_offset_us > kLateUs) {
    ++late;
  }
}

void IngestMeter::caps(GstCaps *caps)
{
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  int w = 0, h = 0, n = 0, d = 0;
  gst_structure_get_int(s, "width", &w);
  gst_structure_get_int(s, "height", &h);
  std::lock_guard<std::mutex> hold(lock);
  width = w;
  height = h;
  caps_fps =
      gst_structure_get_fraction(s, "framerate", &n, &d) && n > 0 && d > 0 ? double(n) / d : 0;
}

void IngestMeter::take_rates()
{
  const int64_t now = g_get_monotonic_time();
  std::lock_guard<std::mutex> hold(lock);
  if (told_at_us > 0 && now > told_at_us) {
    const double seconds = double(now - told_at_us) / 1e6;
    bitrate = double(bytes - bytes_told) * 8 / seconds;
    fps = double(frames - frames_told) / seconds;
  }
  bytes_told = bytes;
  frames_told = frames;
  told_at_us = now;
}

StatsService::Impl::Impl(const Config &c, HttpServer &h, Store &s, StreamManager &st,
                         chat::ChatService &ch, Metrics &m)
    : config(c), http(h), store(s), streams(st), chat(ch), metrics(m),
      tracker(m, int64_t(2 * c.hls.segment_duration) * 1000 + 1000)
{
  metrics.gauge("sugarcast_viewers", "Viewers of every stream live on this daemon (de-duplicated)",
                [this] { return double(total_viewers); });
}

LiveStream &StatsService::Impl::stream(const std::string &id)
{
  auto &slot = live[id];
  if (!slot) {
    slot = std::make_unique<LiveStream>();
    slot->id = id;
    slot->ingest = std::make_shared<IngestMeter>();
    slot->show.stream_id = id;
    slot->show.started_at = now_ms();
    add_gauges(id);
  }
  return *slot;
}

void StatsService::Impl::add_gauges(const std::string &id)
{
  const Labels labels{{"stream", id}};
  auto read = [this, id](auto field) {
    return [this, id, field] {
      auto it = live.find(id);
      return it == live.end() ? 0.0 : field(*it->second);
    };
  };
  metrics.gauge("sugarcast_stream_viewers",
                "Concurrent viewers (HLS sessions and chat, de-duplicated)",
                read([](LiveStream &s) { return double(s.viewers); }), labels);
  metrics.gauge(
      "sugarcast_stream_hls_sessions",
      "HLS players polling the playlists (with and without a session id)",
      read([](LiveStream &s) { return double(s.last.hls_sessions + s.last.hls_estimated); }),
      labels);
  metrics.gauge("sugarcast_stream_ingest_bitrate_bits",
                "Ingest bitrate over the last interval (bit/s)", read([](LiveStream &s) {
                  std::lock_guard<std::mutex> hold(s.ingest->lock);
                  return s.ingest->bitrate;
                }),
                labels);
  metrics.gauge("sugarcast_stream_ingest_fps",
                "Ingest video frames per second over the last interval", read([](LiveStream &s) {
                  std::lock_guard<std::mutex> hold(s.ingest->lock);
                  return s.ingest->fps;
                }),
                labels);
  metrics.gauge("sugarcast_stream_ingest_dropped_frames",
                "Frames missing from the publisher's timestamps this show", read([](LiveStream &s) {
                  std::lock_guard<std::mutex> hold(s.ingest->lock);
                  return double(s.ingest->dropped);
                }),
                labels);
}

void StatsService::Impl::count_now()
{
  total_viewers = 0;
  for (auto &[id, s] : live) {
    s->last = tracker.count(id, chat.clients(id));
    s->viewers = s->last.viewers;
    total_viewers += s->viewers;
  }
}

void StatsService::Impl::tick()
{
  count_now();
  const int64_t now = now_ms();
  for (auto &[id, s] : live) {
    s->ingest->take_rates();
    StatsPoint p;
    p.stream_id = id;
    p.t = now;
    p.viewers = s->viewers;
    p.chat_messages = std::exchange(s->messages, 0);
    p.gifts = std::exchange(s->gifts, 0);
    p.coins = std::exchange(s->coins, 0);
    {
      std::lock_guard<std::mutex> hold(s->ingest->lock);
      p.ingest_bitrate = s->ingest->bitrate;
      p.ingest_fps = s->ingest->fps;
    }
    store.append_stats_point(p, [id](StoreResult<Done> r) {
      if (!r.ok())
        g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "stream %s: a statistics point was not stored: %s",
              id.c_str(), r.error().message.c_str());
    });
    const int64_t mono = monotonic_ms();
    const double minutes = s->last_point_mono > 0 ? double(mono - s->last_point_mono) / 60000.0 : 0;
    s->last_point_mono = mono;
    ShowStats &show = s->show;
    show.peak_viewers = std::max(show.peak_viewers, s->viewers);
    ++s->points;
    s->viewer_sum += double(s->viewers);
    show.avg_viewers = s->viewer_sum / double(s->points);
    show.watch_minutes += minutes * double(s->viewers);
    /* Per client, max(distinct sessions, distinct chat sockets): the
     * concurrent rule (viewers.h) over the whole show. */
    for (const auto &[client, identity] : s->last.seen) {
      if (s->unique_entries >= kMaxUniquePerShow) {
        if (!s->unique_full)
          g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING,
                "stream %s: more than %zu unique viewers this show; counting no more", id.c_str(),
                kMaxUniquePerShow);
        s->unique_full = true;
        break;
      }
      auto &group = s->unique[client];
      auto &set = identity[0] == 'c' ? group.second : group.first;
      s->unique_entries += set.insert(identity).second ? 1 : 0;
    }
    int64_t unique = 0;
    for (const auto &[client, group] : s->unique)
      unique += static_cast<int64_t>(std::max(group.first.size(), group.second.size()));
    show.unique_viewers = unique;
    save_show(*s);
  }
}

void StatsService::Impl::save_show(LiveStream &s)
{
  if (s.show.session_id == 0) {
    auto info = streams.live(s.id);
    if (!info || info->session_id == 0)
      return; /* the session row is on its way; the next point saves it */
    s.show.session_id = info->session_id;
    s.show.started_at = info->started_at;
  }
  const std::string id = s.id;
  store.save_show(s.show, [id](StoreResult<Done> r) {
    if (!r.ok())
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "stream %s: the show's totals were not stored: %s",
            id.c_str(), r.error().message.c_str());
  });
}

StatsService::StatsService(const Config &config, HttpServer &http, Store &store,
                           StreamManager &streams, chat::ChatService &chat, Metrics &metrics)
    : impl_(std::make_unique<Impl>(config, http, store, streams, chat, metrics))
{}

StatsService::~StatsService()
{
  if (impl_->timer)
    g_source_remove(impl_->timer);
}

ViewerTracker &StatsService::viewers()
{
  return impl_->tracker;
}

bool StatsService::start(std::string &)
{
  Impl &d = *impl_;
  auto bind = [this](void (Impl::*f)(HttpRequest &)) {
    return [this, f](HttpRequest &r) { (impl_.get()->*f)(r); };
  };
  d.http.route("GET", "/api/channels", bind(&Impl::channels), false);
  d.http.route("GET", "/api/streams/{id}/thumbnail.jpg", bind(&Impl::thumbnail), false);
  d.http.route("PUT", "/api/streams/{id}/schedule", bind(&Impl::put_schedule), false);
  d.http.route("DELETE", "/api/streams/{id}/schedule", bind(&Impl::delete_schedule), false);
  d.http.route("GET", "/api/streams/{id}/stats", bind(&Impl::stats), false);
  d.timer = g_timeout_add_seconds(static_cast<guint>(d.config.stats.interval),
                                  SUGARCAST_GUARD(+[](gpointer p) -> gboolean {
                                    static_cast<Impl *>(p)->tick();
                                    return G_SOURCE_CONTINUE;
                                  }),
                                  impl_.get());
  return true;
}

void StatsService::shutdown(std::function<void()> done)
{
  Impl &d = *impl_;
  if (d.timer) {
    g_source_remove(d.timer);
    d.timer = 0;
  }
  for (auto &[id, s] : d.live)
    d.save_show(*s);
  done();
}

void StatsService::pipeline_built(const std::string &stream_id, GstElement *pipeline)
{
  LiveStream &s = impl_->stream(stream_id);
  /* A new pipeline is a new meter: the old one's probes went with it. */
  s.ingest = std::make_shared<IngestMeter>();
  g_autoptr(GstElement) ingest = find_by_factory(GST_BIN(pipeline), "rtmpserversrc");
  if (ingest)
    add_probe(
        ingest, "src",
        static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
        SUGARCAST_GUARD(on_ingest_bytes), s.ingest);
  g_autoptr(GstElement) parse = find_by_factory(GST_BIN(pipeline), "h264parse");
  if (parse)
    add_probe(parse, "src",
              static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER |
                                           GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
              SUGARCAST_GUARD(on_video), s.ingest);
  else
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO,
          "stream %s: its pipeline has no h264parse; ingest frame rate and resolution unknown",
          stream_id.c_str());
}

void StatsService::live_changed(const std::string &stream_id, bool live)
{
  Impl &d = *impl_;
  if (live) {
    d.stream(stream_id);
    return;
  }
  auto it = d.live.find(stream_id);
  if (it == d.live.end())
    return;
  it->second->show.ended_at = now_ms();
  d.save_show(*it->second);
  d.live.erase(it);
  d.metrics.remove_gauges({{"stream", stream_id}});
  d.count_now(); /* sugarcast_viewers without it at once, not at the next point */
  auto t = d.thumbnails.find(stream_id);
  if (t != d.thumbnails.end() && !t->second.decoding)
    d.thumbnails.erase(t); /* a decode under way answers its waiters, then goes */
}

void StatsService::gift(const std::string &stream_id, int count, int64_t coins)
{
  auto it = impl_->live.find(stream_id);
  if (it == impl_->live.end())
    return;
  it->second->gifts += count;
  it->second->coins += coins;
  it->second->show.gifts += count;
}

void StatsService::chat_message(const std::string &stream_id)
{
  auto it = impl_->live.find(stream_id);
  if (it == impl_->live.end())
    return;
  it->second->messages += 1;
  it->second->show.messages += 1;
}

} // namespace sugarcast
