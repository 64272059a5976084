/* sugarcastd — serving media files over HTTP: HLS under /hls/STREAM_ID/,
 * clip outputs under /clips/CLIP_ID/.
 *
 * Content types by extension, Cache-Control by kind (playlists are fetched
 * again and again, segments never change), CORS, byte ranges (libsoup), and
 * no request ever reads outside its folder: every path component must be a
 * plain name, and the resolved file must lie under the root. */
#pragma once

#include "http.h"

#include <string>

namespace sugarcast {

class MediaFiles
{
public:
  /* Serves ROOT/ID/... under URL_PREFIX/ID/... */
  MediaFiles(HttpServer &http, std::string url_prefix, std::string root);

private:
  static void on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                         gpointer self);
  void serve(SoupServerMessage *msg, const char *path);

  HttpServer &http_;
  std::string prefix_;
  std::string root_;
};

/* "application/vnd.apple.mpegurl" for x.m3u8, ...; nullptr when not served. */
const char *media_content_type(const std::string &file_name);

} // namespace sugarcast
