/* sugarcastd store: SQL both backends run, and how they run it.
 *
 * The backends differ in how a statement reaches the database (sqlite3_step
 * on the main thread, libpq on a non-blocking socket), not in what they ask
 * it. So the store's methods are written once (sql_store.h) as Scripts of
 * Statements with $1-style parameters, and each backend only has to run a
 * Script: ScriptCursor says which statement comes next (BEGIN, the body,
 * COMMIT or ROLLBACK) and collects the answers.
 */
#pragma once

#include "store.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sugarcast::store {

enum class Dialect { sqlite, postgresql };

/* A parameter: NULL, a 64-bit integer, a double or text. */
using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;

/* One statement, parameters written $1, $2... in both dialects. */
struct Statement
{
  std::string sql;
  std::vector<SqlValue> params;
};

/* A row as the database printed it: text cells, nullopt for NULL. */
using Row = std::vector<std::optional<std::string>>;

/* What one statement answered. */
struct Rows
{
  std::vector<Row> rows;
  int64_t affected = 0; /* rows inserted, updated or deleted */
};

/* Reads a row's cells by column; NULL reads as "" or 0. */
class RowReader
{
public:
  explicit RowReader(const Row &row) : row_(row) {}
  std::string text(size_t column) const;
  int64_t integer(size_t column) const;
  double real(size_t column) const;
  /* true for integers other than 0 and PostgreSQL's 't'. */
  bool boolean(size_t column) const;

private:
  const Row &row_;
};

/* Statements run on one connection with nothing else in between, in one
 * transaction when `transaction` is set. */
struct Script
{
  bool transaction = false;
  std::deque<Statement> statements;
  /* One entry per statement of `statements` run so far, in order. */
  std::vector<Rows> results;
  /* Runs after each statement of `statements`: may add statements, or stop
   * the script (rolling back) by answering an error. */
  std::function<std::optional<StoreError>(Script &)> after_each;
  /* Called once, with every statement's rows or the first error. */
  std::function<void(StoreResult<std::vector<Rows>>)> done;

  static std::unique_ptr<Script> of(std::vector<Statement> statements, bool transaction = false);
};

/* Walks a Script: next() is the statement to send, feed() its answer, until
 * next() answers nothing; then outcome() is what `done` gets. */
class ScriptCursor
{
public:
  ScriptCursor(Script &script, Dialect dialect) : script_(script), dialect_(dialect) {}
  const Statement *next();
  void feed(StoreResult<Rows> answer);
  /* The connection is gone: no ROLLBACK to send, the server drops it. */
  void abort(StoreError error);
  bool finished() const { return phase_ == Phase::finished; }
  StoreResult<std::vector<Rows>> outcome();

private:
  enum class Phase { begin, body, commit, rollback, finished };
  void fail(StoreError error);

  Script &script_;
  Dialect dialect_;
  Phase phase_ = Phase::begin;
  Statement current_;
  bool sent_ = false; /* current_ went out and its answer is due */
  std::optional<StoreError> error_;
};

/* "$1 ... $12" → "?1 ... ?12": SQLite reads ?NNN as the NNNth parameter. */
std::string sqlite_placeholders(const std::string &sql);

} // namespace sugarcast::store
