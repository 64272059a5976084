/* Recordings through a real sugarcastd, pushed by a real ffmpeg at 720p with
 * audio: a show is recorded from the publisher's own stream, listed complete
 * once it ends, replayed as VOD HLS (read by ffprobe), cut into a highlight
 * that the clip path turns into MP4, WebM and a thumbnail; switched off and
 * on while live; repaired after a SIGKILL before the daemon is healthy; and
 * switched only by those who may manage the stream. */
#include "chat/jwt.h"
#include "ingest_support.h"
#include "media.h"
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>

using namespace sugarcast;
using namespace sugarcast::test;

namespace {

constexpr const char *kSecret = "recordings-test-secret";
constexpr double kGop = 1.0; /* the pushed file has a keyframe every 30 frames at 30 fps */

/* A parsed JSON reply. */
struct Json
{
  explicit Json(const std::string &text)
  {
    parser = json_parser_new();
    if (json_parser_load_from_data(parser, text.c_str(), -1, nullptr) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
      o = json_node_get_object(json_parser_get_root(parser));
  }
  ~Json() { g_object_unref(parser); }
  std::string str(const char *name) const
  {
    return o && json_object_has_member(o, name) &&
                   JSON_NODE_HOLDS_VALUE(json_object_get_member(o, name))
               ? json_object_get_string_member(o, name)
               : "";
  }
  JsonArray *array(const char *name) const
  {
    return o && json_object_has_member(o, name) ? json_object_get_array_member(o, name) : nullptr;
  }
  JsonParser *parser = nullptr;
  JsonObject *o = nullptr;
};

std::string bearer_streamer(const std::string &stream)
{
  return "Bearer " + chat::mint_token(kSecret, "streamer-" + stream, "Streamer",
                                      chat::Role::Streamer,
                                      g_get_real_time() / G_USEC_PER_SEC + 3600, stream);
}

/* 1280x720, 30 fps, a keyframe a second, AAC: made once, pushed as it is. */
std::string show_flv(double seconds)
{
  return make_clip({.seconds = seconds,
                    .width = 1280,
                    .height = 720,
                    .audio = true,
                    .container = "flv",
                    .extra = {"-g", "30", "-bf", "0"}});
}

const std::string kConfig = R"({"streams": {"grace_period_ms": 0},
  "hls": {"segment_duration": 1},
  "recordings": {"segment_duration": 2},
  "clips": {"min_duration": 3, "max_duration": 60},
  "chat": {"jwt_secret": ")" +
                            std::string(kSecret) + R"("}})";

class Recordings : public ::testing::Test
{
protected:
  void start(const std::string &data_dir = "", const std::string &config = kConfig)
  {
    d = std::make_unique<SugarcastdProcess>(
        SugarcastdProcess::Options{.config = config, .data_dir = data_dir});
    ASSERT_TRUE(d->wait_ready(std::chrono::seconds(60))) << d->log();
  }

  void create()
  {
    Json r(d->admin("POST", "/api/streams", R"({"title": "record show"})").body);
    stream = r.str("id");
    rtmp_url = r.str("rtmp_url");
    ASSERT_FALSE(stream.empty());
  }

  std::string state() { return Json(d->admin("GET", "/api/streams/" + stream).body).str("state"); }

  /* The stream's recordings, newest first: (id, state) pairs. */
  std::vector<std::pair<std::string, std::string>> recordings()
  {
    std::vector<std::pair<std::string, std::string>> out;
    HttpResponse r = http_request("GET", d->url("/api/streams/" + stream + "/recordings"));
    Json j(r.body);
    JsonArray *a = j.array("recordings");
    for (guint i = 0; a && i < json_array_get_length(a); ++i) {
      JsonObject *o = json_array_get_object_element(a, i);
      out.emplace_back(json_object_get_string_member(o, "id"),
                       json_object_get_string_member(o, "state"));
    }
    return out;
  }

  HttpResponse one(const std::string &id)
  {
    return http_request("GET", d->url("/api/recordings/" + id));
  }

  /* A member of one recording; `fallback` when it is not there (yet). */
  double number(const std::string &id, const char *name, double fallback = -1)
  {
    Json j(one(id).body);
    if (!j.o || !json_object_has_member(j.o, name))
      return fallback;
    return json_object_get_double_member(j.o, name);
  }

  /* The newest recording once it has closed a segment: a recording begun
   * before the video's pad came (audio first) is dropped and begun again,
   * so the first one listed may not stay. */
  std::string recording_under_way()
  {
    std::string id;
    EXPECT_TRUE(eventually(
        [&] {
          auto all = recordings();
          if (all.empty())
            return false;
          id = all.front().first;
          return number(id, "segments", 0) >= 1;
        },
        std::chrono::seconds(30)))
        << d->log();
    return id;
  }

  std::unique_ptr<Background> push_forever()
  {
    return std::make_unique<Background>(std::vector<std::string>{
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
        "-i", show_flv(4.0), "-c", "copy", "-f", "flv", rtmp_url});
  }

  HttpResponse switch_recording(bool on, const std::string &auth)
  {
    return http_request("POST", d->url("/api/streams/" + stream + "/recording"),
                        std::string("{\"recording\": ") + (on ? "true" : "false") + "}",
                        {{"Authorization", auth}});
  }

  std::string admin_auth() const { return "Bearer " + d->admin_token(); }

  /* Fan sends GIFT to the stream, as the ledger records it. */
  HttpResponse send_gift(const std::string &gift, const std::string &idempotency_key)
  {
    return d->admin("POST", "/api/gifts",
                    R"({"stream_id": ")" + stream +
                        R"(", "user_id": "fan", "user_name": "Fan", "gift": ")" + gift +
                        R"(", "idempotency_key": ")" + idempotency_key + "\"}");
  }

  /* Cuts [in, out) of recording ID into a highlight and waits for its clip
   * to be ready: the clip's folder, or "" (with a test failure). */
  std::string highlight(const std::string &id, double in, double out)
  {
    HttpResponse cut =
        http_request("POST", d->url("/api/recordings/" + id + "/clips"),
                     "{\"in\": " + std::to_string(in) + ", \"out\": " + std::to_string(out) + "}",
                     {{"Authorization", admin_auth()}});
    EXPECT_EQ(cut.status, 202) << cut.body << d->log();
    const std::string clip = Json(cut.body).str("id");
    EXPECT_FALSE(clip.empty()) << cut.body;
    if (clip.empty())
      return "";
    std::string state;
    EXPECT_TRUE(eventually(
        [&] {
          state = Json(d->admin("GET", "/api/clips/" + clip).body).str("state");
          return state == "ready" || state == "rejected" || state == "failed";
        },
        std::chrono::seconds(240)))
        << d->log();
    EXPECT_EQ(state, "ready") << d->admin("GET", "/api/clips/" + clip).body << d->log();
    return state == "ready" ? d->data_dir() + "/clips/" + clip + "/" : "";
  }

  std::unique_ptr<SugarcastdProcess> d;
  std::string stream, rtmp_url;
};

} // namespace

TEST_F(Recordings, AShowIsRecordedReplayedAsVodAndCutIntoAHighlight)
{
  start();
  create();
  const std::string file = show_flv(12.0);
  Background push(ffmpeg_push_argv(file, rtmp_url));
  const std::string id = recording_under_way();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(recordings().front().second, "recording");
  /* A gift during the show: the chat replay gives it with its offset. */
  HttpResponse gift = send_gift("rose", "recordings-test-1");
  EXPECT_LT(gift.status, 300) << gift.body;

  ASSERT_EQ(push.wait(std::chrono::seconds(60)), 0) << d->log();
  const auto pushed = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return recordings().front().second == "complete"; },
                         std::chrono::seconds(20)))
      << one(id).body << d->log();
  const double finalised =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - pushed).count();
  std::printf("recording complete %.3f s after the publisher's push ended (RTMP close, "
              "EOS, finalise; polled every 50 ms)\n",
              finalised);
  ASSERT_EQ(recordings().size(), 1u);

  Json r(one(id).body);
  EXPECT_EQ(r.str("stream"), stream);
  EXPECT_EQ(r.str("title"), "record show");
  EXPECT_EQ(r.str("watch_url"), "/watch/" + stream + "?recording=" + id);
  EXPECT_GE(json_object_get_int_member(r.o, "segments"), 5);
  EXPECT_GT(json_object_get_int_member(r.o, "ended_at"),
            json_object_get_int_member(r.o, "started_at"));
  const double listed = json_object_get_double_member(r.o, "duration");

  /* The VOD playlist through the media path, as a player reads it. */
  MediaProbe vod = probe_media(r.str("hls_url"), true);
  ASSERT_TRUE(vod.ok) << vod.error;
  EXPECT_EQ(vod.video_codec, "h264");
  EXPECT_EQ(vod.audio_codec, "aac");
  EXPECT_EQ(vod.width, 1280);
  EXPECT_EQ(vod.height, 720);
  EXPECT_NEAR(vod.duration, 12.0, kGop + 0.1) << "the push was 12 s";
  EXPECT_NEAR(listed, vod.duration, kGop);
  HttpResponse playlist = http_request("GET", r.str("hls_url"));
  EXPECT_NE(playlist.body.find("#EXT-X-ENDLIST"), std::string::npos) << playlist.body;
  EXPECT_NE(playlist.body.find("#EXT-X-PLAYLIST-TYPE:VOD"), std::string::npos) << playlist.body;
  /* The gift is in the replay's playlist as it was in the live one. */
  EXPECT_NE(playlist.body.find("#EXT-X-DATERANGE:ID=\"gift-"), std::string::npos) << playlist.body;
  EXPECT_NE(playlist.body.find("X-GIFT=\"rose\""), std::string::npos) << playlist.body;

  /* The chat replay: the gift, at its offset into the recording. */
  Json chat(http_request("GET", d->url("/api/recordings/" + id + "/chat")).body);
  JsonArray *messages = chat.array("messages");
  ASSERT_TRUE(messages);
  ASSERT_EQ(json_array_get_length(messages), 1u);
  JsonObject *m = json_array_get_object_element(messages, 0);
  EXPECT_STREQ(json_object_get_string_member(m, "kind"), "gift");
  EXPECT_STREQ(json_object_get_string_member(m, "user"), "fan");
  EXPECT_GE(json_object_get_double_member(m, "offset"), 0.0);
  EXPECT_LE(json_object_get_double_member(m, "offset"), listed);

  /* A highlight, 2.5 s to 8.5 s: cut frame-exact (the in point is not a
   * keyframe), then the clip path. */
  HttpResponse refused = http_request("POST", d->url("/api/recordings/" + id + "/clips"),
                                      R"({"in": 2, "out": 99})", {{"Authorization", admin_auth()}});
  EXPECT_EQ(refused.status, 400) << refused.body;
  const std::string base = highlight(id, 2.5, 8.5);
  ASSERT_FALSE(base.empty());
  MediaProbe mp4 = probe_media(base + "clip.mp4");
  ASSERT_TRUE(mp4.ok) << mp4.error;
  /* Exact to a video frame (1/30 s) plus the AAC frame (21.3 ms) the last
   * audio can run past the last video frame. */
  EXPECT_NEAR(mp4.duration, 6.0, 1.0 / 30 + 1024.0 / 48000) << "in 2.5 s, out 8.5 s, frame-exact";
  EXPECT_EQ(mp4.height, 720);
  MediaProbe webm = probe_media(base + "clip.webm");
  ASSERT_TRUE(webm.ok) << webm.error;
  EXPECT_EQ(webm.video_codec, "vp9");
  EXPECT_TRUE(std::filesystem::exists(base + "thumbnail-01.jpg"));
}

/* A highlight over a span in which a gift was sent shows the gift's banner in
 * its pixels, as the show's overlay drew it live (the recording itself is the
 * publisher's own stream, without it), from the gift's offset into the
 * highlight on and not before; a highlight over a span without gifts has
 * no overlay and no events file. */
TEST_F(Recordings, AHighlightShowsTheGiftsSentDuringItsSpan)
{
  start();
  create();
  /* 640x360 (cheap to transcode), the lower left a still red where the
   * banner goes: testsrc2's moving parts never cross it. */
  const std::string show =
      make_clip({.seconds = 12.0,
                 .width = 640,
                 .height = 360,
                 .audio = true,
                 .container = "flv",
                 .extra = {"-g", "30", "-bf", "0", "-vf",
                           "drawbox=x=0:y=ih*0.6:w=iw*0.15:h=ih*0.3:color=red:t=fill"}});
  ASSERT_FALSE(show.empty());
  Background push(ffmpeg_push_argv(show, rtmp_url));
  const std::string id = recording_under_way();
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(eventually([&] { return number(id, "duration") >= 3.0; }, std::chrono::seconds(30)))
      << d->log();
  HttpResponse gift = send_gift("castle", "highlight-gift-1");
  ASSERT_LT(gift.status, 300) << gift.body;
  ASSERT_EQ(push.wait(std::chrono::seconds(60)), 0) << d->log();
  ASSERT_TRUE(eventually([&] { return recordings().front().second == "complete"; },
                         std::chrono::seconds(20)))
      << one(id).body << d->log();
  const double length = number(id, "duration");

  /* Where the gift is in the recording, as the replay page draws it. */
  Json chat(http_request("GET", d->url("/api/recordings/" + id + "/chat")).body);
  JsonArray *messages = chat.array("messages");
  ASSERT_TRUE(messages && json_array_get_length(messages) == 1) << d->log();
  const double offset =
      json_object_get_double_member(json_array_get_object_element(messages, 0), "offset");
  ASSERT_GE(offset, 2.0);
  ASSERT_LE(offset + 4.0, length) << "the gift came too late in the show for this test";

  /* The gift 1.5 s into the highlight. */
  const double in = offset - 1.5, out = std::min(length, in + 5.0);
  const std::string with = highlight(id, in, out);
  ASSERT_FALSE(with.empty());
  const std::string events = read_file(with + "gifts.jsonl");
  EXPECT_NE(events.find("\"gift\":\"castle\""), std::string::npos) << events;
  Json event(events);
  ASSERT_TRUE(event.o) << events;
  EXPECT_NEAR(json_object_get_double_member(event.o, "at"), 1.5, 0.002) << events;
  EXPECT_EQ(std::count(events.begin(), events.end(), '\n'), 1) << events;
  EXPECT_NE(events.find("\"X-LEDGER-ID\":"), std::string::npos) << events;
  MediaProbe mp4 = probe_media(with + "clip.mp4");
  ASSERT_TRUE(mp4.ok) << mp4.error;
  ASSERT_EQ(mp4.width, 640);
  ASSERT_EQ(mp4.height, 360);
  const Rect banner = gift_banner_centre(640, 360);
  auto frame_at = [&](const std::string &file, double seconds) {
    return decode_rgb_frame(file, static_cast<int>(std::lround(seconds * 30)), 640, 360);
  };
  const std::string first = frame_at(with + "clip.mp4", 0.2);
  /* Not before: 0.2 s before it is due the rectangle is still the show's red. */
  EXPECT_LT(mean_difference(first, frame_at(with + "clip.mp4", 1.3), 640, 360, banner), 10)
      << "the banner is drawn before the gift was sent";
  /* 1.5 s after it is due the banner is at rest (it enters for 0.3 s). */
  EXPECT_GT(mean_difference(first, frame_at(with + "clip.mp4", 3.0), 640, 360, banner), 50)
      << "no banner where the gift's is drawn, 1.5 s after it was sent";
  MediaProbe webm = probe_media(with + "clip.webm");
  ASSERT_TRUE(webm.ok) << webm.error;
  EXPECT_GT(mean_difference(first, frame_at(with + "clip.webm", 3.0), 640, 360, banner), 50)
      << "the WebM shows the banner too";

  /* After the gift: no gifts, no overlay, the show's pixels as they were. */
  const std::string without = highlight(id, offset + 0.5, offset + 4.0);
  ASSERT_FALSE(without.empty());
  EXPECT_FALSE(std::filesystem::exists(without + "gifts.jsonl"));
  const std::string plain = without + "clip.mp4";
  EXPECT_LT(mean_difference(frame_at(plain, 0.2), frame_at(plain, 2.5), 640, 360, banner), 10)
      << "a highlight without gifts has a banner";
  EXPECT_EQ(d->log().find("giftoverlay refused"), std::string::npos);
}

TEST_F(Recordings, SwitchingOffAndOnWhileLiveGivesTwoRecordings)
{
  start("", R"({"streams": {"grace_period_ms": 0}, "recordings": {"segment_duration": 1},
               "chat": {"jwt_secret": ")" +
                std::string(kSecret) + R"("}})");
  create();
  auto push = push_forever();
  const std::string first = recording_under_way();
  ASSERT_FALSE(first.empty());
  ASSERT_TRUE(
      eventually([&] { return number(first, "duration") >= 2.0; }, std::chrono::seconds(30)));

  /* Another stream's streamer may not; this stream's streamer may. */
  HttpResponse other = switch_recording(false, bearer_streamer("someotherstream"));
  EXPECT_EQ(other.status, 403) << other.body;
  EXPECT_EQ(recordings().front().second, "recording");
  HttpResponse off = switch_recording(false, bearer_streamer(stream));
  ASSERT_EQ(off.status, 200) << off.body;
  ASSERT_TRUE(eventually([&] { return recordings().front().second == "complete"; })) << d->log();
  const double first_duration = number(first, "duration");

  HttpResponse on = switch_recording(true, admin_auth());
  ASSERT_EQ(on.status, 200) << on.body;
  ASSERT_TRUE(eventually([&] { return recordings().size() == 2; }, std::chrono::seconds(30)))
      << d->log();
  const std::string second = recordings().front().first;
  EXPECT_NE(second, first);
  ASSERT_TRUE(
      eventually([&] { return number(second, "duration") >= 2.0; }, std::chrono::seconds(30)));
  push->kill(SIGKILL);
  ASSERT_TRUE(eventually([&] { return recordings().front().second == "complete"; })) << d->log();
  for (const auto &id : {first, second}) {
    Json r(one(id).body);
    MediaProbe p = probe_media(r.str("hls_url"));
    ASSERT_TRUE(p.ok) << id << ": " << p.error;
    EXPECT_EQ(p.audio_codec, "aac");
    EXPECT_NEAR(p.duration, json_object_get_double_member(r.o, "duration"), kGop) << id;
  }
  EXPECT_GE(first_duration, 2.0);

  /* Idle: the switch is the stream's setting for its next shows. */
  HttpResponse idle_off = switch_recording(false, admin_auth());
  EXPECT_EQ(idle_off.status, 200) << idle_off.body;
  EXPECT_EQ(Json(idle_off.body).o ? json_object_get_boolean_member(Json(idle_off.body).o, "default")
                                  : true,
            false);
}

TEST_F(Recordings, ADaemonKilledMidShowComesBackWithTheRecordingInterrupted)
{
  start();
  create();
  const std::string data_dir = d->data_dir();
  auto push = push_forever();
  const std::string id = recording_under_way();
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(eventually([&] { return number(id, "segments", 0) >= 2; }, std::chrono::seconds(30)))
      << d->log();
  d->stop(SIGKILL);
  push->kill(SIGKILL);
  const std::string manifest =
      data_dir + "/recordings/" + stream + "/" + id.substr(id.find('-') + 1) + "/manifest.json";
  ASSERT_NE(read_file(manifest).find("\"state\":\"recording\""), std::string::npos)
      << read_file(manifest);

  /* The next start: healthy only once it is repaired, so no waiting here. */
  d.reset();
  start(data_dir);
  auto listed = recordings();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed.front().first, id);
  EXPECT_EQ(listed.front().second, "interrupted");
  Json r(one(id).body);
  MediaProbe p = probe_media(r.str("hls_url"));
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.video_codec, "h264");
  EXPECT_NEAR(p.duration, json_object_get_double_member(r.o, "duration"), kGop);
  EXPECT_GE(p.duration, 4.0 - kGop) << "two 2 s segments were listed before the kill";
}

TEST_F(Recordings, AVideoOnlyShowIsRecordedToo)
{
  start();
  create();
  /* No audio: the recorder's audio branch is removed, the recorder stays. */
  const std::string file = make_clip({.seconds = 6.0,
                                      .width = 1280,
                                      .height = 720,
                                      .audio = false,
                                      .container = "flv",
                                      .extra = {"-g", "30", "-bf", "0"}});
  ProcessResult pushed = ffmpeg_push_file(file, rtmp_url);
  ASSERT_EQ(pushed.exit_status, 0) << pushed.err << d->log();
  ASSERT_TRUE(eventually([&] {
    auto all = recordings();
    return !all.empty() && all.front().second == "complete";
  })) << d->log();
  Json r(one(recordings().front().first).body);
  MediaProbe p = probe_media(r.str("hls_url"));
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.video_codec, "h264");
  EXPECT_EQ(p.audio_codec, "");
  EXPECT_NEAR(p.duration, 6.0, kGop + 0.1);
}

TEST_F(Recordings, OnlyThoseWhoManageTheStreamSwitchOrCut)
{
  start();
  create();
  EXPECT_EQ(switch_recording(false, bearer_streamer("someotherstream")).status, 403);
  EXPECT_EQ(switch_recording(false, "").status, 401);
  EXPECT_EQ(http_request("GET", d->url("/api/recordings/nosuch-20260101T000000Z")).status, 404);
  EXPECT_EQ(http_request("GET", d->url("/api/recordings?limit=0")).status, 400);
  Json list(http_request("GET", d->url("/api/recordings")).body);
  ASSERT_TRUE(list.array("recordings"));
  EXPECT_TRUE(json_node_is_null(json_object_get_member(list.o, "next")));
}
