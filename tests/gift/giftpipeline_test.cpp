/* giftoverlay in real gst-launch-1.0 pipelines: its DATERANGEs in every
 * variant playlist of abrladder ! hlsabrsink, and the lines of
 * docs/elements/giftoverlay.md as written. */
#include "testenv.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

using namespace sugarcast::test;
namespace fs = std::filesystem;

namespace {

ProcessResult launch(const std::string &pipeline, const std::string &cwd = "")
{
  std::string command = "gst-launch-1.0 -q " + pipeline;
  if (!cwd.empty())
    command = "cd '" + cwd + "' && " + command;
  return run_process({"/bin/sh", "-c", command}, std::chrono::seconds(240));
}

/* The value of ATTR in an EXT-X-DATERANGE line. */
std::string attribute(const std::string &line, const std::string &attr)
{
  std::smatch m;
  if (std::regex_search(line, m, std::regex(attr + "=(\"[^\"]*\"|[^,]*)")))
    return m[1];
  return "";
}

} // namespace

TEST(GiftPipeline, DaterangesInEveryVariantPlaylistAtTheTimeTheGiftAppears)
{
  const std::string dir = scratch_dir() + "/hls";
  const std::string events = scratch_dir() + "/gifts.jsonl";
  /* The second rose is a combo holding the banner until 1.5 + 0.8 (hold) +
   * 0.4 (leave) = 2.7 s; the heart waits for that row (max-concurrent=1). */
  std::ofstream(events) << R"({"at":0.5,"id":"g-rose","gift":"rose","user":"小明"})"
                        << "\n"
                        << R"({"at":1.5,"id":"g-rose-2","gift":"rose","user":"小明","count":4})"
                        << "\n"
                        << R"({"at":2.0,"id":"g-heart","gift":"heart","user":"bob"})"
                        << "\n";
  const auto result = launch(
      "videotestsrc num-buffers=150 ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 "
      "! giftoverlay max-concurrent=1 duration=1500000000 events-file=" +
      events +
      " ! abrladder name=ladder ladder=360p:800,240p:400 "
      "ladder.src_0 ! queue ! hls.video_0 ladder.src_1 ! queue ! hls.video_1 "
      "hlsabrsink name=hls playlist-type=vod target-duration=1 location=" +
      dir);
  ASSERT_TRUE(result.ok()) << result.err;

  int variants = 0;
  for (const auto &entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".m3u8" || entry.path().filename() == "master.m3u8")
      continue;
    ++variants;
    std::ifstream in(entry.path());
    std::string line;
    std::vector<std::string> ranges;
    while (std::getline(in, line))
      if (line.rfind("#EXT-X-DATERANGE:", 0) == 0)
        ranges.push_back(line);
    ASSERT_EQ(ranges.size(), 3u) << entry.path();
    EXPECT_EQ(attribute(ranges[0], "ID"), "\"g-rose\"");
    EXPECT_EQ(attribute(ranges[0], "CLASS"), "\"com.sugarcast.gift\"");
    EXPECT_EQ(attribute(ranges[0], "X-GIFT"), "\"rose\"");
    EXPECT_EQ(attribute(ranges[0], "X-USER"), "\"小明\"");
    EXPECT_EQ(attribute(ranges[0], "X-COUNT"), "1");
    EXPECT_EQ(attribute(ranges[1], "ID"), "\"g-rose-2\"");
    EXPECT_EQ(attribute(ranges[0], "X-COMBO"), "1");
    /* X-COUNT is the gift's own count, as the ledger's path writes it;
     * X-COMBO the banner's once the gift is on it. */
    EXPECT_EQ(attribute(ranges[1], "X-COUNT"), "4");
    EXPECT_EQ(attribute(ranges[1], "X-COMBO"), "5");
    EXPECT_EQ(attribute(ranges[2], "ID"), "\"g-heart\"");
    /* START-DATEs: the times the gifts appear, not when they were sent. */
    auto start = [&](const std::string &l) {
      std::string date = attribute(l, "START-DATE");
      date = date.substr(1, date.size() - 2);
      g_autoptr(GDateTime) t = g_date_time_new_from_iso8601(date.c_str(), nullptr);
      return t ? g_date_time_to_unix(t) * G_USEC_PER_SEC + g_date_time_get_microsecond(t) : 0;
    };
    const gint64 t0 = start(ranges[0]);
    EXPECT_NEAR((start(ranges[1]) - t0) / 1000, 1000, 1) << ranges[1];
    EXPECT_NEAR((start(ranges[2]) - t0) / 1000, 2200, 1) << ranges[2];
  }
  EXPECT_EQ(variants, 2);
}

TEST(GiftPipeline, TheDocumentedLinesRunAsWritten)
{
  const std::string page = read_file(source_dir() + "/docs/elements/giftoverlay.md");
  std::vector<std::string> commands;
  const std::regex block("```\n(GST_PLUGIN_PATH=[\\s\\S]*?)```");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), block);
       it != std::sregex_iterator(); ++it) {
    std::string command = (*it)[1];
    command = std::regex_replace(command, std::regex("\\\\\n"), " ");
    commands.push_back(command);
  }
  ASSERT_EQ(commands.size(), 2u);
  for (std::string command : commands) {
    /* No display here: the preview's window becomes a fakesink. */
    command = std::regex_replace(command, std::regex("autovideosink"), "fakesink");
    command = std::regex_replace(command, std::regex("GST_PLUGIN_PATH=build/plugins"),
                                 "GST_PLUGIN_PATH=" + build_dir() + "/plugins");
    command =
        std::regex_replace(command, std::regex("/tmp/gifts.mp4"), scratch_dir() + "/gifts.mp4");
    const auto result = run_process({"/bin/sh", "-c", "cd '" + source_dir() + "' && " + command},
                                    std::chrono::seconds(240));
    ASSERT_TRUE(result.ok()) << command << "\n" << result.err;
  }
  const auto probe = run_process({"ffprobe", "-v", "error", "-count_frames", "-select_streams",
                                  "v:0", "-show_entries", "stream=nb_read_frames,width,height",
                                  "-of", "csv=p=0", scratch_dir() + "/gifts.mp4"});
  ASSERT_TRUE(probe.ok()) << probe.err;
  EXPECT_EQ(probe.out, "1280,720,90\n");
}
