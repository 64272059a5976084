/* sugarcastd — live statistics, channels, schedules, thumbnails. See stats.h. */
#include "stats.h"

#include "guard.h"

#include "api.h"
#include "authz.h"
#include "events.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#define LOG_DOMAIN "sugarcastd-stats"

namespace sugarcast {

namespace {

/* Unique viewers are remembered per show up to this many keys; beyond, the
 * figure is a lower bound (and says so in the log once). */
constexpr size_t kMaxUniquePerShow = 100000;
/* Points and shows one stats answer carries at most. */
constexpr int kMaxPoints = 10000;
constexpr int kMaxShows = 200;
constexpr int kMaxChannelsScheduled = 100;
/* A segment (and its init section) read for a thumbnail at most. */
constexpr gsize kMaxSegmentBytes = 32u << 20;
constexpr guint kThumbnailTimeoutMs = 5000;
/* A frame is late when it arrives this much later than the best
 * arrival-versus-timestamp offset seen. */
constexpr int64_t kLateUs = 1000000;

int64_t monotonic_ms()
{
  return g_get_monotonic_time() / 1000;
}

/* Ingest health, from pad probes on the pipeline's streaming threads. */
struct IngestMeter
{
  std::mutex lock;
  uint64_t bytes = 0;  /* out of rtmpserversrc (FLV: video, audio, metadata) */
  uint64_t frames = 0; /* video access units out of h264parse */
  int width = 0;
  int height = 0;
  double caps_fps = 0;
  GstClockTime last_keyframe = GST_CLOCK_TIME_NONE;
  double keyframe_interval = 0; /* seconds between the last two keyframes */
  GstClockTime last_dts = GST_CLOCK_TIME_NONE;
  double mean_frame_ns = 0; /* of the deltas that were not gaps */
  uint64_t dropped = 0;     /* frames missing from the publisher's timestamps */
  uint64_t late = 0;        /* frames that arrived > 1 s behind the stream's best pace */
  bool have_offset = false;
  int64_t best_offset_us = 0; /* min over frames of (arrival - timestamp) */

  /* Taken at each point: counts since the previous one. */
  uint64_t bytes_told = 0;
  uint64_t frames_told = 0;
  int64_t told_at_us = 0;
  double bitrate = 0;
  double fps = 0;

  void video(GstBuffer *buffer)
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

  void caps(GstCaps *caps)
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

  /* Bitrate and fps since the previous call. */
  void take_rates()
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
};

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

/* The URI lines of a playlist, with the attributes line before each
 * (#EXT-X-STREAM-INF for a master playlist). */
std::vector<std::pair<std::string, std::string>> playlist_entries(const std::string &text,
                                                                  std::string *map_uri)
{
  std::vector<std::pair<std::string, std::string>> out;
  std::string last_tag;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    start = end + 1;
    if (line.empty())
      continue;
    if (line[0] == '#') {
      if (map_uri && line.rfind("#EXT-X-MAP:", 0) == 0) {
        const size_t u = line.find("URI=\"");
        if (u != std::string::npos) {
          const size_t close = line.find('"', u + 5);
          if (close != std::string::npos)
            *map_uri = line.substr(u + 5, close - u - 5);
        }
      }
      if (line.rfind("#EXT-X-STREAM-INF:", 0) == 0)
        last_tag = line;
      continue;
    }
    out.emplace_back(last_tag, line);
    last_tag.clear();
  }
  return out;
}

/* A relative playlist URI that stays in the stream's folder: plain names. */
bool plain_relative(const std::string &uri)
{
  if (uri.empty() || uri[0] == '/' || uri.find("..") != std::string::npos ||
      uri.find(':') != std::string::npos || uri.find('?') != std::string::npos)
    return false;
  return true;
}

int width_of(const std::string &stream_inf)
{
  const size_t r = stream_inf.find("RESOLUTION=");
  if (r == std::string::npos)
    return 0;
  int w = 0;
  const char *begin = stream_inf.c_str() + r + 11;
  std::from_chars(begin, stream_inf.c_str() + stream_inf.size(), w);
  return w;
}

bool read_bounded(const std::string &path, std::string &out, std::string &error)
{
  g_autofree gchar *bytes = nullptr;
  gsize length = 0;
  g_autoptr(GError) err = nullptr;
  if (!g_file_get_contents(path.c_str(), &bytes, &length, &err)) {
    error = err->message;
    return false;
  }
  if (length > kMaxSegmentBytes) {
    error = path + " is " + std::to_string(length) + " bytes, more than the " +
            std::to_string(kMaxSegmentBytes) + " a thumbnail reads";
    return false;
  }
  out.append(bytes, length);
  return true;
}

/* The newest segment (with its init section, for fMP4) of the rung nearest
 * kThumbnailWidth wide, as bytes to decode; "" with `error` otherwise. */
std::string newest_segment(const std::string &stream_dir, std::string &error)
{
  std::string master;
  if (!read_bounded(stream_dir + "/master.m3u8", master, error))
    return "";
  const auto variants = playlist_entries(master, nullptr);
  std::string chosen;
  int chosen_width = 0;
  for (const auto &[inf, uri] : variants) {
    if (!plain_relative(uri))
      continue;
    const int w = width_of(inf);
    const bool better = chosen.empty() ||
                        (w >= StatsService::kThumbnailWidth &&
                         (chosen_width < StatsService::kThumbnailWidth || w < chosen_width)) ||
                        (chosen_width < StatsService::kThumbnailWidth && w > chosen_width);
    if (better) {
      chosen = uri;
      chosen_width = w;
    }
  }
  if (chosen.empty()) {
    error = stream_dir + "/master.m3u8 lists no variant playlist";
    return "";
  }
  const std::string media_path = stream_dir + "/" + chosen;
  std::string media;
  if (!read_bounded(media_path, media, error))
    return "";
  std::string map_uri;
  const auto segments = playlist_entries(media, &map_uri);
  if (segments.empty() || !plain_relative(segments.back().second)) {
    error = media_path + " lists no segment yet";
    return "";
  }
  const std::string dir = media_path.substr(0, media_path.rfind('/'));
  std::string bytes;
  if (!map_uri.empty() &&
      (!plain_relative(map_uri) || !read_bounded(dir + "/" + map_uri, bytes, error)))
    return "";
  if (!read_bounded(dir + "/" + segments.back().second, bytes, error))
    return "";
  return bytes;
}

struct Thumbnail
{
  std::string jpeg;
  int64_t made_at = 0; /* monotonic ms */
  std::vector<std::function<void(const std::string &jpeg, const std::string &error)>> waiting;
  bool decoding = false;
};

} // namespace

/* A stream live on this daemon. */
struct LiveStream
{
  std::string id;
  std::shared_ptr<IngestMeter> ingest;
  int64_t viewers = 0;
  ViewerTracker::Count last;
  /* Since the previous point. */
  int64_t messages = 0;
  int64_t gifts = 0;
  int64_t coins = 0;
  /* The show so far. */
  ShowStats show;
  int64_t points = 0;
  double viewer_sum = 0;
  /* client -> (HLS identities, chat connections) seen this show */
  std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>> unique;
  size_t unique_entries = 0;
  bool unique_full = false;
  int64_t last_point_mono = 0;
};

struct StatsService::Impl
{
  const Config &config;
  HttpServer &http;
  Store &store;
  StreamManager &streams;
  chat::ChatService &chat;
  Metrics &metrics;
  ViewerTracker tracker;
  std::map<std::string, std::unique_ptr<LiveStream>> live;
  std::map<std::string, Thumbnail> thumbnails;
  std::deque<std::string> thumbnail_queue; /* streams waiting for the decoder */
  bool decoder_busy = false;
  guint timer = 0;
  int64_t total_viewers = 0;

  Impl(const Config &c, HttpServer &h, Store &s, StreamManager &st, chat::ChatService &ch,
       Metrics &m)
      : config(c), http(h), store(s), streams(st), chat(ch), metrics(m),
        tracker(m, int64_t(2 * c.hls.segment_duration) * 1000 + 1000)
  {
    metrics.gauge("sugarcast_viewers",
                  "Viewers of every stream live on this daemon (de-duplicated)",
                  [this] { return double(total_viewers); });
  }

  LiveStream &stream(const std::string &id)
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

  /* Per-stream series, made when a stream goes live here (its LiveStream is
   * made) and removed when it ends (remove_gauges). */
  void add_gauges(const std::string &id)
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
                  "Frames missing from the publisher's timestamps this show",
                  read([](LiveStream &s) {
                    std::lock_guard<std::mutex> hold(s.ingest->lock);
                    return double(s.ingest->dropped);
                  }),
                  labels);
  }

  void count_now()
  {
    total_viewers = 0;
    for (auto &[id, s] : live) {
      s->last = tracker.count(id, chat.clients(id));
      s->viewers = s->last.viewers;
      total_viewers += s->viewers;
    }
  }

  void tick()
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
      const double minutes =
          s->last_point_mono > 0 ? double(mono - s->last_point_mono) / 60000.0 : 0;
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

  void save_show(LiveStream &s)
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

  /* Routes */

  void channels(HttpRequest &r)
  {
    count_now();
    auto reply = std::make_shared<Deferred>(r.msg);
    store.list_schedules(now_ms() - 3600 * 1000, kMaxChannelsScheduled,
                         [this, reply](StoreResult<std::vector<ScheduleRecord>> schedules) {
                           if (!schedules.ok()) {
                             respond_store_error(reply->msg(), schedules.error());
                             return;
                           }
                           channels_with(reply, schedules.value());
                         });
  }

  void set_schedule_member(JsonObject *o, const ScheduleRecord *s)
  {
    if (!s) {
      json_object_set_null_member(o, "schedule");
      return;
    }
    JsonObject *so = json_object_new();
    json_object_set_string_member(so, "title", s->title.c_str());
    json_object_set_int_member(so, "starts_at", s->starts_at);
    json_object_set_object_member(o, "schedule", so);
  }

  JsonObject *channel(SoupServerMessage *msg, const std::string &id, const std::string &title,
                      const char *state, int64_t started_at, int64_t viewers,
                      const ScheduleRecord *schedule)
  {
    JsonObject *o = json_object_new();
    const std::string base = http.base_url(msg);
    json_object_set_string_member(o, "id", id.c_str());
    json_object_set_string_member(o, "title", title.c_str());
    json_object_set_string_member(o, "state", state);
    if (started_at > 0)
      json_object_set_int_member(o, "started_at", started_at);
    else
      json_object_set_null_member(o, "started_at");
    json_object_set_int_member(o, "viewers", viewers);
    if (started_at > 0)
      json_object_set_string_member(o, "thumbnail_url",
                                    (base + "/api/streams/" + id + "/thumbnail.jpg").c_str());
    else
      json_object_set_null_member(o, "thumbnail_url");
    json_object_set_string_member(o, "hls_url", (base + "/hls/" + id + "/master.m3u8").c_str());
    json_object_set_string_member(o, "watch_url", ("/watch/" + id).c_str());
    set_schedule_member(o, schedule);
    return o;
  }

  void channels_with(const std::shared_ptr<Deferred> &reply,
                     const std::vector<ScheduleRecord> &schedules)
  {
    std::map<std::string, const ScheduleRecord *> by_stream;
    for (const auto &s : schedules)
      by_stream.emplace(s.stream_id, &s);
    JsonArray *a = json_array_new();
    std::set<std::string> listed;
    auto lives = streams.live_streams();
    /* Most watched first. */
    std::stable_sort(lives.begin(), lives.end(), [this](const LiveInfo &x, const LiveInfo &y) {
      return viewers_of(x.id) > viewers_of(y.id);
    });
    for (const auto &l : lives) {
      auto sched = by_stream.find(l.id);
      json_array_add_object_element(a, channel(reply->msg(), l.id, l.title, l.state.c_str(),
                                               l.started_at, viewers_of(l.id),
                                               sched == by_stream.end() ? nullptr : sched->second));
      listed.insert(l.id);
    }
    /* Then the scheduled ones, soonest first (the store's order); their
     * titles are the streams', so they are looked up. */
    std::vector<const ScheduleRecord *> upcoming;
    for (const auto &s : schedules)
      if (!listed.count(s.stream_id))
        upcoming.push_back(&s);
    auto finish = [reply, a] {
      JsonObject *o = json_object_new();
      json_object_set_array_member(o, "channels", a);
      g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
      json_object_unref(o);
      respond_json(reply->msg(), SOUP_STATUS_OK, node);
    };
    if (upcoming.empty()) {
      finish();
      return;
    }
    store.list_streams([this, reply, a, finish, schedules, ids = [&] {
      std::vector<std::string> v;
      for (auto *s : upcoming)
        v.push_back(s->stream_id);
      return v;
    }()](StoreResult<std::vector<StreamRecord>> all) {
      std::map<std::string, std::string> titles;
      if (all.ok())
        for (const auto &s : all.value())
          titles[s.id] = s.title;
      for (const auto &id : ids) {
        auto t = titles.find(id);
        if (t == titles.end())
          continue;
        const ScheduleRecord *sched = nullptr;
        for (const auto &s : schedules)
          if (s.stream_id == id)
            sched = &s;
        json_array_add_object_element(
            a, channel(reply->msg(), id, t->second, "scheduled", 0, 0, sched));
      }
      finish();
    });
  }

  int64_t viewers_of(const std::string &id) const
  {
    auto it = live.find(id);
    return it == live.end() ? 0 : it->second->viewers;
  }

  void put_schedule(HttpRequest &r)
  {
    const std::string id = r.params["id"];
    Caller caller;
    if (!authorize_stream_manager(config, http, r.msg, id, caller))
      return;
    g_autoptr(JsonNode) body = read_json_body(r.msg, config.http.max_body_bytes, "stream_schedule");
    if (!body)
      return;
    JsonObject *o = json_node_get_object(body);
    ScheduleRecord s{id, json_object_get_string_member(o, "title"),
                     json_object_get_int_member(o, "starts_at"), now_ms()};
    auto reply = std::make_shared<Deferred>(r.msg);
    store.get_stream(id, [this, reply, s](StoreResult<std::optional<StreamRecord>> found) {
      if (!found.ok()) {
        respond_store_error(reply->msg(), found.error());
        return;
      }
      if (!found.value()) {
        respond_error(reply->msg(), SOUP_STATUS_NOT_FOUND, "not_found",
                      "No stream with id \"" + s.stream_id + "\"");
        return;
      }
      store.set_schedule(s, [reply, s](StoreResult<Done> saved) {
        if (!saved.ok()) {
          respond_store_error(reply->msg(), saved.error());
          return;
        }
        g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s: scheduled \"%s\" at %" G_GINT64_FORMAT,
              s.stream_id.c_str(), s.title.c_str(), s.starts_at);
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "stream", s.stream_id.c_str());
        json_object_set_string_member(o, "title", s.title.c_str());
        json_object_set_int_member(o, "starts_at", s.starts_at);
        g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
        json_object_unref(o);
        respond_json(reply->msg(), SOUP_STATUS_OK, node);
      });
    });
  }

  void delete_schedule(HttpRequest &r)
  {
    const std::string id = r.params["id"];
    Caller caller;
    if (!authorize_stream_manager(config, http, r.msg, id, caller))
      return;
    auto reply = std::make_shared<Deferred>(r.msg);
    store.clear_schedule(id, [reply, id](StoreResult<bool> cleared) {
      if (!cleared.ok()) {
        respond_store_error(reply->msg(), cleared.error());
        return;
      }
      if (!cleared.value()) {
        respond_error(reply->msg(), SOUP_STATUS_NOT_FOUND, "not_found",
                      "Stream \"" + id + "\" has no schedule");
        return;
      }
      soup_server_message_set_status(reply->msg(), SOUP_STATUS_NO_CONTENT, nullptr);
    });
  }

  /* A query time in Unix ms; false (400 sent) when it is not one. */
  static bool time_param(HttpRequest &r, const char *name, int64_t fallback, int64_t &out)
  {
    const std::string text = r.query_param(name);
    if (text.empty()) {
      out = fallback;
      return true;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec == std::errc() && end == text.data() + text.size() && out >= 0)
      return true;
    respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                  std::string("?") + name + "= is a time in Unix milliseconds, not \"" + text +
                      "\"");
    return false;
  }

  void stats(HttpRequest &r)
  {
    const std::string id = r.params["id"];
    Caller caller;
    if (!authorize_stream_manager(config, http, r.msg, id, caller))
      return;
    const int64_t now = now_ms();
    int64_t from = 0, to = 0;
    if (!time_param(r, "from", now - 24 * 3600 * 1000, from) || !time_param(r, "to", now, to))
      return;
    auto reply = std::make_shared<Deferred>(r.msg);
    store.get_stream(
        id, [this, reply, id, from, to](StoreResult<std::optional<StreamRecord>> found) {
          if (!found.ok()) {
            respond_store_error(reply->msg(), found.error());
            return;
          }
          if (!found.value()) {
            respond_error(reply->msg(), SOUP_STATUS_NOT_FOUND, "not_found",
                          "No stream with id \"" + id + "\"");
            return;
          }
          store.list_stats_points(
              id, from, to, kMaxPoints,
              [this, reply, id, from, to](StoreResult<std::vector<StatsPoint>> points) {
                if (!points.ok()) {
                  respond_store_error(reply->msg(), points.error());
                  return;
                }
                store.list_shows(id, 0, to, kMaxShows,
                                 [this, reply, id, from, points = std::move(points.value())](
                                     StoreResult<std::vector<ShowStats>> shows) {
                                   if (!shows.ok()) {
                                     respond_store_error(reply->msg(), shows.error());
                                     return;
                                   }
                                   respond_stats(reply, id, from, points, shows.value());
                                 });
              });
        });
  }

  void respond_stats(const std::shared_ptr<Deferred> &reply, const std::string &id, int64_t from,
                     const std::vector<StatsPoint> &points, const std::vector<ShowStats> &shows)
  {
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "stream", id.c_str());
    json_object_set_double_member(o, "interval", double(config.stats.interval));
    JsonArray *pa = json_array_new();
    for (const auto &p : points) {
      JsonObject *po = json_object_new();
      json_object_set_int_member(po, "t", p.t);
      json_object_set_int_member(po, "viewers", p.viewers);
      json_object_set_int_member(po, "chat_messages", p.chat_messages);
      json_object_set_int_member(po, "gifts", p.gifts);
      json_object_set_int_member(po, "coins", p.coins);
      json_object_set_double_member(po, "ingest_bitrate", p.ingest_bitrate);
      json_object_set_double_member(po, "ingest_fps", p.ingest_fps);
      json_array_add_object_element(pa, po);
    }
    json_object_set_array_member(o, "points", pa);
    JsonArray *sa = json_array_new();
    for (const auto &s : shows) {
      /* Shows that ended before the range are left out. */
      if (s.ended_at != 0 && s.ended_at < from)
        continue;
      JsonObject *so = json_object_new();
      json_object_set_int_member(so, "started_at", s.started_at);
      if (s.ended_at)
        json_object_set_int_member(so, "ended_at", s.ended_at);
      else
        json_object_set_null_member(so, "ended_at");
      json_object_set_int_member(so, "peak_viewers", s.peak_viewers);
      json_object_set_double_member(so, "avg_viewers", s.avg_viewers);
      json_object_set_int_member(so, "unique_viewers", s.unique_viewers);
      json_object_set_double_member(so, "watch_minutes", s.watch_minutes);
      json_object_set_int_member(so, "messages", s.messages);
      json_object_set_int_member(so, "gifts", s.gifts);
      json_array_add_object_element(sa, so);
    }
    json_object_set_array_member(o, "shows", sa);
    auto it = live.find(id);
    if (it == live.end()) {
      json_object_set_null_member(o, "live");
    } else {
      count_now();
      JsonObject *lo = json_object_new();
      json_object_set_int_member(lo, "viewers", it->second->viewers);
      JsonObject *io = json_object_new();
      IngestMeter &m = *it->second->ingest;
      {
        std::lock_guard<std::mutex> hold(m.lock);
        json_object_set_double_member(io, "bitrate", m.bitrate);
        json_object_set_double_member(io, "fps", m.fps);
        json_object_set_int_member(io, "width", m.width);
        json_object_set_int_member(io, "height", m.height);
        json_object_set_double_member(io, "keyframe_interval", m.keyframe_interval);
        json_object_set_int_member(io, "dropped_frames", int64_t(m.dropped));
        json_object_set_int_member(io, "late_frames", int64_t(m.late));
      }
      json_object_set_object_member(lo, "ingest", io);
      json_object_set_object_member(o, "live", lo);
    }
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
    json_object_unref(o);
    respond_json(reply->msg(), SOUP_STATUS_OK, node);
  }

  /* Thumbnails */

  void thumbnail(HttpRequest &r)
  {
    const std::string id = r.params["id"];
    if (!live.count(id)) {
      respond_error(r.msg, SOUP_STATUS_NOT_FOUND, "not_live",
                    "Stream \"" + id + "\" is not live on this server: no thumbnail");
      return;
    }
    Thumbnail &t = thumbnails[id];
    auto reply = std::make_shared<Deferred>(r.msg);
    const std::string method = r.method;
    auto answer = [reply, method, id](const std::string &jpeg, const std::string &error) {
      if (jpeg.empty()) {
        respond_error(reply->msg(), SOUP_STATUS_SERVICE_UNAVAILABLE, "no_thumbnail",
                      "No thumbnail of stream \"" + id + "\" yet: " + error);
        return;
      }
      soup_message_headers_replace(soup_server_message_get_response_headers(reply->msg()),
                                   "Cache-Control", "public, max-age=5");
      g_autoptr(GBytes) bytes = g_bytes_new(jpeg.data(), jpeg.size());
      respond_bytes(reply->msg(), method, "image/jpeg", bytes);
    };
    if (!t.jpeg.empty() && monotonic_ms() - t.made_at < StatsService::kThumbnailTtlMs) {
      answer(t.jpeg, "");
      return;
    }
    t.waiting.push_back(answer);
    if (t.decoding)
      return;
    t.decoding = true;
    thumbnail_queue.push_back(id);
    next_decode();
  }

  void finish_thumbnail(const std::string &id, std::string jpeg, const std::string &error)
  {
    Thumbnail &t = thumbnails[id];
    t.decoding = false;
    if (!jpeg.empty()) {
      t.jpeg = std::move(jpeg);
      t.made_at = monotonic_ms();
    } else {
      g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "stream %s: no thumbnail: %s", id.c_str(), error.c_str());
    }
    auto waiting = std::move(t.waiting);
    t.waiting.clear();
    /* A failed decode answers with the previous picture when there is one. */
    for (auto &w : waiting)
      w(t.jpeg, error);
    if (!live.count(id) && t.waiting.empty())
      thumbnails.erase(id);
    decoder_busy = false;
    next_decode();
  }

  struct Decode
  {
    Impl *impl;
    std::string stream;
    GstElement *pipeline = nullptr;
    guint bus_watch = 0;
    guint timeout = 0;
    std::mutex lock;
    std::string jpeg; /* from the appsink's thread */
    bool done = false;
  };

  void next_decode();
  static void end_decode(Decode *d, const std::string &error);
};

void StatsService::Impl::end_decode(Decode *d, const std::string &error)
{
  if (d->done)
    return;
  d->done = true;
  if (d->timeout)
    g_source_remove(d->timeout);
  if (d->bus_watch)
    g_source_remove(d->bus_watch);
  gst_element_set_state(d->pipeline, GST_STATE_NULL);
  gst_object_unref(d->pipeline);
  std::string jpeg;
  {
    std::lock_guard<std::mutex> hold(d->lock);
    jpeg = std::move(d->jpeg);
  }
  Impl *impl = d->impl;
  const std::string stream = d->stream;
  delete d;
  const std::string why = jpeg.empty() && error.empty() ? "no frame decoded" : error;
  impl->finish_thumbnail(stream, std::move(jpeg), why);
}

void StatsService::Impl::next_decode()
{
  if (decoder_busy || thumbnail_queue.empty())
    return;
  const std::string id = thumbnail_queue.front();
  thumbnail_queue.pop_front();
  std::string error;
  std::string bytes = newest_segment(config.hls.dir + "/" + id, error);
  if (bytes.empty()) {
    decoder_busy = true;
    finish_thumbnail(id, "", error);
    return;
  }
  g_autoptr(GError) err = nullptr;
  GstElement *pipeline = gst_parse_launch(
      ("appsrc name=src ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=" +
       std::to_string(StatsService::kThumbnailWidth) +
       ",pixel-aspect-ratio=1/1 ! jpegenc quality=80 snapshot=true ! appsink name=sink "
       "sync=false max-buffers=1 emit-signals=true")
          .c_str(),
      &err);
  if (!pipeline) {
    decoder_busy = true;
    finish_thumbnail(id, "",
                     std::string("cannot build the thumbnail pipeline: ") +
                         (err ? err->message : "unknown"));
    return;
  }
  decoder_busy = true;
  auto *d = new Decode{this, id, pipeline};
  g_autoptr(GstElement) src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  auto *holder = new std::string(std::move(bytes));
  GstBuffer *buffer = gst_buffer_new_wrapped_full(
      GST_MEMORY_FLAG_READONLY, holder->data(), holder->size(), 0, holder->size(), holder,
      [](gpointer p) { delete static_cast<std::string *>(p); });
  g_object_set(src, "format", GST_FORMAT_BYTES, nullptr);
  gst_app_src_push_buffer(GST_APP_SRC(src), buffer);
  gst_app_src_end_of_stream(GST_APP_SRC(src));
  g_signal_connect(sink, "new-sample",
                   G_CALLBACK(SUGARCAST_GUARD(+[](GstElement *sink, gpointer p) -> GstFlowReturn {
                     auto *d = static_cast<Decode *>(p);
                     g_autoptr(GstSample) sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
                     GstBuffer *b = sample ? gst_sample_get_buffer(sample) : nullptr;
                     GstMapInfo map;
                     if (b && gst_buffer_map(b, &map, GST_MAP_READ)) {
                       std::lock_guard<std::mutex> hold(d->lock);
                       if (d->jpeg.empty())
                         d->jpeg.assign(reinterpret_cast<const char *>(map.data), map.size);
                       gst_buffer_unmap(b, &map);
                     }
                     /* One frame is all it takes: stop here. */
                     gst_element_post_message(
                         sink, gst_message_new_application(
                                   GST_OBJECT(sink), gst_structure_new_empty("thumbnail-done")));
                     return GST_FLOW_EOS;
                   })),
                   d);
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
  d->bus_watch = gst_bus_add_watch(
      bus, SUGARCAST_GUARD(+[](GstBus *, GstMessage *m, gpointer p) -> gboolean {
        auto *d = static_cast<Decode *>(p);
        switch (GST_MESSAGE_TYPE(m)) {
        case GST_MESSAGE_APPLICATION:
        case GST_MESSAGE_EOS:
          d->bus_watch = 0;
          end_decode(d, "");
          return G_SOURCE_REMOVE;
        case GST_MESSAGE_ERROR: {
          g_autoptr(GError) e = nullptr;
          gst_message_parse_error(m, &e, nullptr);
          d->bus_watch = 0;
          end_decode(d, std::string("decoding the newest segment: ") + (e ? e->message : "?"));
          return G_SOURCE_REMOVE;
        }
        default:
          return G_SOURCE_CONTINUE;
        }
      }),
      d);
  d->timeout = g_timeout_add(kThumbnailTimeoutMs, SUGARCAST_GUARD(+[](gpointer p) -> gboolean {
                               auto *d = static_cast<Decode *>(p);
                               d->timeout = 0;
                               end_decode(d, "decoding took longer than 5 s");
                               return G_SOURCE_REMOVE;
                             }),
                             d);
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    end_decode(d, "the thumbnail pipeline would not start");
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
