/* sugarcastd — resumable clip uploads (tus 1.0). See tus.h. */
#include "tus.h"
#include "guard.h"

#include "authz.h"
#include "chat/jwt.h"
#include "events.h"
#include "rest.h"
#include "secrets.h"

#include <glib/gstdio.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define LOG_DOMAIN "sugarcastd-tus"

namespace sugarcast {

namespace {

namespace fs = std::filesystem;

constexpr const char *kTusVersion = "1.0.0";
constexpr const char *kExtensions = "creation,expiration,termination";
constexpr const char *kExposed = "Location, Upload-Offset, Upload-Length, Upload-Metadata, "
                                 "Upload-Expires, Tus-Resumable, Tus-Version, Tus-Extension, "
                                 "Tus-Max-Size, Sugarcast-Clip-Id, Sugarcast-Upload-Sha256";
constexpr const char *kAllowed = "Authorization, Content-Type, Tus-Resumable, Upload-Length, "
                                 "Upload-Metadata, Upload-Offset";
constexpr size_t kMaxMetadata = 4096;

/* A non-negative decimal number with nothing else in it. */
bool parse_size(const char *text, int64_t &out)
{
  if (!text || !*text || std::strlen(text) > 18)
    return false;
  int64_t v = 0;
  for (const char *p = text; *p; ++p) {
    if (*p < '0' || *p > '9')
      return false;
    v = v * 10 + (*p - '0');
  }
  out = v;
  return true;
}

/* Upload-Metadata: "key base64,key2 base64,key3" (tus 1.0, creation). */
bool parse_metadata(const std::string &text, std::map<std::string, std::string> &out,
                    std::string &error)
{
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos)
      end = text.size();
    std::string pair = text.substr(start, end - start);
    while (!pair.empty() && pair.front() == ' ')
      pair.erase(0, 1);
    while (!pair.empty() && pair.back() == ' ')
      pair.pop_back();
    const size_t space = pair.find(' ');
    const std::string key = pair.substr(0, space);
    const std::string value = space == std::string::npos ? "" : pair.substr(space + 1);
    if (key.empty()) {
      error = "Upload-Metadata has an empty key";
      return false;
    }
    if (out.count(key)) {
      error = "Upload-Metadata names \"" + key + "\" twice";
      return false;
    }
    for (char c : value)
      if (!g_ascii_isalnum(c) && c != '+' && c != '/' && c != '=') {
        error = "The Upload-Metadata value of \"" + key + "\" is not base64";
        return false;
      }
    if (value.size() % 4 != 0) {
      error = "The Upload-Metadata value of \"" + key + "\" is not base64";
      return false;
    }
    gsize size = 0;
    g_autofree guchar *decoded = value.empty() ? nullptr : g_base64_decode(value.c_str(), &size);
    out[key] = std::string(reinterpret_cast<const char *>(decoded), size);
    start = end + 1;
  }
  return true;
}

/* An HTTP date (RFC 7231, IMF-fixdate) of Unix milliseconds. */
std::string http_date(int64_t ms)
{
  static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(ms / 1000);
  if (!t)
    return "";
  char out[64];
  std::snprintf(out, sizeof out, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                days[g_date_time_get_day_of_week(t) - 1], g_date_time_get_day_of_month(t),
                months[g_date_time_get_month(t) - 1], g_date_time_get_year(t),
                g_date_time_get_hour(t), g_date_time_get_minute(t), g_date_time_get_second(t));
  return out;
}

int64_t file_size(const std::string &path)
{
  GStatBuf st;
  return g_stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

SoupMessageHeaders *out_headers(SoupServerMessage *msg)
{
  return soup_server_message_get_response_headers(msg);
}

const char *in_header(SoupServerMessage *msg, const char *name)
{
  return soup_message_headers_get_one(soup_server_message_get_request_headers(msg), name);
}

/* What every tus reply carries. */
void tus_headers(SoupServerMessage *msg)
{
  soup_message_headers_replace(out_headers(msg), "Tus-Resumable", kTusVersion);
  soup_message_headers_replace(out_headers(msg), "Access-Control-Expose-Headers", kExposed);
}

void tus_error(SoupServerMessage *msg, guint status, const char *code, const std::string &message)
{
  tus_headers(msg);
  respond_error(msg, status, code, message);
}

} // namespace

bool authorize_uploader(const Config &config, HttpServer &http, SoupServerMessage *msg,
                        Uploader &who)
{
  Caller caller;
  if (!authorize_caller(config, http, msg, caller)) {
    tus_headers(msg);
    return false;
  }
  if (!caller.admin && caller.role != chat::Role::Creator && caller.role != chat::Role::Streamer) {
    tus_error(msg, SOUP_STATUS_FORBIDDEN, "forbidden",
              std::string("Uploading clips needs a token with role creator or streamer; this one "
                          "has ") +
                  chat::role_name(caller.role));
    return false;
  }
  who.owner = caller.user;
  who.admin = caller.admin;
  return true;
}

struct TusUploads::Impl : std::enable_shared_from_this<TusUploads::Impl>
{
  struct Upload
  {
    std::string id;
    std::string owner;
    std::string filename;
    std::string metadata; /* the Upload-Metadata header as sent */
    int64_t length = 0;
    int64_t offset = 0;
    int64_t created_at = 0;
    int64_t touched_at = 0; /* the last byte or request; expiry counts from it */
    std::string clip_id;    /* once complete and handed over */
    std::string sha256;     /* of the complete upload, hex */
    bool patching = false;  /* a PATCH is writing: the upload is locked */
    bool finishing = false; /* complete, being handed over */
  };

  /* One PATCH being received, attached to its message. */
  struct Patch
  {
    std::weak_ptr<Impl> service;
    std::string id;
    int fd = -1;
    int64_t remaining = 0; /* bytes the upload still takes */
    bool overflow = false;
    int write_errno = 0;
    void release()
    {
      if (fd >= 0)
        close(fd);
      fd = -1;
      if (auto s = service.lock())
        s->patch_ended(id);
      service.reset();
    }
    ~Patch() { release(); }
  };

  const Config &config;
  HttpServer &http;
  Finish finish;
  std::string dir;
  std::map<std::string, Upload> uploads;
  guint cleanup_timer = 0;

  Impl(const Config &c, HttpServer &h, Finish f)
      : config(c), http(h), finish(std::move(f)), dir(c.data_dir + "/uploads")
  {}

  ~Impl()
  {
    if (cleanup_timer)
      g_source_remove(cleanup_timer);
  }

  std::string dir_of(const std::string &id) const { return dir + "/" + id; }
  std::string data_of(const std::string &id) const { return dir_of(id) + "/data"; }
  int64_t expires_at(const Upload &u) const
  {
    return u.touched_at + static_cast<int64_t>(config.clips.upload_expiry_seconds) * 1000;
  }
  bool expired(const Upload &u) const { return !u.patching && expires_at(u) <= now_ms(); }

  bool save_info(const Upload &u)
  {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "owner");
    json_builder_add_string_value(b, u.owner.c_str());
    json_builder_set_member_name(b, "filename");
    json_builder_add_string_value(b, u.filename.c_str());
    json_builder_set_member_name(b, "metadata");
    json_builder_add_string_value(b, u.metadata.c_str());
    json_builder_set_member_name(b, "length");
    json_builder_add_int_value(b, u.length);
    json_builder_set_member_name(b, "created_at");
    json_builder_add_int_value(b, u.created_at);
    json_builder_set_member_name(b, "clip_id");
    json_builder_add_string_value(b, u.clip_id.c_str());
    json_builder_set_member_name(b, "sha256");
    json_builder_add_string_value(b, u.sha256.c_str());
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    g_autofree gchar *text = json_generator_to_data(gen, nullptr);
    g_autoptr(GError) error = nullptr;
    if (!g_file_set_contents((dir_of(u.id) + "/info.json").c_str(), text, -1, &error)) {
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "upload %s: %s", u.id.c_str(), error->message);
      return false;
    }
    return true;
  }

  void remove(const std::string &id)
  {
    std::error_code ec;
    fs::remove_all(dir_of(id), ec);
    uploads.erase(id);
  }

  /* The uploads a previous run left, as they are on disk. */
  void load()
  {
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(dir, ec)) {
      const std::string id = entry.path().filename().string();
      g_autoptr(JsonParser) parser = json_parser_new();
      JsonObject *o = nullptr;
      if (json_parser_load_from_file(parser, (entry.path() / "info.json").c_str(), nullptr) &&
          JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
        o = json_node_get_object(json_parser_get_root(parser));
      if (!o || !json_object_has_member(o, "length")) {
        g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "upload %s has no readable info.json; deleted",
              id.c_str());
        fs::remove_all(entry.path(), ec);
        continue;
      }
      Upload u;
      u.id = id;
      u.owner = json_object_get_string_member_with_default(o, "owner", "");
      u.filename = json_object_get_string_member_with_default(o, "filename", "upload");
      u.metadata = json_object_get_string_member_with_default(o, "metadata", "");
      u.clip_id = json_object_get_string_member_with_default(o, "clip_id", "");
      u.sha256 = json_object_get_string_member_with_default(o, "sha256", "");
      u.length = json_object_get_int_member_with_default(o, "length", 0);
      u.created_at = json_object_get_int_member_with_default(o, "created_at", 0);
      u.offset = u.clip_id.empty() ? std::max<int64_t>(0, file_size(data_of(id))) : u.length;
      GStatBuf st;
      const std::string touched = u.clip_id.empty() ? data_of(id) : dir_of(id) + "/info.json";
      u.touched_at = g_stat(touched.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_mtime) * 1000
                                                       : u.created_at;
      uploads[id] = std::move(u);
      if (uploads[id].clip_id.empty() && uploads[id].offset == uploads[id].length)
        complete(id, nullptr); /* the last PATCH was cut short by the shutdown */
    }
  }

  void cleanup()
  {
    std::vector<std::string> gone;
    for (const auto &[id, u] : uploads)
      if (!u.finishing && expired(u))
        gone.push_back(id);
    for (const auto &id : gone) {
      g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO,
            "upload %s expired: %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " bytes", id.c_str(),
            uploads[id].offset, uploads[id].length);
      remove(id);
    }
  }

  /* ---- requests ---- */

  /* The upload named by the path, its owner's, not expired; replies itself
   * otherwise. */
  Upload *find(SoupServerMessage *msg, const std::string &id, const Uploader &who)
  {
    auto it = uploads.find(id);
    if (it == uploads.end() || (!who.admin && it->second.owner != who.owner)) {
      tus_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", "No upload with id \"" + id + "\"");
      return nullptr;
    }
    if (expired(it->second)) {
      remove(id);
      tus_error(msg, SOUP_STATUS_GONE, "expired",
                "The upload expired: it was untouched for longer than " +
                    std::to_string(config.clips.upload_expiry_seconds) + " s");
      return nullptr;
    }
    return &it->second;
  }

  bool check_version(SoupServerMessage *msg)
  {
    const char *version = in_header(msg, "Tus-Resumable");
    if (version && std::strcmp(version, kTusVersion) == 0)
      return true;
    soup_message_headers_replace(out_headers(msg), "Tus-Version", kTusVersion);
    tus_error(msg, SOUP_STATUS_PRECONDITION_FAILED, "tus_version",
              version ? std::string("This server speaks tus 1.0.0, not ") + version
                      : "Send Tus-Resumable: 1.0.0");
    return false;
  }

  void progress_headers(SoupServerMessage *msg, const Upload &u)
  {
    tus_headers(msg);
    SoupMessageHeaders *h = out_headers(msg);
    soup_message_headers_replace(h, "Upload-Offset", std::to_string(u.offset).c_str());
    soup_message_headers_replace(h, "Upload-Length", std::to_string(u.length).c_str());
    soup_message_headers_replace(h, "Upload-Expires", http_date(expires_at(u)).c_str());
    soup_message_headers_replace(h, "Cache-Control", "no-store");
    if (!u.clip_id.empty())
      soup_message_headers_replace(h, "Sugarcast-Clip-Id", u.clip_id.c_str());
    if (!u.sha256.empty())
      soup_message_headers_replace(h, "Sugarcast-Upload-Sha256", u.sha256.c_str());
  }

  static std::string path_id(const char *path)
  {
    const std::vector<std::string> parts = split_path(path);
    return parts.size() == 4 ? parts[3] : "";
  }

  /* Before the body: PATCH is checked and its body goes to the file as it
   * comes; a POST (creation) carries no body. */
  static void on_early(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                       gpointer data)
  {
    auto *self = static_cast<Impl *>(data);
    const char *method = soup_server_message_get_method(msg);
    if (g_strcmp0(method, "POST") == 0 && path_id(path).empty()) {
      SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
      if (soup_message_headers_get_encoding(headers) != SOUP_ENCODING_CONTENT_LENGTH ||
          soup_message_headers_get_content_length(headers) != 0)
        tus_error(msg, SOUP_STATUS_BAD_REQUEST, "body_not_allowed",
                  "Creating an upload takes no body (creation-with-upload is not supported): "
                  "send the bytes with PATCH");
      return;
    }
    if (g_strcmp0(method, "PATCH") == 0)
      self->start_patch(msg, path_id(path));
  }

  void start_patch(SoupServerMessage *msg, const std::string &id)
  {
    Uploader who;
    if (!check_version(msg) || !authorize_uploader(config, http, msg, who))
      return;
    Upload *u = find(msg, id, who);
    if (!u)
      return;
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    const char *type = soup_message_headers_get_content_type(headers, nullptr);
    if (!type || g_ascii_strcasecmp(type, "application/offset+octet-stream") != 0) {
      tus_error(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                "A PATCH carries Content-Type: application/offset+octet-stream");
      return;
    }
    int64_t offset = 0;
    if (!parse_size(in_header(msg, "Upload-Offset"), offset)) {
      tus_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_offset",
                "A PATCH needs Upload-Offset: the number of bytes already sent");
      return;
    }
    if (u->patching) {
      tus_error(msg, 423, "locked",
                "Another PATCH of this upload is under way; retry when it has ended");
      return;
    }
    if (offset != u->offset) {
      progress_headers(msg, *u);
      tus_error(msg, SOUP_STATUS_CONFLICT, "offset_mismatch",
                "Upload-Offset is " + std::to_string(offset) + "; the server has " +
                    std::to_string(u->offset) + " bytes of this upload");
      return;
    }
    const SoupEncoding encoding = soup_message_headers_get_encoding(headers);
    if (encoding == SOUP_ENCODING_CONTENT_LENGTH &&
        soup_message_headers_get_content_length(headers) > u->length - u->offset) {
      tus_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                "The PATCH carries " +
                    std::to_string(soup_message_headers_get_content_length(headers)) +
                    " bytes; the upload needs only " + std::to_string(u->length - u->offset));
      return;
    }
    if (!u->clip_id.empty() || u->finishing) {
      progress_headers(msg, *u);
      soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
      return;
    }
    auto *patch = new Patch;
    patch->service = weak_from_this();
    patch->id = id;
    patch->remaining = u->length - u->offset;
    patch->fd = open(data_of(id).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (patch->fd < 0) {
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "upload %s: cannot open %s: %s", id.c_str(),
            data_of(id).c_str(), g_strerror(errno));
      patch->service.reset();
      delete patch;
      tus_error(msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "storage",
                "The server cannot store uploads right now");
      return;
    }
    u->patching = true;
    u->touched_at = now_ms();
    g_object_set_data_full(G_OBJECT(msg), "sugarcast-tus-patch", patch,
                           [](gpointer p) { delete static_cast<Patch *>(p); });
    /* Write the body as it comes instead of holding it in memory. */
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
    g_signal_connect(msg, "got-chunk", G_CALLBACK(SUGARCAST_GUARD(on_chunk)), patch);
  }

  static void on_chunk(SoupServerMessage *, GBytes *chunk, gpointer data)
  {
    auto *patch = static_cast<Patch *>(data);
    gsize size = 0;
    auto *bytes = static_cast<const char *>(g_bytes_get_data(chunk, &size));
    if (patch->fd < 0 || patch->write_errno)
      return;
    if (static_cast<int64_t>(size) > patch->remaining) { /* chunked, longer than the upload */
      patch->overflow = true;
      size = static_cast<gsize>(patch->remaining);
    }
    while (size > 0) {
      const ssize_t n = write(patch->fd, bytes, size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        patch->write_errno = errno;
        return;
      }
      bytes += n;
      size -= static_cast<gsize>(n);
      patch->remaining -= n;
    }
  }

  /* The PATCH's message is gone or answered: the upload is free again. */
  void patch_ended(const std::string &id)
  {
    auto it = uploads.find(id);
    if (it == uploads.end())
      return;
    Upload &u = it->second;
    u.patching = false;
    u.touched_at = now_ms();
    u.offset = std::max<int64_t>(0, file_size(data_of(id)));
    g_log(LOG_DOMAIN, G_LOG_LEVEL_DEBUG,
          "upload %s: %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " bytes", id.c_str(), u.offset,
          u.length);
  }

  void on_patch(HttpRequest &r)
  {
    auto *patch = static_cast<Patch *>(g_object_get_data(G_OBJECT(r.msg), "sugarcast-tus-patch"));
    if (!patch) {
      tus_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_upload", "The PATCH was not received");
      return;
    }
    const bool overflow = patch->overflow;
    const int write_errno = patch->write_errno;
    const std::string id = patch->id;
    patch->release();
    auto it = uploads.find(id);
    if (it == uploads.end()) {
      tus_error(r.msg, SOUP_STATUS_NOT_FOUND, "not_found", "The upload was deleted");
      return;
    }
    Upload &u = it->second;
    if (write_errno) {
      g_log(LOG_DOMAIN, G_LOG_LEVEL_WARNING, "upload %s: writing failed: %s", id.c_str(),
            g_strerror(write_errno));
      progress_headers(r.msg, u);
      tus_error(r.msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "storage",
                "The server could not store all of the bytes; HEAD says how many it has");
      return;
    }
    if (overflow) {
      progress_headers(r.msg, u);
      tus_error(r.msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                "The PATCH carried more bytes than Upload-Length; the surplus was dropped");
      return;
    }
    if (u.offset < u.length) {
      progress_headers(r.msg, u);
      soup_server_message_set_status(r.msg, SOUP_STATUS_NO_CONTENT, nullptr);
      return;
    }
    complete(id, r.msg);
  }

  /* Every byte is in: the upload becomes a clip. MSG (if any) is answered
   * once the clip is recorded. */
  void complete(const std::string &id, SoupServerMessage *msg)
  {
    Upload &u = uploads[id];
    u.finishing = true;
    auto reply = msg ? std::make_shared<Deferred>(msg) : nullptr;
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "upload %s complete: %" G_GINT64_FORMAT " bytes",
          id.c_str(), u.length);
    /* The file is read once more, off the main thread, for its hash. */
    struct Hashing
    {
      std::weak_ptr<Impl> self;
      std::string id;
      std::shared_ptr<Deferred> reply;
    };
    g_autoptr(GTask) task = g_task_new(
        nullptr, nullptr, SUGARCAST_GUARD(+[](GObject *, GAsyncResult *result, gpointer) {
          auto *h = static_cast<Hashing *>(g_task_get_task_data(G_TASK(result)));
          g_autofree gchar *hex =
              static_cast<gchar *>(g_task_propagate_pointer(G_TASK(result), nullptr));
          if (auto self = h->self.lock())
            self->hashed(h->id, hex ? hex : "", h->reply);
        }),
        nullptr);
    g_task_set_task_data(task, new Hashing{weak_from_this(), id, reply},
                         [](gpointer h) { delete static_cast<Hashing *>(h); });
    g_object_set_data_full(G_OBJECT(task), "path", g_strdup(data_of(id).c_str()), g_free);
    g_task_run_in_thread(
        task, SUGARCAST_GUARD(+[](GTask *t, gpointer, gpointer, GCancellable *) {
          auto *path = static_cast<const char *>(g_object_get_data(G_OBJECT(t), "path"));
          g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
          const int fd = open(path, O_RDONLY | O_CLOEXEC);
          std::vector<guchar> buffer(1 << 20);
          ssize_t n = 0;
          while (fd >= 0 && (n = read(fd, buffer.data(), buffer.size())) > 0)
            g_checksum_update(sum, buffer.data(), n);
          if (fd >= 0)
            close(fd);
          g_task_return_pointer(
              t, fd >= 0 && n == 0 ? g_strdup(g_checksum_get_string(sum)) : nullptr, g_free);
        }));
  }

  void hashed(const std::string &id, const std::string &sha256, std::shared_ptr<Deferred> reply)
  {
    auto found = uploads.find(id);
    if (found == uploads.end())
      return;
    Upload &u = found->second;
    u.sha256 = sha256;
    finish(
        data_of(id), u.filename, u.owner,
        [weak = weak_from_this(), id, reply](const std::string &clip_id, const std::string &error) {
          auto self = weak.lock();
          if (!self)
            return;
          auto it = self->uploads.find(id);
          if (it == self->uploads.end())
            return;
          Upload &up = it->second;
          up.finishing = false;
          up.touched_at = now_ms();
          if (clip_id.empty()) {
            if (reply)
              tus_error(reply->msg(), SOUP_STATUS_SERVICE_UNAVAILABLE, "store_unavailable",
                        "Every byte arrived but the clip could not be recorded: " + error +
                            ". Send an empty PATCH to retry.");
            return;
          }
          up.clip_id = clip_id;
          self->save_info(up);
          if (reply) {
            self->progress_headers(reply->msg(), up);
            soup_message_headers_replace(
                out_headers(reply->msg()), "Location",
                (self->http.base_url(reply->msg()) + "/api/clips/" + clip_id).c_str());
            soup_server_message_set_status(reply->msg(), SOUP_STATUS_NO_CONTENT, nullptr);
          }
        });
  }

  void on_create(HttpRequest &r)
  {
    Uploader who;
    if (!check_version(r.msg) || !authorize_uploader(config, http, r.msg, who))
      return;
    int64_t length = 0;
    if (in_header(r.msg, "Upload-Defer-Length")) {
      tus_error(r.msg, SOUP_STATUS_BAD_REQUEST, "defer_length",
                "Upload-Defer-Length is not supported: send Upload-Length");
      return;
    }
    if (!parse_size(in_header(r.msg, "Upload-Length"), length)) {
      tus_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_length",
                "Creating an upload needs Upload-Length: its size in bytes");
      return;
    }
    if (length == 0) {
      tus_error(r.msg, SOUP_STATUS_BAD_REQUEST, "empty_upload", "The upload is empty");
      return;
    }
    if (length > config.clips.max_upload_bytes) {
      tus_error(r.msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                "The upload is " + std::to_string(length) + " bytes; the limit is " +
                    std::to_string(config.clips.max_upload_bytes));
      return;
    }
    const char *metadata = in_header(r.msg, "Upload-Metadata");
    std::map<std::string, std::string> meta;
    std::string error;
    if (metadata && std::strlen(metadata) > kMaxMetadata) {
      tus_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_metadata",
                "Upload-Metadata is longer than " + std::to_string(kMaxMetadata) + " bytes");
      return;
    }
    if (metadata && !parse_metadata(metadata, meta, error)) {
      tus_error(r.msg, SOUP_STATUS_BAD_REQUEST, "bad_metadata", error);
      return;
    }
    cleanup();
    int mine = 0;
    int64_t reserved = 0;
    for (const auto &[id, u] : uploads)
      if (u.clip_id.empty()) {
        mine += u.owner == who.owner;
        reserved += u.length - u.offset;
      }
    if (mine >= config.clips.max_uploads_per_user) {
      tus_error(r.msg, 429, "too_many_uploads",
                "You have " + std::to_string(mine) +
                    " unfinished uploads, the most allowed; finish or delete one first");
      return;
    }
    struct statvfs fsinfo = {};
    const int64_t free_bytes =
        statvfs(dir.c_str(), &fsinfo) == 0
            ? static_cast<int64_t>(fsinfo.f_bavail) * static_cast<int64_t>(fsinfo.f_frsize)
            : -1;
    if (reserved + length > config.clips.uploads_disk_bytes ||
        (free_bytes >= 0 && reserved + length > free_bytes)) {
      tus_error(r.msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "storage_full",
                "The server has no room for " + std::to_string(length) +
                    " more bytes of uploads now; try again later");
      return;
    }
    Upload u;
    u.id = random_id();
    u.owner = who.owner;
    u.metadata = metadata ? metadata : "";
    u.filename = meta.count("filename") ? meta["filename"]
                 : meta.count("name")   ? meta["name"]
                                        : "upload";
    u.length = length;
    u.created_at = u.touched_at = now_ms();
    std::error_code ec;
    fs::create_directories(dir_of(u.id), ec);
    const int fd =
        ec ? -1 : open(data_of(u.id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || !save_info(u)) {
      if (fd >= 0)
        close(fd);
      fs::remove_all(dir_of(u.id), ec);
      tus_error(r.msg, SOUP_STATUS_INSUFFICIENT_STORAGE, "storage",
                "The server cannot store uploads right now");
      return;
    }
    close(fd);
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "upload %s created: %" G_GINT64_FORMAT " bytes for %s",
          u.id.c_str(), u.length, u.owner.empty() ? "the admin" : u.owner.c_str());
    const std::string id = u.id;
    uploads[id] = std::move(u);
    progress_headers(r.msg, uploads[id]);
    soup_message_headers_replace(out_headers(r.msg), "Location",
                                 (http.base_url(r.msg) + "/api/clips/uploads/" + id).c_str());
    soup_server_message_set_status(r.msg, SOUP_STATUS_CREATED, nullptr);
  }

  void on_head(HttpRequest &r)
  {
    Uploader who;
    if (!check_version(r.msg) || !authorize_uploader(config, http, r.msg, who))
      return;
    Upload *u = find(r.msg, r.params["id"], who);
    if (!u)
      return;
    if (u->patching) {
      tus_error(r.msg, 423, "locked", "A PATCH of this upload is under way");
      return;
    }
    progress_headers(r.msg, *u);
    if (!u->metadata.empty())
      soup_message_headers_replace(out_headers(r.msg), "Upload-Metadata", u->metadata.c_str());
    soup_server_message_set_status(r.msg, SOUP_STATUS_OK, nullptr);
  }

  void on_delete(HttpRequest &r)
  {
    Uploader who;
    if (!check_version(r.msg) || !authorize_uploader(config, http, r.msg, who))
      return;
    const std::string id = r.params["id"];
    Upload *u = find(r.msg, id, who);
    if (!u)
      return;
    if (u->patching || u->finishing) {
      tus_error(r.msg, 423, "locked", "A PATCH of this upload is under way");
      return;
    }
    g_log(LOG_DOMAIN, G_LOG_LEVEL_INFO, "upload %s deleted at %" G_GINT64_FORMAT " bytes",
          id.c_str(), u->offset);
    remove(id);
    tus_headers(r.msg);
    soup_server_message_set_status(r.msg, SOUP_STATUS_NO_CONTENT, nullptr);
  }

  void on_options(HttpRequest &r)
  {
    http.respond_preflight(r.msg, "POST, HEAD, PATCH, DELETE, OPTIONS");
    tus_headers(r.msg);
    SoupMessageHeaders *h = out_headers(r.msg);
    soup_message_headers_replace(h, "Access-Control-Allow-Headers", kAllowed);
    soup_message_headers_replace(h, "Tus-Version", kTusVersion);
    soup_message_headers_replace(h, "Tus-Extension", kExtensions);
    soup_message_headers_replace(h, "Tus-Max-Size",
                                 std::to_string(config.clips.max_upload_bytes).c_str());
  }
};

TusUploads::TusUploads(const Config &config, HttpServer &http, Finish finish)
    : impl_(std::make_shared<Impl>(config, http, std::move(finish)))
{
  Impl *d = impl_.get();
  http.add_early_handler("/api/clips/uploads", SUGARCAST_GUARD(Impl::on_early), d);
  http.route(
      "OPTIONS", "/api/clips/uploads", [d](HttpRequest &r) { d->on_options(r); }, false);
  http.route(
      "OPTIONS", "/api/clips/uploads/{id}", [d](HttpRequest &r) { d->on_options(r); }, false);
  http.route(
      "POST", "/api/clips/uploads", [d](HttpRequest &r) { d->on_create(r); }, false);
  http.route(
      "GET", "/api/clips/uploads/{id}", [d](HttpRequest &r) { d->on_head(r); }, false);
  http.route(
      "PATCH", "/api/clips/uploads/{id}", [d](HttpRequest &r) { d->on_patch(r); }, false);
  http.route(
      "DELETE", "/api/clips/uploads/{id}", [d](HttpRequest &r) { d->on_delete(r); }, false);
}

TusUploads::~TusUploads() = default;

bool TusUploads::start(std::string &error)
{
  Impl &d = *impl_;
  std::error_code ec;
  fs::create_directories(d.dir, ec);
  if (ec) {
    error = "cannot make the uploads folder " + d.dir + ": " + ec.message();
    return false;
  }
  d.load();
  const guint interval =
      static_cast<guint>(std::clamp(d.config.clips.upload_expiry_seconds / 2, 1, 60));
  d.cleanup_timer = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, interval,
                                               SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
                                                 static_cast<Impl *>(data)->cleanup();
                                                 return G_SOURCE_CONTINUE;
                                               }),
                                               &d, nullptr);
  return true;
}

} // namespace sugarcast
