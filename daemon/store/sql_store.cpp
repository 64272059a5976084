/* sugarcastd store: the Store methods in SQL. See sql_store.h. */
#include "sql_store.h"

#include <glib.h>

#include <algorithm>

namespace sugarcast::store {

namespace {

constexpr const char *stream_columns = "id, title, key_hash, created_at, key_updated_at";
constexpr const char *session_columns =
    "id, stream_id, started_at, ended_at, client_address, encoder, end_reason";
constexpr const char *clip_columns =
    "id, filename, size, state, reason, message, duration, "
    "width, height, codec, progress, created_at, updated_at, owner";
constexpr const char *chat_columns = "id, stream_id, user_id, user_name, text, created_at";
constexpr const char *ban_columns = "user_id, scope, reason, banned_by, created_at, expires_at";
constexpr const char *stats_columns =
    "stream_id, t, viewers, chat_messages, gifts, coins, ingest_bitrate, ingest_fps";
constexpr const char *show_columns = "session_id, stream_id, started_at, ended_at, peak_viewers, "
                                     "avg_viewers, unique_viewers, watch_minutes, messages, gifts";
constexpr const char *schedule_columns = "stream_id, title, starts_at, updated_at";
constexpr const char *gift_columns = "ledger_id, idempotency_key, stream_id, user_id, user_name, "
                                     "gift_id, count, coins, created_at";

/* Rows of a chat batch per INSERT: 6 parameters each, far below both
 * databases' limits on parameters per statement. */
constexpr size_t chat_rows_per_insert = 200;

StreamRecord stream_from(const RowReader &r)
{
  return {.id = r.text(0),
          .title = r.text(1),
          .key_hash = r.text(2),
          .created_at = r.integer(3),
          .key_updated_at = r.integer(4)};
}

SessionRecord session_from(const RowReader &r)
{
  return {.id = r.integer(0),
          .stream_id = r.text(1),
          .started_at = r.integer(2),
          .ended_at = r.integer(3),
          .client_address = r.text(4),
          .encoder = r.text(5),
          .end_reason = r.text(6)};
}

ClipRecord clip_from(const RowReader &r)
{
  return {.id = r.text(0),
          .filename = r.text(1),
          .size = r.integer(2),
          .state = r.text(3),
          .reason = r.text(4),
          .message = r.text(5),
          .duration = r.real(6),
          .width = int(r.integer(7)),
          .height = int(r.integer(8)),
          .codec = r.text(9),
          .progress = int(r.integer(10)),
          .created_at = r.integer(11),
          .updated_at = r.integer(12),
          .owner = r.text(13)};
}

ChatRecord chat_from(const RowReader &r)
{
  return {.id = r.text(0),
          .stream_id = r.text(1),
          .user_id = r.text(2),
          .user_name = r.text(3),
          .text = r.text(4),
          .created_at = r.integer(5)};
}

BanRecord ban_from(const RowReader &r)
{
  return {.user_id = r.text(0),
          .scope = r.text(1),
          .reason = r.text(2),
          .banned_by = r.text(3),
          .created_at = r.integer(4),
          .expires_at = r.integer(5)};
}

GiftRecord gift_from(const RowReader &r)
{
  return {.ledger_id = r.integer(0),
          .idempotency_key = r.text(1),
          .stream_id = r.text(2),
          .user_id = r.text(3),
          .user_name = r.text(4),
          .gift_id = r.text(5),
          .count = int(r.integer(6)),
          .coins = r.integer(7),
          .created_at = r.integer(8)};
}

LeaderboardEntry leader_from(const RowReader &r)
{
  return {
      .user_id = r.text(0), .user_name = r.text(1), .coins = r.integer(2), .gifts = r.integer(3)};
}

StatsPoint stats_from(const RowReader &r)
{
  return {.stream_id = r.text(0),
          .t = r.integer(1),
          .viewers = r.integer(2),
          .chat_messages = r.integer(3),
          .gifts = r.integer(4),
          .coins = r.integer(5),
          .ingest_bitrate = r.real(6),
          .ingest_fps = r.real(7)};
}

ShowStats show_from(const RowReader &r)
{
  return {.session_id = r.integer(0),
          .stream_id = r.text(1),
          .started_at = r.integer(2),
          .ended_at = r.integer(3),
          .peak_viewers = r.integer(4),
          .avg_viewers = r.real(5),
          .unique_viewers = r.integer(6),
          .watch_minutes = r.real(7),
          .messages = r.integer(8),
          .gifts = r.integer(9)};
}

ScheduleRecord schedule_from(const RowReader &r)
{
  return {.stream_id = r.text(0),
          .title = r.text(1),
          .starts_at = r.integer(2),
          .updated_at = r.integer(3)};
}

std::string moderator_from(const RowReader &r)
{
  return r.text(0);
}

template <typename Record>
std::optional<Record> first_row(const Rows &rows, Record (*from)(const RowReader &))
{
  if (rows.rows.empty())
    return std::nullopt;
  return from(RowReader(rows.rows.front()));
}

template <typename Record>
std::vector<Record> every_row(const Rows &rows, Record (*from)(const RowReader &))
{
  std::vector<Record> records;
  records.reserve(rows.rows.size());
  for (const Row &row : rows.rows)
    records.push_back(from(RowReader(row)));
  return records;
}

/* "$first, $first+1, ..." for `count` parameters. */
std::string placeholders(size_t count, size_t first = 1)
{
  std::string out;
  for (size_t i = 0; i < count; ++i)
    out += (i ? ", $" : "$") + std::to_string(first + i);
  return out;
}

std::string sql(std::initializer_list<const char *> parts)
{
  std::string out;
  for (const char *part : parts)
    out += part;
  return out;
}

Done answers_nothing(const std::vector<Rows> &)
{
  return {};
}

int64_t limit_of(int limit)
{
  return std::max(limit, 0);
}

} // namespace

template <typename T, typename Map>
void SqlStore::run(const char *what, std::unique_ptr<Script> script, Map map, StoreCallback<T> done)
{
  script->done = answer(what, std::move(map), std::move(done));
  execute(std::move(script));
}

int64_t SqlStore::now_ms()
{
  return g_get_real_time() / 1000;
}

std::optional<StoreError> SqlStore::check_notify(const char *what, const std::string &channel,
                                                 const std::string &payload)
{
  if (channel.empty() || channel.size() > max_channel_name ||
      channel.find('\0') != std::string::npos)
    return StoreError{std::string(what) + ": a channel name is 1 to " +
                          std::to_string(max_channel_name) + " bytes without NUL, not " +
                          std::to_string(channel.size()) + " bytes",
                      false};
  if (payload.size() > max_notify_payload)
    return StoreError{std::string(what) + ": the payload on channel " + channel + " is " +
                          std::to_string(payload.size()) + " bytes, more than the " +
                          std::to_string(max_notify_payload) + " a notification may carry",
                      false};
  if (payload.find('\0') != std::string::npos)
    return StoreError{
        std::string(what) + ": the payload on channel " + channel + " contains a NUL byte", false};
  return std::nullopt;
}

/* Streams */

void SqlStore::create_stream(const StreamRecord &s, StoreCallback<StreamRecord> done)
{
  run(
      "create_stream",
      Script::of({{sql({"INSERT INTO streams (", stream_columns, ") VALUES ($1, $2, $3, $4, $5) ",
                        "RETURNING ", stream_columns}),
                   {s.id, s.title, s.key_hash, s.created_at, s.key_updated_at}}}),
      [](const std::vector<Rows> &r) -> StoreResult<StreamRecord> {
        if (auto stream = first_row(r[0], stream_from))
          return *stream;
        return StoreError{"the database answered no row", false};
      },
      std::move(done));
}

void SqlStore::get_stream(const std::string &id, StoreCallback<std::optional<StreamRecord>> done)
{
  run(
      "get_stream",
      Script::of({{sql({"SELECT ", stream_columns, " FROM streams WHERE id = $1"}), {id}}}),
      [](const std::vector<Rows> &r) { return first_row(r[0], stream_from); }, std::move(done));
}

void SqlStore::find_stream_by_key_hash(const std::string &key_hash,
                                       StoreCallback<std::optional<StreamRecord>> done)
{
  /* "" is every revoked stream's hash, never a key. */
  if (key_hash.empty()) {
    run(
        "find_stream_by_key_hash", Script::of({}),
        [](const std::vector<Rows> &) { return std::optional<StreamRecord>(); }, std::move(done));
    return;
  }
  run(
      "find_stream_by_key_hash",
      Script::of(
          {{sql({"SELECT ", stream_columns, " FROM streams WHERE key_hash = $1"}), {key_hash}}}),
      [](const std::vector<Rows> &r) { return first_row(r[0], stream_from); }, std::move(done));
}

void SqlStore::list_streams(StoreCallback<std::vector<StreamRecord>> done)
{
  run(
      "list_streams",
      Script::of(
          {{sql({"SELECT ", stream_columns, " FROM streams ORDER BY created_at DESC, id DESC"}),
            {}}}),
      [](const std::vector<Rows> &r) { return every_row(r[0], stream_from); }, std::move(done));
}

void SqlStore::set_stream_key(const std::string &id, const std::string &key_hash, int64_t now,
                              StoreCallback<bool> done)
{
  run(
      "set_stream_key",
      Script::of({{"UPDATE streams SET key_hash = $2, key_updated_at = $3 WHERE id = $1",
                   {id, key_hash, now}}}),
      [](const std::vector<Rows> &r) { return r[0].affected > 0; }, std::move(done));
}

void SqlStore::delete_stream(const std::string &id, StoreCallback<bool> done)
{
  run(
      "delete_stream",
      Script::of({{"DELETE FROM streams WHERE id = $1", {id}},
                  {"DELETE FROM stream_stats WHERE stream_id = $1", {id}},
                  {"DELETE FROM stream_shows WHERE stream_id = $1", {id}}},
                 true),
      [](const std::vector<Rows> &r) { return r[0].affected > 0; }, std::move(done));
}

/* Sessions */

void SqlStore::start_session(const SessionRecord &s, StoreCallback<int64_t> done)
{
  run(
      "start_session",
      Script::of(
          {{"INSERT INTO stream_sessions (stream_id, started_at, ended_at, "
            "client_address, encoder, end_reason) VALUES ($1, $2, $3, $4, $5, $6) "
            "RETURNING id",
            {s.stream_id, s.started_at, s.ended_at, s.client_address, s.encoder, s.end_reason}}}),
      [](const std::vector<Rows> &r) -> StoreResult<int64_t> {
        if (r[0].rows.empty())
          return StoreError{"the database answered no id", false};
        return RowReader(r[0].rows[0]).integer(0);
      },
      std::move(done));
}

void SqlStore::end_session(int64_t session_id, int64_t ended_at, const std::string &reason,
                           StoreCallback<Done> done)
{
  run("end_session",
      Script::of({{"UPDATE stream_sessions SET ended_at = $2, end_reason = $3 WHERE id = $1",
                   {session_id, ended_at, reason}}}),
      answers_nothing, std::move(done));
}

void SqlStore::list_sessions(const std::string &stream_id, int limit,
                             StoreCallback<std::vector<SessionRecord>> done)
{
  run(
      "list_sessions",
      Script::of({{sql({"SELECT ", session_columns, " FROM stream_sessions WHERE stream_id = $1 ",
                        "ORDER BY started_at DESC, id DESC LIMIT $2"}),
                   {stream_id, limit_of(limit)}}}),
      [](const std::vector<Rows> &r) { return every_row(r[0], session_from); }, std::move(done));
}

/* Clips */

void SqlStore::save_clip(const ClipRecord &c, StoreCallback<Done> done)
{
  run("save_clip",
      Script::of({{sql({"INSERT INTO clips (", clip_columns, ") VALUES (", placeholders(14).c_str(),
                        ") ON CONFLICT (id) DO UPDATE SET filename = excluded.filename, "
                        "size = excluded.size, state = excluded.state, "
                        "reason = excluded.reason, message = excluded.message, "
                        "duration = excluded.duration, width = excluded.width, "
                        "height = excluded.height, codec = excluded.codec, "
                        "progress = excluded.progress, created_at = excluded.created_at, "
                        "updated_at = excluded.updated_at, owner = excluded.owner"}),
                   {c.id, c.filename, c.size, c.state, c.reason, c.message, c.duration,
                    int64_t(c.width), int64_t(c.height), c.codec, int64_t(c.progress), c.created_at,
                    c.updated_at, c.owner}}}),
      answers_nothing, std::move(done));
}

void SqlStore::get_clip(const std::string &id, StoreCallback<std::optional<ClipRecord>> done)
{
  run(
      "get_clip", Script::of({{sql({"SELECT ", clip_columns, " FROM clips WHERE id = $1"}), {id}}}),
      [](const std::vector<Rows> &r) { return first_row(r[0], clip_from); }, std::move(done));
}

void SqlStore::list_clips(int limit, StoreCallback<std::vector<ClipRecord>> done)
{
  run(
      "list_clips",
      Script::of({{sql({"SELECT ", clip_columns,
                        " FROM clips ORDER BY created_at DESC, id DESC LIMIT $1"}),
                   {limit_of(limit)}}}),
      [](const std::vector<Rows> &r) { return every_row(r[0], clip_from); }, std::move(done));
}

void SqlStore::list_clips_where(const ClipQuery &q, StoreCallback<std::vector<ClipRecord>> done)
{
  std::string where = " WHERE 1 = 1";
  std::vector<SqlValue> params;
  auto param = [&params](SqlValue v) {
    params.push_back(std::move(v));
    return "$" + std::to_string(params.size());
  };
  if (!q.any_owner)
    where += " AND owner = " + param(q.owner);
  if (!q.state.empty())
    where += " AND state = " + param(q.state);
  if (q.before_created_at > 0) {
    const std::string at = param(q.before_created_at), id = param(q.before_id);
    where += " AND (created_at < " + at + " OR (created_at = " + at + " AND id < " + id + "))";
  }
  const std::string limit = param(limit_of(q.limit));
  run(
      "list_clips_where",
      Script::of({{sql({"SELECT ", clip_columns, " FROM clips", where.c_str(),
                        " ORDER BY created_at DESC, id DESC LIMIT ", limit.c_str()}),
                   std::move(params)}}),
      [](const std::vector<Rows> &r) { return every_row(r[0], clip_from); }, std::move(done));
}

void SqlStore::delete_clip(const std::string &id, StoreCallback<bool> done)
{
  run(
      "delete_clip", Script::of({{"DELETE FROM clips WHERE id = $1", {id}}}),
      [](const std::vector<Rows> &r) { return r[0].affected > 0; }, std::move(done));
}

/* Chat */

void SqlStore::append_chat(const std::vector<ChatRecord> &messages, StoreCallback<Done> done)
{
  std::vector<Statement> inserts;
  for (size_t first = 0; first < messages.size(); first += chat_rows_per_insert) {
    const size_t end = std::min(messages.size(), first + chat_rows_per_insert);
    Statement insert{sql({"INSERT INTO chat_messages (", chat_columns, ") VALUES "}), {}};
    for (size_t i = first; i < end; ++i) {
      const ChatRecord &m = messages[i];
      insert.sql += (i > first ? ", (" : "(") + placeholders(6, insert.params.size() + 1) + ")";
      insert.params.insert(insert.params.end(),
                           {m.id, m.stream_id, m.user_id, m.user_name, m.text, m.created_at});
    }
    /* A retried batch: the ids already stored are skipped, not refused. */
    insert.sql += " ON CONFLICT DO NOTHING";
    inserts.push_back(std::move(insert));
  }
  run("append_chat", Script::of(std::move(inserts), true), answers_nothing, std::move(done));
}

void SqlStore::list_chat(const std::string &stream_id, const std::string &before_id, int limit,
                         StoreCallback<std::vector<ChatRecord>> done)
{
  Statement select{sql({"SELECT ", chat_columns, " FROM chat_messages m WHERE stream_id = $1"}),
                   {stream_id, limit_of(limit)}};
  if (!before_id.empty()) {
    select.sql += " AND id < $3";
    select.params.push_back(before_id);
  }
  select.sql += " AND NOT EXISTS (SELECT 1 FROM chat_deletions d"
                " WHERE d.stream_id = m.stream_id AND d.message_id = m.id)"
                " ORDER BY id DESC LIMIT $2";
  run(
      "list_chat", Script::of({std::move(select)}),
      [](const std::vector<Rows> &r) { return every_row(r[0], chat_from); }, std::move(done));
}

void SqlStore::delete_chat(const std::string &stream_id, const std::string &message_id,
                           StoreCallback<bool> done)
{
  /* The deletion is kept whether or not the message has arrived yet. */
  run(
      "delete_chat",
      Script::of({{"INSERT INTO chat_deletions (stream_id, message_id, deleted_at) "
                   "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                   {stream_id, message_id, now_ms()}},
                  {"SELECT COUNT(*) FROM chat_messages WHERE stream_id = $1 AND id = $2",
                   {stream_id, message_id}}}),
      [](const std::vector<Rows> &r) {
        return !r[1].rows.empty() && RowReader(r[1].rows[0]).integer(0) > 0;
      },
      std::move(done));
}

/* Bans and moderators */

void SqlStore::ban_user(const BanRecord &b, StoreCallback<Done> done)
{
  run("ban_user",
      Script::of({{sql({"INSERT INTO bans (", ban_columns,
                        ") VALUES ($1, $2, $3, $4, $5, $6) "
                        "ON CONFLICT (user_id, scope) DO UPDATE SET reason = excluded.reason, "
                        "banned_by = excluded.banned_by, created_at = excluded.created_at, "
                        "expires_at = excluded.expires_at"}),
                   {b.user_id, b.scope, b.reason, b.banned_by, b.created_at, b.expires_at}}}),
      answers_nothing, std::move(done));
}

void SqlStore::unban_user(const std::string &user_id, const std::string &scope,
                          StoreCallback<bool> done)
{
  run(
      "unban_user",
      Script::of({{"DELETE FROM bans WHERE user_id = $1 AND scope = $2", {user_id, scope}}}),
      [](const std::vector<Rows> &r) { return r[0].affected > 0; }, std::move(done));
}

void SqlStore::find_ban(const std::string &user_id, const std::vector<std::string> &scopes,
                        int64_t now, StoreCallback<std::optional<BanRecord>> done)
{
  std::vector<Statement> statements;
  if (!scopes.empty()) {
    /* The strongest ban in force: a permanent one, else the longest. */
    Statement select{sql({"SELECT ", ban_columns,
                          " FROM bans WHERE user_id = $1 AND (expires_at = 0 OR expires_at > $2)"
                          " AND scope IN (",
                          placeholders(scopes.size(), 3).c_str(),
                          ") ORDER BY CASE WHEN expires_at = 0 THEN 1 ELSE 0 END DESC,"
                          " expires_at DESC, scope LIMIT 1"}),
                     {user_id, now}};
    select.params.insert(select.params.end(), scopes.begin(), scopes.end());
    statements.push_back(std::move(select));
  }
  run(
      "find_ban", Script::of(std::move(statements)),
      [](const std::vector<Rows> &r) {
        return r.empty() ? std::nullopt : first_row(r[0], ban_from);
      },
      std::move(done));
}

void SqlStore::set_moderator(const std::string &stream_id, const std::string &user_id,
                             bool moderator, StoreCallback<Done> done)
{
  Statement change{moderator ? "INSERT INTO stream_moderators (stream_id, user_id) "
                               "VALUES ($1, $2) ON CONFLICT DO NOTHING"
                             : "DELETE FROM stream_moderators WHERE stream_id = $1 AND "
                               "user_id = $2",
                   {stream_id, user_id}};
  run("set_moderator", Script::of({std::move(change)}), answers_nothing, std::move(done));
}

void SqlStore::list_moderators(const std::string &stream_id,
                               StoreCallback<std::vector<std::string>> done)
{
  run(
      "list_moderators",
      Script::of({{"SELECT user_id FROM stream_moderators WHERE stream_id = $1 ORDER BY user_id",
                   {stream_id}}}),
      [](const std::vector<Rows> &r) { return every_row(r[0], moderator_from); }, std::move(done));
}

/* Gifts */

void SqlStore::record_gift(const GiftRecord &g, StoreCallback<GiftOutcome> done)
{
  if (g.idempotency_key.empty()) {
    fail_later(std::move(done), {"record_gift: the gift has no idempotency key", false});
    return;
  }
  /* Insert-or-nothing, then read whichever row holds the key. Two daemons
   * racing on one key: PostgreSQL makes the second INSERT wait for the
   * first to commit and then do nothing, and its SELECT (a new snapshot)
   * reads the first one's row. */
  run(
      "record_gift",
      Script::of({{"INSERT INTO gifts (idempotency_key, stream_id, user_id, user_name, gift_id, "
                   "count, coins, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                   "ON CONFLICT (idempotency_key) DO NOTHING RETURNING ledger_id",
                   {g.idempotency_key, g.stream_id, g.user_id, g.user_name, g.gift_id,
                    int64_t(g.count), g.coins, g.created_at}},
                  {sql({"SELECT ", gift_columns, " FROM gifts WHERE idempotency_key = $1"}),
                   {g.idempotency_key}}}),
      [](const std::vector<Rows> &r) -> StoreResult<GiftOutcome> {
        std::optional<GiftRecord> row = first_row(r[1], gift_from);
        if (!row)
          return StoreError{"the ledger row vanished after it was written", true};
        return GiftOutcome{.gift = std::move(*row), .created = !r[0].rows.empty()};
      },
      std::move(done));
}

void SqlStore::list_gifts(const std::string &stream_id, int64_t from, int64_t to, int limit,
                          StoreCallback<std::vector<GiftRecord>> done)
{
  run(
      "list_gifts",
      Script::of({{sql({"SELECT ", gift_columns,
                        " FROM gifts WHERE stream_id = $1"
                        " AND created_at >= $2 AND created_at <= $3 ORDER BY created_at, ledger_id"
                        " LIMIT $4"}),
                   {stream_id, from, to, limit_of(limit)}}}),
      [](const std::vector<Rows> &r) { return every_row(r[0], gift_from); }, std::move(done));
}

void SqlStore::leaderboard(const std::string &stream_id, int limit,
                           StoreCallback<std::vector<LeaderboardEntry>> done)
{
  run(
      "leaderboard",
      Script::of({{"SELECT g.user_id,"
                   " (SELECT l.user_name FROM gifts l WHERE l.stream_id = g.stream_id"
                   "  AND l.user_id = g.user_id ORDER BY l.ledger_id DESC LIMIT 1),"
                   " SUM(g.coins), SUM(g.count)"
                   " FROM gifts g WHERE g.stream_id = $1 GROUP BY g.stream_id, g.user_id"
                   " ORDER BY SUM(g.coins) DESC, g.user_id LIMIT $2",
                   {stream_id, limit_of(limit)}}}),
      [](const std::vector<Rows> &r) { return every_row(r[0], leader_from); }, std::move(done));
}

/* Statistics */

void SqlStore::append_stats_point(const StatsPoint &p, StoreCallback<Done> done)
{
  /* A second point at the same millisecond replaces the first. */
  run("append_stats_point",
      Script::of(
          {{sql({"INSERT INTO stream_stats (", stats_columns, ") VALUES (", placeholders(8).c_str(),
                 ") ON CONFLICT (stream_id, t) DO UPDATE SET viewers = excluded.viewers, "
                 "chat_messages = excluded.chat_messages, gifts = excluded.gifts, "
                 "coins = excluded.coins, ingest_bitrate = excluded.ingest_bitrate, "
                 "ingest_fps = excluded.ingest_fps"}),
            {p.stream_id, p.t, p.viewers, p.chat_messages, p.gifts, p.coins, p.ingest_bitrate,
             p.ingest_fps}}}),
      answers_nothing, std::move(done));
}

void SqlStore::list_stats_points(const std::string &stream_id, int64_t from, int64_t to, int limit,
                                 StoreCallback<std::vector<StatsPoint>> done)
{
  /* The newest `limit` in the range, then turned oldest first. */
  run(
      "list_stats_points",
      Script::of({{sql({"SELECT ", stats_columns,
                        " FROM stream_stats WHERE stream_id = $1 AND t >= $2 AND t <= $3 "
                        "ORDER BY t DESC LIMIT $4"}),
                   {stream_id, from, to, limit_of(limit)}}}),
      [](const std::vector<Rows> &r) {
        auto points = every_row(r[0], stats_from);
        std::reverse(points.begin(), points.end());
        return points;
      },
      std::move(done));
}

void SqlStore::save_show(const ShowStats &s, StoreCallback<Done> done)
{
  run("save_show",
      Script::of(
          {{sql({"INSERT INTO stream_shows (", show_columns, ") VALUES (", placeholders(10).c_str(),
                 ") ON CONFLICT (session_id) DO UPDATE SET stream_id = excluded.stream_id, "
                 "started_at = excluded.started_at, ended_at = excluded.ended_at, "
                 "peak_viewers = excluded.peak_viewers, avg_viewers = excluded.avg_viewers, "
                 "unique_viewers = excluded.unique_viewers, "
                 "watch_minutes = excluded.watch_minutes, messages = excluded.messages, "
                 "gifts = excluded.gifts"}),
            {s.session_id, s.stream_id, s.started_at, s.ended_at, s.peak_viewers, s.avg_viewers,
             s.unique_viewers, s.watch_minutes, s.messages, s.gifts}}}),
      answers_nothing, std::move(done));
}

void SqlStore::list_shows(const std::string &stream_id, int64_t from, int64_t to, int limit,
                          StoreCallback<std::vector<ShowStats>> done)
{
  run(
      "list_shows",
      Script::of({{sql({"SELECT ", show_columns,
                        " FROM stream_shows WHERE stream_id = $1 AND started_at >= $2 "
                        "AND started_at <= $3 ORDER BY started_at DESC, session_id DESC LIMIT $4"}),
                   {stream_id, from, to, limit_of(limit)}}}),
      [](const std::vector<Rows> &r) {
        auto shows = every_row(r[0], show_from);
        std::reverse(shows.begin(), shows.end());
        return shows;
      },
      std::move(done));
}

/* Schedules */

void SqlStore::set_schedule(const ScheduleRecord &s, StoreCallback<Done> done)
{
  run("set_schedule",
      Script::of({{sql({"INSERT INTO stream_schedules (", schedule_columns,
                        ") VALUES ($1, $2, $3, $4) ON CONFLICT (stream_id) DO UPDATE SET "
                        "title = excluded.title, starts_at = excluded.starts_at, "
                        "updated_at = excluded.updated_at"}),
                   {s.stream_id, s.title, s.starts_at, s.updated_at}}}),
      answers_nothing, std::move(done));
}

void SqlStore::clear_schedule(const std::string &stream_id, StoreCallback<bool> done)
{
  run(
      "clear_schedule",
      Script::of({{"DELETE FROM stream_schedules WHERE stream_id = $1", {stream_id}}}),
      [](const std::vector<Rows> &r) { return r[0].affected > 0; }, std::move(done));
}

void SqlStore::list_schedules(int64_t from, int limit,
                              StoreCallback<std::vector<ScheduleRecord>> done)
{
  run(
      "list_schedules",
      Script::of({{sql({"SELECT ", schedule_columns,
                        " FROM stream_schedules WHERE starts_at >= $1 "
                        "ORDER BY starts_at, stream_id LIMIT $2"}),
                   {from, limit_of(limit)}}}),
      [](const std::vector<Rows> &r) { return every_row(r[0], schedule_from); }, std::move(done));
}

/* Leases */

void SqlStore::acquire_lease(const std::string &stream_id, const std::string &owner, int64_t now,
                             int64_t ttl_ms, StoreCallback<bool> done)
{
  /* One statement, so two daemons cannot both win: the row is taken when
   * absent, or updated only when it is ours or has expired. */
  run(
      "acquire_lease",
      Script::of({{"INSERT INTO stream_leases (stream_id, owner, expires_at) VALUES ($1, $2, $4) "
                   "ON CONFLICT (stream_id) DO UPDATE SET owner = excluded.owner, "
                   "expires_at = excluded.expires_at "
                   "WHERE stream_leases.owner = excluded.owner OR stream_leases.expires_at <= $3 "
                   "RETURNING owner",
                   {stream_id, owner, now, now + ttl_ms}}}),
      [](const std::vector<Rows> &r) { return !r[0].rows.empty(); }, std::move(done));
}

void SqlStore::release_lease(const std::string &stream_id, const std::string &owner,
                             StoreCallback<Done> done)
{
  run("release_lease",
      Script::of(
          {{"DELETE FROM stream_leases WHERE stream_id = $1 AND owner = $2", {stream_id, owner}}}),
      answers_nothing, std::move(done));
}

} // namespace sugarcast::store
