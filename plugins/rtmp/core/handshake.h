/* Sugarcast RTMP — the server side of the RTMP handshake.
 *
 * Both handshakes publishers use:
 * - plain: C0 (version 3) + C1 (time, zero, 1528 random bytes); the server
 *   answers S0 + S1 + S2 (S2 echoes C1) and waits for C2.
 * - digest ("complex", Flash Player 9+): C1 carries a non-zero version and
 *   an HMAC-SHA256 digest at an offset derived from its own bytes (scheme 0:
 *   from bytes 8..11, scheme 1: from bytes 772..775), keyed with the
 *   "Genuine Adobe Flash Player 001" key. librtmp clients (OBS) check that S1
 *   carries a digest keyed with "Genuine Adobe Flash Media Server 001" at the
 *   same scheme's offset, and that S2's last 32 bytes are an HMAC of S2 keyed
 *   with HMAC(full server key, C1's digest). A C1 whose version is non-zero
 *   but whose digest matches neither scheme is answered plainly, as
 *   nginx-rtmp does.
 * C2 is read but not verified: clients differ in what they put there.
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sugarcast::rtmp {

constexpr size_t kHandshakeSize = 1536;
constexpr size_t kDigestSize = 32;

/* The handshake's key material, public so that tests and tools can act as a
 * client. */
namespace handshake_keys {
constexpr size_t kFlashPlayerKeySize = 62;
constexpr size_t kFlashServerKeySize = 68;
extern const uint8_t *const kFlashPlayerKey; /* the first 30 bytes sign C1 */
extern const uint8_t *const kFlashServerKey; /* the first 36 bytes sign S1 */
constexpr size_t kFlashPlayerKeyShort = 30;
constexpr size_t kFlashServerKeyShort = 36;
} // namespace handshake_keys

/* Where scheme 0 or 1 puts the digest in a 1536-byte C1/S1. */
size_t digest_offset(const uint8_t *block, int scheme);
/* HMAC-SHA256 of block without the 32 bytes at offset. */
std::array<uint8_t, kDigestSize> block_digest(const uint8_t *block, size_t offset,
                                              const uint8_t *key, size_t key_size);
std::array<uint8_t, kDigestSize> hmac_sha256(const uint8_t *key, size_t key_size,
                                             const uint8_t *data, size_t size);

class ServerHandshake
{
public:
  enum class State { WaitC0C1, WaitC2, Done, Failed };

  /* Consumes handshake bytes from data and returns how many it used; bytes
   * past the end of C2 belong to the chunk stream. Whatever must be sent to
   * the client is appended to out. */
  size_t feed(const uint8_t *data, size_t size, std::vector<uint8_t> &out);

  State state() const { return state_; }
  bool done() const { return state_ == State::Done; }
  bool failed() const { return state_ == State::Failed; }
  const std::string &error() const { return error_; }
  /* -1 plain, 0 or 1 the digest scheme the client used. */
  int scheme() const { return scheme_; }
  /* The client's C1 version field, e.g. 0x80000702 for ffmpeg; 0 for plain. */
  uint32_t client_version() const { return client_version_; }

private:
  void answer(const uint8_t *c1, std::vector<uint8_t> &out);

  State state_ = State::WaitC0C1;
  std::vector<uint8_t> pending_;
  std::string error_;
  int scheme_ = -1;
  uint32_t client_version_ = 0;
};

} // namespace sugarcast::rtmp
