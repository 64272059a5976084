/* sugarcastd chat — user tokens. See jwt.h. */
#include "jwt.h"

#include "../jsondepth.h"
#include "../jsonwriter.h"
#include "consttime.h"

#include <json-glib/json-glib.h>

#include <vector>

namespace sugarcast::chat {

namespace {

std::string hmac_sha256(const std::string &secret, std::string_view data)
{
  g_autoptr(GHmac) hmac =
      g_hmac_new(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(secret.data()), secret.size());
  g_hmac_update(hmac, reinterpret_cast<const guchar *>(data.data()),
                static_cast<gssize>(data.size()));
  guint8 digest[32];
  gsize length = sizeof digest;
  g_hmac_get_digest(hmac, digest, &length);
  return std::string(reinterpret_cast<const char *>(digest), length);
}

JsonObject *parse_object(JsonParser *parser, const std::string &text)
{
  if (!json_depth_within(text, kMaxJsonDepth) ||
      !json_parser_load_from_data(parser, text.data(), static_cast<gssize>(text.size()), nullptr))
    return nullptr;
  JsonNode *root = json_parser_get_root(parser);
  return root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : nullptr;
}

bool get_string(JsonObject *o, const char *name, std::string &out)
{
  JsonNode *n = json_object_get_member(o, name);
  if (!n || JSON_NODE_TYPE(n) != JSON_NODE_VALUE || json_node_get_value_type(n) != G_TYPE_STRING)
    return false;
  out = json_node_get_string(n);
  return true;
}

/* RFC 7519 4.1.3: aud is one string or an array of them; a token naming an
 * audience is for that audience only, so with none expected it is refused. */
bool check_audience(JsonObject *payload, const std::string &expected, std::string &error)
{
  JsonNode *aud = json_object_get_member(payload, "aud");
  if (!aud) {
    if (expected.empty())
      return true;
    error = "the token names no audience (\"aud\"); this server is " + expected;
    return false;
  }
  std::vector<std::string> named;
  if (JSON_NODE_HOLDS_ARRAY(aud)) {
    JsonArray *a = json_node_get_array(aud);
    for (guint i = 0; i < json_array_get_length(a); ++i) {
      JsonNode *n = json_array_get_element(a, i);
      if (JSON_NODE_TYPE(n) == JSON_NODE_VALUE && json_node_get_value_type(n) == G_TYPE_STRING)
        named.emplace_back(json_node_get_string(n));
    }
  } else if (JSON_NODE_TYPE(aud) == JSON_NODE_VALUE &&
             json_node_get_value_type(aud) == G_TYPE_STRING) {
    named.emplace_back(json_node_get_string(aud));
  }
  if (expected.empty()) {
    error = "the token is meant for an audience (\"aud\") and this server expects none "
            "(chat.jwt_audience is not set)";
    return false;
  }
  for (const auto &n : named)
    if (n == expected)
      return true;
  error =
      "the token is not meant for this server: its audience (\"aud\") does not name " + expected;
  return false;
}

} // namespace

std::string base64url_encode(std::string_view data)
{
  g_autofree gchar *b64 =
      g_base64_encode(reinterpret_cast<const guchar *>(data.data()), data.size());
  std::string out(b64);
  for (char &c : out)
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!out.empty() && out.back() == '=')
    out.pop_back();
  return out;
}

bool base64url_decode(std::string_view text, std::string &out)
{
  std::string b64;
  b64.reserve(text.size() + 3);
  for (char c : text) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (!g_ascii_isalnum(c))
      return false;
    b64.push_back(c);
  }
  if (b64.size() % 4 == 1)
    return false;
  while (b64.size() % 4)
    b64.push_back('=');
  gsize length = 0;
  g_autofree guchar *raw = g_base64_decode(b64.c_str(), &length);
  out.assign(reinterpret_cast<const char *>(raw), length);
  return true;
}

Role role_in_stream(const TokenClaims &claims, const std::string &stream)
{
  if (claims.role == Role::Admin || claims.role == Role::Viewer || claims.role == Role::Creator)
    return claims.role;
  return !claims.stream.empty() && claims.stream == stream ? claims.role : Role::Viewer;
}

TokenCheck verify_token(const std::string &token, const std::string &secret, int64_t now,
                        const TokenRules &rules)
{
  TokenCheck r;
  if (secret.empty()) {
    r.error = "this server takes no user tokens (chat.jwt_secret is not set); connect without "
              "one to watch the chat";
    return r;
  }
  if (token.size() > 8192) {
    r.error = "the token is longer than 8192 bytes";
    return r;
  }
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string::npos || token.find('.', dot2 + 1) != std::string::npos) {
    r.error = "the token is not a JWT (three base64url parts separated by dots)";
    return r;
  }
  std::string header_json, payload_json, signature;
  if (!base64url_decode(std::string_view(token).substr(0, dot1), header_json) ||
      !base64url_decode(std::string_view(token).substr(dot1 + 1, dot2 - dot1 - 1), payload_json) ||
      !base64url_decode(std::string_view(token).substr(dot2 + 1), signature)) {
    r.error = "the token is not valid base64url";
    return r;
  }
  g_autoptr(JsonParser) hp = json_parser_new();
  JsonObject *header = parse_object(hp, header_json);
  std::string alg;
  if (!header || !get_string(header, "alg", alg)) {
    r.error = "the token's header is not a JSON object with \"alg\"";
    return r;
  }
  if (alg != "HS256") {
    r.error = "the token is signed with \"" + alg.substr(0, 16) + "\"; only HS256 is accepted";
    return r;
  }
  const std::string expected = hmac_sha256(secret, std::string_view(token).substr(0, dot2));
  if (!constant_time_equal(signature, expected)) {
    r.error = "the token's signature does not match: it was not signed with this server's secret";
    return r;
  }
  g_autoptr(JsonParser) pp = json_parser_new();
  JsonObject *payload = parse_object(pp, payload_json);
  if (!payload) {
    r.error = "the token's payload is not a JSON object";
    return r;
  }
  TokenClaims c;
  if (!get_string(payload, "sub", c.user_id) || c.user_id.empty() || c.user_id.size() > 128 ||
      !g_utf8_validate(c.user_id.c_str(), static_cast<gssize>(c.user_id.size()), nullptr)) {
    r.error = "the token has no \"sub\" (a user id of 1 to 128 characters)";
    return r;
  }
  if (!get_string(payload, "name", c.name) || c.name.empty())
    c.name = c.user_id;
  if (g_utf8_strlen(c.name.c_str(), static_cast<gssize>(c.name.size())) > 64 ||
      !g_utf8_validate(c.name.c_str(), static_cast<gssize>(c.name.size()), nullptr)) {
    r.error = "the token's \"name\" is longer than 64 characters";
    return r;
  }
  std::string role = "viewer";
  if (json_object_has_member(payload, "role") &&
      (!get_string(payload, "role", role) || !parse_role(role, c.role))) {
    r.error = "the token's \"role\" must be viewer, moderator, streamer or admin";
    return r;
  }
  parse_role(role, c.role);
  JsonNode *exp = json_object_get_member(payload, "exp");
  if (!exp || JSON_NODE_TYPE(exp) != JSON_NODE_VALUE ||
      (json_node_get_value_type(exp) != G_TYPE_INT64 &&
       json_node_get_value_type(exp) != G_TYPE_DOUBLE)) {
    r.error = "the token has no \"exp\" (expiry, Unix seconds)";
    return r;
  }
  c.expires_at = static_cast<int64_t>(json_node_get_double(exp));
  if (c.expires_at <= now) {
    r.expired = true;
    r.error = "the token expired " + std::to_string(now - c.expires_at) + " s ago";
    return r;
  }
  if (json_object_has_member(payload, "nbf")) {
    JsonNode *nbf = json_object_get_member(payload, "nbf");
    if (JSON_NODE_TYPE(nbf) != JSON_NODE_VALUE ||
        (json_node_get_value_type(nbf) != G_TYPE_INT64 &&
         json_node_get_value_type(nbf) != G_TYPE_DOUBLE)) {
      r.error = "the token's \"nbf\" is not a number (Unix seconds)";
      return r;
    }
    const auto not_before = static_cast<int64_t>(json_node_get_double(nbf));
    if (not_before > now) {
      r.error =
          "the token is not valid yet (nbf is " + std::to_string(not_before - now) + " s from now)";
      return r;
    }
  }
  if (!check_audience(payload, rules.audience, r.error))
    return r;
  if (!rules.issuer.empty()) {
    std::string iss;
    if (!get_string(payload, "iss", iss) || iss != rules.issuer) {
      r.error = "the token's issuer (\"iss\") is not " + rules.issuer;
      return r;
    }
  }
  if (json_object_has_member(payload, "stream") &&
      (!get_string(payload, "stream", c.stream) || c.stream.empty() || c.stream.size() > 64)) {
    r.error = "the token's \"stream\" must be a stream id (1 to 64 characters)";
    return r;
  }
  r.claims = std::move(c);
  return r;
}

std::string mint_token(const std::string &secret, const std::string &user_id,
                       const std::string &name, Role role, int64_t expires_at,
                       const std::string &stream, const TokenRules &rules)
{
  const std::string header = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  JsonWriter w;
  w.begin_object().string("sub", user_id).string("name", name.empty() ? user_id : name);
  w.string("role", role_name(role)).integer("exp", expires_at);
  if (!stream.empty())
    w.string("stream", stream);
  if (!rules.audience.empty())
    w.string("aud", rules.audience);
  if (!rules.issuer.empty())
    w.string("iss", rules.issuer);
  w.end_object();
  const std::string signing_input = header + "." + base64url_encode(w.text());
  return signing_input + "." + base64url_encode(hmac_sha256(secret, signing_input));
}

} // namespace sugarcast::chat
