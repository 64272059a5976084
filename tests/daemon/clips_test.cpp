/* Uploading clips to a real sugarcastd: accepted and transcoded, rejected
 * with the validator's words, unreadable, too large, unauthenticated. */
#include "media.h"
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

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
    for (int i = 0; i < 600; ++i) {
      c = parse(d->admin("GET", "/api/clips/" + id));
      if (c.state == "ready" || c.state == "rejected" || c.state == "failed")
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return c;
  }

  std::unique_ptr<SugarcastdProcess> d;
};

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
  for (int i = 0; i < 50 && fs::exists(d->data_dir() + "/clips/" + up.id); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(fs::exists(d->data_dir() + "/clips/" + up.id)) << "nothing of it is kept";
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
  for (int i = 0; i < 100 && parse(d->admin("GET", "/api/clips/" + up.id)).state != "processing";
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::string data_dir = d->data_dir();
  EXPECT_EQ(d->stop(), 0) << d->log();
  d = std::make_unique<SugarcastdProcess>(SugarcastdProcess::Options{.data_dir = data_dir});
  ASSERT_TRUE(d->wait_ready()) << d->log();
  Clip c = settle(up.id);
  EXPECT_EQ(c.state, "ready") << c.body << d->log();
  EXPECT_NE(d->log().find("processing it again after a restart"), std::string::npos);
}
