/* libFuzzer target for what reaches giftoverlay from outside: gift events
 * (push-gift, the gift_sink pad, events files) through the parser and, when
 * accepted, through the timeline. The corpus test (gift-fuzz-corpus) runs
 * the same body on tests/gift/fuzz-corpus/ in the normal build. */
#include "giftevent.h"
#include "timeline.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sugarcast::fuzz {

/* Each line is one event; returns how many were accepted. */
std::size_t run_gift_events(const std::uint8_t *data, std::size_t size)
{
  using namespace sugarcast::gift;
  TimelineConfig config;
  config.max_pending = 64;
  config.max_queued = 4;
  Timeline timeline(config);
  std::string_view text(reinterpret_cast<const char *>(data), size);
  std::size_t accepted = 0;
  std::uint64_t now = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    GiftEvent event;
    std::string error;
    if (parse_gift_event(line, event, error)) {
      ++accepted;
      timeline.push(std::move(event));
    }
    for (const Shown &shown : timeline.advance(now))
      (void)timeline.view(timeline.active().front(), now + shown.count);
    now += 33'333'333;
  }
  return accepted;
}

} // namespace sugarcast::fuzz

#ifdef SUGARCAST_FUZZER_MAIN
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
  sugarcast::fuzz::run_gift_events(data, size);
  return 0;
}
#endif
