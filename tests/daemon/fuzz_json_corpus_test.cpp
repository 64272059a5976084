/* Every seed of the daemon's JSON fuzz target (and every input the fuzzer
 * once crashed on) runs cleanly in the normal build; the seeds still mean
 * what they were written to mean. */
#include "fuzz_json.h"
#include "testenv.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace sugarcast::test;

namespace {

std::string read(const std::filesystem::path &p)
{
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

int run(const std::string &seed)
{
  return sugarcast::fuzz::run_json(reinterpret_cast<const uint8_t *>(seed.data()), seed.size());
}

std::filesystem::path corpus()
{
  return std::filesystem::path(source_dir()) / "tests/daemon/fuzz-corpus";
}

} // namespace

TEST(JsonFuzzCorpus, EverySeedRunsCleanly)
{
  size_t seeds = 0;
  for (const auto &entry : std::filesystem::directory_iterator(corpus())) {
    run(read(entry.path()));
    ++seeds;
  }
  EXPECT_GE(seeds, 8u);
}

TEST(JsonFuzzCorpus, SeedsMeanWhatTheySay)
{
  EXPECT_EQ(run(read(corpus() / "config-empty")), 0);
  EXPECT_GT(run(read(corpus() / "config-bad")), 0);
  EXPECT_EQ(run(read(corpus() / "pipeline-clip")), 0);
  EXPECT_EQ(run(read(corpus() / "api-stream")), 0);
  EXPECT_GT(run(read(corpus() / "api-stream-bad")), 0);
  EXPECT_EQ(run(read(corpus() / "not-json")), -1);
}
