/* sugarcastd — the clocks: the wall clock every module stamps records and
 * events with, and the monotonic clock deadlines, timers and rates use. */
#pragma once

#include <glib.h>

#include <cstdint>

namespace sugarcast {

/* Milliseconds since the Unix epoch. */
inline int64_t now_ms()
{
  return g_get_real_time() / 1000;
}

/* Milliseconds of the monotonic clock (g_get_monotonic_time): for deadlines,
 * timers and rate buckets, which must not jump with the wall clock. */
inline int64_t monotonic_ms()
{
  return g_get_monotonic_time() / 1000;
}

} // namespace sugarcast
