/* sugarcastd — who is asking (see authz.h). */
#include "authz.h"

#include "chat/jwt.h"
#include "config.h"
#include "http.h"

#include <cstring>

namespace sugarcast {

namespace {

SoupMessageHeaders *out_headers(SoupServerMessage *msg)
{
  return soup_server_message_get_response_headers(msg);
}

} // namespace

bool authorize_caller(const Config &config, HttpServer &http, SoupServerMessage *msg,
                      Caller &caller)
{
  const char *auth =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
  /* A signed token has dots; the admin token (random base64url) has none. */
  if (auth && g_ascii_strncasecmp(auth, "Bearer ", 7) == 0 && !config.chat.jwt_secret.empty() &&
      std::strchr(auth + 7, '.')) {
    const chat::TokenCheck check =
        chat::verify_token(auth + 7, config.chat.jwt_secret, g_get_real_time() / G_USEC_PER_SEC,
                           {config.chat.jwt_audience, config.chat.jwt_issuer});
    if (!check.claims) {
      soup_message_headers_replace(out_headers(msg), "WWW-Authenticate",
                                   "Bearer error=\"invalid_token\"");
      respond_error(msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                    "The user token is not valid: " + check.error);
      return false;
    }
    caller.admin = check.claims->role == chat::Role::Admin;
    caller.user = check.claims->user_id;
    caller.name = check.claims->name;
    caller.role = check.claims->role;
    caller.stream = check.claims->stream;
    return true;
  }
  if (!http.check_admin(msg)) /* replies 401 itself */
    return false;
  caller = Caller{};
  caller.admin = true;
  caller.role = chat::Role::Admin;
  return true;
}

bool may_manage_stream(const Caller &caller, const std::string &stream_id)
{
  if (caller.admin)
    return true;
  return caller.role == chat::Role::Streamer && !caller.stream.empty() &&
         caller.stream == stream_id;
}

bool authorize_stream_manager(const Config &config, HttpServer &http, SoupServerMessage *msg,
                              const std::string &stream_id, Caller &caller)
{
  if (!authorize_caller(config, http, msg, caller))
    return false;
  if (may_manage_stream(caller, stream_id))
    return true;
  respond_error(msg, SOUP_STATUS_FORBIDDEN, "forbidden",
                "This token may not manage stream " + stream_id +
                    ": it needs the admin token or a streamer token whose `stream` claim is " +
                    stream_id + " (this one has role " + chat::role_name(caller.role) +
                    (caller.stream.empty() ? std::string(" and names no stream)")
                                           : " for stream " + caller.stream + ")"));
  return false;
}

} // namespace sugarcast
