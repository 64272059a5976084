/* sugarcastd chat — user tokens: HS256 JSON Web Tokens (RFC 7519).
 *
 * The platform signs tokens with the secret it shares with the daemon
 * (chat.jwt_secret or SUGARCAST_JWT_SECRET). Claims used: sub (user id),
 * name (shown in chat; defaults to sub), role (viewer, moderator, streamer,
 * admin) and exp (Unix seconds; required). The header's alg must be HS256:
 * "none" and every other algorithm are refused, and signatures are compared
 * in constant time.
 */
#pragma once

#include "protocol.h"

#include <cstdint>
#include <optional>
#include <string>

namespace sugarcast::chat {

struct TokenClaims
{
  std::string user_id;
  std::string name;
  Role role = Role::Viewer;
  int64_t expires_at = 0; /* Unix seconds */
};

struct TokenCheck
{
  std::optional<TokenClaims> claims;
  std::string error; /* why not, for the person holding the token */
  bool expired = false;
};

/* `now`: Unix seconds. */
TokenCheck verify_token(const std::string &token, const std::string &secret, int64_t now);

/* A signed token (sugarcastd token, tests, the benchmark). */
std::string mint_token(const std::string &secret, const std::string &user_id,
                       const std::string &name, Role role, int64_t expires_at);

std::string base64url_encode(std::string_view data);
bool base64url_decode(std::string_view text, std::string &out);

} // namespace sugarcast::chat
