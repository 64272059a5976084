/* Sugarcast — every ```sh example in docs/elements/recordsink.md and
 * replaysrc.md runs as written. */
#include "testenv.h"

#include <glib.h>
#include <gtest/gtest.h>

using namespace sugarcast::test;

namespace {

/* The text of every ```sh block of PAGE. */
std::vector<std::string> sh_blocks(const std::string &page)
{
  const std::string text = read_file(source_dir() + "/docs/elements/" + page);
  EXPECT_FALSE(text.empty()) << page;
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = text.find("```sh\n", at)) != std::string::npos) {
    at += 6;
    const size_t end = text.find("```", at);
    if (end == std::string::npos)
      break;
    out.push_back(text.substr(at, end - at));
    at = end + 3;
  }
  return out;
}

void run_page(const std::string &page)
{
  const auto blocks = sh_blocks(page);
  ASSERT_FALSE(blocks.empty()) << page << " has no sh example";
  for (const auto &block : blocks) {
    SCOPED_TRACE(block);
    auto r = run_process({"sh", "-e", "-c", block}, std::chrono::seconds(180));
    EXPECT_TRUE(r.ok()) << r.out << r.err;
    EXPECT_EQ(r.out.find("ERROR"), std::string::npos) << r.out;
  }
}

} // namespace

TEST(RecordDocs, RecordsinkExamplesRun)
{
  run_page("recordsink.md");
  auto r = run_process({"sh", "-c",
                        "ffprobe -v error -show_entries format=duration -of "
                        "csv=p=0 \"$(ls -d /tmp/recordings/*/ | tail -1)index.m3u8\""});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_NEAR(g_ascii_strtod(r.out.c_str(), nullptr), 10.0, 1.0);
}

TEST(RecordDocs, ReplaysrcExamplesRun)
{
  run_page("replaysrc.md");
  auto r = run_process({"ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                        "csv=p=0", "/tmp/cut.ts"});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_NEAR(g_ascii_strtod(r.out.c_str(), nullptr), 4.0, 0.5);
  /* The frame-exact cut: 4 s to the frame (plus at most the last AAC frame). */
  r = run_process({"ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                   "/tmp/cut-exact.mp4"});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_NEAR(g_ascii_strtod(r.out.c_str(), nullptr), 4.0, 1.0 / 30 + 1024.0 / 48000);
}
