/* Publish authentication: keys, tokens, the failure throttle, the auth-url form. */
#include "auth.h"

#include <gtest/gtest.h>

using namespace sugarcast::rtmp;
using namespace std::chrono_literals;

namespace {

PublishInfo publish(const std::string &stream, const std::string &query)
{
  PublishInfo info;
  info.app = "live";
  info.stream = stream;
  info.query = query;
  info.args = parse_query(query);
  info.client_address = "10.1.2.3:4444";
  info.tc_url = "rtmp://h/live";
  info.encoder = "obs";
  info.publish_type = "live";
  return info;
}

} // namespace

TEST(Auth, KeysCompareEqualOnlyWhenEqual)
{
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Auth, KeyListIsCommaSeparatedAndTrimmed)
{
  EXPECT_EQ(parse_key_list("a,b"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(parse_key_list(" a , ,b,"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(parse_key_list("").empty());
}

TEST(Auth, RedactedKeysNeverShowWhole)
{
  for (std::string key : {"q", "secret", "live_123456789_abcdefghijk"}) {
    const std::string shown = redact(key);
    EXPECT_EQ(shown.find(key), std::string::npos) << shown;
    EXPECT_NE(shown.find(std::to_string(key.size()) + " chars"), std::string::npos) << shown;
  }
  EXPECT_EQ(redact("live_123456789_abcdefghijk"), "live...(26 chars)");
}

TEST(Auth, SignedStringIsStreamColonExpiry)
{
  /* printf %s 'live/cam1:1700000000' | openssl dgst -sha256 -hmac s3cret */
  EXPECT_EQ(signed_string("live", "cam1", "1700000000"), "live/cam1:1700000000");
  EXPECT_EQ(sign_stream("s3cret", "live", "cam1", 1700000000),
            "e127aab1b503e8c3b01f704a45db0fb7c8ffeb7835053cf77685ea88a7d06fc9")
      << "see the openssl command above; update both if the format changes";
}

TEST(Auth, TokenValidUntilItExpires)
{
  const std::string sig = sign_stream("s3cret", "live", "cam1", 2000);
  PublishInfo info = publish("cam1", "exp=2000&sig=" + sig);
  EXPECT_EQ(check_token("s3cret", info, 1999), TokenCheck::Valid);
  EXPECT_EQ(check_token("s3cret", info, 2000), TokenCheck::Valid);
  EXPECT_EQ(check_token("s3cret", info, 2001), TokenCheck::Expired);
}

TEST(Auth, TokenSignatureIsCaseInsensitiveHex)
{
  std::string sig = sign_stream("s3cret", "live", "cam1", 2000);
  for (auto &c : sig)
    c = static_cast<char>(std::toupper(c));
  EXPECT_EQ(check_token("s3cret", publish("cam1", "exp=2000&sig=" + sig), 1000), TokenCheck::Valid);
}

TEST(Auth, TokenForAnotherStreamOrSecretOrExpiryIsRefused)
{
  const std::string sig = sign_stream("s3cret", "live", "cam1", 2000);
  EXPECT_EQ(check_token("s3cret", publish("cam2", "exp=2000&sig=" + sig), 1000),
            TokenCheck::BadSignature);
  EXPECT_EQ(check_token("other", publish("cam1", "exp=2000&sig=" + sig), 1000),
            TokenCheck::BadSignature);
  EXPECT_EQ(check_token("s3cret", publish("cam1", "exp=3000&sig=" + sig), 1000),
            TokenCheck::BadSignature);
  EXPECT_EQ(check_token("s3cret", publish("cam1", "exp=02000&sig=" + sig), 1000),
            TokenCheck::BadSignature);
  EXPECT_EQ(check_token("s3cret", publish("cam1", ""), 1000), TokenCheck::Missing);
  EXPECT_EQ(check_token("s3cret", publish("cam1", "exp=-5&sig=" + sig), 1000),
            TokenCheck::Malformed);
  EXPECT_EQ(check_token("s3cret", publish("cam1", "exp=99999999999999999999&sig=aa"), 1000),
            TokenCheck::Malformed);
}

TEST(Auth, TokenIsBoundToTheApplication)
{
  const std::string sig = sign_stream("s3cret", "live", "cam1", 2000);
  PublishInfo info = publish("cam1", "exp=2000&sig=" + sig);
  EXPECT_EQ(check_token("s3cret", info, 1000), TokenCheck::Valid);
  info.app = "other";
  EXPECT_EQ(check_token("s3cret", info, 1000), TokenCheck::BadSignature);
  /* The pre-binding format ("STREAM:EXP") no longer publishes anywhere. */
  PublishInfo old = publish("cam1", "exp=2000&sig=" + sign_stream("s3cret", "", "cam1", 2000));
  EXPECT_EQ(check_token("s3cret", old, 1000), TokenCheck::BadSignature);
}

TEST(Auth, CraftedExpiriesAreRefusedWithoutThrowing)
{
  /* std::stoll threw std::out_of_range on 19 digits above INT64_MAX, and
   * nothing caught it: one publish aborted gst-launch. */
  for (const std::string &exp : std::vector<std::string>{
           "9999999999999999999", "9223372036854775808", "18446744073709551616",
           "99999999999999999999999999999999999999", "+5", "-5", " 5", "5 ", "0x10", "1e9", "%00",
           "\xff", std::string(1, '\0') + "1", std::string(100000, '9')}) {
    PublishInfo info = publish("cam1", "sig=aa");
    info.args.emplace_back("exp", exp);
    EXPECT_EQ(check_token("s3cret", info, 1000), TokenCheck::Malformed) << exp.substr(0, 40);
  }
  EXPECT_EQ(parse_expiry("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(parse_expiry("0"), 0);
  EXPECT_EQ(parse_expiry("0000000000000000000000012"), 12) << "leading zeros only cost length";
  EXPECT_FALSE(parse_expiry("").has_value());
  /* Crafted signatures: wrong length, not hex, huge. */
  for (const std::string &sig :
       std::vector<std::string>{"zz", std::string(64, 'g'), std::string(1 << 20, 'a'), "%"}) {
    PublishInfo info = publish("cam1", "exp=2000");
    info.args.emplace_back("sig", sig);
    EXPECT_EQ(check_token("s3cret", info, 1000), TokenCheck::BadSignature);
  }
}

TEST(Auth, ExpiredTokenWithABadSignatureSaysBadSignature)
{
  /* An attacker learns nothing about expiry from a forged token. */
  EXPECT_EQ(check_token("s3cret", publish("cam1", "exp=5&sig=00"), 1000), TokenCheck::BadSignature);
}

TEST(Auth, ThrottleDoublesTheDelayAndForgives)
{
  FailureThrottle throttle(8s, 60s);
  auto t = FailureThrottle::Clock::now();
  EXPECT_EQ(throttle.failure("10.0.0.1", t), 0ms);
  EXPECT_EQ(throttle.failure("10.0.0.1", t), 250ms);
  EXPECT_EQ(throttle.failure("10.0.0.1", t), 500ms);
  EXPECT_EQ(throttle.failure("10.0.0.1", t), 1000ms);
  for (int i = 0; i < 10; ++i)
    throttle.failure("10.0.0.1", t);
  EXPECT_EQ(throttle.failure("10.0.0.1", t), 8000ms);
  EXPECT_EQ(throttle.failure("10.0.0.2", t), 0ms) << "other addresses are not slowed";
  EXPECT_EQ(throttle.failure("10.0.0.1", t + 61s), 0ms) << "forgiven after a quiet minute";
  throttle.failure("10.0.0.2", t);
  throttle.success("10.0.0.2");
  EXPECT_EQ(throttle.failure("10.0.0.2", t), 0ms) << "forgiven after a success";
}

TEST(Auth, AddressHost)
{
  EXPECT_EQ(address_host("10.1.2.3:4444"), "10.1.2.3");
  EXPECT_EQ(address_host("[::1]:1935"), "::1");
}

TEST(Auth, AuthUrlFormHasTheNginxRtmpFields)
{
  PublishInfo info = publish("cam 1", "token=a&b=c&name=evil");
  EXPECT_EQ(auth_url_form(info), "call=publish&app=live&name=cam%201&type=live&addr=10.1.2.3&"
                                 "tcurl=rtmp%3A%2F%2Fh%2Flive&flashver=obs&token=a&b=c");
}
