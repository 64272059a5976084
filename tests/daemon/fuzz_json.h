/* The daemon's JSON inputs as one fuzz target: what a request body, a
 * configuration file or a pipeline description can hold. Shared by the
 * libFuzzer binary and the corpus regression test. */
#pragma once

#include <cstddef>
#include <cstdint>

namespace sugarcast::fuzz {

/* The first byte picks the schema (modulo 4): 0 config (validate, then fill
 * defaults), 1 a pipeline description (the schema stage), 2 a stream-creation
 * body, 3 every definition of the API schema; the rest is the JSON text.
 * Returns the number of violations found (-1: not JSON). */
int run_json(const uint8_t *data, size_t size);

} // namespace sugarcast::fuzz
