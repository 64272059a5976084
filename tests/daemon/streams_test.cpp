/* Live streams through a real sugarcastd, pushed by a real ffmpeg: HLS out,
 * keys refused, encoders that vanish and come back, clean shutdown, no
 * leaks, failures kept to their own stream. */
#include "ingest_support.h"
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <thread>

using namespace sugarcast::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Created
{
  std::string id, key, rtmp_url;
};

std::string json_string(const std::string &body, const char *member)
{
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, body.c_str(), -1, nullptr) ||
      !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
    return "";
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  return json_object_has_member(o, member) ? json_object_get_string_member(o, member) : "";
}

size_t count(const std::string &text, const std::string &what)
{
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

/* A number from /proc/PID/status ("VmRSS:" in kB, "Threads:"). */
long proc_status(int pid, const std::string &field)
{
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field, 0) == 0)
      return std::stol(line.substr(field.size()));
  return -1;
}

class Streams : public ::testing::Test
{
protected:
  void start(const std::string &config)
  {
    d = std::make_unique<SugarcastdProcess>(SugarcastdProcess::Options{.config = config});
    ASSERT_TRUE(d->wait_ready()) << d->log();
  }

  Created create(const std::string &title = "show")
  {
    HttpResponse r = d->admin("POST", "/api/streams", "{\"title\": \"" + title + "\"}");
    EXPECT_EQ(r.status, 201) << r.body;
    return {json_string(r.body, "id"), json_string(r.body, "key"), json_string(r.body, "rtmp_url")};
  }

  std::string state(const std::string &id)
  {
    return json_string(d->admin("GET", "/api/streams/" + id).body, "state");
  }

  /* The top rendition's media playlist (hlsabrsink writes master.m3u8 and
   * one video_N.m3u8 per rung). */
  std::string playlist(const std::string &id)
  {
    return read_file(d->data_dir() + "/hls/" + id + "/video_0.m3u8");
  }

  /* A push that goes on until killed: the test FLV looped. */
  std::unique_ptr<Background> push_forever(const std::string &url)
  {
    return std::make_unique<Background>(std::vector<std::string>{
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
        "-i", test_flv(2.0), "-c", "copy", "-f", "flv", url});
  }

  std::unique_ptr<SugarcastdProcess> d;
};

const char *kFastHls = R"({"streams": {"grace_period_ms": 3000},
                           "hls": {"segment_duration": 1, "playlist_length": 20}})";

} // namespace

TEST_F(Streams, APublishBecomesHlsThatPlayersRead)
{
  start(kFastHls);
  Created s = create("first show");
  ProcessResult pushed = ffmpeg_push_file(test_flv(4.0), s.rtmp_url);
  EXPECT_EQ(pushed.exit_status, 0) << pushed.err << d->log();
  ASSERT_TRUE(eventually([&] { return state(s.id) == "idle"; })) << d->log();
  const std::string text = playlist(s.id);
  EXPECT_GE(count(text, "#EXTINF"), 3u) << text;
  EXPECT_NE(text.find("#EXT-X-ENDLIST"), std::string::npos) << text;

  ProcessResult probe = run_process({"ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                                     "-of", "csv=p=0", d->url("/hls/" + s.id + "/master.m3u8")});
  EXPECT_EQ(probe.exit_status, 0) << probe.err;
  EXPECT_NE(probe.out.find("h264"), std::string::npos) << probe.out;
  EXPECT_NE(probe.out.find("aac"), std::string::npos) << probe.out;

  HttpResponse shown = d->admin("GET", "/api/streams/" + s.id);
  EXPECT_EQ(count(shown.body, "\"end_reason\":\"the publisher stopped publishing; no reconnect "
                              "in time\""),
            1u)
      << shown.body;
  EXPECT_NE(d->admin("GET", "/metrics").body.find("sugarcast_streams_live 0"), std::string::npos);
}

TEST_F(Streams, WrongRevokedAndRotatedKeysAreRefused)
{
  start(kFastHls);
  Created s = create();
  const std::string base = s.rtmp_url.substr(0, s.rtmp_url.rfind('/') + 1);

  ProcessResult wrong = ffmpeg_push_file(test_flv(1.0), base + "sk_not-a-real-key");
  EXPECT_NE(wrong.exit_status, 0);
  EXPECT_EQ(d->log().find("sk_not-a-real-key"), std::string::npos) << "keys are never logged";
  EXPECT_NE(d->log().find("unknown stream key sk_"), std::string::npos) << d->log();

  HttpResponse rotated = d->admin("POST", "/api/streams/" + s.id + "/key");
  EXPECT_NE(ffmpeg_push_file(test_flv(1.0), s.rtmp_url).exit_status, 0) << "the old key";
  EXPECT_EQ(ffmpeg_push_file(test_flv(1.0), json_string(rotated.body, "rtmp_url")).exit_status, 0);

  ASSERT_EQ(d->admin("DELETE", "/api/streams/" + s.id + "/key").status, 204);
  EXPECT_NE(ffmpeg_push_file(test_flv(1.0), json_string(rotated.body, "rtmp_url")).exit_status, 0);

  const std::string metrics = d->admin("GET", "/metrics").body;
  EXPECT_NE(metrics.find("sugarcast_publishes_refused_total{reason=\"bad_key\"} 3"),
            std::string::npos)
      << metrics;
}

TEST_F(Streams, AnEncoderThatReconnectsInTimeContinuesTheSamePlaylist)
{
  start(R"({"streams": {"grace_period_ms": 8000},
            "hls": {"segment_duration": 1, "playlist_length": 50}})");
  Created s = create();
  auto first = push_forever(s.rtmp_url);
  ASSERT_TRUE(eventually([&] { return count(playlist(s.id), "#EXTINF") >= 2; })) << d->log();
  first->kill(SIGKILL);
  ASSERT_TRUE(eventually([&] { return state(s.id) == "reconnecting"; })) << d->log();
  const size_t before = count(playlist(s.id), "#EXTINF");

  auto second = push_forever(s.rtmp_url);
  ASSERT_TRUE(eventually([&] { return state(s.id) == "live"; })) << d->log();
  ASSERT_TRUE(eventually([&] { return count(playlist(s.id), "#EXTINF") >= before + 2; }))
      << d->log();
  const std::string text = playlist(s.id);
  EXPECT_NE(text.find("video_0-00000.ts"), std::string::npos) << "the same playlist goes on:\n"
                                                              << text;
  EXPECT_EQ(count(text, "#EXT-X-DISCONTINUITY\n"), 1u) << "the reconnect is marked:\n" << text;
  HttpResponse shown = d->admin("GET", "/api/streams/" + s.id);
  EXPECT_NE(shown.body.find("\"reconnects\":1"), std::string::npos) << shown.body;
  EXPECT_EQ(count(shown.body, "\"started_at\""), 2u) << "one live block, one session:\n"
                                                     << shown.body;
  second->kill(SIGKILL);
}

TEST_F(Streams, SigtermMidStreamLeavesCompletePlaylists)
{
  start(kFastHls);
  Created s = create();
  auto push = push_forever(s.rtmp_url);
  ASSERT_TRUE(eventually([&] { return count(playlist(s.id), "#EXTINF") >= 2; })) << d->log();
  EXPECT_EQ(d->stop(SIGTERM), 0) << d->log();
  const std::string text = playlist(s.id);
  EXPECT_NE(text.find("#EXT-X-ENDLIST"), std::string::npos) << text;
  ProcessResult probe = run_process({"ffprobe", "-v", "error", "-count_packets", "-show_entries",
                                     "stream=codec_name,nb_read_packets", "-of", "csv=p=0",
                                     d->data_dir() + "/hls/" + s.id + "/video_0.m3u8"});
  EXPECT_EQ(probe.exit_status, 0) << probe.err;
  EXPECT_NE(probe.out.find("h264"), std::string::npos) << probe.out;
}

TEST_F(Streams, FiftyPublishCyclesLeaveNoDescriptorsOrMemoryBehind)
{
  start(R"({"streams": {"grace_period_ms": 0}, "hls": {"segment_duration": 1}})");
  Created s = create();
  const std::string flv = test_flv(0.5, false);
  /* Memory is judged by the heap (SugarcastdProcess::heap_bytes): the RSS
   * also counts the pages malloc keeps for the pipelines' threads, which on
   * a busy machine grow by several MiB here without a leak. */
  auto cycle = [&] {
    EXPECT_EQ(ffmpeg_push_file(flv, s.rtmp_url).exit_status, 0);
    EXPECT_TRUE(eventually([&] { return state(s.id) == "idle"; })) << d->log();
  };
  /* Warm up: caches, the registry, the pools of the pipelines' threads. */
  for (int i = 0; i < 10; ++i)
    cycle();
  const int fds = settled_descriptors(d->pid());
  const double heap_before = d->heap_bytes();
  const long rss = proc_status(d->pid(), "VmRSS:");
  const long threads = proc_status(d->pid(), "Threads:");
  ASSERT_GT(heap_before, 0) << "no sugarcast_heap_bytes in /metrics";
  for (int i = 0; i < 50; ++i)
    cycle();
  /* The last client connections may still be closing: give them a moment. */
  EXPECT_TRUE(eventually([&] { return open_descriptors(d->pid()) <= fds; },
                         std::chrono::milliseconds(5000)))
      << open_descriptors(d->pid()) << " descriptors open, " << fds << " before";
  EXPECT_TRUE(eventually([&] { return proc_status(d->pid(), "Threads:") <= threads; },
                         std::chrono::milliseconds(5000)))
      << proc_status(d->pid(), "Threads:") << " threads, " << threads << " before";
  /* 1 MiB is 20 KiB a publish; measured: about 2 KiB each, none of it still
   * held at exit (heaptrack). */
  EXPECT_LT(d->heap_bytes() - heap_before, 1024 * 1024) << "bytes of heap growth over 50 publishes";
  /* And nothing outside malloc (mappings, stacks) grows without bound. */
  EXPECT_LT(proc_status(d->pid(), "VmRSS:") - rss, 32 * 1024) << "KiB of RSS growth";
  HttpResponse shown = d->admin("GET", "/api/streams/" + s.id);
  EXPECT_EQ(json_string(shown.body, "state"), "idle");
}

TEST_F(Streams, OneStreamFailingLeavesTheOthersAlone)
{
  start(kFastHls);
  Created good = create("good"), bad = create("bad");
  auto healthy = push_forever(good.rtmp_url);
  ASSERT_TRUE(eventually([&] { return count(playlist(good.id), "#EXTINF") >= 1; })) << d->log();
  /* Sorenson H.263 in FLV: the live description expects H.264. */
  ProcessResult broken = run_process({"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
                                      "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                                      "-t", "3", "-c:v", "flv", "-f", "flv", bad.rtmp_url});
  ASSERT_TRUE(eventually([&] { return state(bad.id) == "idle"; })) << d->log();
  HttpResponse shown = d->admin("GET", "/api/streams/" + bad.id);
  EXPECT_NE(shown.body.find("\"end_reason\":\"error: "), std::string::npos) << shown.body;
  const size_t before = count(playlist(good.id), "#EXTINF");
  EXPECT_TRUE(eventually([&] { return count(playlist(good.id), "#EXTINF") > before; }));
  EXPECT_EQ(state(good.id), "live");
  EXPECT_NE(d->admin("GET", "/metrics").body.find("sugarcast_pipeline_errors_total 1"),
            std::string::npos);
}

/* A description that takes the publish and writes nothing (here a closed
 * valve on the video; once, a deadlock in the daemon's pad linking) must not
 * fail silently: the daemon names the stream and the description. */
TEST_F(Streams, APipelineThatWritesNoSegmentIsReported)
{
  const std::string dir = scratch_dir() + "/stuck-pipelines";
  fs::create_directories(dir);
  std::ofstream(dir + "/stuck.json") << R"({"kind": "live", "nodes": {
      "ingest": {"factory": "rtmpserversrc", "properties": {"loop": true}},
      "demux": {"factory": "flvdemux"},
      "vqueue": {"factory": "queue"}, "closed": {"factory": "valve", "properties": {"drop": true}},
      "vparse": {"factory": "h264parse"}, "vdec": {"factory": "avdec_h264"},
      "ladder": {"factory": "abrladder", "properties": {"ladder": "240p:300"}},
      "aqueue": {"factory": "queue"}, "aparse": {"factory": "aacparse"},
      "hls": {"factory": "hlsabrsink", "properties": {"location": "${hls_dir}"}}},
    "links": [{"from": "ingest", "to": "demux"}, {"from": "demux.video", "to": "vqueue"},
      {"from": "vqueue", "to": "closed"}, {"from": "closed", "to": "vparse"},
      {"from": "vparse", "to": "vdec"}, {"from": "vdec", "to": "ladder.sink"},
      {"from": "ladder.src_%u", "to": "hls.video_%u", "each": true},
      {"from": "demux.audio", "to": "aqueue"}, {"from": "aqueue", "to": "aparse"},
      {"from": "aparse", "to": "hls.audio"}]})";
  start(R"({"pipelines_dir": ")" + dir + R"(", "streams": {"pipeline": "stuck"},
            "hls": {"segment_duration": 1}})");
  Created s = create("stuck show");
  auto encoder = push_forever(s.rtmp_url);
  const std::string expected = "stream " + s.id +
                               ": live for 15 s and its pipeline (description "
                               "\"stuck\") has written no HLS segment";
  EXPECT_TRUE(eventually([&] { return d->log().find(expected) != std::string::npos; }, 60s))
      << d->log();
  EXPECT_EQ(state(s.id), "live");
  EXPECT_NE(d->admin("GET", "/metrics").body.find("sugarcast_streams_without_segments_total 1"),
            std::string::npos);
}

TEST_F(Streams, TheControlWebSocketAnnouncesEachState)
{
  start(R"({"streams": {"grace_period_ms": 500}, "hls": {"segment_duration": 1}})");
  Created s = create();

  g_autoptr(GMainContext) context = g_main_context_new();
  g_main_context_push_thread_default(context);
  g_autoptr(SoupSession) session = soup_session_new();
  struct State
  {
    SoupWebsocketConnection *ws = nullptr;
    std::vector<std::string> events;
    bool failed = false;
  } st;
  auto connect = [&](const std::string &url, State &out) {
    g_autoptr(SoupMessage) msg = soup_message_new("GET", url.c_str());
    soup_session_websocket_connect_async(
        session, msg, nullptr, nullptr, G_PRIORITY_DEFAULT, nullptr,
        [](GObject *src, GAsyncResult *res, gpointer data) {
          auto *out = static_cast<State *>(data);
          out->ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, nullptr);
          out->failed = !out->ws;
          if (out->ws)
            g_signal_connect(
                out->ws, "message",
                G_CALLBACK(+[](SoupWebsocketConnection *, gint, GBytes *message, gpointer d) {
                  static_cast<State *>(d)->events.emplace_back(
                      static_cast<const char *>(g_bytes_get_data(message, nullptr)),
                      g_bytes_get_size(message));
                }),
                out);
        },
        &out);
    while (!out.ws && !out.failed)
      g_main_context_iteration(context, TRUE);
  };
  State refused;
  connect(d->url("/ws/control").replace(0, 4, "ws"), refused);
  EXPECT_TRUE(refused.failed) << "no token, no events";

  connect(d->url("/ws/control?token=" + d->admin_token()).replace(0, 4, "ws"), st);
  ASSERT_NE(st.ws, nullptr);
  std::thread pusher([&] { ffmpeg_push_file(test_flv(1.0), s.rtmp_url); });
  /* Woken by each event, or by the deadline's own source. */
  bool gave_up = false;
  g_autoptr(GSource) deadline = g_timeout_source_new_seconds(20);
  g_source_set_callback(
      deadline,
      [](gpointer flag) -> gboolean {
        *static_cast<bool *>(flag) = true;
        return G_SOURCE_REMOVE;
      },
      &gave_up, nullptr);
  g_source_attach(deadline, context);
  while (!gave_up && (st.events.empty() || st.events.back().find("\"ended\"") == std::string::npos))
    g_main_context_iteration(context, TRUE);
  g_source_destroy(deadline);
  pusher.join();
  std::string states;
  for (const auto &e : st.events) {
    std::smatch m;
    if (std::regex_search(e, m, std::regex("\"state\":\"([a-z]+)\"")))
      states += m[1].str() + " ";
  }
  EXPECT_EQ(states, "live reconnecting ending ended ") << d->log();
  EXPECT_NE(st.events.front().find("\"stream\":\"" + s.id + "\""), std::string::npos);
  soup_websocket_connection_close(st.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
  g_object_unref(st.ws);
  g_main_context_pop_thread_default(context);
}

TEST_F(Streams, RtmpsOnItsOwnPortWithTheSameKeys)
{
  const std::string dir = scratch_dir();
  const std::string cert = dir + "/daemon-cert.pem", key = dir + "/daemon-key.pem";
  ProcessResult made =
      run_process({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                   "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"});
  ASSERT_TRUE(made.ok()) << made.err;
  const int tls_port = free_tcp_port();
  start(R"({"rtmp": {"tls_port": )" + std::to_string(tls_port) + R"(, "tls_certificate": ")" +
        cert + R"(", "tls_key": ")" + key + R"("}, "hls": {"segment_duration": 1}})");
  Created s = create();
  const std::string rtmps = "rtmps://127.0.0.1:" + std::to_string(tls_port) + "/live/" + s.key;
  ProcessResult pushed = ffmpeg_push_file(test_flv(2.0), rtmps);
  EXPECT_EQ(pushed.exit_status, 0) << pushed.err << d->log();
  EXPECT_TRUE(eventually([&] { return count(playlist(s.id), "#EXTINF") >= 1; })) << d->log();
  const std::string wrong = "rtmps://127.0.0.1:" + std::to_string(tls_port) + "/live/sk_wrong";
  EXPECT_NE(ffmpeg_push_file(test_flv(1.0), wrong).exit_status, 0);
}
