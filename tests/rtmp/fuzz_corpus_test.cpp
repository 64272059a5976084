/* Every fuzzing seed (and every crash the fuzzer found, once fixed) runs
 * through the fuzz target in the normal build: the corpus is a regression
 * suite. The captured publishes must also get as far as media. */
#include "auth.h"
#include "fuzz_rtmp.h"
#include "testenv.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace sugarcast::test;

namespace {

std::vector<uint8_t> read_file(const std::filesystem::path &path)
{
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), {});
}

std::filesystem::path corpus()
{
  return std::filesystem::path(source_dir()) / "tests/rtmp/fuzz-corpus";
}

} // namespace

TEST(FuzzCorpus, EverySeedRunsCleanly)
{
  size_t seeds = 0;
  for (const auto &entry : std::filesystem::directory_iterator(corpus())) {
    const auto data = read_file(entry.path());
    sugarcast::fuzz::run_one(data.data(), data.size());
    ++seeds;
  }
  EXPECT_GE(seeds, 7u);
}

TEST(FuzzCorpus, CapturedPublishesReachTheFlvWriter)
{
  for (const char *name : {"ffmpeg-publish", "rtmp2sink-publish"}) {
    const auto data = read_file(corpus() / name);
    ASSERT_FALSE(data.empty()) << name;
    const auto stats = sugarcast::fuzz::run_one(data.data(), data.size());
    EXPECT_TRUE(stats.publishing) << name;
    EXPECT_GT(stats.media, 10u) << name;
  }
}

TEST(FuzzCorpus, ChunkAndAmfSeedsDecode)
{
  for (const char *name : {"ffmpeg-chunks", "rtmp2sink-chunks", "amf-connect", "amf-metadata"}) {
    const auto data = read_file(corpus() / name);
    EXPECT_GT(sugarcast::fuzz::run_one(data.data(), data.size()).messages, 0u) << name;
  }
  const auto hs = read_file(corpus() / "ffmpeg-handshake");
  EXPECT_EQ(sugarcast::fuzz::run_one(hs.data(), hs.size()).output, 3073u);
}

TEST(FuzzCorpus, TokenSeedsMeanWhatTheySay)
{
  /* Hand-made (see the names): token mode is "APP\nSTREAM\nQUERY" with the
   * secret fuzz-secret, checked at 1700000000. */
  using sugarcast::rtmp::TokenCheck;
  auto check = [](const char *name) {
    const auto data = read_file(corpus() / name);
    return static_cast<TokenCheck>(sugarcast::fuzz::run_one(data.data(), data.size()).messages);
  };
  EXPECT_EQ(check("token-valid"), TokenCheck::Valid);
  EXPECT_EQ(check("token-exp-overflow"), TokenCheck::Malformed);
  EXPECT_EQ(check("token-other-app"), TokenCheck::BadSignature);
  const auto query = read_file(corpus() / "query-escapes");
  EXPECT_EQ(sugarcast::fuzz::run_one(query.data(), query.size()).messages, 8u)
      << "the empty part between && is skipped";
}
