/* The fuzz target's body, shared by the libFuzzer binary and the corpus
 * regression test. */
#pragma once

#include <cstddef>
#include <cstdint>

namespace sugarcast::fuzz {

struct FuzzStats
{
  size_t media = 0;    /* audio/video/data messages that reached the FLV writer */
  size_t messages = 0; /* chunk messages or AMF values decoded */
  size_t output = 0;   /* bytes the server would send */
  bool publishing = false;
};

FuzzStats run_one(const uint8_t *data, size_t size);

} // namespace sugarcast::fuzz
