/* sugarcastd — configuration: one JSON file, checked against
 * schemas/config.schema.json, every field defaulted by that schema. */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sugarcast {

struct GiftType
{
  std::string id;
  std::string name;
  int64_t coins = 0;
  std::string animation;
};

struct Config
{
  std::string data_dir;
  std::string instance_id;
  std::string admin_token;
  std::string pipelines_dir;
  std::string log_level;

  struct Http
  {
    std::string address;
    int port = 0;
    std::string public_url;
    std::vector<std::string> cors_origins;
    int listen_backlog = 0;
    int64_t max_body_bytes = 0;
    int media_threads = 0;
    int idle_timeout_ms = 0;
    int head_timeout_ms = 0;
    int body_timeout_ms = 0;
    int max_connections = 0;
    int max_websockets = 0;
    int admin_failures_per_minute = 0;
  } http;

  struct Rtmp
  {
    std::string address;
    int port = 0;
    std::string public_url;
    int tls_port = 0;
    std::string tls_certificate;
    std::string tls_key;
    int handshake_timeout_ms = 0;
    int idle_timeout_ms = 0;
    int max_connections = 0;
    int max_connections_per_address = 0;
  } rtmp;

  struct Store
  {
    std::string database_url;
    std::string sqlite_path;
  } store;

  struct Streams
  {
    std::string pipeline;
    int grace_period_ms = 0;
    int max_live = 0;
  } streams;

  struct Hls
  {
    std::string dir;
    int segment_duration = 0;
    int playlist_length = 0;
    std::string ladder;
  } hls;

  struct Recordings
  {
    bool enabled = true;
    std::string dir;
    int segment_duration = 0;     /* seconds */
    int64_t max_age = 0;          /* seconds; 0: no limit */
    int64_t max_stream_bytes = 0; /* 0: no limit */
    int64_t max_total_bytes = 0;  /* 0: no limit */
  } recordings;
  struct Stats
  {
    int interval = 10; /* seconds between two points */
  } stats;

  struct Clips
  {
    std::string pipeline;
    std::string dir;
    int64_t max_upload_bytes = 0;
    double min_duration = 0;
    double max_duration = 0;
    int max_concurrent = 0;
    double stall_timeout = 0;     /* seconds without progress before a clip fails as stalled */
    int max_uploads_per_user = 0; /* resumable (tus) uploads, see tus.h */
    int64_t uploads_disk_bytes = 0;
    int upload_expiry_seconds = 0;
    int max_event_streams_per_user = 0; /* GET /api/clips/{id}/events open at once */
    double events_idle_timeout = 0;     /* seconds without an event before a stream ends */
  } clips;

  struct Chat
  {
    std::string jwt_secret;
    std::string jwt_audience; /* "": tokens must carry no aud */
    std::string jwt_issuer;   /* "": iss not checked */
    int history_size = 0;
    int max_message_chars = 0;
    double rate_per_second = 0;
    int rate_burst = 0;
    std::vector<std::string> sensitive_words;
    std::string filter_mode;
    std::string ban_scope;
    int64_t send_queue_bytes = 0;
    int threads = 0;
    int viewer_count_interval_ms = 0;
    int64_t max_connections = 0;          /* chat sockets on this daemon */
    int64_t max_connections_per_room = 0; /* chat sockets in one room on this daemon */
    int idle_ping_ms = 0;                 /* silent this long: pinged; as long again: closed */
  } chat;

  struct Gifts
  {
    std::vector<GiftType> catalogue;
    int max_count = 0;
    double rate_per_second = 0; /* gift messages per user over WebSocket */
    int rate_burst = 0;
  } gifts;

  /* Everything above as JSON, defaults filled, secrets shown as "(set)":
   * what --print-config prints. */
  std::string effective_json;
};

struct ConfigSources
{
  std::string file;     /* "" : no file, defaults only */
  std::string data_dir; /* --data-dir; "" : from the file */
  /* The environment (SUGARCAST_ADMIN_TOKEN, SUGARCAST_JWT_SECRET,
   * SUGARCAST_DATABASE_URL) is read by load_config itself. */
};

/* The effective configuration, or nullopt with `error` naming the file, the
 * JSON path and what was expected, one problem per line. Derived paths
 * (store.sqlite_path, hls.dir, clips.dir) are filled in under data_dir. */
std::optional<Config> load_config(const ConfigSources &sources, std::string &error);

} // namespace sugarcast
