/* sugarcastd — what both servers of the HTTP port (libsoup's, http.h, and
 * the media fast path's, fastpath.h) answer alike: the JSON error body and
 * the CORS rule. Pure functions, no libsoup, so that the fast path needs
 * nothing of the libsoup server. */
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sugarcast {

/* The text of a JSON error: {"error":{"code":CODE,"message":MESSAGE}} and a newline. */
std::string error_json(const char *code, const std::string &message);

/* CORS, one rule for every server of the port. The Access-Control-Allow-Origin
 * to send to a request from ORIGIN ("" when it named none) under ALLOWED
 * (http.cors_origins): "*", the origin itself (then `vary_origin` is set:
 * answers differ by origin), or "" for no CORS headers. */
std::string_view cors_allow_origin(const std::vector<std::string> &allowed, std::string_view origin,
                                   bool &vary_origin);
/* What a preflight reply allows besides the methods. */
inline constexpr const char *kPreflightAllowHeaders = "Authorization, Content-Type, Range";
inline constexpr const char *kPreflightMaxAge = "600";

} // namespace sugarcast
