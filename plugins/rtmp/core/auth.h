/* Sugarcast RTMP — publish authentication building blocks.
 *
 * - stream keys, compared in constant time (SHA-256 of both sides, so not
 *   even the length leaks) and never logged whole (redact());
 * - signed expiring tokens: the publisher appends `?exp=UNIX&sig=HEX` to the
 *   stream name, where HEX is the lower-case hex HMAC-SHA256, keyed with the
 *   shared secret, of the string "APP/STREAM:EXP" (the application, a slash,
 *   the stream name without the query, a colon, the decimal expiry exactly as
 *   sent) — so a token for live/cam1 does not publish to other/cam1;
 * - an HTTP callback like nginx-rtmp's on_publish (AuthUrlCheck), with a
 *   timeout that refuses;
 * - FailureThrottle, which delays refusals to an address that keeps failing.
 */
#pragma once

#include "consttime.h"
#include "protocol.h"

#include <gio/gio.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace sugarcast::rtmp {

/* True when a and b are equal; the time taken does not depend on where
 * they differ (plugins/common/consttime.h, shared with the daemon). */
using sugarcast::constant_time_equal;

/* "a, b,,c" → {"a","b","c"} */
std::vector<std::string> parse_key_list(const std::string &list);

/* A secret as it may appear in logs: its first characters and its length. */
std::string redact(const std::string &secret);

/* "APP/STREAM:EXP", the string a token signs. */
std::string signed_string(const std::string &app, const std::string &stream,
                          const std::string &exp);
/* The signature of a token for app, stream and expiry (seconds since 1970). */
std::string sign_stream(const std::string &secret, const std::string &app,
                        const std::string &stream, int64_t expires);

/* exp as sent: decimal digits only that fit an int64_t; nullopt otherwise (never throws). */
std::optional<int64_t> parse_expiry(const std::string &exp);

enum class TokenCheck { Valid, Missing, Malformed, Expired, BadSignature };
const char *token_check_reason(TokenCheck result);
/* Checks the exp and sig arguments of a publish (for its app and stream)
 * against secret at time now. Never throws: any input gives an answer. */
TokenCheck check_token(const std::string &secret, const PublishInfo &info, int64_t now) noexcept;

/* Slows down addresses that keep failing: the first failure is answered at
 * once, then each further one waits twice as long as the one before (250 ms,
 * 500 ms, ... up to max_delay). An address is forgiven after `forget` without
 * failures, or at its next success. */
class FailureThrottle
{
public:
  using Clock = std::chrono::steady_clock;
  explicit FailureThrottle(std::chrono::milliseconds max_delay = std::chrono::seconds(8),
                           std::chrono::seconds forget = std::chrono::minutes(10))
      : max_delay_(max_delay), forget_(forget)
  {}
  /* Records a failure from host and returns how long to wait before refusing. */
  std::chrono::milliseconds failure(const std::string &host, Clock::time_point now = Clock::now());
  void success(const std::string &host);
  size_t tracked() const { return failures_.size(); }

private:
  struct Entry
  {
    unsigned count = 0;
    Clock::time_point last;
  };
  std::chrono::milliseconds max_delay_;
  std::chrono::seconds forget_;
  std::unordered_map<std::string, Entry> failures_;
};

/* The host part of "1.2.3.4:5678" or "[::1]:5678". */
std::string address_host(const std::string &address);

/* The outcome of one authentication step. */
struct AuthDecision
{
  bool allow = false;
  std::string reason; /* why it was refused, for the publisher and the log */
};
using AuthDone = std::function<void(AuthDecision)>;

/* POSTs the publish to an HTTP URL the way nginx-rtmp's on_publish does
 * (application/x-www-form-urlencoded: call=publish, app, name, type, addr,
 * tcurl, flashver, then the publish's query arguments); a 2xx answer allows,
 * anything else, an error or no answer within timeout refuses. Runs on the
 * thread-default main context of the thread that creates it, which must be
 * the thread calling check(). */
class AuthUrlCheck
{
public:
  AuthUrlCheck();
  ~AuthUrlCheck();
  AuthUrlCheck(const AuthUrlCheck &) = delete;
  AuthUrlCheck &operator=(const AuthUrlCheck &) = delete;

  void check(const std::string &url, const PublishInfo &info, std::chrono::milliseconds timeout,
             AuthDone done);
  /* Abandons every check in flight; their callbacks are not called. */
  void cancel_all();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/* The request body AuthUrlCheck sends. */
std::string auth_url_form(const PublishInfo &info);

} // namespace sugarcast::rtmp
