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
    run(read_file(entry.path()));
    ++seeds;
  }
  EXPECT_GE(seeds, 8u);
}

TEST(JsonFuzzCorpus, SeedsMeanWhatTheySay)
{
  EXPECT_EQ(run(read_file(corpus() / "config-empty")), 0);
  EXPECT_GT(run(read_file(corpus() / "config-bad")), 0);
  EXPECT_EQ(run(read_file(corpus() / "pipeline-clip")), 0);
  EXPECT_EQ(run(read_file(corpus() / "api-stream")), 0);
  EXPECT_GT(run(read_file(corpus() / "api-stream-bad")), 0);
  EXPECT_EQ(run(read_file(corpus() / "not-json")), -1);
}
