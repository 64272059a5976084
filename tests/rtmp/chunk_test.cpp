/* Chunk streams: hand-made byte vectors for every header type and the
 * corner cases encoders and attackers produce. */
#include "alloc_probe.h"
#include "chunk.h"

#include <gtest/gtest.h>

using namespace sugarcast::rtmp;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes payload(size_t n, uint8_t seed = 1)
{
  Bytes b(n);
  for (size_t i = 0; i < n; ++i)
    b[i] = static_cast<uint8_t>(seed + i);
  return b;
}

void append(Bytes &out, std::initializer_list<int> list)
{
  for (int b : list)
    out.push_back(static_cast<uint8_t>(b));
}

void append(Bytes &out, const Bytes &more, size_t from = 0, size_t n = SIZE_MAX)
{
  n = std::min(n, more.size() - from);
  out.insert(out.end(), more.begin() + static_cast<std::ptrdiff_t>(from),
             more.begin() + static_cast<std::ptrdiff_t>(from + n));
}

/* Type-0 header on a one-byte chunk stream id. */
void type0(Bytes &out, int csid, uint32_t ts, uint32_t length, uint8_t type, uint32_t stream)
{
  const bool ext = ts >= 0xffffff;
  const uint32_t field = ext ? 0xffffff : ts;
  append(out, {csid, int(field >> 16 & 0xff), int(field >> 8 & 0xff), int(field & 0xff),
               int(length >> 16 & 0xff), int(length >> 8 & 0xff), int(length & 0xff), type,
               int(stream & 0xff), int(stream >> 8 & 0xff), int(stream >> 16 & 0xff),
               int(stream >> 24 & 0xff)});
  if (ext)
    append(out, {int(ts >> 24), int(ts >> 16 & 0xff), int(ts >> 8 & 0xff), int(ts & 0xff)});
}

struct Parsed
{
  bool ok;
  std::vector<Message> messages;
  std::string error;
};

Parsed parse(const Bytes &data, ChunkLimits limits = {})
{
  ChunkReader reader(limits);
  Parsed p;
  p.ok = reader.feed(data.data(), data.size(), p.messages);
  p.error = reader.error();
  return p;
}

/* The same bytes fed one at a time must give the same messages. */
Parsed parse_bytewise(const Bytes &data, ChunkLimits limits = {})
{
  ChunkReader reader(limits);
  Parsed p{true, {}, {}};
  for (uint8_t b : data) {
    if (!reader.feed(&b, 1, p.messages)) {
      p.ok = false;
      break;
    }
  }
  p.error = reader.error();
  return p;
}

} // namespace

TEST(Chunk, Type0SingleChunkMessage)
{
  Bytes data;
  type0(data, 4, 1000, 5, kVideo, 1);
  append(data, payload(5));
  Parsed p = parse(data);
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.messages.size(), 1u);
  EXPECT_EQ(p.messages[0].chunk_stream, 4u);
  EXPECT_EQ(p.messages[0].type, kVideo);
  EXPECT_EQ(p.messages[0].stream_id, 1u);
  EXPECT_EQ(p.messages[0].timestamp, 1000u);
  EXPECT_EQ(p.messages[0].payload, payload(5));
}

TEST(Chunk, MessageSpanningChunksWithType3Continuations)
{
  const Bytes body = payload(300);
  Bytes data;
  type0(data, 6, 40, 300, kVideo, 1);
  append(data, body, 0, 128);
  append(data, {0xc6}); /* type 3, csid 6 */
  append(data, body, 128, 128);
  append(data, {0xc6});
  append(data, body, 256);
  for (const Parsed &p : {parse(data), parse_bytewise(data)}) {
    ASSERT_TRUE(p.ok) << p.error;
    ASSERT_EQ(p.messages.size(), 1u);
    EXPECT_EQ(p.messages[0].payload, body);
    EXPECT_EQ(p.messages[0].timestamp, 40u);
  }
}

TEST(Chunk, Type1AndType2AddDeltasAndType3RepeatsTheLastDelta)
{
  Bytes data;
  type0(data, 4, 100, 2, kAudio, 1);
  append(data, payload(2));
  append(data, {0x44, 0, 0, 23, 0, 0, 3, kAudio}); /* type 1: delta 23, length 3 */
  append(data, payload(3));
  append(data, {0x84, 0, 0, 21}); /* type 2: delta 21 */
  append(data, payload(3));
  append(data, {0xc4}); /* type 3 starting a message: delta 21 again */
  append(data, payload(3));
  Parsed p = parse(data);
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.messages.size(), 4u);
  EXPECT_EQ(p.messages[0].timestamp, 100u);
  EXPECT_EQ(p.messages[1].timestamp, 123u);
  EXPECT_EQ(p.messages[2].timestamp, 144u);
  EXPECT_EQ(p.messages[3].timestamp, 165u);
  EXPECT_EQ(p.messages[3].payload.size(), 3u);
  EXPECT_EQ(p.messages[3].stream_id, 1u);
}

TEST(Chunk, ExtendedTimestampOnType0AndOnEveryType3Continuation)
{
  const uint32_t ts = 0x01234567; /* past 0xFFFFFF */
  const Bytes body = payload(200);
  Bytes data;
  type0(data, 4, ts, 200, kVideo, 1);
  append(data, body, 0, 128);
  append(data, {0xc4, 0x01, 0x23, 0x45, 0x67}); /* type 3 repeats the extended field */
  append(data, body, 128);
  for (const Parsed &p : {parse(data), parse_bytewise(data)}) {
    ASSERT_TRUE(p.ok) << p.error;
    ASSERT_EQ(p.messages.size(), 1u);
    EXPECT_EQ(p.messages[0].timestamp, ts);
    EXPECT_EQ(p.messages[0].payload, body);
  }
}

TEST(Chunk, ExtendedTimestampExactlyAtTheMarker)
{
  Bytes data;
  type0(data, 4, 0xffffff, 1, kAudio, 1); /* 0xFFFFFF itself needs the extended field */
  append(data, payload(1));
  Parsed p = parse(data);
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.messages[0].timestamp, 0xffffffu);
  EXPECT_EQ(data.size(), 1u + 11 + 4 + 1);
}

TEST(Chunk, ExtendedDeltaOnType1)
{
  Bytes data;
  type0(data, 4, 10, 1, kAudio, 1);
  append(data, payload(1));
  append(data, {0x44, 0xff, 0xff, 0xff, 0, 0, 1, kAudio, 0x01, 0x00, 0x00, 0x00});
  append(data, payload(1));
  Parsed p = parse(data);
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[1].timestamp, 10u + 0x01000000u);
}

TEST(Chunk, TwoAndThreeByteChunkStreamIds)
{
  Bytes data;
  /* csid 64 + 10 = 74 (two-byte form) */
  append(data, {0x00, 10, 0, 0, 1, 0, 0, 1, kAudio, 1, 0, 0, 0, 0xaa});
  /* csid 64 + 0x0102 = 322 (three-byte form, little-endian) */
  append(data, {0x01, 0x02, 0x01, 0, 0, 2, 0, 0, 1, kVideo, 1, 0, 0, 0, 0xbb});
  Parsed p = parse(data);
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[0].chunk_stream, 74u);
  EXPECT_EQ(p.messages[1].chunk_stream, 322u);
  EXPECT_EQ(p.messages[1].timestamp, 2u);
}

TEST(Chunk, InterleavedChunkStreams)
{
  const Bytes video = payload(256, 10), audio = payload(200, 90);
  Bytes data;
  type0(data, 6, 33, 256, kVideo, 1);
  append(data, video, 0, 128);
  type0(data, 4, 30, 200, kAudio, 1);
  append(data, audio, 0, 128);
  append(data, {0xc6});
  append(data, video, 128);
  append(data, {0xc4});
  append(data, audio, 128);
  Parsed p = parse(data);
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[0].type, kVideo);
  EXPECT_EQ(p.messages[0].payload, video);
  EXPECT_EQ(p.messages[1].type, kAudio);
  EXPECT_EQ(p.messages[1].payload, audio);
  EXPECT_EQ(p.messages[1].timestamp, 30u);
}

TEST(Chunk, SetChunkSizeInTheMiddleOfAnotherMessage)
{
  const Bytes body = payload(1128);
  Bytes data;
  type0(data, 6, 0, 1128, kVideo, 1);
  append(data, body, 0, 128); /* first chunk at the default 128 bytes */
  type0(data, 2, 0, 4, kSetChunkSize, 0);
  append(data, {0, 0, 0x03, 0xe8}); /* 1000 */
  append(data, {0xc6});
  append(data, body, 128); /* the remaining 1000 bytes in one chunk */
  for (const Parsed &p : {parse(data), parse_bytewise(data)}) {
    ASSERT_TRUE(p.ok) << p.error;
    ASSERT_EQ(p.messages.size(), 2u);
    EXPECT_EQ(p.messages[0].type, kSetChunkSize);
    EXPECT_EQ(p.messages[1].payload, body);
  }
}

TEST(Chunk, AbortDropsThePartialMessage)
{
  Bytes data;
  type0(data, 6, 0, 300, kVideo, 1);
  append(data, payload(128));
  type0(data, 2, 0, 4, kAbort, 0);
  append(data, {0, 0, 0, 6});
  append(data, {0x46, 0, 0, 5, 0, 0, 2, kVideo}); /* a new message on csid 6: type 1 is fine */
  append(data, payload(2));
  Parsed p = parse(data);
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.messages.size(), 2u);
  EXPECT_EQ(p.messages[1].payload.size(), 2u);
  EXPECT_EQ(p.messages[1].timestamp, 5u);
}

TEST(Chunk, TruncatedInputWaitsForMoreAndNeverInvents)
{
  Bytes data;
  type0(data, 4, 7, 50, kAudio, 1);
  append(data, payload(50));
  for (size_t cut = 0; cut < data.size(); ++cut) {
    Bytes part(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(cut));
    Parsed p = parse(part);
    EXPECT_TRUE(p.ok) << "cut at " << cut << ": " << p.error;
    EXPECT_TRUE(p.messages.empty()) << "cut at " << cut;
  }
}

TEST(Chunk, OversizedMessageIsRefusedBeforeItsBytesArrive)
{
  Bytes data;
  type0(data, 4, 0, 0xfffff0, kVideo, 1);
  Parsed p = parse(data, ChunkLimits{.max_message_size = 1024 * 1024});
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.error,
            "message of 16777200 bytes on chunk stream 4 exceeds the limit of 1048576 bytes");
}

TEST(Chunk, DeclaredLengthDoesNotSizeAnAllocation)
{
  /* 60 chunk streams each announce a 16 MiB message and send its first
   * 128-byte chunk: 8 KB on the wire. Reserving the declared lengths took
   * 1 GiB; now each stream holds what arrived. */
  Bytes data;
  for (int csid = 3; csid < 63; ++csid) {
    type0(data, csid, 0, 0xffffff, 9, 1);
    append(data, payload(128));
  }
  ChunkReader reader;
  std::vector<Message> messages;
  sugarcast::test::largest_allocation = 0;
  ASSERT_TRUE(reader.feed(data.data(), data.size(), messages)) << reader.error();
  EXPECT_TRUE(messages.empty());
  EXPECT_LT(sugarcast::test::largest_allocation.load(), 64u * 1024);
}

TEST(Chunk, ChunkSizeAboveTheLimitOrZeroIsRefused)
{
  for (uint32_t size : {0u, 0x7fffffffu}) {
    Bytes data;
    type0(data, 2, 0, 4, kSetChunkSize, 0);
    append(data,
           {int(size >> 24), int(size >> 16 & 0xff), int(size >> 8 & 0xff), int(size & 0xff)});
    Parsed p = parse(data);
    EXPECT_FALSE(p.ok);
    EXPECT_NE(p.error.find("Set Chunk Size to " + std::to_string(size)), std::string::npos)
        << p.error;
  }
}

TEST(Chunk, HeaderTypesThatNeedHistoryAreRefusedWithoutIt)
{
  Parsed p = parse({0x44, 0, 0, 1, 0, 0, 1, kAudio, 0});
  EXPECT_FALSE(p.ok);
  EXPECT_EQ(p.error, "chunk type 1 on chunk stream 4, which has had no type-0 header");
  p = parse({0xc5});
  EXPECT_FALSE(p.ok);
}

TEST(Chunk, NewHeaderInTheMiddleOfAMessageIsRefused)
{
  Bytes data;
  type0(data, 6, 0, 300, kVideo, 1);
  append(data, payload(128));
  type0(data, 6, 0, 10, kVideo, 1);
  append(data, payload(10));
  Parsed p = parse(data);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.error.find("in the middle of a 300-byte message (128 bytes received)"),
            std::string::npos)
      << p.error;
}

TEST(Chunk, TooManyChunkStreamsAreRefused)
{
  Bytes data;
  for (int i = 0; i < 70; ++i) {
    append(data, {0x00, i, 0, 0, 0, 0, 0, 1, kAudio, 1, 0, 0, 0});
    data.push_back(0);
  }
  Parsed p = parse(data);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.error.find("more than 64 chunk streams"), std::string::npos) << p.error;
}

TEST(Chunk, ReaderStaysFailed)
{
  ChunkReader reader;
  std::vector<Message> out;
  const uint8_t bad[] = {0x44, 0, 0, 1, 0, 0, 1, kAudio, 0};
  EXPECT_FALSE(reader.feed(bad, sizeof bad, out));
  Bytes good;
  type0(good, 4, 0, 1, kAudio, 1);
  good.push_back(1);
  EXPECT_FALSE(reader.feed(good.data(), good.size(), out));
  EXPECT_TRUE(out.empty());
}

TEST(Chunk, WriterOutputParsesBackWithCompressedHeaders)
{
  ChunkWriter writer;
  writer.set_chunk_size(100);
  std::vector<Message> sent;
  uint32_t ts = 0;
  for (int i = 0; i < 20; ++i) {
    Message m;
    m.chunk_stream = i % 2 ? 4 : 6;
    m.type = i % 2 ? kAudio : kVideo;
    m.stream_id = 1;
    ts += i < 10 ? 33 : 0x00800000; /* the second half crosses the extended threshold */
    m.timestamp = ts;
    m.payload = payload(static_cast<size_t>(50 + 37 * i), static_cast<uint8_t>(i));
    sent.push_back(m);
  }
  Bytes data;
  for (const auto &m : sent)
    writer.write(m, data);
  ChunkReader reader;
  std::vector<Message> got;
  const Message size = make_set_chunk_size(100);
  Bytes prefix;
  ChunkWriter().write(size, prefix);
  ASSERT_TRUE(reader.feed(prefix.data(), prefix.size(), got));
  got.clear();
  ASSERT_TRUE(reader.feed(data.data(), data.size(), got)) << reader.error();
  ASSERT_EQ(got.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(got[i].timestamp, sent[i].timestamp) << i;
    EXPECT_EQ(got[i].payload, sent[i].payload) << i;
    EXPECT_EQ(got[i].type, sent[i].type) << i;
  }
}

/* A socket hands over bytes cut anywhere: a chunk header alone, a header and
 * part of its payload, several chunks and a piece of the next. Every way of
 * cutting the same stream gives the same messages. */
TEST(Chunk, TheSameMessagesWhereverTheInputIsCut)
{
  ChunkWriter writer;
  writer.set_chunk_size(64);
  std::vector<Message> sent;
  Bytes data;
  ChunkWriter().write(make_set_chunk_size(64), data);
  for (int i = 0; i < 6; ++i) {
    Message m;
    m.chunk_stream = i % 2 ? 4 : 6;
    m.type = i % 2 ? kAudio : kVideo;
    m.stream_id = 1;
    m.timestamp = i < 3 ? 40u * i : 0x01000000u + 40u * i; /* extended ones too */
    m.payload = payload(static_cast<size_t>(20 + 45 * i), static_cast<uint8_t>(i));
    sent.push_back(m);
    writer.write(m, data);
  }
  auto check = [&sent](const std::vector<Message> &got, const std::string &how) {
    ASSERT_EQ(got.size(), sent.size() + 1) << how; /* + Set Chunk Size */
    for (size_t i = 0; i < sent.size(); ++i) {
      EXPECT_EQ(got[i + 1].payload, sent[i].payload) << how << ", message " << i;
      EXPECT_EQ(got[i + 1].timestamp, sent[i].timestamp) << how << ", message " << i;
    }
  };
  for (size_t cut = 0; cut <= data.size(); ++cut) {
    ChunkReader reader;
    std::vector<Message> got;
    ASSERT_TRUE(reader.feed(data.data(), cut, got)) << reader.error();
    ASSERT_TRUE(reader.feed(data.data() + cut, data.size() - cut, got)) << reader.error();
    EXPECT_EQ(reader.buffered(), 0u);
    check(got, "cut at " + std::to_string(cut));
  }
  for (size_t step : {2u, 3u, 7u, 12u, 13u, 65u, 100u}) {
    ChunkReader reader;
    std::vector<Message> got;
    for (size_t at = 0; at < data.size(); at += step)
      ASSERT_TRUE(reader.feed(data.data() + at, std::min(step, data.size() - at), got))
          << reader.error();
    check(got, "pieces of " + std::to_string(step));
  }
}
