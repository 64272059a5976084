/* sugarcastd — random identifiers and secrets, and how keys are stored.
 *
 * Everything comes from the kernel's CSPRNG (getrandom). Stream keys are
 * stored as their SHA-256: a leaked database does not leak the keys. */
#pragma once

#include <string>

namespace sugarcast {

/* `bytes` random bytes as URL-safe base64 without padding. */
std::string random_token(size_t bytes);
/* An id for URLs: `length` characters of lower-case base32 (a-z, 2-7). */
std::string random_id(size_t length = 10);
/* "sk_" and 32 random bytes: what an encoder pushes with. */
std::string new_stream_key();
/* Lower-case hex SHA-256 of `text`. */
std::string sha256_hex(const std::string &text);
/* The first characters of a key and its length, for logs: "sk_Ab3…(46)". */
std::string redact_key(const std::string &key);

} // namespace sugarcast
