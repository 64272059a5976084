/* sugarcastd store: the SQLite backend. See sqlite_store.h. */
#include "sqlite_store.h"

#include "schema.h"
#include "sql_store.h"

#include <glib.h>
#include <sqlite3.h>

#include <map>

namespace sugarcast::store {

namespace {

/* How long a statement waits for another process's write lock. */
constexpr int busy_timeout_ms = 5000;
/* Statements kept prepared. Batches and scope lists of every length make
 * distinct SQL; past this many the cache starts afresh. */
constexpr size_t max_prepared = 256;

StoreError sqlite_error(sqlite3 *db, int code, const std::string &path)
{
  const int primary = code & 0xff;
  /* Busy and locked clear up by themselves; a full disk or an I/O error may
   * too, once an operator steps in. Constraints and bad SQL never do. */
  const bool retryable = primary == SQLITE_BUSY || primary == SQLITE_LOCKED ||
                         primary == SQLITE_IOERR || primary == SQLITE_FULL ||
                         primary == SQLITE_NOMEM;
  return {std::string(db ? sqlite3_errmsg(db) : sqlite3_errstr(code)) + " (SQLite " +
              sqlite3_errstr(code) + ", " + path + ")",
          retryable};
}

class SqliteStore final : public SqlStore
{
public:
  explicit SqliteStore(std::string path) : SqlStore(Dialect::sqlite), path_(std::move(path)) {}
  ~SqliteStore() override;

  const char *backend() const override { return "sqlite"; }
  void open(StoreCallback<Done> done) override;
  void close(StoreCallback<Done> done) override;

  bool supports_notify() const override { return false; }
  void notify(const std::string &channel, const std::string &payload,
              StoreCallback<Done> done) override;
  void listen(const std::string &channel, std::function<void(const std::string &)> on_notify,
              StoreCallback<Done> ready) override;

protected:
  void execute(std::unique_ptr<Script> script) override;

private:
  enum class State { closed, open, closing };

  std::optional<StoreError> open_database();
  void close_database();
  void forget_statements();
  StoreResult<Rows> run_statement(const Statement &statement);
  sqlite3_stmt *prepared(const std::string &sql, int *code);
  void run_script(Script &script);

  const std::string path_;
  sqlite3 *db_ = nullptr;
  std::map<std::string, sqlite3_stmt *> statements_;
  State state_ = State::closed;
};

SqliteStore::~SqliteStore()
{
  /* Jobs still queued fail (state_ is closed) rather than vanish. */
  state_ = State::closed;
  mailbox_.drain_now();
  close_database();
}

std::optional<StoreError> SqliteStore::open_database()
{
  if (path_.empty())
    return StoreError{"no SQLite file configured (sqlite_path is empty)", false};
  g_autofree gchar *folder = g_path_get_dirname(path_.c_str());
  if (g_mkdir_with_parents(folder, 0750) != 0)
    return StoreError{std::string("cannot create the folder ") + folder + " for " + path_ + ": " +
                          g_strerror(errno),
                      false};
  int code =
      sqlite3_open_v2(path_.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (code != SQLITE_OK) {
    StoreError error = sqlite_error(db_, code, path_);
    error.message = "cannot open the database: " + error.message;
    close_database();
    return error;
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  /* WAL: readers never wait for the writer, and a commit is one append.
   * synchronous=NORMAL in WAL mode loses at most the last commits on power
   * loss, never consistency. Foreign keys are off unless asked, per
   * connection. */
  for (const char *pragma :
       {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON"}) {
    char *message = nullptr;
    code = sqlite3_exec(db_, pragma, nullptr, nullptr, &message);
    if (code != SQLITE_OK) {
      StoreError error{std::string(pragma) + " failed on " + path_ + ": " +
                           (message ? message : sqlite3_errstr(code)),
                       false};
      sqlite3_free(message);
      close_database();
      return error;
    }
  }
  return std::nullopt;
}

void SqliteStore::forget_statements()
{
  for (auto &[sql, statement] : statements_)
    sqlite3_finalize(statement);
  statements_.clear();
}

void SqliteStore::close_database()
{
  forget_statements();
  if (db_)
    sqlite3_close(db_);
  db_ = nullptr;
}

void SqliteStore::open(StoreCallback<Done> done)
{
  if (state_ != State::closed) {
    fail_later(std::move(done), {"open: the store is already open", false});
    return;
  }
  if (std::optional<StoreError> error = open_database()) {
    error->message = "open: " + error->message;
    fail_later(std::move(done), std::move(*error));
    return;
  }
  state_ = State::open;
  auto script = migration_script(Dialect::sqlite, now_ms());
  script->done = [this, done = std::move(done)](StoreResult<std::vector<Rows>> answer) {
    if (!answer.ok()) {
      /* Nothing was migrated: the transaction rolled back. */
      state_ = State::closed;
      close_database();
      StoreError error = answer.error();
      error.message = "open: migrating " + path_ + ": " + error.message;
      if (done)
        done(std::move(error));
      return;
    }
    if (done)
      done(Done{});
  };
  execute(std::move(script));
}

void SqliteStore::close(StoreCallback<Done> done)
{
  if (state_ != State::open) {
    fail_later(std::move(done), {"close: the store is not open", false});
    return;
  }
  /* Work already queued runs first: the mailbox is first in, first out. */
  state_ = State::closing;
  mailbox_.post([this, done = std::move(done)] {
    state_ = State::closed;
    close_database();
    if (done)
      done(Done{});
  });
}

void SqliteStore::notify(const std::string &channel, const std::string &payload,
                         StoreCallback<Done> done)
{
  if (std::optional<StoreError> error = check_notify("notify", channel, payload)) {
    fail_later(std::move(done), std::move(*error));
    return;
  }
  mailbox_.post([done = std::move(done)] {
    if (done)
      done(Done{});
  });
}

void SqliteStore::listen(const std::string &, std::function<void(const std::string &)>,
                         StoreCallback<Done> ready)
{
  /* Nothing will ever arrive: there is no one else to send it. */
  mailbox_.post([ready = std::move(ready)] {
    if (ready)
      ready(Done{});
  });
}

void SqliteStore::execute(std::unique_ptr<Script> script)
{
  if (state_ != State::open) {
    auto fail = std::move(script->done);
    fail_later<std::vector<Rows>>(std::move(fail), {"the store is closed", false});
    return;
  }
  std::shared_ptr<Script> job(std::move(script));
  mailbox_.post([this, job] {
    if (state_ == State::closed || !db_) {
      job->done(StoreError{"the store was closed before this ran", false});
      return;
    }
    run_script(*job);
  });
}

void SqliteStore::run_script(Script &script)
{
  ScriptCursor cursor(script, Dialect::sqlite);
  while (const Statement *statement = cursor.next())
    cursor.feed(run_statement(*statement));
  script.done(cursor.outcome());
}

sqlite3_stmt *SqliteStore::prepared(const std::string &sql, int *code)
{
  auto found = statements_.find(sql);
  if (found != statements_.end())
    return found->second;
  sqlite3_stmt *statement = nullptr;
  const std::string text = sqlite_placeholders(sql);
  *code = sqlite3_prepare_v3(db_, text.c_str(), int(text.size()), SQLITE_PREPARE_PERSISTENT,
                             &statement, nullptr);
  if (*code != SQLITE_OK)
    return nullptr;
  if (statements_.size() >= max_prepared)
    forget_statements();
  statements_.emplace(sql, statement);
  return statement;
}

StoreResult<Rows> SqliteStore::run_statement(const Statement &s)
{
  int code = SQLITE_OK;
  sqlite3_stmt *statement = prepared(s.sql, &code);
  if (!statement)
    return sqlite_error(db_, code, path_);

  for (size_t i = 0; i < s.params.size() && code == SQLITE_OK; ++i) {
    const int index = int(i + 1);
    const SqlValue &value = s.params[i];
    if (const auto *integer = std::get_if<int64_t>(&value))
      code = sqlite3_bind_int64(statement, index, *integer);
    else if (const auto *real = std::get_if<double>(&value))
      code = sqlite3_bind_double(statement, index, *real);
    else if (const auto *text = std::get_if<std::string>(&value))
      code = sqlite3_bind_text(statement, index, text->data(), int(text->size()), SQLITE_STATIC);
    else
      code = sqlite3_bind_null(statement, index);
  }

  Rows rows;
  while (code == SQLITE_OK || code == SQLITE_ROW) {
    code = sqlite3_step(statement);
    if (code != SQLITE_ROW)
      break;
    Row row;
    const int columns = sqlite3_column_count(statement);
    for (int c = 0; c < columns; ++c) {
      const auto *text = reinterpret_cast<const char *>(sqlite3_column_text(statement, c));
      if (text)
        row.emplace_back(std::string(text, sqlite3_column_bytes(statement, c)));
      else
        row.emplace_back(std::nullopt);
    }
    rows.rows.push_back(std::move(row));
  }
  StoreResult<Rows> answer = code == SQLITE_DONE
                                 ? StoreResult<Rows>(std::move(rows))
                                 : StoreResult<Rows>(sqlite_error(db_, code, path_));
  if (code == SQLITE_DONE && sqlite3_stmt_readonly(statement) == 0)
    answer.value().affected = sqlite3_changes64(db_);
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  return answer;
}

} // namespace

std::unique_ptr<Store> make_sqlite_store(const std::string &path)
{
  return std::make_unique<SqliteStore>(path);
}

} // namespace sugarcast::store
