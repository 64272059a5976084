/* Every seed of the media fast path's parsing fuzz target (and every input
 * the fuzzer once crashed on) runs cleanly in the normal build; the seeds
 * still mean what they were written to mean. */
#include "../../daemon/media.h" /* not tests/common/media.h */
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

/* The two readers blocking playlist reload needs (media.h), which the fuzz
 * target runs too. */
TEST(HlsPlaylistState, ReadsTheTagsThatBlockingNeeds)
{
  const sugarcast::HlsPlaylistState live = sugarcast::hls_playlist_state(
      "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:41\n#EXT-X-SERVER-CONTROL:CAN-"
      "BLOCK-RELOAD=YES\n#EXTINF:1.0,\na.ts\n#EXTINF:1.0,\nb.ts\n#EXTINF:1.0,\nc.ts\n");
  EXPECT_TRUE(live.can_block);
  EXPECT_FALSE(live.ended);
  EXPECT_EQ(live.next_msn, 44);
  EXPECT_EQ(live.target_duration, 1);
  const sugarcast::HlsPlaylistState ended = sugarcast::hls_playlist_state(
      "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\na.ts\n#EXTINF:1.0,\nb.ts\n#EXT-X-ENDLIST\n");
  EXPECT_FALSE(ended.can_block);
  EXPECT_TRUE(ended.ended);
  EXPECT_EQ(ended.next_msn, 2);
  /* CRLF lines, no media sequence (it is then 0), an attribute list. */
  const sugarcast::HlsPlaylistState crlf = sugarcast::hls_playlist_state(
      "#EXTM3U\r\n#EXT-X-TARGETDURATION:2\r\n#EXT-X-SERVER-CONTROL:HOLD-BACK=6.0,CAN-BLOCK-"
      "RELOAD=YES\r\n#EXTINF:2,\r\na.ts\r\n");
  EXPECT_TRUE(crlf.can_block);
  EXPECT_EQ(crlf.next_msn, 1);
  EXPECT_EQ(crlf.target_duration, 2);
  EXPECT_FALSE(
      sugarcast::hls_playlist_state("#EXTM3U\n#EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL=6\n").can_block);
  EXPECT_EQ(sugarcast::hls_playlist_state("").next_msn, 0);
}

TEST(HlsPlaylistState, ReadsTheRequestedSequenceNumber)
{
  EXPECT_EQ(sugarcast::hls_requested_msn(""), -1);
  EXPECT_EQ(sugarcast::hls_requested_msn("session=abc"), -1);
  EXPECT_EQ(sugarcast::hls_requested_msn("_HLS_msn=17"), 17);
  EXPECT_EQ(sugarcast::hls_requested_msn("session=abc&_HLS_msn=0&_HLS_skip=YES"), 0);
  EXPECT_EQ(sugarcast::hls_requested_msn("_HLS_msn="), -2);
  EXPECT_EQ(sugarcast::hls_requested_msn("_HLS_msn=-3"), -2);
  EXPECT_EQ(sugarcast::hls_requested_msn("_HLS_msn=12x"), -2);
  EXPECT_EQ(sugarcast::hls_requested_msn("_HLS_msn=9999999999999999999"), -2);
}
