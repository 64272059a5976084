/* Sugarcast RTMP — the server side of the RTMP handshake. */
#include "handshake.h"

#include <glib.h>

#include <algorithm>
#include <cstring>

namespace sugarcast::rtmp {

namespace handshake_keys {

#define SUGARCAST_HANDSHAKE_KEY_TAIL                                                               \
  "\xf0\xee\xc2\x4a\x80\x68\xbe\xe8\x2e\x00\xd0\xd1\x02\x9e\x7e\x57"                               \
  "\x6e\xec\x5d\x2d\x29\x80\x6f\xab\x93\xb8\xe6\x36\xcf\xeb\x31\xae"

namespace {
const char player_key[] = "Genuine Adobe Flash Player 001" SUGARCAST_HANDSHAKE_KEY_TAIL;
const char server_key[] = "Genuine Adobe Flash Media Server 001" SUGARCAST_HANDSHAKE_KEY_TAIL;
static_assert(sizeof player_key - 1 == kFlashPlayerKeySize);
static_assert(sizeof server_key - 1 == kFlashServerKeySize);
} // namespace

#undef SUGARCAST_HANDSHAKE_KEY_TAIL

const uint8_t *const kFlashPlayerKey = reinterpret_cast<const uint8_t *>(player_key);
const uint8_t *const kFlashServerKey = reinterpret_cast<const uint8_t *>(server_key);

} // namespace handshake_keys

using namespace handshake_keys;

size_t digest_offset(const uint8_t *block, int scheme)
{
  const size_t base = scheme == 0 ? 8 : 772;
  const size_t sum = size_t(block[base]) + block[base + 1] + block[base + 2] + block[base + 3];
  return sum % 728 + base + 4;
}

namespace {

/* HMAC-SHA256 over up to two byte ranges. */
std::array<uint8_t, kDigestSize> hmac_ranges(const uint8_t *key, size_t key_size, const uint8_t *a,
                                             size_t a_size, const uint8_t *b, size_t b_size)
{
  std::array<uint8_t, kDigestSize> digest{};
  GHmac *hmac = g_hmac_new(G_CHECKSUM_SHA256, key, key_size);
  g_hmac_update(hmac, a, static_cast<gssize>(a_size));
  if (b_size)
    g_hmac_update(hmac, b, static_cast<gssize>(b_size));
  gsize length = digest.size();
  g_hmac_get_digest(hmac, digest.data(), &length);
  g_hmac_unref(hmac);
  return digest;
}

} // namespace

std::array<uint8_t, kDigestSize> hmac_sha256(const uint8_t *key, size_t key_size,
                                             const uint8_t *data, size_t size)
{
  return hmac_ranges(key, key_size, data, size, nullptr, 0);
}

std::array<uint8_t, kDigestSize> block_digest(const uint8_t *block, size_t offset,
                                              const uint8_t *key, size_t key_size)
{
  return hmac_ranges(key, key_size, block, offset, block + offset + kDigestSize,
                     kHandshakeSize - offset - kDigestSize);
}

namespace {

void fill_random(uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i += 4) {
    const guint32 r = g_random_int();
    std::memcpy(p + i, &r, std::min<size_t>(4, n - i));
  }
}

void put_u32(uint8_t *p, uint32_t v)
{
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

} // namespace

void ServerHandshake::answer(const uint8_t *c1, std::vector<uint8_t> &out)
{
  client_version_ = uint32_t(c1[4]) << 24 | uint32_t(c1[5]) << 16 | uint32_t(c1[6]) << 8 | c1[7];
  std::array<uint8_t, kDigestSize> client_digest{};
  if (client_version_ != 0) {
    for (int scheme : {1, 0}) {
      const size_t offset = digest_offset(c1, scheme);
      const auto expected = block_digest(c1, offset, kFlashPlayerKey, kFlashPlayerKeyShort);
      if (std::memcmp(expected.data(), c1 + offset, kDigestSize) == 0) {
        scheme_ = scheme;
        std::memcpy(client_digest.data(), c1 + offset, kDigestSize);
        break;
      }
    }
  }

  const size_t start = out.size();
  out.resize(start + 1 + 2 * kHandshakeSize);
  uint8_t *s0 = out.data() + start;
  uint8_t *s1 = s0 + 1;
  uint8_t *s2 = s1 + kHandshakeSize;
  s0[0] = 3;
  const uint32_t now = static_cast<uint32_t>(g_get_monotonic_time() / 1000);
  put_u32(s1, now);
  fill_random(s1 + 8, kHandshakeSize - 8);

  if (scheme_ < 0) {
    put_u32(s1 + 4, 0);
    std::memcpy(s2, c1, kHandshakeSize);
    put_u32(s2 + 4, now);
    return;
  }

  put_u32(s1 + 4, 0x04050001); /* a server version, as Flash Media Server sends */
  const size_t offset = digest_offset(s1, scheme_);
  const auto s1_digest = block_digest(s1, offset, kFlashServerKey, kFlashServerKeyShort);
  std::memcpy(s1 + offset, s1_digest.data(), kDigestSize);

  fill_random(s2, kHandshakeSize - kDigestSize);
  const auto key =
      hmac_sha256(kFlashServerKey, kFlashServerKeySize, client_digest.data(), kDigestSize);
  const auto s2_digest = hmac_sha256(key.data(), key.size(), s2, kHandshakeSize - kDigestSize);
  std::memcpy(s2 + kHandshakeSize - kDigestSize, s2_digest.data(), kDigestSize);
}

size_t ServerHandshake::feed(const uint8_t *data, size_t size, std::vector<uint8_t> &out)
{
  size_t used = 0;
  while (used < size && (state_ == State::WaitC0C1 || state_ == State::WaitC2)) {
    if (state_ == State::WaitC0C1 && pending_.empty()) {
      const uint8_t version = data[used];
      if (version != 3) {
        state_ = State::Failed;
        if (version == 6 || version == 8)
          error_ = "the client asked for encrypted RTMPE (version " + std::to_string(version) +
                   "), which is not supported; use RTMPS";
        else
          error_ =
              "not an RTMP client: handshake version " + std::to_string(version) + ", expected 3";
        return used;
      }
    }
    const size_t want = state_ == State::WaitC0C1 ? 1 + kHandshakeSize : kHandshakeSize;
    const size_t take = std::min(want - pending_.size(), size - used);
    pending_.insert(pending_.end(), data + used, data + used + take);
    used += take;
    if (pending_.size() < want)
      break;
    if (state_ == State::WaitC0C1) {
      answer(pending_.data() + 1, out);
      state_ = State::WaitC2;
    } else {
      state_ = State::Done;
    }
    pending_.clear();
  }
  return used;
}

} // namespace sugarcast::rtmp
