/* Every seed of the media fast path's parsing fuzz target (and every input
 * the fuzzer once crashed on) runs cleanly in the normal build; the seeds
 * still mean what they were written to mean. */
#include "fuzz_http.h"
#include "testenv.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace sugarcast::test;

namespace {

int run(const std::string &seed)
{
  return sugarcast::fuzz::run_http(reinterpret_cast<const uint8_t *>(seed.data()), seed.size());
}

std::filesystem::path corpus()
{
  return std::filesystem::path(source_dir()) / "tests/daemon/fuzz-http-corpus";
}

} // namespace

TEST(HttpFuzzCorpus, EverySeedRunsCleanly)
{
  size_t seeds = 0;
  for (const auto &entry : std::filesystem::directory_iterator(corpus())) {
    run(read_file(entry.path()));
    ++seeds;
  }
  EXPECT_GE(seeds, 8u);
}

TEST(HttpFuzzCorpus, SeedsMeanWhatTheySay)
{
  EXPECT_EQ(run(read_file(corpus() / "get-playlist")), 1);
  EXPECT_EQ(run(read_file(corpus() / "range-suffix")), 1);
  EXPECT_EQ(run(read_file(corpus() / "pipelined")), 1);
  EXPECT_EQ(run(read_file(corpus() / "api-post")), 0);
  EXPECT_EQ(run(read_file(corpus() / "traversal")), 1); /* served: a 404, never a file outside */
  EXPECT_EQ(run(read_file(corpus() / "half-head")), 0);
  EXPECT_EQ(run(read_file(corpus() / "folded-header")), 0);
}
