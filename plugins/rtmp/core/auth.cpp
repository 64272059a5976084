/* Sugarcast RTMP — publish authentication building blocks. */
#include "auth.h"
#include "guard.h"

#include "handshake.h"

#include <libsoup/soup.h>

#include <algorithm>
#include <charconv>
#include <set>

namespace sugarcast::rtmp {

std::vector<std::string> parse_key_list(const std::string &list)
{
  std::vector<std::string> keys;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos)
      end = list.size();
    std::string key = list.substr(start, end - start);
    const size_t first = key.find_first_not_of(" \t");
    const size_t last = key.find_last_not_of(" \t");
    if (first != std::string::npos)
      keys.push_back(key.substr(first, last - first + 1));
    start = end + 1;
  }
  return keys;
}

std::string redact(const std::string &secret)
{
  if (secret.empty())
    return "\"\"";
  const size_t shown = secret.size() >= 12 ? 4 : secret.size() >= 6 ? 2 : 0;
  return secret.substr(0, shown) + "...(" + std::to_string(secret.size()) + " chars)";
}

namespace {

std::string hex_hmac(const std::string &secret, const std::string &message)
{
  const auto digest =
      hmac_sha256(reinterpret_cast<const uint8_t *>(secret.data()), secret.size(),
                  reinterpret_cast<const uint8_t *>(message.data()), message.size());
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : digest) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 0xf]);
  }
  return out;
}

} // namespace

std::string signed_string(const std::string &app, const std::string &stream, const std::string &exp)
{
  return app + "/" + stream + ":" + exp;
}

std::string sign_stream(const std::string &secret, const std::string &app,
                        const std::string &stream, int64_t expires)
{
  return hex_hmac(secret, signed_string(app, stream, std::to_string(expires)));
}

const char *token_check_reason(TokenCheck result)
{
  switch (result) {
  case TokenCheck::Valid:
    return "valid";
  case TokenCheck::Missing:
    return "no exp and sig in the stream name (expected STREAM?exp=UNIX&sig=HEX)";
  case TokenCheck::Malformed:
    return "exp is not a number of seconds since 1970";
  case TokenCheck::Expired:
    return "the token has expired";
  default:
    return "the token's signature does not match";
  }
}

std::optional<int64_t> parse_expiry(const std::string &exp)
{
  /* Digits only (no sign, no spaces, no "0x"), and it must fit: std::from_chars
   * reports overflow instead of throwing like std::stoll did. */
  if (exp.empty() ||
      !std::all_of(exp.begin(), exp.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(exp.data(), exp.data() + exp.size(), value);
  if (error != std::errc() || end != exp.data() + exp.size())
    return std::nullopt;
  return value;
}

TokenCheck check_token(const std::string &secret, const PublishInfo &info, int64_t now) noexcept
{
  try {
    const std::string exp = info.arg("exp");
    std::string sig = info.arg("sig");
    if (exp.empty() || sig.empty())
      return TokenCheck::Missing;
    const std::optional<int64_t> expires = parse_expiry(exp);
    if (!expires)
      return TokenCheck::Malformed;
    std::transform(sig.begin(), sig.end(), sig.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    /* The signature covers exp exactly as sent, so "0123" and "123" differ. */
    if (!constant_time_equal(hex_hmac(secret, signed_string(info.app, info.stream, exp)), sig))
      return TokenCheck::BadSignature;
    if (*expires < now)
      return TokenCheck::Expired;
    return TokenCheck::Valid;
  } catch (...) { /* only std::bad_alloc is left; refuse rather than abort */
    return TokenCheck::Malformed;
  }
}

std::string address_host(const std::string &address)
{
  if (!address.empty() && address[0] == '[') {
    const size_t end = address.find(']');
    return end == std::string::npos ? address : address.substr(1, end - 1);
  }
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

std::chrono::milliseconds FailureThrottle::failure(const std::string &host, Clock::time_point now)
{
  if (failures_.size() > 10000) {
    for (auto it = failures_.begin(); it != failures_.end();)
      it = now - it->second.last > forget_ ? failures_.erase(it) : std::next(it);
  }
  Entry &e = failures_[host];
  if (e.count > 0 && now - e.last > forget_)
    e.count = 0;
  e.count = std::min(e.count + 1, 64u);
  e.last = now;
  if (e.count <= 1)
    return std::chrono::milliseconds(0);
  const unsigned shift = std::min(e.count - 2, 16u);
  return std::min(max_delay_, std::chrono::milliseconds(250LL << shift));
}

void FailureThrottle::success(const std::string &host)
{
  failures_.erase(host);
}

std::string auth_url_form(const PublishInfo &info)
{
  std::vector<std::pair<std::string, std::string>> fields = {
      {"call", "publish"},
      {"app", info.app},
      {"name", info.stream},
      {"type", info.publish_type},
      {"addr", address_host(info.client_address)},
      {"tcurl", info.tc_url},
      {"flashver", info.encoder},
  };
  std::set<std::string> reserved;
  for (const auto &f : fields)
    reserved.insert(f.first);
  for (const auto &arg : info.args)
    if (!reserved.count(arg.first))
      fields.push_back(arg);
  std::string body;
  for (const auto &[key, value] : fields) {
    g_autofree gchar *k = g_uri_escape_string(key.c_str(), nullptr, FALSE);
    g_autofree gchar *v = g_uri_escape_string(value.c_str(), nullptr, FALSE);
    if (!body.empty())
      body += '&';
    body += std::string(k) + "=" + v;
  }
  return body;
}

struct AuthUrlCheck::Impl
{
  SoupSession *session = nullptr;
  GMainContext *context = nullptr;
  struct Request
  {
    Impl *impl;
    GCancellable *cancellable;
    GSource *timer = nullptr;
    bool timed_out = false;
    AuthDone done;
    std::string url;
  };
  std::set<Request *> in_flight;

  void finish(Request *r, AuthDecision decision)
  {
    if (r->timer) {
      g_source_destroy(r->timer);
      g_source_unref(r->timer);
      r->timer = nullptr;
    }
    in_flight.erase(r);
    AuthDone done = std::move(r->done);
    g_object_unref(r->cancellable);
    delete r;
    if (done)
      done(std::move(decision));
  }
};

AuthUrlCheck::AuthUrlCheck() : impl_(std::make_unique<Impl>())
{
  impl_->context = g_main_context_ref_thread_default();
  impl_->session = soup_session_new_with_options("user-agent", "sugarcast-rtmp", nullptr);
}

AuthUrlCheck::~AuthUrlCheck()
{
  cancel_all();
  g_object_unref(impl_->session);
  g_main_context_unref(impl_->context);
}

void AuthUrlCheck::cancel_all()
{
  /* The requests' callbacks still run (with G_IO_ERROR_CANCELLED) and free
   * their Request; they find it detached and call nobody. */
  for (Impl::Request *r : impl_->in_flight) {
    r->done = nullptr;
    r->impl = nullptr;
    if (r->timer) {
      g_source_destroy(r->timer);
      g_source_unref(r->timer);
      r->timer = nullptr;
    }
    g_cancellable_cancel(r->cancellable);
  }
  impl_->in_flight.clear();
}

void AuthUrlCheck::check(const std::string &url, const PublishInfo &info,
                         std::chrono::milliseconds timeout, AuthDone done)
{
  SoupMessage *msg = soup_message_new("POST", url.c_str());
  if (!msg) {
    done({false, "auth-url " + url + " is not a valid http(s) URL"});
    return;
  }
  const std::string body = auth_url_form(info);
  g_autoptr(GBytes) bytes = g_bytes_new(body.data(), body.size());
  soup_message_set_request_body_from_bytes(msg, "application/x-www-form-urlencoded", bytes);

  auto *r =
      new Impl::Request{impl_.get(), g_cancellable_new(), nullptr, false, std::move(done), url};
  impl_->in_flight.insert(r);
  r->timer = g_timeout_source_new(static_cast<guint>(timeout.count()));
  g_source_set_callback(r->timer, SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
                          auto *r = static_cast<Impl::Request *>(data);
                          r->timed_out = true;
                          g_cancellable_cancel(r->cancellable);
                          return G_SOURCE_REMOVE;
                        }),
                        r, nullptr);
  g_source_attach(r->timer, impl_->context);

  soup_session_send_and_read_async(
      impl_->session, msg, G_PRIORITY_DEFAULT, r->cancellable,
      SUGARCAST_GUARD(+[](GObject *source, GAsyncResult *result, gpointer data) {
        auto *r = static_cast<Impl::Request *>(data);
        g_autoptr(GError) error = nullptr;
        g_autoptr(GBytes) answer =
            soup_session_send_and_read_finish(SOUP_SESSION(source), result, &error);
        SoupMessage *msg = soup_session_get_async_result_message(SOUP_SESSION(source), result);
        if (!r->impl) { /* cancel_all() detached it */
          g_object_unref(r->cancellable);
          delete r;
          return;
        }
        AuthDecision decision;
        if (r->timed_out) {
          decision.reason = "auth-url " + r->url + " did not answer in time";
        } else if (!answer) {
          decision.reason = "auth-url " + r->url + " failed: " + error->message;
        } else {
          const guint status = soup_message_get_status(msg);
          decision.allow = status >= 200 && status < 300;
          if (!decision.allow)
            decision.reason = "auth-url " + r->url + " answered " + std::to_string(status);
        }
        r->impl->finish(r, std::move(decision));
      }),
      r);
  g_object_unref(msg);
}

} // namespace sugarcast::rtmp
