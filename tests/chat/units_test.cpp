/* Chat parts without sockets: framing, tokens, the word filter, rate
 * limiting, message parsing and encoding. */
#include "chat/jwt.h"
#include "chat/protocol.h"
#include "chat/ratelimit.h"
#include "chat/wordfilter.h"
#include "chat/wsframe.h"
#include "testenv.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>

#include <json-glib/json-glib.h>

using namespace sugarcast::chat;

namespace {

std::vector<WsEvent::Kind> kinds;
std::vector<std::string> payloads;

uint16_t feed(WsParser &p, const std::string &bytes, bool byte_by_byte = false)
{
  auto sink = [](const WsEvent &e) {
    kinds.push_back(e.kind);
    payloads.emplace_back(e.kind == WsEvent::Close
                              ? std::to_string(e.close_code) + ":" + std::string(e.payload)
                              : std::string(e.payload));
  };
  if (!byte_by_byte)
    return p.feed(bytes.data(), bytes.size(), sink);
  for (char c : bytes)
    if (uint16_t code = p.feed(&c, 1, sink))
      return code;
  return 0;
}

void reset()
{
  kinds.clear();
  payloads.clear();
}

} // namespace

TEST(WsFrame, LengthsOfEveryEncodingRoundTrip)
{
  for (size_t n : {0ul, 1ul, 125ul, 126ul, 127ul, 65535ul, 65536ul, 70000ul}) {
    for (bool split : {false, true}) {
      if (split && n > 1000)
        continue;
      reset();
      WsParser p(1 << 20, true);
      const std::string text(n, 'a');
      ASSERT_EQ(feed(p, ws_encode_client_frame(WsOpcode::Text, text, 0xDEADBEEF), split), 0);
      ASSERT_EQ(kinds.size(), 1u) << n;
      EXPECT_EQ(payloads[0], text);
      EXPECT_TRUE(p.idle());
    }
  }
  /* Server frames: unmasked, lengths in 7, 16 and 64 bits. */
  EXPECT_EQ(ws_encode_frame(WsOpcode::Text, std::string(125, 'x')).size(), 127u);
  EXPECT_EQ(ws_encode_frame(WsOpcode::Text, std::string(126, 'x')).size(), 130u);
  EXPECT_EQ(ws_encode_frame(WsOpcode::Text, std::string(65536, 'x')).size(), 65546u);
}

TEST(WsFrame, ProtocolErrorsAreRefusedWithAReason)
{
  struct Case
  {
    std::string bytes;
    const char *why;
  } cases[] = {
      {ws_encode_frame(WsOpcode::Text, "x"), "must be masked"},
      {std::string("\xC1\x80\0\0\0\0", 6), "reserved bits"},
      {std::string("\x83\x80\0\0\0\0", 6), "unknown frame opcode 3"},
      {std::string("\x09\x80\0\0\0\0", 6), "fragmented control"},
      {ws_encode_client_frame(WsOpcode::Ping, std::string(126, 'p'), 1), "longer than 125"},
      {ws_encode_client_frame(WsOpcode::Continuation, "x", 1), "without a message"},
      {ws_encode_client_frame(WsOpcode::Text, "a", 1, false) +
           ws_encode_client_frame(WsOpcode::Text, "b", 1),
       "while a fragmented"},
      {ws_encode_client_frame(WsOpcode::Close, "x", 1), "one-byte"},
      {ws_encode_client_frame(WsOpcode::Close, std::string("\x03\xed", 2), 1), "invalid code 1005"},
      {std::string("\x81\xFF\x80\0\0\0\0\0\0\0\0\0\0\0", 14), "most significant bit"},
  };
  for (const auto &c : cases) {
    WsParser p(1 << 20, true);
    EXPECT_EQ(feed(p, c.bytes), 1002) << c.why;
    EXPECT_NE(p.error().find(c.why), std::string::npos) << p.error();
    EXPECT_EQ(feed(p, ws_encode_client_frame(WsOpcode::Text, "later", 1)), 1002);
  }
}

TEST(WsFrame, TooBigIsSkippedAndParsingGoesOn)
{
  reset();
  WsParser p(10, true);
  const std::string frames = ws_encode_client_frame(WsOpcode::Text, "0123456", 5, false) +
                             ws_encode_client_frame(WsOpcode::Continuation, "789abc", 6) +
                             ws_encode_client_frame(WsOpcode::Text, "ok", 7) +
                             ws_encode_client_frame(WsOpcode::Text, "\xff", 7);
  EXPECT_EQ(feed(p, frames, true), 0);
  ASSERT_EQ(kinds.size(), 3u);
  EXPECT_EQ(kinds[0], WsEvent::TooBig);
  EXPECT_EQ(kinds[1], WsEvent::Text);
  EXPECT_EQ(payloads[1], "ok");
  EXPECT_EQ(kinds[2], WsEvent::BadUtf8);
}

TEST(WsFrame, CloseFramesCarryCodeAndReason)
{
  reset();
  WsParser p(100, false);
  EXPECT_EQ(feed(p, ws_encode_close(4000, "slow")), 0);
  EXPECT_EQ(payloads.at(0), "4000:slow");
  /* Long reasons are cut at a character boundary within 125 bytes. */
  std::string reason;
  for (int i = 0; i < 100; ++i)
    reason += "é";
  const std::string frame = ws_encode_close(1001, reason);
  EXPECT_LE(frame.size(), 127u);
  EXPECT_EQ(feed(p, frame), 0);
  EXPECT_TRUE(g_utf8_validate(payloads.at(1).c_str(), -1, nullptr));
  EXPECT_EQ(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Jwt, MintedTokensVerify)
{
  const std::string t = mint_token("secret", "u1", "Ann", Role::Moderator, 2000);
  TokenCheck c = verify_token(t, "secret", 1000);
  ASSERT_TRUE(c.claims) << c.error;
  EXPECT_EQ(c.claims->user_id, "u1");
  EXPECT_EQ(c.claims->name, "Ann");
  EXPECT_EQ(c.claims->role, Role::Moderator);
  EXPECT_EQ(c.claims->expires_at, 2000);
}

TEST(Jwt, ExpiredForgedAndMalformedTokensAreRefusedWithAReason)
{
  const std::string t = mint_token("secret", "u1", "", Role::Viewer, 2000);
  auto expired = verify_token(t, "secret", 2000);
  EXPECT_FALSE(expired.claims);
  EXPECT_TRUE(expired.expired);
  EXPECT_NE(expired.error.find("expired"), std::string::npos);
  auto forged = verify_token(t, "other secret", 1000);
  EXPECT_FALSE(forged.claims);
  EXPECT_NE(forged.error.find("signature"), std::string::npos);
  /* The payload changed after signing (role escalated). */
  const size_t d1 = t.find('.'), d2 = t.rfind('.');
  const std::string admin_payload =
      base64url_encode(R"({"sub":"u1","name":"u1","role":"admin","exp":2000})");
  auto tampered = verify_token(t.substr(0, d1 + 1) + admin_payload + t.substr(d2), "secret", 1000);
  EXPECT_FALSE(tampered.claims);
  /* alg none, and HS512 claims, are refused whatever the signature. */
  const std::string none =
      base64url_encode(R"({"alg":"none"})") + "." + t.substr(d1 + 1, d2 - d1 - 1) + ".";
  auto n = verify_token(none, "secret", 1000);
  EXPECT_FALSE(n.claims);
  EXPECT_NE(n.error.find("only HS256"), std::string::npos);
  for (const char *bad : {"", "a.b", "a.b.c.d", "!!!.???.***", "e30.e30.e30"})
    EXPECT_FALSE(verify_token(bad, "secret", 1000).claims) << bad;
  EXPECT_FALSE(verify_token(t, "", 1000).claims); /* no secret configured */
}

TEST(Jwt, ClaimsAreChecked)
{
  auto sign = [](const std::string &payload) {
    /* mint_token's format, with an arbitrary payload. */
    const std::string good = mint_token("k", "x", "", Role::Viewer, 5);
    const std::string header = good.substr(0, good.find('.'));
    const std::string input = header + "." + base64url_encode(payload);
    g_autoptr(GHmac) h = g_hmac_new(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>("k"), 1);
    g_hmac_update(h, reinterpret_cast<const guchar *>(input.data()), input.size());
    guint8 d[32];
    gsize n = 32;
    g_hmac_get_digest(h, d, &n);
    return input + "." + base64url_encode(std::string(reinterpret_cast<char *>(d), n));
  };
  EXPECT_TRUE(verify_token(sign(R"({"sub":"a","exp":10})"), "k", 5).claims);
  EXPECT_NE(verify_token(sign(R"({"exp":10})"), "k", 5).error.find("sub"), std::string::npos);
  EXPECT_NE(verify_token(sign(R"({"sub":"a"})"), "k", 5).error.find("exp"), std::string::npos);
  EXPECT_NE(verify_token(sign(R"({"sub":"a","exp":10,"role":"god"})"), "k", 5).error.find("role"),
            std::string::npos);
  EXPECT_NE(verify_token(sign(R"([1,2])"), "k", 5).error.find("payload"), std::string::npos);
}

TEST(Jwt, NotBeforeAudienceIssuerAndStreamAreChecked)
{
  const TokenRules rules{"sugarcast-chat", "https://issuer.example"};
  const std::string t = mint_token("k", "u1", "", Role::Streamer, 2000, "s1", rules);
  auto ok = verify_token(t, "k", 1000, rules);
  ASSERT_TRUE(ok.claims) << ok.error;
  EXPECT_EQ(ok.claims->stream, "s1");
  EXPECT_EQ(role_in_stream(*ok.claims, "s1"), Role::Streamer);
  EXPECT_EQ(role_in_stream(*ok.claims, "s2"), Role::Viewer);
  TokenClaims admin{"a", "a", Role::Admin, "s1", 0};
  EXPECT_EQ(role_in_stream(admin, "s2"), Role::Admin);
  TokenClaims unnamed{"m", "m", Role::Moderator, "", 0};
  EXPECT_EQ(role_in_stream(unnamed, "s1"), Role::Viewer);
  EXPECT_NE(verify_token(t, "k", 1000, {"another", rules.issuer}).error.find("aud"),
            std::string::npos);
  EXPECT_NE(verify_token(t, "k", 1000, {rules.audience, "https://x"}).error.find("iss"),
            std::string::npos);
  /* A token meant for an audience is refused where none is expected. */
  EXPECT_NE(verify_token(t, "k", 1000).error.find("aud"), std::string::npos);
}

/* Tokens made by PyJWT (Debian's python3-jwt), not by our own encoder. */
TEST(Jwt, TokensFromAnIndependentImplementation)
{
  const std::string secret = "pyjwt-interop-secret";
  const TokenRules rules{"sugarcast-chat", "https://issuer.example"};
  const int64_t now = g_get_real_time() / 1000000;
  const std::string ours =
      mint_token(secret, "our-user", "", Role::Moderator, now + 60, "s9", rules);
  const std::string now_text = std::to_string(now);
  /* SECRET NOW AUDIENCE ISSUER OURS */
  const char *args[] = {
      "/usr/bin/python3",     PYJWT_SCRIPT,         secret.c_str(), now_text.c_str(),
      rules.audience.c_str(), rules.issuer.c_str(), ours.c_str(),   nullptr};
  g_autofree gchar *out = nullptr;
  g_autofree gchar *err = nullptr;
  gint status = 0;
  g_autoptr(GError) error = nullptr;
  ASSERT_TRUE(g_spawn_sync(nullptr, const_cast<gchar **>(args), nullptr, G_SPAWN_DEFAULT, nullptr,
                           nullptr, &out, &err, &status, &error))
      << error->message;
  ASSERT_TRUE(g_spawn_check_wait_status(status, nullptr)) << err;
  std::map<std::string, std::string> tokens;
  std::istringstream lines(out);
  std::string name, value;
  while (lines >> name && std::getline(lines >> std::ws, value))
    tokens[name] = value;
  ASSERT_EQ(tokens.size(), 12u) << out << err;
  /* PyJWT verified ours with the same rules. */
  EXPECT_EQ(tokens["ours"], "our-user moderator s9");
  for (const char *good : {"good", "good-aud-list"}) {
    auto c = verify_token(tokens[good], secret, now, rules);
    ASSERT_TRUE(c.claims) << good << ": " << c.error;
    EXPECT_EQ(c.claims->user_id, "py-user");
    EXPECT_EQ(c.claims->name, "Py");
    EXPECT_EQ(c.claims->role, Role::Moderator);
    EXPECT_EQ(c.claims->stream, "s1");
  }
  const std::map<std::string, std::string> refused = {
      {"alg-none", "only HS256"},      {"alg-rs256", "only HS256"},  {"alg-hs512", "only HS256"},
      {"nbf-future", "not valid yet"}, {"bad-audience", "audience"}, {"no-audience", "audience"},
      {"bad-issuer", "issuer"},        {"expired", "expired"},       {"wrong-secret", "signature"},
  };
  for (const auto &[case_name, says] : refused) {
    SCOPED_TRACE(case_name);
    auto c = verify_token(tokens[case_name], secret, now, rules);
    EXPECT_FALSE(c.claims);
    EXPECT_NE(c.error.find(says), std::string::npos) << c.error;
  }
}

TEST(WordFilter, CatchesCaseWidthAccentAndZeroWidthVariantsInOnePass)
{
  WordFilter f({"badword", "spam", "坏话"});
  EXPECT_TRUE(f.matches("this is a BadWord here"));
  EXPECT_TRUE(f.matches("ｂａｄｗｏｒｄ")); /* full-width */
  EXPECT_TRUE(f.matches("b\u200Badword"));  /* zero-width space */
  EXPECT_TRUE(f.matches("SPÀM"));           /* accent */
  EXPECT_TRUE(f.matches("这是坏话"));
  EXPECT_FALSE(f.matches("a good word"));
  EXPECT_FALSE(f.matches(""));
  EXPECT_EQ(f.mask("no BADWORD, ｓｐａｍ!"), "no *******, ****!");
  bool changed = true;
  EXPECT_EQ(f.mask("clean", &changed), "clean");
  EXPECT_FALSE(changed);
}

TEST(WordFilter, OverlappingWordsAndSuffixLinks)
{
  WordFilter f({"he", "she", "hers", "his"});
  EXPECT_EQ(f.mask("ushers"), "u*****");
  EXPECT_EQ(f.mask("ahishe"), "a*****");
  WordFilter none({});
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.mask("anything"), "anything");
  /* A long list and a long text: still one pass (the test only checks the answer). */
  std::vector<std::string> many;
  for (int i = 0; i < 5000; ++i)
    many.push_back("w" + std::to_string(i) + "x");
  WordFilter big(many);
  std::string text(100000, 'a');
  text += "W4999X";
  EXPECT_TRUE(big.matches(text));
}

TEST(RateLimit, BurstThenRate)
{
  TokenBucket b(2.0, 3, 0);
  int64_t retry = 0;
  EXPECT_TRUE(b.take(0, retry));
  EXPECT_TRUE(b.take(0, retry));
  EXPECT_TRUE(b.take(0, retry));
  EXPECT_FALSE(b.take(0, retry));
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, 501);
  EXPECT_TRUE(b.take(500, retry));
  EXPECT_FALSE(b.take(500, retry));
  EXPECT_FALSE(b.full(600));
  EXPECT_TRUE(b.full(5000));
}

class Protocol : public ::testing::Test
{
protected:
  void SetUp() override
  {
    std::string error;
    parser = ProtocolParser::load(error);
    ASSERT_TRUE(parser) << error;
  }
  std::unique_ptr<ProtocolParser> parser;

  void expect_server_valid(const std::string &json)
  {
    g_autoptr(JsonParser) p = json_parser_new();
    ASSERT_TRUE(json_parser_load_from_data(p, json.c_str(), -1, nullptr)) << json;
    auto v = parser->check_server_message(json_parser_get_root(p));
    EXPECT_TRUE(v.empty()) << json << "\n" << (v.empty() ? "" : v[0].path + ": " + v[0].message);
  }
};

TEST_F(Protocol, ParsesEachClientMessage)
{
  auto chat = parser->parse(R"({"v":1,"type":"chat","text":"hi","ref":"r1"})", 500);
  ASSERT_TRUE(std::holds_alternative<ClientMessage>(chat));
  EXPECT_EQ(std::get<ClientMessage>(chat).text, "hi");
  EXPECT_EQ(std::get<ClientMessage>(chat).ref, "r1");
  auto gift = parser->parse(
      R"({"v":1,"type":"gift","gift":"rose","count":3,"idempotency_key":"k-12345678"})", 500);
  ASSERT_TRUE(std::holds_alternative<ClientMessage>(gift));
  EXPECT_EQ(std::get<ClientMessage>(gift).count, 3);
  auto ban = parser->parse(R"({"v":1,"type":"ban","user":"u9","seconds":60})", 500);
  ASSERT_TRUE(std::holds_alternative<ClientMessage>(ban));
  EXPECT_EQ(std::get<ClientMessage>(ban).seconds, 60);
}

TEST_F(Protocol, RefusalsNameTheProblem)
{
  auto code = [&](const std::string &text, int max = 500) {
    auto r = parser->parse(text, max);
    if (auto *e = std::get_if<ProtocolError>(&r))
      return e->code + " " + e->message;
    return std::string("accepted");
  };
  EXPECT_EQ(code("{nope").substr(0, 11), "bad_message");
  EXPECT_NE(code("[1]").find("one JSON object"), std::string::npos);
  EXPECT_NE(code(R"({"v":2,"type":"chat","text":"x"})").find("/v"), std::string::npos);
  EXPECT_NE(code(R"({"v":1,"type":"shout","text":"x"})").find("/type"), std::string::npos);
  EXPECT_NE(code(R"({"v":1,"type":"chat"})").find("text"), std::string::npos);
  EXPECT_NE(code(R"({"v":1,"type":"chat","text":"x","extra":1})").find("extra"), std::string::npos);
  EXPECT_EQ(code(R"({"v":1,"type":"chat","text":"ééééé"})", 4).substr(0, 8), "too_long");
  EXPECT_EQ(code(R"({"v":1,"type":"chat","text":"ééééé"})", 5), "accepted");
  EXPECT_NE(code(R"({"v":1,"type":"chat","text":"  \n "})").find("blank"), std::string::npos);
  EXPECT_NE(code(R"({"v":1,"type":"gift","gift":"rose","count":0,"idempotency_key":"k-12345678"})")
                .find("/count"),
            std::string::npos);
}

TEST_F(Protocol, DeepNestingIsRefusedBeforeParsing)
{
  /* Far past what json-glib's recursion survives on a worker's stack. */
  for (const std::string &deep :
       {std::string(200000, '['), R"({"v":1,"type":"chat","text":"x","ref":)" +
                                      std::string(200000, '{') + std::string(200000, '}') + "}"}) {
    auto r = parser->parse(deep, 10000);
    auto *e = std::get_if<ProtocolError>(&r);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code, "bad_message");
    EXPECT_NE(e->message.find("deeper than 64"), std::string::npos) << e->message;
  }
  /* A token whose header nests deeply is refused the same way, not parsed. */
  const std::string header = base64url_encode(std::string(5000, '['));
  EXPECT_FALSE(verify_token(header + ".e30.sig", "secret", 1000).claims);
}

TEST_F(Protocol, EveryServerMessageMatchesTheSchema)
{
  ChatLine rec{"0190000000000000a", "u1", "Ann \"A\"\n", "hello \x01 <b>", 1700000000000};
  const std::string chat = encode_chat(rec, Role::Viewer);
  expect_server_valid(chat);
  expect_server_valid(encode_chat(rec, Role::Anonymous));
  expect_server_valid(encode_error("rate_limited", "slow down", "r"));
  expect_server_valid(encode_error(ProtocolError{"unavailable", "later", "", 1000, true}));
  expect_server_valid(encode_pong("", 5));
  expect_server_valid(encode_deleted("abc", "mod"));
  expect_server_valid(encode_viewers(12));
  expect_server_valid(encode_stream_state("live"));
  expect_server_valid(encode_stream_state("reconnecting"));
  expect_server_valid(encode_moderation({"mute", "u2", "mod", 60, 1700000060000, "spam"}));
  expect_server_valid(encode_moderation({"slow", "", "mod", 0}));
  std::vector<LeaderLine> board{{"u1", "Ann", 500, 5}, {"u2", "Bob", 10, 1}};
  expect_server_valid(encode_leaderboard(board));
  GiftLine g{7, "key-12345678", "u1", "Ann", "rose", 2, 2, 1700000000000};
  expect_server_valid(encode_gift({g, "Rose", "rose"}));
  expect_server_valid(encode_gift_ack(g, "r2"));
  WelcomeInfo w;
  w.stream = "s1";
  w.you = {"u1", "Ann", Role::Viewer};
  w.can_chat = true;
  w.viewers = 3;
  w.history = {chat, chat};
  w.leaderboard_entries = encode_leaderboard_entries(board);
  expect_server_valid(encode_welcome(w));
  w.you = {"anon-1", "anonymous", Role::Anonymous};
  w.history.clear();
  w.leaderboard_entries.clear();
  expect_server_valid(encode_welcome(w));
  /* The JSON text round-trips. */
  g_autoptr(JsonParser) p = json_parser_new();
  ASSERT_TRUE(json_parser_load_from_data(p, chat.c_str(), -1, nullptr));
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  EXPECT_STREQ(json_object_get_string_member(o, "text"), "hello \x01 <b>");
  EXPECT_STREQ(json_object_get_string_member(json_object_get_object_member(o, "user"), "name"),
               "Ann \"A\"\n");
}

TEST_F(Protocol, TheDaemonAndAnIndependentValidatorAgreeOnEveryFixture)
{
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(sugarcast::test::source_dir()) / "tests/chat/fixtures/client";
  std::vector<std::string> argv = {
      "/usr/bin/python3", sugarcast::test::source_dir() + "/tests/chat/schema_check.py",
      sugarcast::test::source_dir() + "/schemas/chat.schema.json", "client_message"};
  std::map<std::string, std::string> expected;
  for (const char *verdict : {"valid", "invalid"})
    for (const auto &entry : fs::directory_iterator(dir / verdict)) {
      argv.push_back(entry.path().string());
      expected[entry.path().filename().string()] = verdict;
    }
  ASSERT_GE(expected.size(), 30u);
  auto result = sugarcast::test::run_process(argv, std::chrono::seconds(60));
  ASSERT_TRUE(result.ok()) << result.err;
  std::map<std::string, std::string> theirs;
  std::istringstream lines(result.out);
  for (std::string name, verdict; lines >> name >> verdict;)
    theirs[name] = verdict;
  ASSERT_EQ(theirs.size(), expected.size());
  for (const auto &[name, verdict] : expected) {
    const std::string path = (dir / verdict / name).string();
    g_autoptr(JsonParser) p = json_parser_new();
    ASSERT_TRUE(json_parser_load_from_file(p, path.c_str(), nullptr)) << path;
    const bool ours = parser->check_client_message(json_parser_get_root(p)).empty();
    EXPECT_EQ(ours ? "valid" : "invalid", verdict) << name << " (daemon)";
    EXPECT_EQ(theirs[name], verdict) << name << " (fastjsonschema)";
    /* What the daemon does with the text agrees too. */
    g_autofree gchar *text = nullptr;
    g_file_get_contents(path.c_str(), &text, nullptr, nullptr);
    const bool accepted = std::holds_alternative<ClientMessage>(parser->parse(text, 500));
    EXPECT_EQ(accepted, verdict == std::string("valid")) << name << " (parse)";
  }
}
