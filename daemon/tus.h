/* sugarcastd — resumable clip uploads: the tus 1.0 protocol (tus.io),
 * core plus the creation, expiration and termination extensions.
 *
 *   OPTIONS /api/clips/uploads        Tus-Version, Tus-Extension, Tus-Max-Size
 *   POST    /api/clips/uploads        Upload-Length, Upload-Metadata → 201, Location
 *   HEAD    /api/clips/uploads/{id}   Upload-Offset, Upload-Length, Upload-Expires
 *   PATCH   /api/clips/uploads/{id}   Upload-Offset + application/offset+octet-stream
 *                                     body → 204, the new Upload-Offset
 *   DELETE  /api/clips/uploads/{id}   termination → 204
 *
 * Who may upload: the admin token, or a chat-style signed user token
 * (chat/jwt.h) with role creator, streamer or admin; an uploader sees only their own
 * uploads. Limits are checked from the request head, before a byte of a body
 * is read: clips.max_upload_bytes per upload, clips.max_uploads_per_user
 * unfinished uploads per uploader, clips.uploads_disk_bytes reserved by all
 * unfinished uploads together (and the free space of the disk).
 *
 * A PATCH body is written to disk as it arrives (libsoup 3 would otherwise
 * hold the whole body in memory before the handler runs: see the got-chunk
 * handling), so the bytes of a PATCH whose connection drops stay, and HEAD
 * reports them. Uploads live in DATA_DIR/uploads/ID/ (the bytes and an
 * info.json) and survive a restart; one untouched for
 * clips.upload_expiry_seconds is deleted. A finished upload becomes a clip,
 * as if it had been sent to POST /api/clips in one body; its id is in the
 * last PATCH reply's Sugarcast-Clip-Id header (and HEAD's, afterwards),
 * with the SHA-256 of every byte received in Sugarcast-Upload-Sha256 (hex),
 * for the uploader to check against their file.
 *
 * Written here rather than taken from a library: no C or C++ tus server
 * library is packaged for Debian 12; tusd (Go) is the reference we follow. */
#pragma once

#include "config.h"
#include "http.h"

#include <functional>
#include <memory>
#include <string>

namespace sugarcast {

/* Who sent a request, from its Authorization header. */
struct Uploader
{
  std::string owner; /* the token's user id; "" for the admin token */
  bool admin = false;
};

/* The admin token, or a signed user token with role creator, streamer or admin. On
 * failure replies 401/403 itself and returns false. */
bool authorize_uploader(const Config &config, HttpServer &http, SoupServerMessage *msg,
                        Uploader &who);

class TusUploads
{
public:
  /* Turns a complete file into a queued clip (it moves FILE away); calls
   * DONE with the clip's id, or "" and a message when it could not. */
  using Finish = std::function<void(
      const std::string &file, const std::string &filename, const std::string &owner,
      std::function<void(const std::string &clip_id, const std::string &error)> done)>;

  TusUploads(const Config &config, HttpServer &http, Finish finish);
  ~TusUploads();
  TusUploads(const TusUploads &) = delete;
  TusUploads &operator=(const TusUploads &) = delete;

  /* Reads the uploads a previous run left; starts the expiry cleanup. */
  bool start(std::string &error);

private:
  struct Impl;
  std::shared_ptr<Impl> impl_; /* shared: PATCHes under way hold it weakly */
};

} // namespace sugarcast
