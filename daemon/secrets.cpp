/* sugarcastd — random identifiers and secrets. See secrets.h. */
#include "secrets.h"

#include <glib.h>

#include <sys/random.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

namespace sugarcast {

namespace {

std::vector<unsigned char> random_bytes(size_t n)
{
  std::vector<unsigned char> out(n);
  size_t filled = 0;
  while (filled < n) {
    ssize_t got = getrandom(out.data() + filled, n - filled, 0);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      g_error("getrandom failed: %s", g_strerror(errno)); /* no safe fallback */
    filled += static_cast<size_t>(got);
  }
  return out;
}

} // namespace

std::string random_token(size_t bytes)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::vector<unsigned char> raw = random_bytes(bytes);
  std::string out;
  unsigned bits = 0, value = 0;
  for (unsigned char b : raw) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(value >> bits) & 63];
    }
  }
  if (bits > 0)
    out += alphabet[(value << (6 - bits)) & 63];
  return out;
}

std::string random_id(size_t length)
{
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::vector<unsigned char> raw = random_bytes(length);
  std::string out;
  for (unsigned char b : raw)
    out += alphabet[b & 31];
  return out;
}

std::string new_stream_key()
{
  return "sk_" + random_token(32);
}

std::string sha256_hex(const std::string &text)
{
  g_autofree gchar *hex = g_compute_checksum_for_data(
      G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(text.data()), text.size());
  return hex;
}

std::string redact_key(const std::string &key)
{
  return key.substr(0, std::min<size_t>(6, key.size() / 4)) + "\u2026(" +
         std::to_string(key.size()) + ")";
}

} // namespace sugarcast
