/* sugarcastd — the control API for streams and their keys (JSON under
 * /api/, admin bearer token). See docs/api.md.
 *
 *   POST   /api/streams              {"title"} → {"id", "key", "rtmp_url", "hls_url", ...}
 *   GET    /api/streams              every stream, newest first
 *   GET    /api/streams/{id}         one stream, its live state and recent sessions
 *                                    (admin, or the streamer of that stream)
 *   DELETE /api/streams/{id}         ends it if live, deletes it and its HLS folder
 *   POST   /api/streams/{id}/key     a new key (shown once); the old one stops working
 *                                    (admin, or the streamer of that stream)
 *   DELETE /api/streams/{id}/key     revokes the key and ends a live stream
 *   GET    /api/live                 the streams live now
 *   GET    /api/watch/{id}           public: title, state, HLS and chat URLs, gift catalogue
 */
#pragma once

#include "config.h"
#include "http.h"
#include "rest.h"
#include "store.h"
#include "streams.h"

namespace sugarcast {

class StreamsApi
{
public:
  StreamsApi(const Config &config, HttpServer &http, Store &store, StreamManager &streams);

private:
  void create(HttpRequest &r);
  void list(HttpRequest &r);
  void show(HttpRequest &r);
  void remove(HttpRequest &r);
  void rotate_key(HttpRequest &r);
  void revoke_key(HttpRequest &r);
  void live(HttpRequest &r);
  void watch(HttpRequest &r);

  /* {"id", "title", "state", "hls_url", ...} for one stream. */
  JsonObject *describe(SoupServerMessage *msg, const StreamRecord &s) const;
  std::string rtmp_base(SoupServerMessage *msg) const;
  std::string hls_url(SoupServerMessage *msg, const std::string &id) const;

  const Config &config_;
  HttpServer &http_;
  Store &store_;
  StreamManager &streams_;
};

} // namespace sugarcast
