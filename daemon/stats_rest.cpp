/* sugarcastd — statistics: the routes. GET /api/channels (live streams,
 * most watched first, then scheduled ones), PUT and DELETE a stream's
 * schedule, GET a stream's statistics (points, shows, live values). Apart
 * from sampling (stats.cpp), which keeps what these read. docs/api.md
 * "Statistics, channels, schedules" documents each. */
#include "stats_impl.h"

#include "authz.h"

#include <algorithm>
#include <charconv>

namespace sugarcast {

namespace {

/* Points and shows one stats answer carries at most. */
constexpr int kMaxPoints = 10000;
constexpr int kMaxShows = 200;
constexpr int kMaxChannelsScheduled = 100;

} // namespace

void StatsService::Impl::channels(HttpRequest &r)
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

void StatsService::Impl::set_schedule_member(JsonObject *o, const ScheduleRecord *s)
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

JsonObject *StatsService::Impl::channel(SoupServerMessage *msg, const std::string &id,
                                        const std::string &title, const char *state,
                                        int64_t started_at, int64_t viewers,
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

void StatsService::Impl::channels_with(const std::shared_ptr<Deferred> &reply,
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
      json_array_add_object_element(a,
                                    channel(reply->msg(), id, t->second, "scheduled", 0, 0, sched));
    }
    finish();
  });
}

int64_t StatsService::Impl::viewers_of(const std::string &id) const
{
  auto it = live.find(id);
  return it == live.end() ? 0 : it->second->viewers;
}

void StatsService::Impl::put_schedule(HttpRequest &r)
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

void StatsService::Impl::delete_schedule(HttpRequest &r)
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

bool StatsService::Impl::time_param(HttpRequest &r, const char *name, int64_t fallback,
                                    int64_t &out)
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
                std::string("?") + name + "= is a time in Unix milliseconds, not \"" + text + "\"");
  return false;
}

void StatsService::Impl::stats(HttpRequest &r)
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
  store.get_stream(id, [this, reply, id, from, to](StoreResult<std::optional<StreamRecord>> found) {
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

void StatsService::Impl::respond_stats(const std::shared_ptr<Deferred> &reply,
                                       const std::string &id, int64_t from,
                                       const std::vector<StatsPoint> &points,
                                       const std::vector<ShowStats> &shows)
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

} // namespace sugarcast
