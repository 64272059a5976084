/* Fuzz target for user tokens: base64url decoding and the whole of
 * verify_token() (splitting, header, signature, claims), with the input
 * used as the token, and once signed with the fuzzer's secret so that the
 * claim checks after the signature are reached too. Checks what must hold:
 * decoding what we encoded gives it back, and a token is never accepted
 * unless it verifies.
 *
 * Built with libFuzzer like fuzz_chat.cpp; otherwise fuzz_replay runs the
 * corpus in tests/chat/corpus/jwt/ through it as an ordinary test. */
#include "chat/jwt.h"

#include <glib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

std::string sign(const std::string &secret, const std::string &input)
{
  g_autoptr(GHmac) h =
      g_hmac_new(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(secret.data()), secret.size());
  g_hmac_update(h, reinterpret_cast<const guchar *>(input.data()),
                static_cast<gssize>(input.size()));
  guint8 digest[32];
  gsize n = sizeof digest;
  g_hmac_get_digest(h, digest, &n);
  return sugarcast::chat::base64url_encode(std::string(reinterpret_cast<char *>(digest), n));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  using namespace sugarcast::chat;
  const std::string input(reinterpret_cast<const char *>(data), size);
  const TokenRules rules{"sugarcast-chat", "https://issuer.example"};

  std::string decoded;
  if (base64url_decode(input, decoded) && base64url_encode(decoded) != input) {
    /* Padding bits may differ; what it decodes to must not. */
    std::string again;
    if (!base64url_decode(base64url_encode(decoded), again) || again != decoded)
      abort();
  }
  std::string round;
  if (!base64url_decode(base64url_encode(input), round) || round != input)
    abort();

  (void)verify_token(input, "fuzz-secret", 1000, rules);
  (void)verify_token(input, "fuzz-secret", 1000);

  /* The input as a payload (and as a header), signed: reaches the claims. */
  const std::string header = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  const std::string body = header + "." + base64url_encode(input);
  const std::string token = body + "." + sign("fuzz-secret", body);
  const TokenCheck c = verify_token(token, "fuzz-secret", 1000, rules);
  if (c.claims && (c.claims->user_id.empty() || c.claims->expires_at <= 1000))
    abort();
  if (verify_token(token, "another-secret", 1000, rules).claims)
    abort(); /* accepted with a signature that does not match */
  const std::string as_header = base64url_encode(input) + "." + base64url_encode("{}");
  (void)verify_token(as_header + "." + sign("fuzz-secret", as_header), "fuzz-secret", 1000);
  return 0;
}
