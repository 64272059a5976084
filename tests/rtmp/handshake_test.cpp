/* The server handshake, checked the way clients check it. The digest
 * arithmetic here is written from the description of the Flash Player 9
 * handshake, independently of plugins/rtmp/core/handshake.cpp. */
#include "handshake.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <cstring>

using namespace sugarcast::rtmp;

namespace {

using Bytes = std::vector<uint8_t>;
constexpr size_t N = 1536;

const uint8_t kTail[32] = {0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0,
                           0xd1, 0x02, 0x9e, 0x7e, 0x57, 0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80,
                           0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae};

Bytes key(const char *text, bool with_tail)
{
  Bytes k(text, text + std::strlen(text));
  if (with_tail)
    k.insert(k.end(), kTail, kTail + 32);
  return k;
}

Bytes hmac(const Bytes &k, const Bytes &data)
{
  GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, k.data(), k.size());
  g_hmac_update(h, data.data(), static_cast<gssize>(data.size()));
  Bytes out(32);
  gsize len = 32;
  g_hmac_get_digest(h, out.data(), &len);
  g_hmac_unref(h);
  return out;
}

size_t offset_of(const uint8_t *block, int scheme)
{
  const size_t base = scheme == 0 ? 8 : 772;
  return (block[base] + block[base + 1] + block[base + 2] + block[base + 3]) % 728 + base + 4;
}

Bytes without_digest(const uint8_t *block, size_t at)
{
  Bytes b(block, block + at);
  b.insert(b.end(), block + at + 32, block + N);
  return b;
}

/* C0 + C1 as a Flash Player 9 client (librtmp, OBS) sends it. */
Bytes digest_c0c1(int scheme, Bytes *digest_out)
{
  Bytes c(1 + N);
  c[0] = 3;
  for (size_t i = 1; i < c.size(); ++i)
    c[i] = static_cast<uint8_t>(g_random_int());
  uint8_t *c1 = c.data() + 1;
  std::memset(c1, 0, 4);
  c1[4] = 9, c1[5] = 0, c1[6] = 124, c1[7] = 2; /* 9.0.124.2 */
  const size_t at = offset_of(c1, scheme);
  Bytes d = hmac(key("Genuine Adobe Flash Player 001", false), without_digest(c1, at));
  std::memcpy(c1 + at, d.data(), 32);
  *digest_out = d;
  return c;
}

Bytes run(ServerHandshake &hs, const Bytes &in, size_t *used = nullptr)
{
  Bytes out;
  size_t u = hs.feed(in.data(), in.size(), out);
  if (used)
    *used = u;
  return out;
}

} // namespace

TEST(Handshake, PlainHandshakeEchoesC1AndWaitsForC2)
{
  Bytes c0c1(1 + N, 0);
  c0c1[0] = 3;
  for (size_t i = 9; i < c0c1.size(); ++i)
    c0c1[i] = static_cast<uint8_t>(i * 7);
  ServerHandshake hs;
  Bytes out = run(hs, c0c1);
  ASSERT_EQ(out.size(), 1 + 2 * N);
  EXPECT_EQ(out[0], 3);
  EXPECT_EQ(hs.state(), ServerHandshake::State::WaitC2);
  EXPECT_EQ(hs.scheme(), -1);
  /* S2 echoes C1's time and random bytes. */
  EXPECT_TRUE(std::equal(c0c1.begin() + 1, c0c1.begin() + 5, out.begin() + 1 + N));
  EXPECT_TRUE(std::equal(c0c1.begin() + 9, c0c1.end(), out.begin() + 1 + N + 8));

  Bytes c2(out.begin() + 1, out.begin() + 1 + N); /* clients echo S1 */
  c2.push_back(0x02);                             /* first byte of the chunk stream */
  size_t used = 0;
  EXPECT_TRUE(run(hs, c2, &used).empty());
  EXPECT_TRUE(hs.done());
  EXPECT_EQ(used, N) << "bytes after C2 belong to the chunk stream";
}

TEST(Handshake, ByteByByteGivesTheSameAnswer)
{
  Bytes c0c1(1 + N, 5);
  c0c1[0] = 3;
  c0c1[5] = c0c1[6] = c0c1[7] = c0c1[8] = 0;
  ServerHandshake hs;
  Bytes out;
  for (uint8_t b : c0c1)
    hs.feed(&b, 1, out);
  EXPECT_EQ(out.size(), 1 + 2 * N);
  for (size_t i = 0; i < N; ++i)
    hs.feed(&c0c1[1], 1, out);
  EXPECT_TRUE(hs.done());
}

class DigestHandshake : public ::testing::TestWithParam<int>
{
};

TEST_P(DigestHandshake, ServerAnswersWithDigestsAClientVerifies)
{
  const int scheme = GetParam();
  Bytes c1_digest;
  Bytes c0c1 = digest_c0c1(scheme, &c1_digest);
  ServerHandshake hs;
  Bytes out = run(hs, c0c1);
  ASSERT_EQ(out.size(), 1 + 2 * N);
  EXPECT_EQ(hs.scheme(), scheme);
  EXPECT_EQ(hs.client_version(), 0x09007c02u);

  const uint8_t *s1 = out.data() + 1;
  const uint8_t *s2 = s1 + N;
  EXPECT_NE(std::memcmp(s1 + 4, "\0\0\0\0", 4), 0) << "S1 must carry a server version";
  /* librtmp: the digest in S1 at the client's scheme, keyed with the short server key */
  const size_t at = offset_of(s1, scheme);
  Bytes expected = hmac(key("Genuine Adobe Flash Media Server 001", false), without_digest(s1, at));
  EXPECT_EQ(Bytes(s1 + at, s1 + at + 32), expected) << "S1 digest";
  /* librtmp: S2's last 32 bytes, keyed with HMAC(full server key, C1 digest) */
  Bytes k2 = hmac(key("Genuine Adobe Flash Media Server 001", true), c1_digest);
  Bytes s2_digest = hmac(k2, Bytes(s2, s2 + N - 32));
  EXPECT_EQ(Bytes(s2 + N - 32, s2 + N), s2_digest) << "S2 digest";
}

INSTANTIATE_TEST_SUITE_P(Schemes, DigestHandshake, ::testing::Values(0, 1));

TEST(Handshake, VersionWithoutAValidDigestIsAnsweredPlainly)
{
  Bytes c0c1(1 + N, 0x11);
  c0c1[0] = 3;
  ServerHandshake hs;
  Bytes out = run(hs, c0c1);
  EXPECT_EQ(hs.scheme(), -1);
  EXPECT_TRUE(std::equal(c0c1.begin() + 9, c0c1.end(), out.begin() + 1 + N + 8));
}

TEST(Handshake, RtmpeAndGarbageAreRefusedWithAReason)
{
  ServerHandshake rtmpe;
  run(rtmpe, Bytes(1537, 6));
  EXPECT_TRUE(rtmpe.failed());
  EXPECT_NE(rtmpe.error().find("RTMPE"), std::string::npos);

  ServerHandshake http;
  Bytes get = {'G', 'E', 'T', ' ', '/'};
  Bytes out = run(http, get);
  EXPECT_TRUE(http.failed());
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(http.error(), "not an RTMP client: handshake version 71, expected 3");
}

TEST(Handshake, LibraryDigestHelpersMatchTheDescription)
{
  Bytes block(N);
  for (size_t i = 0; i < N; ++i)
    block[i] = static_cast<uint8_t>(i * 31 + 7);
  for (int scheme : {0, 1})
    EXPECT_EQ(digest_offset(block.data(), scheme), offset_of(block.data(), scheme));
}
