/* sugarcastd — shared REST helpers. See rest.h. */
#include "rest.h"

#define LOG_DOMAIN "sugarcastd-api"

namespace sugarcast {

Deferred::Deferred(SoupServerMessage *msg) : msg_(SOUP_SERVER_MESSAGE(g_object_ref(msg)))
{
  soup_server_message_pause(msg_);
}

Deferred::~Deferred()
{
  soup_server_message_unpause(msg_);
  g_object_unref(msg_);
}

void respond_store_error(SoupServerMessage *msg, const StoreError &error)
{
  g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "store: %s", error.message.c_str());
  if (error.retryable) {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "2");
    respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "store_unavailable",
                  "The database is unavailable; nothing was changed. Try again shortly.");
  } else {
    respond_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "store_error",
                  "The database refused the request; nothing was changed.");
  }
}

} // namespace sugarcast
