/* sugarcastd — the store: one asynchronous interface, two backends.
 *
 * SQLite (embedded default, WAL, a file in the data folder) and PostgreSQL
 * (libpq, non-blocking, production). Both pass the same contract tests
 * (tests/daemon/store_contract_test.cpp).
 *
 * Threading: every method is called on the daemon's main context and every
 * callback runs there later — never before the method returns, whichever
 * backend — so callers behave the same on both. A call that fails calls back
 * with an error; `retryable` says whether the same call may succeed later
 * (the database is unreachable) or never will (a constraint says no).
 *
 * Times are Unix epoch milliseconds (int64). Ids are strings chosen by the
 * caller where they appear in URLs (streams, clips) and numbers assigned by
 * the store where they only order rows (sessions).
 *
 * Lifetime: a Store may be destroyed once close() has called back. Calls
 * made after close() call back with an error (not retryable). Destroying a
 * Store that was not closed calls every callback still pending with an
 * error before the destructor returns: none is dropped, none runs later.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sugarcast {

struct StoreError
{
  std::string message;    /* for logs: which table, what the database said */
  bool retryable = false; /* the database is down or busy, not "no" */
};

/* A value or an error. */
template <typename T>
class StoreResult
{
public:
  StoreResult(T value) : v_(std::move(value)) {}
  StoreResult(StoreError error) : v_(std::move(error)) {}
  bool ok() const { return std::holds_alternative<T>(v_); }
  const T &value() const { return std::get<T>(v_); }
  T &value() { return std::get<T>(v_); }
  const StoreError &error() const { return std::get<StoreError>(v_); }

private:
  std::variant<T, StoreError> v_;
};

/* The result of calls that answer nothing but "done". */
struct Done
{
};

template <typename T>
using StoreCallback = std::function<void(StoreResult<T>)>;

/* A live stream a streamer pushes to. The key itself is never stored. */
struct StreamRecord
{
  std::string id; /* short, URL-safe, e.g. "k3x9q2mfa7" */
  std::string title;
  std::string key_hash; /* hex SHA-256 of the stream key; "" when revoked */
  int64_t created_at = 0;
  int64_t key_updated_at = 0;
};

/* One publish of a stream, from publish to unpublish. */
struct SessionRecord
{
  int64_t id = 0;
  std::string stream_id;
  int64_t started_at = 0;
  int64_t ended_at = 0; /* 0 while live */
  std::string client_address;
  std::string encoder;
  std::string end_reason; /* "unpublished", "timeout", "error: ...", "shutdown" */
};

/* An uploaded short video and what became of it. */
struct ClipRecord
{
  std::string id;
  std::string filename; /* as the creator named it; never used as a path */
  int64_t size = 0;     /* bytes uploaded */
  std::string state;    /* uploading, validating, transcoding, ready, rejected, failed */
  std::string reason;   /* clipvalidate's reason when rejected, or the failure */
  std::string message;  /* a sentence for the creator */
  double duration = 0;  /* seconds, measured */
  int width = 0;
  int height = 0;
  std::string codec;
  int progress = 0; /* percent */
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::string owner; /* the uploader's user id (their token's sub); "" for the admin */
};

/* Which clips list_clips_where answers, newest first: those of `owner`
 * (unless any_owner) in `state` (unless ""), older than the cursor
 * (before_created_at, before_id) when before_created_at > 0. */
struct ClipQuery
{
  bool any_owner = true;
  std::string owner;
  std::string state;
  int64_t before_created_at = 0;
  std::string before_id;
  int limit = 20;
};

/* A chat message. Ids are made by the daemon that accepted the message
 * (time-ordered: sorting ids sorts by time), so they are known before the
 * message is stored and unique across daemons. */
struct ChatRecord
{
  std::string id;
  std::string stream_id;
  std::string user_id;
  std::string user_name;
  std::string text;
  int64_t created_at = 0;
};

/* A ban. scope is a stream id, or "*" for every stream. */
struct BanRecord
{
  std::string user_id;
  std::string scope;
  std::string reason;
  std::string banned_by;
  int64_t created_at = 0;
  int64_t expires_at = 0; /* 0: never */
};

/* One row of the gift ledger. */
struct GiftRecord
{
  int64_t ledger_id = 0;       /* assigned by the store */
  std::string idempotency_key; /* unique across the ledger */
  std::string stream_id;
  std::string user_id;
  std::string user_name;
  std::string gift_id; /* catalogue id */
  int count = 1;
  int64_t coins = 0; /* price x count, as charged */
  int64_t created_at = 0;
};

struct GiftOutcome
{
  GiftRecord gift;      /* the ledger row: the new one, or the one recorded before */
  bool created = false; /* false when the idempotency key was already recorded */
};

struct LeaderboardEntry
{
  std::string user_id;
  std::string user_name; /* as given with the user's latest gift */
  int64_t coins = 0;     /* sum of the user's gifts' coins in the stream */
  int64_t gifts = 0;     /* sum of the user's gifts' counts in the stream */
};

/* One point of a live stream's time series (stats.interval apart). */
struct StatsPoint
{
  std::string stream_id;
  int64_t t = 0;             /* Unix ms the point was taken */
  int64_t viewers = 0;       /* concurrent viewers at t (viewers.h) */
  int64_t chat_messages = 0; /* messages sent since the previous point */
  int64_t gifts = 0;         /* gifts (counts) since the previous point */
  int64_t coins = 0;         /* their coins */
  double ingest_bitrate = 0; /* bits per second over the last interval */
  double ingest_fps = 0;     /* video frames per second over the last interval */
};

/* One show (a publish session) of a stream, summed up; saved again at each
 * point while the show is live, so it is never more than a point behind. */
struct ShowStats
{
  int64_t session_id = 0; /* stream_sessions.id */
  std::string stream_id;
  int64_t started_at = 0;
  int64_t ended_at = 0; /* 0 while live */
  int64_t peak_viewers = 0;
  double avg_viewers = 0;
  int64_t unique_viewers = 0;
  double watch_minutes = 0;
  int64_t messages = 0;
  int64_t gifts = 0;
};

/* The next show a streamer announced. */
struct ScheduleRecord
{
  std::string stream_id;
  std::string title;
  int64_t starts_at = 0;
  int64_t updated_at = 0;
};

struct StoreConfig
{
  std::string sqlite_path;  /* used when database_url is empty */
  std::string database_url; /* libpq connection string or postgresql:// URI */
};

class Store
{
public:
  virtual ~Store() = default;

  /* "sqlite" or "postgresql". */
  virtual const char *backend() const = 0;
  /* Connects and applies pending migrations. Called once before anything
   * else (again only after it failed). Fails, not retryable, when the
   * database was migrated by a newer sugarcastd than this one. */
  virtual void open(StoreCallback<Done> done) = 0;
  /* Finishes what is queued, then closes. */
  virtual void close(StoreCallback<Done> done) = 0;

  /* Streams. create fails (not retryable) when the id or key hash exists. */
  virtual void create_stream(const StreamRecord &stream, StoreCallback<StreamRecord> done) = 0;
  virtual void get_stream(const std::string &id,
                          StoreCallback<std::optional<StreamRecord>> done) = 0;
  virtual void find_stream_by_key_hash(const std::string &key_hash,
                                       StoreCallback<std::optional<StreamRecord>> done) = 0;
  /* Newest first. */
  virtual void list_streams(StoreCallback<std::vector<StreamRecord>> done) = 0;
  /* New key hash ("" revokes). Answers false when there is no such stream. */
  virtual void set_stream_key(const std::string &id, const std::string &key_hash, int64_t now,
                              StoreCallback<bool> done) = 0;
  /* Deletes the stream and its sessions. Answers false when there was none. */
  virtual void delete_stream(const std::string &id, StoreCallback<bool> done) = 0;

  /* Sessions. */
  virtual void start_session(const SessionRecord &session, StoreCallback<int64_t> done) = 0;
  virtual void end_session(int64_t session_id, int64_t ended_at, const std::string &reason,
                           StoreCallback<Done> done) = 0;
  /* Newest first. */
  virtual void list_sessions(const std::string &stream_id, int limit,
                             StoreCallback<std::vector<SessionRecord>> done) = 0;

  /* Clips. save inserts or replaces the whole record by id. */
  virtual void save_clip(const ClipRecord &clip, StoreCallback<Done> done) = 0;
  virtual void get_clip(const std::string &id, StoreCallback<std::optional<ClipRecord>> done) = 0;
  /* Newest first. */
  virtual void list_clips(int limit, StoreCallback<std::vector<ClipRecord>> done) = 0;
  virtual void list_clips_where(const ClipQuery &query,
                                StoreCallback<std::vector<ClipRecord>> done) = 0;
  /* Whether there was such a clip. */
  virtual void delete_clip(const std::string &id, StoreCallback<bool> done) = 0;

  /* Chat history. append writes a batch in one transaction (ids already
   * present are ignored, so a retried batch is harmless). list answers the
   * newest `limit` messages of a stream with an id below `before_id` ("" =
   * the newest), newest first, deleted ones left out. */
  virtual void append_chat(const std::vector<ChatRecord> &messages, StoreCallback<Done> done) = 0;
  virtual void list_chat(const std::string &stream_id, const std::string &before_id, int limit,
                         StoreCallback<std::vector<ChatRecord>> done) = 0;
  /* Answers false when there is no such message in that stream. A message
   * deleted before it was appended stays deleted when it arrives. */
  virtual void delete_chat(const std::string &stream_id, const std::string &message_id,
                           StoreCallback<bool> done) = 0;

  /* Bans: ban replaces any ban of the same user and scope; find answers the
   * ban in force at `now` in any of `scopes` (e.g. {stream id, "*"}). */
  virtual void ban_user(const BanRecord &ban, StoreCallback<Done> done) = 0;
  virtual void unban_user(const std::string &user_id, const std::string &scope,
                          StoreCallback<bool> done) = 0;
  virtual void find_ban(const std::string &user_id, const std::vector<std::string> &scopes,
                        int64_t now, StoreCallback<std::optional<BanRecord>> done) = 0;

  /* Moderators named per stream (besides the roles tokens carry). */
  virtual void set_moderator(const std::string &stream_id, const std::string &user_id,
                             bool moderator, StoreCallback<Done> done) = 0;
  virtual void list_moderators(const std::string &stream_id,
                               StoreCallback<std::vector<std::string>> done) = 0;

  /* The gift ledger: exactly once per idempotency key, whatever the retries
   * and however many daemons race (a unique constraint, not a read-then-write).
   * A repeated key answers the row recorded first, whatever the new record
   * says; an empty key is refused. */
  virtual void record_gift(const GiftRecord &gift, StoreCallback<GiftOutcome> done) = 0;
  /* A stream's gifts recorded from `from` to `to` (ms, both included),
   * oldest first, at most `limit` (a recording's chat replay). */
  virtual void list_gifts(const std::string &stream_id, int64_t from, int64_t to, int limit,
                          StoreCallback<std::vector<GiftRecord>> done) = 0;
  /* Top gifters of a stream by coins, highest first. */
  virtual void leaderboard(const std::string &stream_id, int limit,
                           StoreCallback<std::vector<LeaderboardEntry>> done) = 0;

  /* Statistics. Points and shows are answered oldest first, those with t
   * (started_at for shows) in [from, to]; at most `limit` (the newest ones
   * when there are more). save_show inserts or replaces by session_id. */
  virtual void append_stats_point(const StatsPoint &point, StoreCallback<Done> done) = 0;
  virtual void list_stats_points(const std::string &stream_id, int64_t from, int64_t to, int limit,
                                 StoreCallback<std::vector<StatsPoint>> done) = 0;
  virtual void save_show(const ShowStats &show, StoreCallback<Done> done) = 0;
  virtual void list_shows(const std::string &stream_id, int64_t from, int64_t to, int limit,
                          StoreCallback<std::vector<ShowStats>> done) = 0;

  /* Schedules: one per stream (set replaces it; clear answers whether there
   * was one). list answers those starting at or after `from`, soonest
   * first. Deleting the stream deletes its schedule. */
  virtual void set_schedule(const ScheduleRecord &schedule, StoreCallback<Done> done) = 0;
  virtual void clear_schedule(const std::string &stream_id, StoreCallback<bool> done) = 0;
  virtual void list_schedules(int64_t from, int limit,
                              StoreCallback<std::vector<ScheduleRecord>> done) = 0;

  /* Stream ownership across daemons sharing one database: a lease row with
   * a heartbeat. acquire answers true when `owner` now holds the lease (it
   * was free, expired at `now`, or already `owner`'s — then it is renewed
   * until now + ttl_ms). The stream must exist; deleting it ends its lease.
   * release only releases `owner`'s lease. */
  virtual void acquire_lease(const std::string &stream_id, const std::string &owner, int64_t now,
                             int64_t ttl_ms, StoreCallback<bool> done) = 0;
  virtual void release_lease(const std::string &stream_id, const std::string &owner,
                             StoreCallback<Done> done) = 0;

  /* Events between daemons sharing the database (PostgreSQL LISTEN/NOTIFY).
   * A notification reaches every listener on every daemon, the sender's own
   * included; payloads are at most 7,000 bytes and channel names 1 to 63
   * bytes (both refused, not retryable, beyond). The SQLite backend has no
   * other daemons: supports_notify() is false and notify calls back (later,
   * like every callback) having sent nothing.
   *
   * Listening survives reconnects, but what is sent while a daemon's
   * listening connection is down does not reach it. `ready`, when given, is
   * called once the listener is in force (the LISTEN acknowledged), or with
   * a retryable error when the database cannot be reached now; the listener
   * stays registered either way. A listener is called on the main context,
   * never after close(). */
  virtual bool supports_notify() const = 0;
  virtual void notify(const std::string &channel, const std::string &payload,
                      StoreCallback<Done> done) = 0;
  virtual void listen(const std::string &channel,
                      std::function<void(const std::string &payload)> on_notify,
                      StoreCallback<Done> ready = nullptr) = 0;
};

/* The backend the configuration names. */
std::unique_ptr<Store> make_store(const StoreConfig &config);

} // namespace sugarcast
