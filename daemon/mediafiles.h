/* sugarcastd — the libsoup handler for media files: the media requests that
 * reach libsoup (the fast path, fastpath.h, serves the others), by the same
 * rules (media.h). */
#pragma once

#include "http.h"
#include "media.h"

#include <memory>
#include <string>

namespace sugarcast {

/* The libsoup handler for URL_PREFIX/ID/... from a media folder. */
class MediaFiles
{
public:
  /* Serves ROOT/ID/... under URL_PREFIX/ID/..., and gives the folder to the
   * HTTP server's fast path. */
  MediaFiles(HttpServer &http, std::string url_prefix, std::string root);
  /* See PlaylistObserver; call before the HTTP server listens. */
  void set_playlist_observer(PlaylistObserver observer)
  {
    root_->set_playlist_observer(std::move(observer));
  }

private:
  static void on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                         gpointer self);
  void serve(SoupServerMessage *msg, const char *path);

  HttpServer &http_;
  std::string prefix_;
  std::shared_ptr<MediaRoot> root_;
};

} // namespace sugarcast
