/* sugarcastd — configuration. See config.h. */
#include "config.h"

#include "jsondepth.h"
#include "jsonschema.h"

#include <json-glib/json-glib.h>

#include <filesystem>
#include <set>

namespace sugarcast {

namespace {

const char *kSchema = "/sugarcast/schemas/config.schema.json";

JsonObject *object(JsonObject *parent, const char *name)
{
  return json_object_get_object_member(parent, name);
}

std::string str(JsonObject *o, const char *name)
{
  return json_object_get_string_member(o, name);
}

int64_t integer(JsonObject *o, const char *name)
{
  return static_cast<int64_t>(json_node_get_double(json_object_get_member(o, name)));
}

double number(JsonObject *o, const char *name)
{
  return json_node_get_double(json_object_get_member(o, name));
}

std::vector<std::string> strings(JsonObject *o, const char *name)
{
  std::vector<std::string> out;
  JsonArray *a = json_object_get_array_member(o, name);
  for (guint i = 0; i < json_array_get_length(a); ++i)
    out.push_back(json_array_get_string_element(a, i));
  return out;
}

/* Absolute, with a relative `path` taken from `base`; "" stays "" unless
 * a default below `base` is given. */
std::string resolve_path(const std::string &path, const std::string &base,
                         const std::string &default_name = "")
{
  namespace fs = std::filesystem;
  if (path.empty())
    return default_name.empty() ? "" : (fs::path(base) / default_name).lexically_normal().string();
  fs::path p(path);
  return (p.is_absolute() ? p : fs::path(base) / p).lexically_normal().string();
}

void from_env(std::string &field, const char *variable)
{
  const char *value = g_getenv(variable);
  if (value && *value)
    field = value;
}

Config map(JsonObject *root)
{
  Config c;
  c.data_dir = str(root, "data_dir");
  c.instance_id = str(root, "instance_id");
  c.admin_token = str(root, "admin_token");
  c.pipelines_dir = str(root, "pipelines_dir");
  c.log_level = str(root, "log_level");

  JsonObject *http = object(root, "http");
  c.http.address = str(http, "address");
  c.http.port = static_cast<int>(integer(http, "port"));
  c.http.public_url = str(http, "public_url");
  c.http.cors_origins = strings(http, "cors_origins");
  c.http.listen_backlog = static_cast<int>(integer(http, "listen_backlog"));
  c.http.max_body_bytes = integer(http, "max_body_bytes");
  c.http.media_threads = static_cast<int>(integer(http, "media_threads"));
  c.http.idle_timeout_ms = static_cast<int>(integer(http, "idle_timeout_ms"));
  c.http.head_timeout_ms = static_cast<int>(integer(http, "head_timeout_ms"));
  c.http.body_timeout_ms = static_cast<int>(integer(http, "body_timeout_ms"));
  c.http.max_connections = static_cast<int>(integer(http, "max_connections"));
  c.http.max_websockets = static_cast<int>(integer(http, "max_websockets"));
  c.http.admin_failures_per_minute = static_cast<int>(integer(http, "admin_failures_per_minute"));

  JsonObject *rtmp = object(root, "rtmp");
  c.rtmp.address = str(rtmp, "address");
  c.rtmp.port = static_cast<int>(integer(rtmp, "port"));
  c.rtmp.public_url = str(rtmp, "public_url");
  c.rtmp.tls_port = static_cast<int>(integer(rtmp, "tls_port"));
  c.rtmp.tls_certificate = str(rtmp, "tls_certificate");
  c.rtmp.tls_key = str(rtmp, "tls_key");
  c.rtmp.handshake_timeout_ms = static_cast<int>(integer(rtmp, "handshake_timeout_ms"));
  c.rtmp.idle_timeout_ms = static_cast<int>(integer(rtmp, "idle_timeout_ms"));
  c.rtmp.max_connections = static_cast<int>(integer(rtmp, "max_connections"));
  c.rtmp.max_connections_per_address =
      static_cast<int>(integer(rtmp, "max_connections_per_address"));

  JsonObject *store = object(root, "store");
  c.store.database_url = str(store, "database_url");
  c.store.sqlite_path = str(store, "sqlite_path");

  JsonObject *streams = object(root, "streams");
  c.streams.pipeline = str(streams, "pipeline");
  c.streams.grace_period_ms = static_cast<int>(integer(streams, "grace_period_ms"));
  c.streams.max_live = static_cast<int>(integer(streams, "max_live"));

  JsonObject *hls = object(root, "hls");
  c.hls.dir = str(hls, "dir");
  c.hls.segment_duration = static_cast<int>(integer(hls, "segment_duration"));
  c.hls.playlist_length = static_cast<int>(integer(hls, "playlist_length"));
  c.hls.ladder = str(hls, "ladder");

  JsonObject *recordings = object(root, "recordings");
  c.recordings.enabled = json_object_get_boolean_member(recordings, "enabled");
  c.recordings.dir = str(recordings, "dir");
  c.recordings.segment_duration = static_cast<int>(integer(recordings, "segment_duration"));
  c.recordings.max_age = integer(recordings, "max_age");
  c.recordings.max_stream_bytes = integer(recordings, "max_stream_bytes");
  c.recordings.max_total_bytes = integer(recordings, "max_total_bytes");
  c.stats.interval = static_cast<int>(integer(object(root, "stats"), "interval"));

  JsonObject *clips = object(root, "clips");
  c.clips.pipeline = str(clips, "pipeline");
  c.clips.dir = str(clips, "dir");
  c.clips.max_upload_bytes = integer(clips, "max_upload_bytes");
  c.clips.min_duration = number(clips, "min_duration");
  c.clips.max_duration = number(clips, "max_duration");
  c.clips.max_concurrent = static_cast<int>(integer(clips, "max_concurrent"));
  c.clips.stall_timeout = number(clips, "stall_timeout");
  c.clips.max_uploads_per_user = static_cast<int>(integer(clips, "max_uploads_per_user"));
  c.clips.uploads_disk_bytes = integer(clips, "uploads_disk_bytes");
  c.clips.upload_expiry_seconds = static_cast<int>(integer(clips, "upload_expiry_seconds"));
  c.clips.max_event_streams_per_user =
      static_cast<int>(integer(clips, "max_event_streams_per_user"));
  c.clips.events_idle_timeout = number(clips, "events_idle_timeout");

  JsonObject *chat = object(root, "chat");
  c.chat.jwt_secret = str(chat, "jwt_secret");
  c.chat.jwt_audience = str(chat, "jwt_audience");
  c.chat.jwt_issuer = str(chat, "jwt_issuer");
  c.chat.history_size = static_cast<int>(integer(chat, "history_size"));
  c.chat.max_message_chars = static_cast<int>(integer(chat, "max_message_chars"));
  c.chat.rate_per_second = number(chat, "rate_per_second");
  c.chat.rate_burst = static_cast<int>(integer(chat, "rate_burst"));
  c.chat.sensitive_words = strings(chat, "sensitive_words");
  c.chat.filter_mode = str(chat, "filter_mode");
  c.chat.ban_scope = str(chat, "ban_scope");
  c.chat.send_queue_bytes = integer(chat, "send_queue_bytes");
  c.chat.threads = static_cast<int>(integer(chat, "threads"));
  c.chat.viewer_count_interval_ms = static_cast<int>(integer(chat, "viewer_count_interval_ms"));
  c.chat.max_connections = integer(chat, "max_connections");
  c.chat.max_connections_per_room = integer(chat, "max_connections_per_room");
  c.chat.idle_ping_ms = static_cast<int>(integer(chat, "idle_ping_ms"));

  JsonObject *gifts = object(root, "gifts");
  JsonArray *catalogue = json_object_get_array_member(gifts, "catalogue");
  for (guint i = 0; i < json_array_get_length(catalogue); ++i) {
    JsonObject *g = json_array_get_object_element(catalogue, i);
    c.gifts.catalogue.push_back(
        {str(g, "id"), str(g, "name"), integer(g, "coins"), str(g, "animation")});
  }
  c.gifts.max_count = static_cast<int>(integer(gifts, "max_count"));
  c.gifts.rate_per_second = number(gifts, "rate_per_second");
  c.gifts.rate_burst = static_cast<int>(integer(gifts, "rate_burst"));
  return c;
}

/* What the schema cannot say: relations between fields. */
std::vector<SchemaViolation> cross_checks(const Config &c)
{
  std::vector<SchemaViolation> out;
  if (c.clips.min_duration > c.clips.max_duration)
    out.push_back({"/clips/min_duration", "must not exceed clips.max_duration (" +
                                              std::to_string(c.clips.max_duration) + ")"});
  if (c.rtmp.tls_port != 0 && (c.rtmp.tls_certificate.empty() || c.rtmp.tls_key.empty()))
    out.push_back({"/rtmp/tls_port", "RTMPS needs rtmp.tls_certificate and rtmp.tls_key"});
  std::set<std::string> ids;
  for (size_t i = 0; i < c.gifts.catalogue.size(); ++i)
    if (!ids.insert(c.gifts.catalogue[i].id).second)
      out.push_back({"/gifts/catalogue/" + std::to_string(i) + "/id",
                     "gift id \"" + c.gifts.catalogue[i].id + "\" appears twice"});
  return out;
}

/* The file with defaults filled in, derived values written back and
 * secrets replaced by "(set)". */
std::string effective_json(JsonNode *root, const Config &c)
{
  JsonObject *o = json_node_get_object(root);
  auto put = [](JsonObject *obj, const char *name, const std::string &value) {
    json_object_set_string_member(obj, name, value.c_str());
  };
  auto secret = [](const std::string &value) { return value.empty() ? "" : "(set)"; };
  put(o, "data_dir", c.data_dir);
  put(o, "instance_id", c.instance_id);
  put(o, "pipelines_dir", c.pipelines_dir);
  put(o, "admin_token", secret(c.admin_token));
  put(object(o, "store"), "sqlite_path", c.store.sqlite_path);
  put(object(o, "store"), "database_url", secret(c.store.database_url));
  put(object(o, "hls"), "dir", c.hls.dir);
  put(object(o, "clips"), "dir", c.clips.dir);
  put(object(o, "recordings"), "dir", c.recordings.dir);
  put(object(o, "chat"), "jwt_secret", secret(c.chat.jwt_secret));
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_pretty(gen, TRUE);
  json_generator_set_root(gen, root);
  g_autofree gchar *text = json_generator_to_data(gen, nullptr);
  return text;
}

} // namespace

std::optional<Config> load_config(const ConfigSources &sources, std::string &error)
{
  std::string schema_error;
  auto schema = JsonSchema::load_resource(kSchema, schema_error);
  if (!schema) {
    error = schema_error;
    return std::nullopt;
  }

  const std::string where = sources.file.empty() ? "configuration" : sources.file;
  g_autoptr(JsonNode) root = nullptr;
  if (sources.file.empty()) {
    root = json_node_init_object(json_node_alloc(), json_object_new());
  } else {
    g_autofree gchar *text = nullptr;
    gsize length = 0;
    g_autoptr(GError) err = nullptr;
    if (!g_file_get_contents(sources.file.c_str(), &text, &length, &err)) {
      error = err->message;
      return std::nullopt;
    }
    g_autoptr(JsonParser) parser = json_parser_new();
    std::string problem;
    if (!json_parse_bounded(parser, std::string_view(text, length), problem)) {
      /* json-glib names the line and column of "<data>" */
      const size_t at = problem.find("<data>");
      if (at != std::string::npos)
        problem.replace(at, 6, sources.file);
      else
        problem = sources.file + ": " + problem;
      error = problem;
      return std::nullopt;
    }
    root = json_node_copy(json_parser_get_root(parser));
  }

  std::vector<SchemaViolation> problems = schema->validate(root);
  if (problems.empty()) {
    schema->fill_defaults(root);
    Config c = map(json_node_get_object(root));
    problems = cross_checks(c);
    if (problems.empty()) {
      if (!sources.data_dir.empty())
        c.data_dir = sources.data_dir;
      c.data_dir = resolve_path(c.data_dir, std::filesystem::current_path().string());
      c.store.sqlite_path = resolve_path(c.store.sqlite_path, c.data_dir, "sugarcast.db");
      c.hls.dir = resolve_path(c.hls.dir, c.data_dir, "hls");
      c.clips.dir = resolve_path(c.clips.dir, c.data_dir, "clips");
      c.recordings.dir = resolve_path(c.recordings.dir, c.data_dir, "recordings");
      c.pipelines_dir = resolve_path(c.pipelines_dir, c.data_dir);
      if (c.instance_id.empty())
        c.instance_id = std::string(g_get_host_name()) + "-" + std::to_string(getpid());
      from_env(c.admin_token, "SUGARCAST_ADMIN_TOKEN");
      from_env(c.chat.jwt_secret, "SUGARCAST_JWT_SECRET");
      from_env(c.store.database_url, "SUGARCAST_DATABASE_URL");
      c.effective_json = effective_json(root, c);
      return c;
    }
  }
  error.clear();
  for (const auto &p : problems)
    error += where + ": " + (p.path.empty() ? "/" : p.path) + ": " + p.message + "\n";
  if (!error.empty())
    error.pop_back();
  return std::nullopt;
}

} // namespace sugarcast
