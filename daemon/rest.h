/* sugarcastd — what every REST route module shares on top of the HTTP
 * server (http.h): answering later, from a store callback, and a store
 * error as an HTTP reply. The streams API (api.h), clips, uploads and the
 * chat's routes use these; none of them includes another's header for it. */
#pragma once

#include "http.h"
#include "store.h"

namespace sugarcast {

/* Replies from a store callback: pauses `msg` now and unpauses it when the
 * reply is set (the message stays alive in between). */
class Deferred
{
public:
  explicit Deferred(SoupServerMessage *msg);
  ~Deferred();
  Deferred(const Deferred &) = delete;
  Deferred &operator=(const Deferred &) = delete;
  SoupServerMessage *msg() const { return msg_; }

private:
  SoupServerMessage *msg_;
};

/* A store error as an HTTP reply: 503 (retry) or 500. */
void respond_store_error(SoupServerMessage *msg, const StoreError &error);

} // namespace sugarcast
