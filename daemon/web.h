/* sugarcastd — the pages viewers open: /watch/STREAM_ID, a player with the
 * room's chat and gifts, and its assets under /web/ (built into the binary;
 * hls.js comes from web/node_modules when it was installed at build time). */
#pragma once

#include "http.h"

namespace sugarcast {

class WebPages
{
public:
  explicit WebPages(HttpServer &http);

private:
  static void on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                         gpointer self);
  HttpServer &http_;
};

} // namespace sugarcast
