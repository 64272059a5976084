/* sugarcastd — uploaded clips: the upload. POST /api/clips, authorized and
 * its size checked from the headers before a byte of the body is read, the
 * body written to the clip's folder as it arrives; and a complete file from
 * elsewhere (a resumable upload, a highlight) moved into a new clip's
 * folder. Both end with the clip stored as queued and handed to the queue
 * (clips_jobs.cpp). */
#include "clips_impl.h"
#include "guard.h"

#include "secrets.h"

#include <cstdio>

namespace sugarcast {

namespace {

/* One upload being received, attached to its request. */
struct Upload
{
  std::string id;
  std::string dir;
  std::string path;
  std::string owner;
  FILE *file = nullptr;
  int64_t expected = 0;
  int64_t received = 0;
  bool complete = false;
  ~Upload()
  {
    if (file)
      std::fclose(file);
    if (!complete) { /* the client went away, or the upload was refused */
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
};

/* A name a creator gave their file, safe to show and store. */
std::string display_name(const std::string &name)
{
  std::string out;
  for (char c : name.substr(0, 200))
    out += (static_cast<unsigned char>(c) < 0x20 || c == '/' || c == '\\') ? '_' : c;
  g_autofree gchar *valid = g_utf8_make_valid(out.c_str(), -1);
  return valid;
}

} // namespace

/* ---- the upload ---- */

void ClipService::Impl::on_early(SoupServer *, SoupServerMessage *msg, const char *path,
                                 GHashTable *query, gpointer data)
{
  auto *self = static_cast<Impl *>(data);
  if (g_strcmp0(soup_server_message_get_method(msg), "POST") != 0 ||
      g_strcmp0(path, "/api/clips") != 0)
    return;
  Uploader who;
  if (!authorize_uploader(self->config, self->http, msg, who))
    return; /* refused before a byte of the body is read */
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  const goffset length = soup_message_headers_get_content_length(headers);
  if (soup_message_headers_get_encoding(headers) != SOUP_ENCODING_CONTENT_LENGTH) {
    respond_error(msg, SOUP_STATUS_LENGTH_REQUIRED, "length_required",
                  "Send the clip with a Content-Length header");
    return;
  }
  if (length > self->config.clips.max_upload_bytes) {
    respond_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                  "The upload is " + std::to_string(length) + " bytes; the limit is " +
                      std::to_string(self->config.clips.max_upload_bytes));
    return;
  }
  if (length == 0) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "empty_upload", "The upload is empty");
    return;
  }
  if (self->shutting_down) {
    respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "shutting_down",
                  "The server is shutting down; upload again shortly");
    return;
  }
  auto *upload = new Upload;
  upload->id = random_id();
  upload->dir = self->dir_of(upload->id);
  upload->path = upload->dir + "/upload";
  upload->expected = length;
  upload->owner = who.owner;
  std::error_code ec;
  fs::create_directories(upload->dir, ec);
  upload->file = ec ? nullptr : std::fopen(upload->path.c_str(), "wb");
  if (!upload->file) {
    g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "cannot write uploads to %s: %s", upload->dir.c_str(),
          ec ? ec.message().c_str() : g_strerror(errno));
    delete upload;
    respond_error(msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "storage",
                  "The server cannot store uploads right now");
    return;
  }
  (void)query;
  g_object_set_data_full(G_OBJECT(msg), "sugarcast-upload", upload,
                         [](gpointer u) { delete static_cast<Upload *>(u); });
  /* Write the body as it comes instead of holding it in memory. */
  soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
  g_signal_connect(msg, "got-chunk", G_CALLBACK(SUGARCAST_GUARD(on_chunk)), upload);
}

void ClipService::Impl::on_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
  auto *upload = static_cast<Upload *>(data);
  gsize size = 0;
  const void *bytes = g_bytes_get_data(chunk, &size);
  upload->received += static_cast<int64_t>(size);
  if (upload->file && std::fwrite(bytes, 1, size, upload->file) != size) {
    g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "clip %s: writing %s failed: %s", upload->id.c_str(),
          upload->path.c_str(), g_strerror(errno));
    std::fclose(upload->file);
    upload->file = nullptr;
  }
  (void)msg;
}

void ClipService::Impl::on_upload(HttpRequest &r)
{
  auto *upload = static_cast<Upload *>(g_object_get_data(G_OBJECT(r.msg), "sugarcast-upload"));
  if (!upload) {
    respond_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_upload", "The upload was not received");
    return;
  }
  if (!upload->file || std::fclose(upload->file) != 0 || upload->received != upload->expected) {
    upload->file = nullptr;
    respond_error(r.msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "storage",
                  "The upload could not be stored");
    return;
  }
  upload->file = nullptr;
  upload->complete = true;
  ClipRecord c;
  c.id = upload->id;
  c.filename = display_name(r.query_param("filename", "upload"));
  c.size = upload->received;
  c.owner = upload->owner;
  c.state = "queued";
  c.created_at = c.updated_at = now_ms();
  metrics.counter("sugarcast_clips_uploaded_total", "Clips uploaded").fetch_add(1);
  g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "clip %s uploaded: \"%s\", %" G_GINT64_FORMAT " bytes",
        c.id.c_str(), c.filename.c_str(), c.size);
  auto reply = std::make_shared<Deferred>(r.msg);
  store.save_clip(c, [this, reply, c](StoreResult<Done> saved) {
    if (!saved.ok()) {
      std::error_code ec;
      fs::remove_all(dir_of(c.id), ec);
      respond_store_error(reply->msg(), saved.error());
      return;
    }
    JsonObject *o = describe(reply->msg(), c);
    json_object_set_string_member(o, "status_url",
                                  (http.base_url(reply->msg()) + "/api/clips/" + c.id).c_str());
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
    json_object_unref(o);
    respond_json(reply->msg(), SOUP_STATUS_ACCEPTED, node);
    announce(c);
    queue.push_back(c.id);
    run_next();
  });
}

/* A complete file from elsewhere (a resumable upload) is moved into a
 * new clip's folder and queued like a single-body upload. */
void ClipService::Impl::accept_file(
    const std::string &file, const std::string &filename, const std::string &owner,
    const std::string &gifts, std::function<void(const std::string &, const std::string &)> done)
{
  if (shutting_down) {
    done("", "the server is shutting down");
    return;
  }
  ClipRecord c;
  c.id = random_id();
  std::error_code ec;
  fs::create_directories(dir_of(c.id), ec);
  g_autoptr(GError) written = nullptr;
  if (!ec && !gifts.empty() &&
      !g_file_set_contents((dir_of(c.id) + "/" + kGiftsName).c_str(), gifts.data(),
                           static_cast<gssize>(gifts.size()), &written)) {
    g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "clip %s: cannot write its %s: %s", c.id.c_str(),
          kGiftsName, written->message);
    ec = std::make_error_code(std::errc::io_error);
  }
  if (!ec)
    fs::rename(file, dir_of(c.id) + "/upload", ec);
  if (ec) {
    g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "clip %s: cannot take %s: %s", c.id.c_str(),
          file.c_str(), ec.message().c_str());
    fs::remove_all(dir_of(c.id), ec);
    done("", "the server cannot store clips right now");
    return;
  }
  c.filename = display_name(filename);
  c.owner = owner;
  c.size = static_cast<int64_t>(fs::file_size(dir_of(c.id) + "/upload", ec));
  c.state = "queued";
  c.created_at = c.updated_at = now_ms();
  metrics.counter("sugarcast_clips_uploaded_total", "Clips uploaded").fetch_add(1);
  g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO,
        "clip %s uploaded (resumable): \"%s\", %" G_GINT64_FORMAT " bytes", c.id.c_str(),
        c.filename.c_str(), c.size);
  store.save_clip(c, [this, c, file, done](StoreResult<Done> saved) {
    std::error_code ec;
    if (!saved.ok()) { /* back where it was, for a retry */
      fs::rename(dir_of(c.id) + "/upload", file, ec);
      fs::remove_all(dir_of(c.id), ec);
      done("", saved.error().message);
      return;
    }
    done(c.id, "");
    announce(c);
    queue.push_back(c.id);
    run_next();
  });
}

} // namespace sugarcast
