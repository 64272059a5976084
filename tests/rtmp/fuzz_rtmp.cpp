/* libFuzzer target for everything that parses bytes a client sends.
 *
 * The first input byte picks the parser (modulo 6), the rest is its input:
 *   0  a whole connection: handshake, chunk streams, commands (publishes are
 *      accepted at once so media reaches the FLV tag writer), with the
 *      server's real limits (16 MiB chunks and messages)
 *   1  the chunk reader alone, with the real limits
 *   2  the AMF0 decoder
 *   3  the handshake
 *   4  the signed-token check: "APP\nSTREAM\nQUERY" (a token that parses
 *      is also re-signed and must then check Valid)
 *   5  the publish query parser and the auth-url form built from it
 * Inputs may be as large as a message (run with -max_len up to 16 MiB).
 * Built with clang (-Dfuzzing=enabled); in the normal build
 * fuzz_corpus_test runs every seed in tests/rtmp/fuzz-corpus through it.
 */
#include "fuzz_rtmp.h"

#include "amf0.h"
#include "auth.h"
#include "chunk.h"
#include "flv.h"
#include "handshake.h"
#include "protocol.h"

#include <string>

using namespace sugarcast::rtmp;

namespace sugarcast::fuzz {

FuzzStats run_one(const uint8_t *data, size_t size)
{
  FuzzStats stats;
  if (size < 1)
    return stats;
  const uint8_t mode = data[0] % 6;
  ++data;
  --size;
  switch (mode) {
  case 0: {
    ServerProtocol server(ChunkLimits{}, "127.0.0.1:1");
    bool asked = false;
    FlvTimeline timeline;
    std::vector<uint8_t> tag;
    server.on_publish = [&](const PublishInfo &) { asked = true; };
    server.on_media = [&](Message &&m) {
      ++stats.media;
      tag.resize(m.payload.size() + kFlvTagOverhead);
      write_flv_tag(tag.data(), m.type, timeline.map(m.timestamp), m.payload.data(),
                    m.payload.size());
      if (m.type == kDataAmf0)
        flv_flags_from_metadata(m.payload);
      is_sequence_header(m);
    };
    server.on_unpublish = [&] { timeline.restart(); };
    std::vector<uint8_t> out;
    /* Feed in uneven pieces, as TCP delivers them. */
    size_t pos = 0, piece = 1;
    while (pos < size) {
      const size_t n = std::min(piece, size - pos);
      if (!server.feed(data + pos, n, out))
        break;
      if (asked && server.awaiting_answer())
        server.accept_publish(out);
      pos += n;
      piece = piece * 3 + 7;
    }
    stats.publishing = server.publishing() || stats.media > 0;
    stats.output = out.size();
    break;
  }
  case 1: {
    ChunkReader reader(ChunkLimits{});
    std::vector<Message> messages;
    reader.feed(data, size, messages);
    stats.messages = messages.size();
    break;
  }
  case 2: {
    AmfReader reader(data, size);
    if (auto values = reader.read_all()) {
      stats.messages = values->size();
      std::vector<uint8_t> again;
      for (const auto &v : *values) {
        amf_encode(again, v);
        v.debug_string();
      }
    }
    break;
  }
  case 4: {
    const std::string text(reinterpret_cast<const char *>(data), size);
    const size_t a = text.find('\n'), b = a == std::string::npos ? a : text.find('\n', a + 1);
    PublishInfo info;
    info.app = text.substr(0, a);
    info.stream = a == std::string::npos ? "" : text.substr(a + 1, b - a - 1);
    info.query = b == std::string::npos ? "" : text.substr(b + 1);
    info.args = parse_query(info.query);
    const TokenCheck result = check_token("fuzz-secret", info, 1700000000);
    stats.messages = static_cast<size_t>(result);
    if (const auto expires = parse_expiry(info.arg("exp"))) {
      PublishInfo good = info;
      good.args = {{"exp", info.arg("exp")},
                   {"sig", sign_stream("fuzz-secret", info.app, info.stream, *expires)}};
      /* A signature made for exactly these fields checks (when exp is written
       * canonically; leading zeros are signed as sent, so they differ). */
      if (std::to_string(*expires) == info.arg("exp") &&
          check_token("fuzz-secret", good, *expires) != TokenCheck::Valid)
        __builtin_trap();
    }
    break;
  }
  case 5: {
    PublishInfo info;
    info.query.assign(reinterpret_cast<const char *>(data), size);
    info.args = parse_query(info.query);
    info.app = "live";
    info.stream = info.arg("name");
    stats.messages = info.args.size();
    stats.output = auth_url_form(info).size();
    break;
  }
  default: {
    ServerHandshake hs;
    std::vector<uint8_t> out;
    hs.feed(data, size, out);
    stats.output = out.size();
    break;
  }
  }
  return stats;
}

} // namespace sugarcast::fuzz

#ifdef SUGARCAST_FUZZER_MAIN
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  sugarcast::fuzz::run_one(data, size);
  return 0;
}
#endif
