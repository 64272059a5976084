/* clipvalidate on real files made by ffmpeg, through sugarcast-validate and
 * through gst-launch-1.0 as the element's documentation shows it. */
#include "media.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <filesystem>
#include <fstream>

using namespace sugarcast::test;

namespace {

struct Verdict
{
  bool valid = false;
  std::string reason; /* "" when valid */
  std::string message;
  double duration = -1;
  double declared = -1;
  int width = 0;
  int height = 0;
  std::string codec;
  gint64 frames = 0;
};

Verdict parse_line(const std::string &line)
{
  Verdict v;
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = nullptr;
  if (!json_parser_load_from_data(parser, line.c_str(), -1, &error)) {
    ADD_FAILURE() << "not JSON: " << line;
    return v;
  }
  JsonObject *o = json_node_get_object(json_parser_get_root(parser));
  auto num = [o](const char *name) {
    JsonNode *n = json_object_get_member(o, name);
    return n && !json_node_is_null(n) ? json_node_get_double(n) : -1.0;
  };
  auto str = [o](const char *name) {
    JsonNode *n = json_object_get_member(o, name);
    return n && !json_node_is_null(n) ? std::string(json_node_get_string(n)) : std::string();
  };
  v.valid = json_object_get_boolean_member(o, "valid");
  v.reason = str("reason");
  v.message = str("message");
  v.duration = num("duration");
  v.declared = num("declared_duration");
  v.width = static_cast<int>(num("width"));
  v.height = static_cast<int>(num("height"));
  v.codec = str("codec");
  v.frames = static_cast<gint64>(num("frames"));
  return v;
}

struct ValidateRun
{
  int exit_status;
  std::vector<Verdict> verdicts;
  std::string err;
};

ValidateRun validate(const std::vector<std::string> &files, std::vector<std::string> options = {})
{
  std::vector<std::string> argv = {built_program("plugins/clip/sugarcast-validate")};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), files.begin(), files.end());
  ProcessResult r = run_process(argv, std::chrono::seconds(120));
  EXPECT_FALSE(r.timed_out);
  ValidateRun run{r.exit_status, {}, r.err};
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    run.verdicts.push_back(parse_line(line));
  EXPECT_EQ(run.verdicts.size(), files.size()) << r.out << r.err;
  return run;
}

Verdict validate_one(const std::string &file, int expected_exit)
{
  ValidateRun run = validate({file});
  EXPECT_EQ(run.exit_status, expected_exit) << run.err;
  return run.verdicts.empty() ? Verdict{} : run.verdicts[0];
}

/* A copy of `file` whose MP4 movie header (mvhd) claims `seconds`. */
std::string with_declared_duration(const std::string &file, double seconds)
{
  std::ifstream in(file, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), {});
  size_t at = data.find("mvhd");
  EXPECT_NE(at, std::string::npos);
  EXPECT_EQ(data[at + 4], 0) << "version-0 mvhd expected";
  auto be32 = [&](size_t pos) {
    return (uint32_t(uint8_t(data[pos])) << 24) | (uint32_t(uint8_t(data[pos + 1])) << 16) |
           (uint32_t(uint8_t(data[pos + 2])) << 8) | uint32_t(uint8_t(data[pos + 3]));
  };
  const uint32_t timescale = be32(at + 16);
  const uint32_t duration = static_cast<uint32_t>(seconds * timescale);
  for (int i = 0; i < 4; ++i)
    data[at + 20 + i] = static_cast<char>(duration >> (24 - 8 * i));
  std::string out = scratch_dir() + "/declares-" + std::to_string(seconds) + "-" +
                    std::filesystem::path(file).filename().string();
  std::ofstream(out, std::ios::binary) << data;
  return out;
}

std::string write_file(const std::string &name, const std::string &content)
{
  std::string path = scratch_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

} // namespace

TEST(ValidateFiles, H264Mp4WithAudioIsAccepted)
{
  Verdict v =
      validate_one(make_clip({.seconds = 16, .video = "h264", .width = 640, .height = 360}), 0);
  EXPECT_TRUE(v.valid) << v.message;
  EXPECT_NEAR(v.duration, 16.0, 0.05);
  EXPECT_EQ(v.codec, "h264");
  EXPECT_EQ(v.width, 640);
  EXPECT_EQ(v.height, 360);
  EXPECT_EQ(v.frames, 480);
}

TEST(ValidateFiles, H264Mp4WithoutAudioIsAccepted)
{
  Verdict v = validate_one(make_clip({.seconds = 30, .audio = false}), 0);
  EXPECT_TRUE(v.valid) << v.message;
  EXPECT_NEAR(v.duration, 30.0, 0.05);
}

TEST(ValidateFiles, Vp9WebmIsAccepted)
{
  Verdict v = validate_one(make_clip({.seconds = 20, .video = "vp9", .container = "webm"}), 0);
  EXPECT_TRUE(v.valid) << v.message;
  EXPECT_EQ(v.codec, "vp9");
  EXPECT_NEAR(v.duration, 20.0, 0.05);
}

TEST(ValidateFiles, Vp9WebmWithoutAudioIsAccepted)
{
  Verdict v = validate_one(
      make_clip({.seconds = 20, .video = "vp9", .audio = false, .container = "webm"}), 0);
  EXPECT_TRUE(v.valid) << v.message;
}

TEST(ValidateFiles, ShortClipIsRejectedWithItsLength)
{
  Verdict v = validate_one(make_clip({.seconds = 10}), 1);
  EXPECT_FALSE(v.valid);
  EXPECT_EQ(v.reason, "too-short");
  EXPECT_EQ(v.message, "Clip is 10.0 s long; clips must be 15\u201360 s");
}

TEST(ValidateFiles, LongClipIsRejectedWithoutReadingItAll)
{
  Verdict v = validate_one(make_clip({.seconds = 75, .audio = false}), 1);
  EXPECT_EQ(v.reason, "too-long");
  EXPECT_LE(v.frames, 60 * 30 + 2) << "reading goes on past the limit";
  EXPECT_NEAR(v.declared, 75.0, 0.1);
}

TEST(ValidateFiles, FarTooLongHeaderIsRejectedBeforeReading)
{
  Verdict v =
      validate_one(make_clip({.seconds = 130, .width = 160, .height = 120, .audio = false}), 1);
  EXPECT_EQ(v.reason, "too-long");
  EXPECT_EQ(v.frames, 0);
  EXPECT_NE(v.message.find("according to its header"), std::string::npos) << v.message;
}

TEST(ValidateFiles, AudioOnlyHasNoVideo)
{
  Verdict v = validate_one(make_clip({.seconds = 20, .video = ""}), 1);
  EXPECT_EQ(v.reason, "no-video");
  EXPECT_EQ(v.message, "The file contains no video stream; a clip needs video");
}

TEST(ValidateFiles, UnsupportedCodecIsNamed)
{
  Verdict v = validate_one(make_clip({.seconds = 16, .video = "mpeg2", .container = "ts"}), 1);
  EXPECT_EQ(v.reason, "unsupported-codec");
  EXPECT_EQ(v.message,
            "Video codec mpeg2 is not accepted; accepted codecs are h264, h265, vp8, vp9, av1");
}

TEST(ValidateFiles, HeaderThatUnderstatesIsOverruledByTimestamps)
{
  /* 70 s of video whose header claims 20 s: measured time decides. */
  std::string liar = with_declared_duration(make_clip({.seconds = 70, .audio = false}), 20);
  Verdict v = validate_one(liar, 1);
  EXPECT_EQ(v.reason, "too-long") << v.message;
  EXPECT_NEAR(v.declared, 20.0, 0.01);
}

TEST(ValidateFiles, HeaderThatOverstatesCannotMakeAShortClipAcceptable)
{
  /* 10 s of video whose header claims 30 s. */
  std::string liar = with_declared_duration(make_clip({.seconds = 10, .audio = false}), 30);
  Verdict v = validate_one(liar, 1);
  EXPECT_EQ(v.reason, "too-short") << v.message;
  EXPECT_NEAR(v.declared, 30.0, 0.01);
  EXPECT_NEAR(v.duration, 10.0, 0.05);
}

TEST(ValidateFiles, TruncatedFileIsJudgedByWhatItHolds)
{
  /* moov first, then the media data cut at 40%: 20 s declared, ~8 s present. */
  std::string whole =
      make_clip({.seconds = 20, .audio = false, .extra = {"-movflags", "+faststart"}});
  std::ifstream in(whole, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), {});
  std::string cut = write_file("truncated.mp4", data.substr(0, data.size() * 4 / 10));
  Verdict v = validate_one(cut, 1);
  EXPECT_EQ(v.reason, "too-short") << v.message;
  EXPECT_LT(v.duration, 10.0);
  EXPECT_NEAR(v.declared, 20.0, 0.05);
}

TEST(ValidateFiles, ZeroByteFileIsUnreadable)
{
  Verdict v = validate_one(write_file("empty.mp4", ""), 2);
  EXPECT_EQ(v.reason, "unreadable");
  EXPECT_FALSE(v.message.empty());
}

TEST(ValidateFiles, TextFileNamedMp4IsUnreadable)
{
  Verdict v = validate_one(write_file("notes.mp4", "These are my notes, not a video.\n"), 2);
  EXPECT_EQ(v.reason, "unreadable");
  EXPECT_NE(v.message.find("Cannot read the file as video"), std::string::npos) << v.message;
}

TEST(ValidateFiles, MissingFileIsUnreadable)
{
  Verdict v = validate_one(scratch_dir() + "/no-such-file.mp4", 2);
  EXPECT_EQ(v.reason, "unreadable");
  EXPECT_NE(v.message.find("No such file or directory"), std::string::npos) << v.message;
}

TEST(ValidateFiles, ExitStatusIsTheWorstOfAllFiles)
{
  std::string good = make_clip({.seconds = 16});
  std::string short_one = make_clip({.seconds = 10});
  EXPECT_EQ(validate({good, good}).exit_status, 0);
  EXPECT_EQ(validate({good, short_one}).exit_status, 1);
  EXPECT_EQ(validate({short_one, scratch_dir() + "/missing.mp4", good}).exit_status, 2);
}

TEST(ValidateFiles, LimitsCanBeChangedOnTheCommandLine)
{
  ValidateRun run =
      validate({make_clip({.seconds = 10})}, {"--min-duration", "5", "--max-duration", "12"});
  EXPECT_EQ(run.exit_status, 0);
  run = validate({make_clip({.seconds = 16})}, {"--codecs", "vp9"});
  EXPECT_EQ(run.exit_status, 1);
}

TEST(GstLaunch, DocumentedPipelineFailsWithTheCreatorsMessage)
{
  const std::string file = make_clip({.seconds = 10});
  ProcessResult r =
      run_process({"gst-launch-1.0", "-q", "filesrc", "location=" + file, "!", "qtdemux", "name=d",
                   "d.video_0", "!", "clipvalidate", "!", "fakesink"});
  EXPECT_NE(r.exit_status, 0);
  EXPECT_NE(r.err.find("Clip is 10.0 s long; clips must be 15\u201360 s"), std::string::npos)
      << r.err << r.out;
}

TEST(GstLaunch, DocumentedPipelineAcceptsAGoodClip)
{
  const std::string file = make_clip({.seconds = 16, .video = "vp9", .container = "webm"});
  ProcessResult r =
      run_process({"gst-launch-1.0", "-m", "filesrc", "location=" + file, "!", "matroskademux",
                   "name=d", "d.video_0", "!", "clipvalidate", "!", "fakesink"});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.out.find("clip-validation, valid=(boolean)true"), std::string::npos) << r.out;
}
