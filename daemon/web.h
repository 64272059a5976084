/* sugarcastd — the pages people open, built into the binary (web/, with the
 * npm libraries they use from web/node_modules, see vendor.gresource.xml):
 *   /                 what is live, upcoming, recent recordings and short videos
 *   /watch/STREAM_ID  the player with the room's chat, gifts and leaderboard
 *   /studio           the streamer's page (their token in the URL fragment)
 *   /admin            the moderators' and operators' page (the admin token)
 * and their assets under /web/. The pages take everything from the API;
 * nothing here knows a stream. */
#pragma once

#include "http.h"

namespace sugarcast {

class WebPages
{
public:
  explicit WebPages(HttpServer &http);

private:
  HttpServer &http_;
};

} // namespace sugarcast
