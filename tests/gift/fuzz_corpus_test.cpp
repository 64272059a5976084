/* Every seed in tests/gift/fuzz-corpus/ (and every crash the fuzzer finds,
 * once fixed) through the gift fuzz target in the normal build; the seeds
 * named ok-* must be accepted whole, the others refused. */
#include "testenv.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace sugarcast::fuzz {
std::size_t run_gift_events(const std::uint8_t *data, std::size_t size);
}

TEST(GiftFuzzCorpus, EverySeedRunsCleanly)
{
  const std::filesystem::path corpus =
      std::filesystem::path(sugarcast::test::source_dir()) / "tests/gift/fuzz-corpus";
  int seeds = 0;
  for (const auto &entry : std::filesystem::directory_iterator(corpus)) {
    const std::string bytes = sugarcast::test::read_file(entry.path());
    const std::size_t accepted = sugarcast::fuzz::run_gift_events(
        reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size());
    const std::string name = entry.path().filename();
    if (name.rfind("ok-", 0) == 0)
      EXPECT_GE(accepted, 1u) << name;
    else
      EXPECT_EQ(accepted, 0u) << name;
    ++seeds;
  }
  EXPECT_GE(seeds, 8);
}
