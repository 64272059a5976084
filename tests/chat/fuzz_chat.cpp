/* Fuzz target for what a chat client sends: the first byte picks the
 * parser (even: WebSocket framing, server side, with message parsing of
 * every text message; odd: message parsing alone), the rest is the input.
 *
 * Built with libFuzzer when meson is configured with -Dfuzzing=true and
 * clang (see docs/testing.md); otherwise fuzz_replay runs the corpus in
 * tests/chat/corpus/ through the same function as an ordinary test. */
#include "chat/protocol.h"
#include "chat/wsframe.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  using namespace sugarcast::chat;
  static std::unique_ptr<ProtocolParser> parser = [] {
    std::string error;
    auto p = ProtocolParser::load(error);
    if (!p)
      abort();
    return p;
  }();
  if (size == 0)
    return 0;
  const auto *text = reinterpret_cast<const char *>(data + 1);
  const size_t n = size - 1;
  /* The real limits at their largest (chat.max_message_chars 10000): run
   * libFuzzer with -max_len=121024 to reach them. */
  constexpr int kMaxChars = 10000;
  if (data[0] % 2 == 0) {
    WsParser ws(12 * kMaxChars + 1024, true);
    /* Feed in two pieces, split where the second byte says. */
    const size_t cut = n > 0 ? data[1] % (n + 1) : 0;
    auto on_event = [](const WsEvent &e) {
      if (e.kind == WsEvent::Text)
        (void)parser->parse(e.payload, kMaxChars);
    };
    if (ws.feed(text, cut, on_event) == 0)
      ws.feed(text + cut, n - cut, on_event);
  } else if (g_utf8_validate(text, static_cast<gssize>(n), nullptr)) {
    (void)parser->parse(std::string_view(text, n), kMaxChars);
  }
  return 0;
}
