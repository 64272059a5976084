/* libFuzzer target for the media fast path's parsing; see fuzz_http.h.
 * Built with clang (-Dfuzzing=enabled); in the normal build
 * fuzz_http_corpus_test runs every seed in tests/daemon/fuzz-http-corpus
 * through it. */
#include "fuzz_http.h"

#include "../../daemon/media.h" /* not tests/common/media.h */
#include "httpparse.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace sugarcast::fuzz {

namespace {

void require(bool property)
{
  if (!property)
    std::abort();
}

bool inside(std::string_view part, std::string_view whole)
{
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

} // namespace

int run_http(const uint8_t *data, size_t size)
{
  const std::string_view text(reinterpret_cast<const char *>(data), size);
  static const std::vector<std::string> first_lines = {"GET /hls/", "HEAD /hls/", "OPTIONS /hls/",
                                                       "GET /clips/", "HEAD /clips/"};
  const http1::FirstLook look = http1::first_look(text.substr(0, 256), first_lines);
  http1::Request r;
  const http1::Parsed parsed = http1::parse_request(text, r);
  if (parsed != http1::Parsed::Complete)
    return 0;
  require(r.head_bytes <= text.size() && r.head_bytes <= http1::kMaxHeadBytes);
  for (std::string_view part : {r.method, r.target, r.range, r.origin})
    require(inside(part, text.substr(0, r.head_bytes)));
  require(!r.method.empty() && !r.target.empty());

  /* Ranges against a few file sizes, one derived from the input. */
  for (int64_t file :
       {int64_t{0}, int64_t{1}, int64_t{1000}, static_cast<int64_t>(size) * 977, INT64_MAX / 2}) {
    int64_t first = -1, last = -1;
    if (http1::parse_range(r.range, file, first, last) == http1::RangeKind::Satisfiable)
      require(0 <= first && first <= last && last < file);
  }

  /* The path below a media mount: plain names only, never "..". */
  const std::string_view path = r.target.substr(0, r.target.find_first_of("?#"));
  const MediaKind *kind = nullptr;
  const std::string relative = media_relative_path(path.size() > 4 ? path.substr(4) : "", &kind);
  if (!relative.empty()) {
    require(kind != nullptr);
    /* Components are plain names: none empty, none starting with '.' (so
     * never ".."); "seg1..ts" is a name like any other. */
    size_t start = 0;
    int parts = 0;
    while (start <= relative.size()) {
      const size_t end = std::min(relative.find('/', start), relative.size());
      require(end > start && relative[start] != '.');
      ++parts;
      start = end + 1;
    }
    require(parts >= 2 && parts <= 4);
  }

  /* Blocking reload: the sequence number a query asks for has at most 15
   * digits (-1 none, -2 malformed), and the state of a playlist made of the
   * input holds plain non-negative numbers. */
  const size_t q = r.target.find('?');
  if (q != std::string_view::npos) {
    const int64_t msn = hls_requested_msn(r.target.substr(q + 1));
    require(msn >= -2 && msn < 1'000'000'000'000'000);
  }
  const HlsPlaylistState state = hls_playlist_state(text);
  require(state.next_msn >= 0 && state.target_duration >= 0);
  return look == http1::FirstLook::Media && !r.has_body ? 1 : 0;
}

} // namespace sugarcast::fuzz

#ifdef SUGARCAST_FUZZER_MAIN
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  sugarcast::fuzz::run_http(data, size);
  return 0;
}
#endif
