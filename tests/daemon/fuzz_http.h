/* The media fast path's parsing (daemon/httpparse.h) as one fuzz target:
 * request heads, byte ranges, first looks and media paths, with the
 * properties the fast path relies on checked on every input. Shared by the
 * libFuzzer binary and the corpus regression test. */
#pragma once

#include <cstddef>
#include <cstdint>

namespace sugarcast::fuzz {

/* DATA is what a client sends on a connection. Returns 1 when it starts
 * with a complete request head the fast path would serve from a media
 * folder, 0 otherwise; aborts when a property is broken (a view outside
 * the input, a head longer than the input or than the limit, a range
 * outside the file). */
int run_http(const uint8_t *data, size_t size);

} // namespace sugarcast::fuzz
