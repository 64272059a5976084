/* sugarcastd chat — a token bucket per user: `rate` messages a second
 * sustained, `burst` at once. Times are monotonic milliseconds. */
#pragma once

#include <algorithm>
#include <cstdint>

namespace sugarcast::chat {

class TokenBucket
{
public:
  TokenBucket() = default;
  TokenBucket(double rate_per_second, int burst, int64_t now_ms)
      : rate_(rate_per_second / 1000.0), burst_(burst), tokens_(burst), last_(now_ms)
  {}

  /* Takes one token; false (and how long until one is due) when empty. */
  bool take(int64_t now_ms, int64_t &retry_after_ms)
  {
    refill(now_ms);
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      retry_after_ms = 0;
      return true;
    }
    retry_after_ms = static_cast<int64_t>((1.0 - tokens_) / rate_) + 1;
    return false;
  }

  /* Full again: the user can be forgotten. */
  bool full(int64_t now_ms)
  {
    refill(now_ms);
    return tokens_ >= burst_;
  }

private:
  void refill(int64_t now_ms)
  {
    if (now_ms > last_) {
      tokens_ = std::min<double>(burst_, tokens_ + (now_ms - last_) * rate_);
      last_ = now_ms;
    }
  }

  double rate_ = 0;
  int burst_ = 1;
  double tokens_ = 0;
  int64_t last_ = 0;
};

} // namespace sugarcast::chat
