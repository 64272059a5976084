/* sugarcastd — who is asking: the one place an HTTP request's bearer token
 * becomes a caller (HTTP layer; used by every route that takes more than the
 * admin token).
 *
 * A request carries either the admin token or a signed user token
 * (chat/jwt.h, signed with chat.jwt_secret, aud/iss checked as the chat
 * socket checks them). The rights a caller has on a stream follow the
 * token's `stream` claim, as in chat: admin everywhere, a streamer only on
 * the stream its token names.
 */
#pragma once

#include "chat/protocol.h"

#include <libsoup/soup.h>
#include <string>

namespace sugarcast {

struct Config;
class HttpServer;

struct Caller
{
  bool admin = false; /* the admin token, or a user token with role admin */
  std::string user;   /* the token's `sub`; "" for the admin token */
  std::string name;   /* the token's display name */
  chat::Role role = chat::Role::Anonymous;
  std::string stream; /* the token's `stream` claim; "" when it names none */
};

/* The caller of MSG from its Authorization header. On a missing or bad
 * token replies 401 (with WWW-Authenticate) itself and returns false. Safe
 * on `got-headers`: reads nothing but the head. */
bool authorize_caller(const Config &config, HttpServer &http, SoupServerMessage *msg,
                      Caller &caller);

/* Admin, or a streamer whose token names STREAM_ID. */
bool may_manage_stream(const Caller &caller, const std::string &stream_id);

/* authorize_caller() and may_manage_stream(); replies 403 naming the stream
 * when the caller may not manage it. */
bool authorize_stream_manager(const Config &config, HttpServer &http, SoupServerMessage *msg,
                              const std::string &stream_id, Caller &caller);

} // namespace sugarcast
