/* sugarcastd chat — user tokens: HS256 JSON Web Tokens (RFC 7519).
 *
 * The platform signs tokens with the secret it shares with the daemon
 * (chat.jwt_secret or SUGARCAST_JWT_SECRET). Claims used: sub (user id),
 * name (shown in chat; defaults to sub), role (viewer, creator, moderator, streamer,
 * admin), stream (the one stream a moderator's or streamer's role holds in),
 * exp (Unix seconds; required), nbf (not before, Unix seconds; optional),
 * aud and iss (checked against chat.jwt_audience / chat.jwt_issuer when
 * those are set; a token with an aud is refused when no audience is set,
 * as RFC 7519 4.1.3 says). The header's alg must be HS256: "none" and every
 * other algorithm are refused, and signatures are compared in constant time.
 */
#pragma once

#include "role.h"

#include <cstdint>
#include <optional>
#include <string>

namespace sugarcast::chat {

struct TokenClaims
{
  std::string user_id;
  std::string name;
  Role role = Role::Viewer;
  std::string stream;     /* "" when the token names none */
  int64_t expires_at = 0; /* Unix seconds */
};

/* What else a token must say to be accepted; "" is not checked. */
struct TokenRules
{
  std::string audience; /* chat.jwt_audience: aud must be it, or a list holding it */
  std::string issuer;   /* chat.jwt_issuer: iss must be it */
};

/* The role a token's holder has in `stream`: admin everywhere; moderator
 * and streamer only in the stream the token names (elsewhere, and when it
 * names none, a viewer). */
Role role_in_stream(const TokenClaims &claims, const std::string &stream);

struct TokenCheck
{
  std::optional<TokenClaims> claims;
  std::string error; /* why not, for the person holding the token */
  bool expired = false;
};

/* `now`: Unix seconds. */
TokenCheck verify_token(const std::string &token, const std::string &secret, int64_t now,
                        const TokenRules &rules = {});

/* A signed token (sugarcastd token, tests, the benchmark); `stream`,
 * `rules.audience` and `rules.issuer` become claims when not empty. */
std::string mint_token(const std::string &secret, const std::string &user_id,
                       const std::string &name, Role role, int64_t expires_at,
                       const std::string &stream = "", const TokenRules &rules = {});

std::string base64url_encode(std::string_view data);
bool base64url_decode(std::string_view text, std::string &out);

} // namespace sugarcast::chat
