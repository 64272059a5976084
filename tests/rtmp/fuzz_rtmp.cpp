/* libFuzzer target for everything that parses bytes a client sends.
 *
 * The first input byte picks the parser (modulo 4), the rest is its input:
 *   0  a whole connection: handshake, chunk streams, commands (publishes are
 *      accepted at once so media reaches the FLV tag writer)
 *   1  the chunk reader alone, with a small message limit
 *   2  the AMF0 decoder
 *   3  the handshake
 * Built with clang (-Dfuzzing=enabled); in the normal build
 * fuzz_corpus_test runs every seed in tests/rtmp/fuzz-corpus through it.
 */
#include "fuzz_rtmp.h"

#include "amf0.h"
#include "chunk.h"
#include "flv.h"
#include "handshake.h"
#include "protocol.h"

using namespace sugarcast::rtmp;

namespace sugarcast::fuzz {

FuzzStats run_one(const uint8_t *data, size_t size)
{
  FuzzStats stats;
  if (size < 1)
    return stats;
  const uint8_t mode = data[0] % 4;
  ++data;
  --size;
  switch (mode) {
  case 0: {
    ServerProtocol server(ChunkLimits{.max_chunk_size = 1 << 20, .max_message_size = 1 << 20},
                          "127.0.0.1:1");
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
    ChunkReader reader(ChunkLimits{.max_chunk_size = 1 << 16, .max_message_size = 1 << 16});
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
