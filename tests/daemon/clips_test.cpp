/* Uploading clips to a real sugarcastd: accepted and transcoded, rejected
 * with the validator's words, unreadable, too large, unauthenticated. */
#include "media.h"
#include "pgserver.h"
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <tuple>

using namespace sugarcast::test;
namespace fs = std::filesystem;

namespace {

struct Clip
{
  int status = 0;
  std::string id, state, reason, message, body;
  gint64 duration_ms = 0;
};

Clip parse(const HttpResponse &r)
{
  Clip c;
  c.status = r.status;
  c.body = r.body;
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, r.body.c_str(), -1, nullptr) ||
      !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
    return c;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  auto str = [o](const char *n) {
    return json_object_has_member(o, n) ? std::string(json_object_get_string_member(o, n)) : "";
  };
  c.id = str("id");
  c.state = str("state");
  c.reason = str("reason");
  c.message = str("message");
  if (json_object_has_member(o, "duration_ms"))
    c.duration_ms = json_object_get_int_member(o, "duration_ms");
  return c;
}

class Clips : public ::testing::Test
{
protected:
  void start(const std::string &config = "{}")
  {
    d = std::make_unique<SugarcastdProcess>(SugarcastdProcess::Options{.config = config});
    ASSERT_TRUE(d->wait_ready()) << d->log();
  }

  Clip upload(const std::string &content, const std::string &filename)
  {
    return parse(http_request("POST", d->url("/api/clips?filename=" + filename), content,
                              {{"Authorization", "Bearer " + d->admin_token()}},
                              "application/octet-stream"));
  }

  /* Polls until the clip has a final state. */
  Clip settle(const std::string &id)
  {
    Clip c;
    eventually(
        [&] {
          c = parse(d->admin("GET", "/api/clips/" + id));
          return c.state == "ready" || c.state == "rejected" || c.state == "failed";
        },
        std::chrono::seconds(60));
    return c;
  }

  /* ffprobe on both outputs (over HTTP, as a viewer gets them): codecs, the
   * upright size, the duration and a constant frame rate; and the thumbnail. */
  void expect_outputs(const std::string &id, int width, int height, double fps, double seconds,
                      bool audio)
  {
    for (const auto &[file, video, sound] :
         {std::tuple{"clip.mp4", "h264", "aac"}, {"clip.webm", "vp9", "opus"}}) {
      SCOPED_TRACE(file);
      MediaProbe p = probe_media(d->url("/clips/" + id + "/" + file), true);
      ASSERT_TRUE(p.ok) << p.error;
      EXPECT_EQ(p.video_codec, video);
      EXPECT_EQ(p.audio_codec, audio ? sound : "");
      EXPECT_EQ(p.width, width);
      EXPECT_EQ(p.height, height);
      EXPECT_EQ(p.rotation, 0) << "the pixels are upright, not a display matrix";
      EXPECT_EQ(p.pix_fmt, "yuv420p");
      EXPECT_NEAR(p.duration, seconds, 0.1);
      /* Constant frame rate: as many frames as the duration holds at that rate. */
      EXPECT_NEAR(p.frames, seconds * fps, 2) << p.r_frame_rate;
      EXPECT_NEAR(p.fps, fps, 0.1) << p.r_frame_rate;
    }
    /* faststart: the index before the media, so playback starts at once */
    const std::string mp4 = read_file(d->data_dir() + "/clips/" + id + "/clip.mp4");
    EXPECT_LT(mp4.find("moov"), mp4.find("mdat"));
    MediaProbe thumb = probe_media(d->url("/clips/" + id + "/thumbnail-01.jpg"));
    ASSERT_TRUE(thumb.ok) << thumb.error;
    EXPECT_EQ(thumb.video_codec, "mjpeg");
    EXPECT_EQ(thumb.width, width);
    EXPECT_EQ(thumb.height, height);
  }

  std::unique_ptr<SugarcastdProcess> d;
};

/* A clip description that stalls for good on any upload longer than its
 * queue, as the shipped one once did at 1080p: the first sink prerolls and
 * blocks, the second never gets a buffer (nor a gap) to preroll on. Shorter
 * uploads fit in the queue, their end reaches both sinks and they finish. */
constexpr const char *kStallingPipeline = R"({
  "kind": "clip",
  "nodes": {
    "src": { "factory": "filesrc", "properties": { "location": "${upload.path}" } },
    "parse": { "factory": "parsebin" },
    "validate": { "factory": "clipvalidate",
      "properties": { "min-duration": "${clip.min_duration}", "max-duration": "${clip.max_duration}" } },
    "tee": { "factory": "tee" },
    "qa": { "factory": "queue", "properties": { "max-size-buffers": 50, "max-size-bytes": 0, "max-size-time": 0 } },
    "a": { "factory": "fakesink", "properties": { "sync": false } },
    "qb": { "factory": "queue" },
    "drop": { "factory": "valve", "properties": { "drop": true, "drop-mode": "forward-sticky-events" } },
    "b": { "factory": "fakesink", "properties": { "sync": false } }
  },
  "links": [
    { "from": "src", "to": "parse" },
    { "from": "parse", "to": "validate", "select": "video" },
    { "from": "validate", "to": "tee" },
    { "from": "tee", "to": "qa" }, { "from": "qa", "to": "a" },
    { "from": "tee", "to": "qb" }, { "from": "qb", "to": "drop" }, { "from": "drop", "to": "b" }
  ]
})";

/* pipelines_dir holding kStallingPipeline as "clip-stall". */
std::string stalling_pipelines_dir()
{
  const std::string dir = scratch_dir() + "/stall-pipelines";
  fs::create_directories(dir);
  std::ofstream(dir + "/clip-stall.json") << kStallingPipeline;
  return dir;
}

/* 4 s (120 frames, more than the stalling queue holds) and 1 s (30). */
ClipSpec stalling_clip()
{
  return {.seconds = 4, .audio = false};
}
ClipSpec passing_clip()
{
  return {.seconds = 1, .audio = false};
}

/* Short clips for the format tests: the suite stays fast. */
constexpr const char *kShortClips = R"({"clips": {"min_duration": 1}})";

} // namespace

TEST_F(Clips, AnAcceptedClipIsTranscodedAndServed)
{
  start();
  Clip up = upload(read_file(make_clip({.seconds = 16})), "holiday.mp4");
  ASSERT_EQ(up.status, 202) << up.body;
  EXPECT_EQ(up.state, "queued");
  Clip c = settle(up.id);
  ASSERT_EQ(c.state, "ready") << c.body << d->log();
  EXPECT_EQ(c.duration_ms, 16000);
  EXPECT_NE(c.body.find("\"filename\":\"holiday.mp4\""), std::string::npos);
  for (const auto &[file, codec] :
       {std::pair{"clip.mp4", "h264"}, {"clip.webm", "vp9"}, {"thumbnail-01.jpg", "mjpeg"}}) {
    ProcessResult probe =
        run_process({"ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of",
                     "csv=p=0", d->url("/clips/" + up.id + "/" + file)});
    EXPECT_EQ(probe.exit_status, 0) << file << ": " << probe.err;
    EXPECT_NE(probe.out.find(codec), std::string::npos) << file << ": " << probe.out;
  }
  EXPECT_FALSE(fs::exists(d->data_dir() + "/clips/" + up.id + "/upload"))
      << "the original is not kept once transcoded";
  HttpResponse list = d->admin("GET", "/api/clips");
  EXPECT_NE(list.body.find(up.id), std::string::npos);
}

TEST_F(Clips, ARejectedClipSaysWhyAndLeavesNothing)
{
  start();
  Clip up = upload(read_file(make_clip({.seconds = 10})), "short.mp4");
  ASSERT_EQ(up.status, 202) << up.body;
  Clip c = settle(up.id);
  EXPECT_EQ(c.state, "rejected") << c.body;
  EXPECT_EQ(c.reason, "too-short");
  EXPECT_EQ(c.message, "Clip is 10.0 s long; clips must be 15\u201360 s");
  EXPECT_TRUE(eventually([&] { return !fs::exists(d->data_dir() + "/clips/" + up.id); },
                         std::chrono::seconds(5)))
      << "nothing of it is kept";
}

TEST_F(Clips, ConfiguredLimitsApply)
{
  start(R"({"clips": {"min_duration": 5, "max_duration": 12}})");
  Clip ok = settle(upload(read_file(make_clip({.seconds = 10})), "ten.mp4").id);
  EXPECT_EQ(ok.state, "ready") << ok.body;
  Clip longer = settle(upload(read_file(make_clip({.seconds = 16})), "sixteen.mp4").id);
  EXPECT_EQ(longer.state, "rejected");
  EXPECT_EQ(longer.reason, "too-long");
}

TEST_F(Clips, NotAVideoFails)
{
  start();
  Clip up = upload("This is a text file, not a video.\n", "notes.mp4");
  ASSERT_EQ(up.status, 202);
  Clip c = settle(up.id);
  EXPECT_EQ(c.state, "failed") << c.body;
  EXPECT_EQ(c.reason, "unreadable");
  EXPECT_NE(c.message.find("could not be read as a video"), std::string::npos) << c.message;
  Clip audio = settle(upload(read_file(make_clip({.seconds = 20, .video = ""})), "song.mp4").id);
  EXPECT_EQ(audio.state, "rejected") << audio.body;
  EXPECT_EQ(audio.reason, "no-video");
}

TEST_F(Clips, UploadsOverTheLimitAreRefusedBeforeTheyAreRead)
{
  start(R"({"clips": {"max_upload_bytes": 4096}})");
  Clip big = upload(std::string(100000, 'x'), "big.mp4");
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("The upload is 100000 bytes; the limit is 4096"), std::string::npos)
      << big.body;
  Clip empty = upload("", "empty.mp4");
  EXPECT_EQ(empty.status, 400);
  HttpResponse anonymous =
      http_request("POST", d->url("/api/clips"), "data", {}, "application/octet-stream");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(d->admin("GET", "/api/clips").body, "{\"clips\":[]}\n");
  EXPECT_TRUE(fs::is_empty(d->data_dir() + "/clips"));
}

/* A raw 1080p frame is 3.1 MB: the clip pipeline once stalled for good on
 * every 1080p upload (its sinks prerolled while the queues before the
 * encoders held three frames), with or without audio. */
TEST_F(Clips, A1080pUploadIsTranscoded)
{
  start(kShortClips);
  Clip with_audio =
      upload(read_file(make_clip(
                 {.seconds = 2, .width = 1920, .height = 1080, .extra = {"-preset", "veryfast"}})),
             "1080p.mp4");
  Clip silent = upload(read_file(make_clip({.seconds = 2,
                                            .width = 1920,
                                            .height = 1080,
                                            .audio = false,
                                            .extra = {"-preset", "veryfast"}})),
                       "1080p-silent.mp4");
  ASSERT_EQ(with_audio.status, 202) << with_audio.body;
  ASSERT_EQ(silent.status, 202) << silent.body;
  Clip c = settle(with_audio.id);
  ASSERT_EQ(c.state, "ready") << c.body << d->log();
  expect_outputs(c.id, 1920, 1080, 30, 2, true);
  c = settle(silent.id);
  ASSERT_EQ(c.state, "ready") << c.body << d->log();
  expect_outputs(c.id, 1920, 1080, 30, 2, false);
}

/* What phones record, each through the daemon: the outputs are upright, at
 * most 1080 on the shorter side and never enlarged, at a constant frame rate
 * of at most 30. */
TEST_F(Clips, PhoneFormatsAreTranscodedUprightAndFitted)
{
  start(kShortClips);
  struct Case
  {
    const char *name;
    ClipSpec spec;
    int width, height;
    double fps;
  };
  const std::vector<std::string> variable_rate = {
      "-vf", "select=not(eq(mod(n\\,3)\\,0))+lt(n\\,10)", "-fps_mode", "vfr"};
  const Case cases[] = {
      {"portrait", {.seconds = 2, .width = 1080, .height = 1920}, 1080, 1920, 30},
      /* stored landscape, shown turned 90° clockwise: a phone held upright */
      {"rotated",
       {.seconds = 2, .width = 1920, .height = 1080, .audio = false, .rotation = 90},
       1080,
       1920,
       30},
      {"hevc-mov",
       {.seconds = 2, .video = "hevc", .width = 1920, .height = 1080, .container = "mov"},
       1920,
       1080,
       30},
      {"4k", {.seconds = 2, .width = 3840, .height = 2160, .audio = false}, 1920, 1080, 30},
      {"60fps", {.seconds = 2, .width = 1280, .height = 720, .fps = 60}, 1280, 720, 30},
      {"vfr",
       {.seconds = 3, .width = 640, .height = 360, .audio = false, .extra = variable_rate},
       640,
       360,
       30},
  };
  std::vector<std::string> ids;
  for (const Case &c : cases) {
    Clip up = upload(read_file(make_clip(c.spec)), std::string(c.name) + ".mp4");
    ASSERT_EQ(up.status, 202) << c.name << ": " << up.body;
    ids.push_back(up.id);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    Clip c = settle(ids[i]);
    ASSERT_EQ(c.state, "ready") << c.body << d->log();
    expect_outputs(c.id, cases[i].width, cases[i].height, cases[i].fps, cases[i].spec.seconds,
                   cases[i].spec.audio);
  }
}

TEST_F(Clips, AnUnsupportedCodecIsNamed)
{
  start(kShortClips);
  Clip c = settle(
      upload(read_file(make_clip({.seconds = 2, .video = "mpeg2", .audio = false})), "old.mp4").id);
  EXPECT_EQ(c.state, "rejected") << c.body;
  EXPECT_EQ(c.reason, "unsupported-codec");
  EXPECT_NE(c.message.find("Video codec mpeg2 is not accepted"), std::string::npos) << c.message;
}

TEST_F(Clips, AStalledClipFailsAndTheNextOneRuns)
{
  start(R"({"pipelines_dir": ")" + stalling_pipelines_dir() +
        R"(", "clips": {"pipeline": "clip-stall", "min_duration": 0.5, "stall_timeout": 1}})");
  Clip stuck = upload(read_file(make_clip(stalling_clip())), "stuck.mp4");
  Clip next = upload(read_file(make_clip(passing_clip())), "next.mp4");
  ASSERT_EQ(stuck.status, 202) << stuck.body;
  ASSERT_EQ(next.status, 202) << next.body;
  Clip c = settle(stuck.id);
  EXPECT_EQ(c.state, "failed") << c.body;
  EXPECT_EQ(c.reason, "stalled");
  EXPECT_NE(c.message.find("stopped making progress (nothing for 1 s)"), std::string::npos)
      << c.message;
  c = settle(next.id);
  EXPECT_EQ(c.state, "ready") << c.body << d->log();
}

/* The store failing to hand over a queued clip's record once (the database
 * restarting) used to keep its processing slot taken: no clip ran again
 * until a restart. */
TEST_F(Clips, AStoreErrorDoesNotStopTheQueue)
{
  PgServer &pg = PgServer::shared();
  const std::string url = pg.conninfo(pg.create_database("clips"));
  d = std::make_unique<SugarcastdProcess>(SugarcastdProcess::Options{
      .config =
          R"({"pipelines_dir": ")" + stalling_pipelines_dir() +
          R"(", "clips": {"pipeline": "clip-stall", "min_duration": 0.5, "stall_timeout": 1}})",
      .env = {{"SUGARCAST_DATABASE_URL", url}}});
  ASSERT_TRUE(d->wait_ready()) << d->log();
  Clip stuck = upload(read_file(make_clip(stalling_clip())), "stuck.mp4");
  Clip queued = upload(read_file(make_clip(passing_clip())), "queued.mp4");
  ASSERT_EQ(stuck.status, 202) << stuck.body;
  ASSERT_EQ(queued.status, 202) << queued.body;
  /* The database goes away while the first clip runs; when the watchdog ends
   * it, the second clip's record cannot be read. */
  pg.stop();
  const std::string unread = "clip " + queued.id + ": its record could not be read";
  eventually([&] { return d->log().find(unread) != std::string::npos; }, std::chrono::seconds(15));
  pg.start();
  ASSERT_NE(d->log().find(unread), std::string::npos) << d->log();
  Clip c = settle(queued.id);
  EXPECT_EQ(c.state, "ready") << c.body << d->log();
  Clip later = settle(upload(read_file(make_clip(passing_clip())), "later.mp4").id);
  EXPECT_EQ(later.state, "ready") << later.body << d->log();
}

TEST_F(Clips, UnknownClipIs404)
{
  start();
  HttpResponse r = d->admin("GET", "/api/clips/nosuchclip");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("No clip with id \\\"nosuchclip\\\""), std::string::npos) << r.body;
}

TEST_F(Clips, AClipCutShortByAShutdownRunsAgainAtTheNextStart)
{
  start();
  Clip up = upload(read_file(make_clip({.seconds = 50, .width = 640, .height = 360})), "long.mp4");
  ASSERT_EQ(up.status, 202);
  ASSERT_TRUE(eventually(
      [&] { return parse(d->admin("GET", "/api/clips/" + up.id)).state == "processing"; },
      std::chrono::seconds(5)));
  const std::string data_dir = d->data_dir();
  EXPECT_EQ(d->stop(), 0) << d->log();
  d = std::make_unique<SugarcastdProcess>(SugarcastdProcess::Options{.data_dir = data_dir});
  ASSERT_TRUE(d->wait_ready()) << d->log();
  Clip c = settle(up.id);
  EXPECT_EQ(c.state, "ready") << c.body << d->log();
  EXPECT_NE(d->log().find("processing it again after a restart"), std::string::npos);
}
