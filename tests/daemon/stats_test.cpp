/* Live statistics, channels, schedules and thumbnails through a real
 * sugarcastd on both store backends: a real ffmpeg pushing 1080p, HLS
 * clients polling playlists with and without a session (a real ffmpeg HLS
 * reader is the third-party player), chat WebSocket clients, gifts. Every
 * wait polls its condition with a deadline; nothing asserts a duration. */
#include "chat_test.h"
#include "ingest_support.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <thread>

using namespace sugarcast;
using namespace sugarcast::test;

namespace {

/* A parsed JSON answer; members by dotted path, as ChatMessage reads them. */
using Json = ChatMessage;

/* An HLS client the way a player is one: fetches the master playlist, then
 * polls one media playlist about every half target duration, adding
 * ?session=ID when it has one, until stopped. */
class PlaylistPoller
{
public:
  PlaylistPoller(std::string base, std::string session, std::string agent)
      : base_(std::move(base)), session_(std::move(session)), agent_(std::move(agent)),
        thread_([this] { run(); })
  {}
  ~PlaylistPoller() { stop(); }
  void stop()
  {
    stopping_ = true;
    if (thread_.joinable())
      thread_.join();
  }
  int polls() const { return polls_; }

private:
  void run()
  {
    GMainContext *context = g_main_context_new();
    g_main_context_push_thread_default(context);
    const std::string query = session_.empty() ? "" : "?session=" + session_;
    std::vector<std::pair<std::string, std::string>> headers;
    if (!agent_.empty())
      headers.push_back({"User-Agent", agent_});
    const auto period = std::chrono::milliseconds(500);
    auto next = std::chrono::steady_clock::now();
    while (!stopping_) {
      /* The pace of a player, not a wait for a condition. */
      std::this_thread::sleep_until(next);
      next += period;
      if (http_request("GET", base_ + "/master.m3u8" + query, "", headers).status == 200 &&
          http_request("GET", base_ + "/video_0.m3u8" + query, "", headers).status == 200)
        ++polls_;
    }
    g_main_context_pop_thread_default(context);
    g_main_context_unref(context);
  }

  std::string base_, session_, agent_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> polls_{0};
  std::thread thread_;
};

class Stats : public ChatTest, public ::testing::WithParamInterface<Backend>
{
protected:
  Backend backend() const override { return GetParam(); }

  std::unique_ptr<SugarcastdProcess> start()
  {
    return start_daemon("", R"("stats": {"interval": 1},
                              "hls": {"segment_duration": 1, "ladder": "720p:2800,360p:800"})");
  }

  static HttpResponse as(SugarcastdProcess &d, const std::string &method, const std::string &path,
                         const std::string &bearer, const std::string &body = "")
  {
    return http_request(method, d.url(path), body, {{"Authorization", "Bearer " + bearer}});
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, Stats, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         backend_name);

/* A 1080p30 live encode with a keyframe every second, as docs/api.md tells
 * OBS users to set it, until killed. */
std::unique_ptr<Background> push_1080p(const std::string &rtmp_url)
{
  return std::make_unique<Background>(
      std::vector<std::string>{"ffmpeg",    "-hide_banner",
                               "-loglevel", "error",
                               "-nostdin",  "-re",
                               "-f",        "lavfi",
                               "-i",        "testsrc2=size=1920x1080:rate=30",
                               "-f",        "lavfi",
                               "-i",        "sine=frequency=440:sample_rate=48000",
                               "-c:v",      "libx264",
                               "-preset",   "ultrafast",
                               "-tune",     "zerolatency",
                               "-g",        "30",
                               "-pix_fmt",  "yuv420p",
                               "-b:v",      "4M",
                               "-c:a",      "aac",
                               "-b:a",      "128k",
                               "-f",        "flv",
                               rtmp_url});
}

/* A number member of a JSON object's text, as a double (ChatMessage::num
 * answers integers); NAN when absent. */
double real(const std::string &json, const std::string &member)
{
  const std::string key = "\"" + member + "\":";
  const size_t at = json.find(key);
  if (at == std::string::npos)
    return NAN;
  return g_ascii_strtod(json.c_str() + at + key.size(), nullptr);
}

int64_t sum_points(const Json &stats, const char *field)
{
  int64_t n = 0;
  for (int64_t i = 0; i < stats.count("points"); ++i)
    n += stats.at("points", static_cast<size_t>(i)).num(field);
  return n;
}

} // namespace

TEST_P(Stats, CountsViewersOnceStoresPointsAndShowsAndListsChannels)
{
  auto d = start();
  const std::string admin = d->admin_token();

  /* Two streams: one goes live, the other is only scheduled. */
  HttpResponse made = d->admin("POST", "/api/streams", R"({"title": "Live now"})");
  ASSERT_EQ(made.status, 201) << made.body;
  const Json live_stream(made.body);
  const std::string id = live_stream.str("id");
  HttpResponse other_made = d->admin("POST", "/api/streams", R"({"title": "Later"})");
  ASSERT_EQ(other_made.status, 201) << other_made.body;
  const std::string other = Json(other_made.body).str("id");

  const std::string streamer = token("streamer-1", "streamer", "Streamer", id);
  const std::string other_streamer = token("streamer-2", "streamer", "Other", other);

  /* Authorization: the streamer of another stream gets 403 everywhere. */
  EXPECT_EQ(as(*d, "GET", "/api/streams/" + id + "/stats", other_streamer).status, 403);
  EXPECT_EQ(as(*d, "GET", "/api/streams/" + id, other_streamer).status, 403);
  EXPECT_EQ(as(*d, "POST", "/api/streams/" + id + "/key", other_streamer).status, 403);
  EXPECT_EQ(as(*d, "PUT", "/api/streams/" + id + "/schedule", other_streamer,
               R"({"title": "x", "starts_at": 1})")
                .status,
            403);
  EXPECT_EQ(as(*d, "DELETE", "/api/streams/" + id + "/schedule", other_streamer).status, 403);
  EXPECT_EQ(http_request("GET", d->url("/api/streams/" + id + "/stats")).status, 401);
  /* A viewer's token is no streamer's. */
  EXPECT_EQ(as(*d, "GET", "/api/streams/" + id + "/stats", token("v", "viewer", "", id)).status,
            403);
  /* Its own streamer may see the stream and rotate its key. */
  EXPECT_EQ(as(*d, "GET", "/api/streams/" + id, streamer).status, 200);
  HttpResponse rotated = as(*d, "POST", "/api/streams/" + id + "/key", streamer);
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  const std::string rtmp_url = Json(rotated.body).str("rtmp_url");

  /* Schedule the other stream, an hour from now. */
  const int64_t starts_at = g_get_real_time() / 1000 + 3600 * 1000;
  HttpResponse scheduled =
      as(*d, "PUT", "/api/streams/" + other + "/schedule", other_streamer,
         R"({"title": "Tomorrow's show", "starts_at": )" + std::to_string(starts_at) + "}");
  EXPECT_EQ(scheduled.status, 200) << scheduled.body;
  EXPECT_EQ(as(*d, "PUT", "/api/streams/" + other + "/schedule", admin, R"({"title": ""})").status,
            400);

  auto push = push_1080p(rtmp_url);
  const std::string hls = d->url("/hls/" + id);
  ASSERT_TRUE(eventually(
      [&] {
        return http_request("GET", hls + "/video_0.m3u8").body.find("#EXTINF") != std::string::npos;
      },
      std::chrono::seconds(60)))
      << d->log();

  /* Viewers: two page sessions and three chat sockets from one browser
   * (same address, same User-Agent: libsoup's, none), and a third-party
   * player without a session (ffmpeg reading the HLS: its own User-Agent). */
  PlaylistPoller alpha(hls, "alpha-session", "");
  PlaylistPoller beta(hls, "beta-session", "");
  /* The sessions are seen before the chat sockets join, so that no point
   * takes the browser's chat sockets for viewers of their own. */
  ASSERT_TRUE(eventually([&] { return alpha.polls() > 0 && beta.polls() > 0; }));
  auto c1 = join(*d, id, token("ann", "viewer", "Ann"));
  auto c2 = join(*d, id, token("bob", "viewer", "Bob"));
  auto c3 = join(*d, id, "");
  ASSERT_TRUE(c1 && c2 && c3);
  Background player({"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i",
                     hls + "/master.m3u8", "-map", "0:v:0", "-c", "copy", "-f", "null", "-"});

  auto stats = [&] { return Json(as(*d, "GET", "/api/streams/" + id + "/stats", streamer).body); };
  /* max(2 sessions, 3 chat) for the browser + 1 for the player. */
  EXPECT_TRUE(
      eventually([&] { return stats().num("live.viewers") == 4; }, std::chrono::seconds(30)))
      << stats().text();

  c1->send(R"({"v":1,"type":"chat","text":"one"})");
  c1->send(R"({"v":1,"type":"chat","text":"two"})");
  c2->send(R"({"v":1,"type":"chat","text":"three"})");
  c2->send(R"({"v":1,"type":"gift","gift":"rocket","count":2,"idempotency_key":"stats-gift-1"})");
  ASSERT_TRUE(c2->next("gift_ack"));

  /* Points: chat, gifts, coins, viewers and ingest arrive in the store. */
  ASSERT_TRUE(eventually(
      [&] {
        Json s = stats();
        return sum_points(s, "chat_messages") == 3 && sum_points(s, "gifts") == 2 &&
               sum_points(s, "coins") == 200;
      },
      std::chrono::seconds(30)))
      << stats().text();
  ASSERT_TRUE(eventually(
      [&] {
        Json s = stats();
        for (int64_t i = 0; i < s.count("points"); ++i) {
          Json p = s.at("points", static_cast<size_t>(i));
          if (p.num("viewers") == 4 && real(p.text(), "ingest_bitrate") > 500000 &&
              real(p.text(), "ingest_fps") > 10)
            return true;
        }
        return false;
      },
      std::chrono::seconds(30)))
      << stats().text();

  Json now = stats();
  EXPECT_EQ(now.str("stream"), id);
  EXPECT_EQ(real(now.text(), "interval"), 1.0);
  EXPECT_EQ(now.num("live.ingest.width"), 1920) << now.text();
  EXPECT_EQ(now.num("live.ingest.height"), 1080) << now.text();
  EXPECT_GT(real(now.text(), "bitrate"), 500000) << now.text();
  /* -g 30 at 30 fps: a keyframe a second. */
  EXPECT_NEAR(real(now.text(), "keyframe_interval"), 1.0, 0.1) << now.text();
  /* The rate depends on how fast the loaded machine lets ffmpeg encode;
   * that it is measured is what counts here. */
  EXPECT_GT(real(now.text(), "fps"), 0) << now.text();
  EXPECT_TRUE(now.has("live.ingest.dropped_frames"));
  EXPECT_TRUE(now.has("live.ingest.late_frames"));

  /* The same values in /metrics. */
  const std::string metrics = http_request("GET", d->url("/metrics")).body;
  EXPECT_NE(metrics.find("sugarcast_stream_viewers{stream=\"" + id + "\"} 4"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("sugarcast_stream_ingest_bitrate_bits{stream=\"" + id + "\"}"),
            std::string::npos);

  /* Channels: the live one first, with its viewers and a thumbnail; then
   * the scheduled one. Public. */
  Json channels(http_request("GET", d->url("/api/channels")).body);
  ASSERT_EQ(channels.count("channels"), 2) << channels.text();
  Json first = channels.at("channels", 0);
  EXPECT_EQ(first.str("id"), id);
  EXPECT_EQ(first.str("title"), "Live now");
  EXPECT_EQ(first.str("state"), "live");
  EXPECT_GT(first.num("started_at"), 0);
  EXPECT_EQ(first.num("viewers"), 4);
  EXPECT_EQ(first.str("watch_url"), "/watch/" + id);
  EXPECT_NE(first.str("hls_url").find("/hls/" + id + "/master.m3u8"), std::string::npos);
  Json second = channels.at("channels", 1);
  EXPECT_EQ(second.str("id"), other);
  EXPECT_EQ(second.str("state"), "scheduled");
  EXPECT_EQ(second.str("schedule.title"), "Tomorrow's show");
  EXPECT_EQ(second.num("schedule.starts_at"), starts_at);
  EXPECT_TRUE(second.text().find("\"thumbnail_url\":null") != std::string::npos) << second.text();

  /* The thumbnail decodes as a 480 px wide 16:9 JPEG. */
  const std::string thumb_url = first.str("thumbnail_url");
  HttpResponse thumb;
  ASSERT_TRUE(eventually(
      [&] {
        thumb = http_request("GET", thumb_url);
        return thumb.status == 200;
      },
      std::chrono::seconds(20)))
      << thumb.status << " " << thumb.body;
  EXPECT_EQ(thumb.header("content-type"), "image/jpeg");
  ASSERT_GT(thumb.body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(thumb.body[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>(thumb.body[1]), 0xD8);
  const std::string jpeg = d->data_dir() + "/thumb.jpg";
  ASSERT_TRUE(g_file_set_contents(jpeg.c_str(), thumb.body.data(),
                                  static_cast<gssize>(thumb.body.size()), nullptr));
  ProcessResult probe = run_process({"ffprobe", "-v", "error", "-show_entries",
                                     "stream=codec_name,width,height", "-of", "csv=p=0", jpeg});
  EXPECT_EQ(probe.out, "mjpeg,480,270\n") << probe.err;
  /* The second ask within a few seconds is the cached picture. */
  EXPECT_EQ(http_request("GET", thumb_url).body, thumb.body);

  /* One chat socket leaves: the browser still counts max(2, 2). */
  c3->close();
  EXPECT_TRUE(
      eventually([&] { return stats().num("live.viewers") == 3; }, std::chrono::seconds(30)))
      << stats().text();

  /* The show ends: its totals stay. */
  push->kill(15);
  player.kill();
  alpha.stop();
  beta.stop();
  ASSERT_TRUE(eventually(
      [&] {
        Json s = stats();
        return s.count("shows") == 1 && s.at("shows", 0).has("ended_at") &&
               s.at("shows", 0).text().find("\"ended_at\":null") == std::string::npos &&
               s.text().find("\"live\":null") != std::string::npos;
      },
      std::chrono::seconds(60)))
      << stats().text() << d->log();
  Json ended = stats();
  Json show = ended.at("shows", 0);
  EXPECT_EQ(show.num("peak_viewers"), 4) << show.text();
  /* Per browser, max(sessions, chat sockets) seen: max(2, 3) + the player. */
  EXPECT_EQ(show.num("unique_viewers"), 4) << show.text();
  EXPECT_EQ(show.num("messages"), 3);
  EXPECT_EQ(show.num("gifts"), 2);
  EXPECT_TRUE(show.has("watch_minutes"));
  EXPECT_EQ(http_request("GET", thumb_url).status, 404);
  /* Its /metrics series went with it: a daemon that has run many shows
   * does not scrape every one of them forever. */
  const std::string after = http_request("GET", d->url("/metrics")).body;
  EXPECT_EQ(after.find("stream=\"" + id + "\""), std::string::npos) << after;
  EXPECT_NE(after.find("sugarcast_viewers 0"), std::string::npos) << after;

  /* A range before the show has no points. */
  Json before(as(*d, "GET", "/api/streams/" + id + "/stats?from=0&to=1000", admin).body);
  EXPECT_EQ(before.count("points"), 0) << before.text();
  EXPECT_EQ(as(*d, "GET", "/api/streams/" + id + "/stats?from=yesterday", admin).status, 400);

  /* Unscheduling removes it from the channels. */
  EXPECT_EQ(as(*d, "DELETE", "/api/streams/" + other + "/schedule", other_streamer).status, 204);
  EXPECT_EQ(as(*d, "DELETE", "/api/streams/" + other + "/schedule", other_streamer).status, 404);
  EXPECT_EQ(Json(http_request("GET", d->url("/api/channels")).body).count("channels"), 0);
}
