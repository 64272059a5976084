/* sugarcastd — the wall clock every module stamps records and events with. */
#pragma once

#include <glib.h>

#include <cstdint>

namespace sugarcast {

/* Milliseconds since the Unix epoch. */
inline int64_t now_ms()
{
  return g_get_real_time() / 1000;
}

} // namespace sugarcast
