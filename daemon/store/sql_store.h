/* sugarcastd store: the Store methods, written once in SQL both dialects
 * read the same way.
 *
 * A backend derives from SqlStore and supplies how a Script runs (execute),
 * plus open/close and notifications; everything a method asks the database,
 * and how its answer becomes a record, lives here.
 */
#pragma once

#include "mailbox.h"
#include "sql.h"
#include "store.h"

#include <memory>
#include <optional>
#include <string>

namespace sugarcast::store {

/* PostgreSQL refuses NOTIFY payloads of 8,000 bytes; we promise 7,000. */
constexpr size_t max_notify_payload = 7000;
/* PostgreSQL identifiers are at most NAMEDATALEN - 1 bytes. */
constexpr size_t max_channel_name = 63;

class SqlStore : public Store
{
public:
  void create_stream(const StreamRecord &stream, StoreCallback<StreamRecord> done) override;
  void get_stream(const std::string &id, StoreCallback<std::optional<StreamRecord>> done) override;
  void find_stream_by_key_hash(const std::string &key_hash,
                               StoreCallback<std::optional<StreamRecord>> done) override;
  void list_streams(StoreCallback<std::vector<StreamRecord>> done) override;
  void set_stream_key(const std::string &id, const std::string &key_hash, int64_t now,
                      StoreCallback<bool> done) override;
  void delete_stream(const std::string &id, StoreCallback<bool> done) override;

  void start_session(const SessionRecord &session, StoreCallback<int64_t> done) override;
  void end_session(int64_t session_id, int64_t ended_at, const std::string &reason,
                   StoreCallback<Done> done) override;
  void list_sessions(const std::string &stream_id, int limit,
                     StoreCallback<std::vector<SessionRecord>> done) override;

  void save_clip(const ClipRecord &clip, StoreCallback<Done> done) override;
  void get_clip(const std::string &id, StoreCallback<std::optional<ClipRecord>> done) override;
  void list_clips(int limit, StoreCallback<std::vector<ClipRecord>> done) override;
  void list_clips_where(const ClipQuery &query,
                        StoreCallback<std::vector<ClipRecord>> done) override;
  void delete_clip(const std::string &id, StoreCallback<bool> done) override;

  void append_chat(const std::vector<ChatRecord> &messages, StoreCallback<Done> done) override;
  void list_chat(const std::string &stream_id, const std::string &before_id, int limit,
                 StoreCallback<std::vector<ChatRecord>> done) override;
  void delete_chat(const std::string &stream_id, const std::string &message_id,
                   StoreCallback<bool> done) override;

  void ban_user(const BanRecord &ban, StoreCallback<Done> done) override;
  void unban_user(const std::string &user_id, const std::string &scope,
                  StoreCallback<bool> done) override;
  void find_ban(const std::string &user_id, const std::vector<std::string> &scopes, int64_t now,
                StoreCallback<std::optional<BanRecord>> done) override;

  void set_moderator(const std::string &stream_id, const std::string &user_id, bool moderator,
                     StoreCallback<Done> done) override;
  void list_moderators(const std::string &stream_id,
                       StoreCallback<std::vector<std::string>> done) override;

  void record_gift(const GiftRecord &gift, StoreCallback<GiftOutcome> done) override;
  void list_gifts(const std::string &stream_id, int64_t from, int64_t to, int limit,
                  StoreCallback<std::vector<GiftRecord>> done) override;
  void leaderboard(const std::string &stream_id, int limit,
                   StoreCallback<std::vector<LeaderboardEntry>> done) override;

  void append_stats_point(const StatsPoint &point, StoreCallback<Done> done) override;
  void list_stats_points(const std::string &stream_id, int64_t from, int64_t to, int limit,
                         StoreCallback<std::vector<StatsPoint>> done) override;
  void save_show(const ShowStats &show, StoreCallback<Done> done) override;
  void list_shows(const std::string &stream_id, int64_t from, int64_t to, int limit,
                  StoreCallback<std::vector<ShowStats>> done) override;

  void set_schedule(const ScheduleRecord &schedule, StoreCallback<Done> done) override;
  void clear_schedule(const std::string &stream_id, StoreCallback<bool> done) override;
  void list_schedules(int64_t from, int limit,
                      StoreCallback<std::vector<ScheduleRecord>> done) override;

  void acquire_lease(const std::string &stream_id, const std::string &owner, int64_t now,
                     int64_t ttl_ms, StoreCallback<bool> done) override;
  void release_lease(const std::string &stream_id, const std::string &owner,
                     StoreCallback<Done> done) override;

protected:
  explicit SqlStore(Dialect dialect) : dialect_(dialect) {}

  /* Runs the script; calls script->done exactly once, through mailbox_. */
  virtual void execute(std::unique_ptr<Script> script) = 0;

  /* Calls `done` with `error` later. */
  template <typename T>
  void fail_later(StoreCallback<T> done, StoreError error)
  {
    mailbox_.post([done = std::move(done), error = std::move(error)] {
      if (done)
        done(error);
    });
  }

  /* A Script's `done` that hands `done` what `map` makes of the rows, or
   * the error with `what` (the method) in front of it. */
  template <typename T, typename Map>
  static std::function<void(StoreResult<std::vector<Rows>>)> answer(const char *what, Map map,
                                                                    StoreCallback<T> done)
  {
    return
        [what, map = std::move(map), done = std::move(done)](StoreResult<std::vector<Rows>> rows) {
          if (!done)
            return;
          if (!rows.ok())
            return done(StoreError{std::string(what) + ": " + rows.error().message,
                                   rows.error().retryable});
          done(map(rows.value()));
        };
  }
  /* The same for calls that answer nothing but "done". */
  static std::function<void(StoreResult<std::vector<Rows>>)> answer_done(const char *what,
                                                                         StoreCallback<Done> done)
  {
    return answer(
        what, [](const std::vector<Rows> &) { return Done{}; }, std::move(done));
  }

  /* Why `channel` or `payload` cannot be sent, if they cannot. */
  static std::optional<StoreError> check_notify(const char *what, const std::string &channel,
                                                const std::string &payload);

  /* The epoch milliseconds of now, for rows the interface gives no time. */
  static int64_t now_ms();

  const Dialect dialect_;
  Mailbox mailbox_;

private:
  /* Runs `script`, then hands `done` what `map` makes of its rows. */
  template <typename T, typename Map>
  void run(const char *what, std::unique_ptr<Script> script, Map map, StoreCallback<T> done);
};

} // namespace sugarcast::store
