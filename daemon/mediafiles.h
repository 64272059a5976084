/* sugarcastd — the libsoup handler for media files: the media requests that
 * reach libsoup (the fast path, fastpath.h, serves the others), by the same
 * rules (media.h). A browser sends media requests here too when it reuses a
 * connection that began with an API request, so blocking playlist reload
 * is done here as well: a held request is paused and looked at again every
 * 10 ms from a main-loop timeout that runs only while any is held. */
#pragma once

#include "http.h"
#include "media.h"

#include <list>
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
  ~MediaFiles();
  MediaFiles(const MediaFiles &) = delete;
  MediaFiles &operator=(const MediaFiles &) = delete;
  /* See PlaylistObserver; call before the HTTP server listens. */
  void set_playlist_observer(PlaylistObserver observer)
  {
    root_->set_playlist_observer(std::move(observer));
  }

private:
  static void on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                         gpointer self);
  /* MAY_HOLD: false once a held request is answered. */
  void serve(SoupServerMessage *msg, const char *path, bool may_hold = true);
  /* Blocking reload (media.h, hls_hold): true when MSG was answered (400)
   * or is now held. */
  bool hold(SoupServerMessage *msg, const char *path, const std::string &relative);
  bool playlist_state(const std::string &relative, HlsPlaylistState &state) const;
  static gboolean on_tick(gpointer self);
  static void on_disconnected(SoupServerMessage *msg, gpointer self);
  /* Whether a held request's client closed its connection. */
  static bool client_left(SoupServerMessage *msg);

  struct Held
  {
    SoupServerMessage *msg; /* paused, referenced */
    std::string path;
    std::string relative;
    int64_t msn;
    gint64 deadline_us;
    gulong disconnected;
  };
  /* Forgets `it`; returns its message, still paused and referenced. */
  SoupServerMessage *forget(std::list<Held>::iterator it);

  HttpServer &http_;
  std::string prefix_;
  std::shared_ptr<MediaRoot> root_;
  std::list<Held> held_;
  guint tick_ = 0;
  unsigned ticks_ = 0;
};

} // namespace sugarcast
