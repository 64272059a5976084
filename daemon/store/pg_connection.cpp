/* sugarcastd store: one libpq connection on the main loop. See pg_connection.h. */
#include "pg_connection.h"
#include "guard.h"

#include <glib-unix.h>

#include <cstring>

namespace sugarcast::store {

namespace {

/* PQconnectPoll ignores connect_timeout: the caller enforces it. */
constexpr guint default_connect_timeout_ms = 5000;
constexpr guint first_backoff_ms = 100;
constexpr guint max_backoff_ms = 2000;
/* Scripts waiting behind the one running: beyond this the server is not
 * keeping up, and waiting longer helps no caller. */
constexpr size_t max_waiting_scripts = 10000;

/* Parameter types, so PostgreSQL never has to guess ("unknown + unknown"). */
constexpr Oid int8_oid = 20;
constexpr Oid text_oid = 25;
constexpr Oid float8_oid = 701;

/* libpq's messages on one line: "FATAL:  terminating...\nserver closed...". */
std::string trimmed(const char *message)
{
  std::string text;
  bool space = false;
  for (const char *c = message ? message : ""; *c; ++c) {
    if (g_ascii_isspace(*c)) {
      space = true;
      continue;
    }
    if (space && !text.empty())
      text += ' ';
    space = false;
    text += *c;
  }
  return text.empty() ? "unknown error" : text;
}

/* The connection string's connect_timeout (seconds), which PQconnectPoll
 * leaves to us, or our default. */
guint connect_timeout_of(const std::string &conninfo)
{
  guint timeout_ms = default_connect_timeout_ms;
  if (PQconninfoOption *options = PQconninfoParse(conninfo.c_str(), nullptr)) {
    for (PQconninfoOption *o = options; o->keyword; ++o)
      if (g_strcmp0(o->keyword, "connect_timeout") == 0 && o->val && atoi(o->val) > 0)
        timeout_ms = guint(atoi(o->val)) * 1000;
    PQconninfoFree(options);
  }
  return timeout_ms;
}

/* SQLSTATE classes that say "later", not "no": connection exceptions,
 * serialization failures and deadlocks, insufficient resources, operator
 * intervention (shutdown, cancel), system errors, lock not available. */
bool retryable_sqlstate(const char *state)
{
  if (!state || std::strlen(state) != 5)
    return true; /* no SQLSTATE: libpq's own error, the link */
  for (const char *cls : {"08", "40", "53", "57", "58"})
    if (std::strncmp(state, cls, 2) == 0)
      return true;
  return std::strcmp(state, "55P03") == 0 || std::strcmp(state, "55006") == 0;
}

StoreResult<Rows> rows_from(PGresult *result)
{
  const ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    const char *state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    return StoreError{trimmed(PQresultErrorMessage(result)) + " (SQLSTATE " +
                          (state ? state : "none") + ")",
                      retryable_sqlstate(state)};
  }
  Rows rows;
  const int tuples = PQntuples(result), fields = PQnfields(result);
  rows.rows.reserve(tuples);
  for (int t = 0; t < tuples; ++t) {
    Row row;
    row.reserve(fields);
    for (int f = 0; f < fields; ++f) {
      if (PQgetisnull(result, t, f))
        row.emplace_back(std::nullopt);
      else
        row.emplace_back(std::string(PQgetvalue(result, t, f), PQgetlength(result, t, f)));
    }
    rows.rows.push_back(std::move(row));
  }
  rows.affected = g_ascii_strtoll(PQcmdTuples(result), nullptr, 10);
  return rows;
}

void quiet_notices(void *, const char *message)
{
  g_debug("PostgreSQL: %s", message);
}

} // namespace

struct PgConnection::Job
{
  explicit Job(std::unique_ptr<Script> s, Dialect dialect)
      : script(std::move(s)), cursor(*script, dialect)
  {}
  std::unique_ptr<Script> script;
  ScriptCursor cursor;
};

PgConnection::PgConnection(GMainContext *context, std::string conninfo, std::string name,
                           Events events)
    : context_(g_main_context_ref(context)), conninfo_(std::move(conninfo)), name_(std::move(name)),
      events_(std::move(events)), connect_timeout_ms_(connect_timeout_of(conninfo_))
{}

PgConnection::~PgConnection()
{
  disconnect({"the store was destroyed", false});
  g_main_context_unref(context_);
}

std::string PgConnection::quote_identifier(const std::string &name)
{
  std::string quoted = "\"";
  for (char c : name)
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void PgConnection::connect()
{
  if (state_ != State::idle)
    return;
  stop_timers();
  /* Keywords before "dbname" are defaults the connection string overrides;
   * keepalives notice a server that vanished without closing the socket. */
  const char *keywords[] = {"keepalives_idle",  "keepalives_interval",
                            "keepalives_count", "fallback_application_name",
                            "dbname",           nullptr};
  const char *values[] = {"30", "10", "3", "sugarcastd", conninfo_.c_str(), nullptr};
  conn_ = PQconnectStartParams(keywords, values, 1);
  if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) {
    /* Refused before any network: a malformed connection string, which
     * trying again will not mend. */
    lost(conn_ ? trimmed(PQerrorMessage(conn_)) : "out of memory", false);
    return;
  }
  PQsetNoticeProcessor(conn_, SUGARCAST_GUARD(quiet_notices), nullptr);
  state_ = State::connecting;
  connect_timer_ = 0;
  GSource *timer = g_timeout_source_new(connect_timeout_ms_);
  g_source_set_callback(timer, SUGARCAST_GUARD(on_connect_timeout), this, nullptr);
  connect_timer_ = g_source_attach(timer, context_);
  g_source_unref(timer);
  /* As libpq asks: behave as if the last poll said "writing". */
  watch(G_IO_OUT);
}

void PgConnection::poll_connect()
{
  switch (PQconnectPoll(conn_)) {
  case PGRES_POLLING_READING:
    watch(G_IO_IN);
    return;
  case PGRES_POLLING_WRITING:
    watch(G_IO_OUT);
    return;
  case PGRES_POLLING_OK:
    connected();
    return;
  case PGRES_POLLING_FAILED:
  default:
    lost(trimmed(PQerrorMessage(conn_)));
    return;
  }
}

void PgConnection::connected()
{
  stop_timers();
  if (PQsetnonblocking(conn_, 1) != 0) {
    lost("cannot make the connection non-blocking: " + trimmed(PQerrorMessage(conn_)));
    return;
  }
  state_ = State::up;
  backoff_ms_ = 0;
  last_error_.clear();
  watch(G_IO_IN);
  if (events_.up)
    events_.up();
}

void PgConnection::lost(const std::string &why, bool retryable)
{
  last_error_ = why;
  const StoreError error{"PostgreSQL (" + name_ + " connection): " + why, retryable};
  close_connection(error);
  if (reconnect_) {
    backoff_ms_ = backoff_ms_ ? std::min(backoff_ms_ * 2, max_backoff_ms) : first_backoff_ms;
    GSource *timer = g_timeout_source_new(backoff_ms_);
    g_source_set_callback(timer, SUGARCAST_GUARD(on_reconnect), this, nullptr);
    reconnect_timer_ = g_source_attach(timer, context_);
    g_source_unref(timer);
  }
  if (events_.down)
    events_.down(error);
}

void PgConnection::disconnect(const StoreError &why)
{
  reconnect_ = false;
  close_connection(why);
}

void PgConnection::close_connection(const StoreError &why)
{
  unwatch();
  stop_timers();
  if (conn_)
    PQfinish(conn_);
  conn_ = nullptr;
  state_ = State::idle;
  busy_ = false;
  answer_.reset();
  fail_jobs(why);
}

void PgConnection::fail_jobs(const StoreError &error)
{
  /* Taken out first: a done callback may queue more work. */
  std::deque<std::unique_ptr<Job>> failed;
  failed.swap(jobs_);
  for (auto &job : failed) {
    job->cursor.abort(error);
    job->script->done(job->cursor.outcome());
  }
}

void PgConnection::stop_timers()
{
  for (guint *timer : {&connect_timer_, &reconnect_timer_}) {
    if (*timer) {
      GSource *source = g_main_context_find_source_by_id(context_, *timer);
      if (source)
        g_source_destroy(source);
      *timer = 0;
    }
  }
}

void PgConnection::watch(GIOCondition condition)
{
  const int fd = conn_ ? PQsocket(conn_) : -1;
  if (fd < 0) {
    lost("libpq has no socket: " + trimmed(conn_ ? PQerrorMessage(conn_) : nullptr));
    return;
  }
  condition = GIOCondition(condition | G_IO_HUP | G_IO_ERR);
  if (watch_ && fd == watch_fd_ && condition == watch_condition_)
    return;
  unwatch();
  watch_ = g_unix_fd_source_new(fd, condition);
  g_source_set_callback(watch_, G_SOURCE_FUNC(SUGARCAST_GUARD(on_socket)), this, nullptr);
  g_source_set_static_name(watch_, "sugarcast-store-postgresql");
  g_source_attach(watch_, context_);
  watch_fd_ = fd;
  watch_condition_ = condition;
}

void PgConnection::unwatch()
{
  if (watch_) {
    g_source_destroy(watch_);
    g_source_unref(watch_);
  }
  watch_ = nullptr;
  watch_fd_ = -1;
}

gboolean PgConnection::on_connect_timeout(gpointer data)
{
  auto *self = static_cast<PgConnection *>(data);
  self->connect_timer_ = 0;
  self->lost("no answer within " + std::to_string(self->connect_timeout_ms_ / 1000) +
             " s while connecting (connect_timeout)");
  return G_SOURCE_REMOVE;
}

gboolean PgConnection::on_reconnect(gpointer data)
{
  auto *self = static_cast<PgConnection *>(data);
  self->reconnect_timer_ = 0;
  self->connect();
  return G_SOURCE_REMOVE;
}

gboolean PgConnection::on_socket(gint, GIOCondition condition, gpointer data)
{
  auto *self = static_cast<PgConnection *>(data);
  if (self->state_ == State::connecting) {
    self->poll_connect();
    return G_SOURCE_CONTINUE;
  }
  if (self->state_ != State::up)
    return G_SOURCE_CONTINUE;
  if (condition & G_IO_OUT)
    self->flush_output();
  if (self->state_ == State::up && (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
    self->read_input();
  return G_SOURCE_CONTINUE;
}

void PgConnection::run(std::unique_ptr<Script> script)
{
  /* Refused at once rather than queued for a server that may not come back. */
  std::optional<StoreError> refused;
  if (state_ != State::up)
    refused = StoreError{"PostgreSQL is unreachable (" + name_ + " connection" +
                             (last_error_.empty() ? std::string(")") : "): " + last_error_),
                         true};
  else if (jobs_.size() > max_waiting_scripts)
    refused = StoreError{"PostgreSQL is not keeping up: " + std::to_string(jobs_.size()) +
                             " queries are waiting on the " + name_ + " connection",
                         true};
  if (refused) {
    ScriptCursor cursor(*script, Dialect::postgresql);
    cursor.abort(std::move(*refused));
    script->done(cursor.outcome());
    return;
  }
  jobs_.push_back(std::make_unique<Job>(std::move(script), Dialect::postgresql));
  if (!busy_)
    send_next();
}

void PgConnection::send_next()
{
  while (!busy_ && state_ == State::up && !jobs_.empty()) {
    Job &job = *jobs_.front();
    const Statement *statement = job.cursor.next();
    if (!statement) {
      /* Finished: hand it over, then look at the next one. */
      std::unique_ptr<Job> done = std::move(jobs_.front());
      jobs_.pop_front();
      done->script->done(done->cursor.outcome());
      continue;
    }
    const size_t n = statement->params.size();
    std::vector<std::string> texts(n);
    std::vector<const char *> values(n, nullptr);
    std::vector<Oid> types(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const SqlValue &value = statement->params[i];
      if (const auto *integer = std::get_if<int64_t>(&value)) {
        texts[i] = std::to_string(*integer);
        types[i] = int8_oid;
      } else if (const auto *real = std::get_if<double>(&value)) {
        char buffer[G_ASCII_DTOSTR_BUF_SIZE];
        texts[i] = g_ascii_dtostr(buffer, sizeof buffer, *real);
        types[i] = float8_oid;
      } else if (const auto *text = std::get_if<std::string>(&value)) {
        texts[i] = *text;
        types[i] = text_oid;
      } else {
        continue; /* NULL: no value, no type */
      }
      values[i] = texts[i].c_str();
    }
    if (!PQsendQueryParams(conn_, statement->sql.c_str(), int(n), types.data(), values.data(),
                           nullptr, nullptr, 0)) {
      lost("cannot send a query: " + trimmed(PQerrorMessage(conn_)));
      return;
    }
    busy_ = true;
    answer_.reset();
    flush_output();
  }
}

void PgConnection::flush_output()
{
  const int pending = PQflush(conn_);
  if (pending < 0) {
    lost("cannot send: " + trimmed(PQerrorMessage(conn_)));
    return;
  }
  watch(pending ? GIOCondition(G_IO_IN | G_IO_OUT) : G_IO_IN);
}

void PgConnection::read_input()
{
  if (!PQconsumeInput(conn_)) {
    lost(trimmed(PQerrorMessage(conn_)));
    return;
  }
  deliver_notifications();
  while (busy_ && state_ == State::up && !PQisBusy(conn_)) {
    PGresult *result = PQgetResult(conn_);
    if (!result) {
      /* The statement is complete. */
      StoreResult<Rows> answer =
          answer_ ? std::move(*answer_) : StoreResult<Rows>(StoreError{"no answer", true});
      answer_.reset();
      busy_ = false;
      finish_statement(std::move(answer));
      break;
    }
    /* Keep the first error, else the last result. */
    if (!answer_ || answer_->ok())
      answer_ = rows_from(result);
    PQclear(result);
  }
  if (state_ == State::up && PQstatus(conn_) == CONNECTION_BAD)
    lost(trimmed(PQerrorMessage(conn_)));
}

void PgConnection::finish_statement(StoreResult<Rows> answer)
{
  if (jobs_.empty())
    return;
  jobs_.front()->cursor.feed(std::move(answer));
  if (PQstatus(conn_) == CONNECTION_BAD) {
    lost(trimmed(PQerrorMessage(conn_)));
    return;
  }
  send_next();
}

void PgConnection::deliver_notifications()
{
  while (PGnotify *n = PQnotifies(conn_)) {
    const std::string channel = n->relname ? n->relname : "";
    const std::string payload = n->extra ? n->extra : "";
    PQfreemem(n);
    if (events_.notification)
      events_.notification(channel, payload);
  }
}

} // namespace sugarcast::store
