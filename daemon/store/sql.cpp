/* sugarcastd store: SQL both backends run. See sql.h. */
#include "sql.h"

#include <glib.h>

namespace sugarcast::store {

std::string RowReader::text(size_t column) const
{
  if (column >= row_.size() || !row_[column])
    return {};
  return *row_[column];
}

int64_t RowReader::integer(size_t column) const
{
  if (column >= row_.size() || !row_[column])
    return 0;
  return g_ascii_strtoll(row_[column]->c_str(), nullptr, 10);
}

double RowReader::real(size_t column) const
{
  if (column >= row_.size() || !row_[column])
    return 0;
  return g_ascii_strtod(row_[column]->c_str(), nullptr);
}

bool RowReader::boolean(size_t column) const
{
  const std::string value = text(column);
  return value == "t" || value == "true" || integer(column) != 0;
}

std::unique_ptr<Script> Script::of(std::vector<Statement> statements, bool transaction)
{
  auto script = std::make_unique<Script>();
  script->transaction = transaction;
  for (auto &statement : statements)
    script->statements.push_back(std::move(statement));
  return script;
}

const Statement *ScriptCursor::next()
{
  if (sent_ || phase_ == Phase::finished)
    return nullptr;
  switch (phase_) {
  case Phase::begin:
    if (!script_.transaction) {
      phase_ = Phase::body;
      return next();
    }
    /* SQLite: take the write lock now, or a second process upgrading its
     * read lock later gets SQLITE_BUSY without waiting. */
    current_ = {dialect_ == Dialect::sqlite ? "BEGIN IMMEDIATE" : "BEGIN", {}};
    break;
  case Phase::body:
    if (script_.statements.empty()) {
      if (!script_.transaction) {
        phase_ = Phase::finished;
        return nullptr;
      }
      phase_ = Phase::commit;
      current_ = {"COMMIT", {}};
      break;
    }
    current_ = std::move(script_.statements.front());
    script_.statements.pop_front();
    break;
  case Phase::rollback:
    current_ = {"ROLLBACK", {}};
    break;
  case Phase::commit: /* sent with the body's end; its answer finishes */
  case Phase::finished:
    return nullptr;
  }
  sent_ = true;
  return &current_;
}

void ScriptCursor::feed(StoreResult<Rows> answer)
{
  if (!sent_)
    return;
  sent_ = false;
  switch (phase_) {
  case Phase::begin:
    if (!answer.ok())
      return abort(answer.error());
    phase_ = Phase::body;
    return;
  case Phase::body:
    if (!answer.ok())
      return fail(answer.error());
    script_.results.push_back(std::move(answer.value()));
    if (script_.after_each)
      if (std::optional<StoreError> stop = script_.after_each(script_))
        return fail(std::move(*stop));
    return;
  case Phase::commit:
    if (!answer.ok())
      error_ = answer.error();
    phase_ = Phase::finished;
    return;
  case Phase::rollback:
    /* The error that made us roll back is the one worth reporting. */
    phase_ = Phase::finished;
    return;
  case Phase::finished:
    return;
  }
}

void ScriptCursor::fail(StoreError error)
{
  error_ = std::move(error);
  if (!script_.transaction) {
    phase_ = Phase::finished;
    return;
  }
  phase_ = Phase::rollback;
}

void ScriptCursor::abort(StoreError error)
{
  if (!error_)
    error_ = std::move(error);
  sent_ = false;
  phase_ = Phase::finished;
}

StoreResult<std::vector<Rows>> ScriptCursor::outcome()
{
  if (error_)
    return *error_;
  return std::move(script_.results);
}

std::string sqlite_placeholders(const std::string &sql)
{
  std::string out = sql;
  for (size_t i = 0; i + 1 < out.size(); ++i)
    if (out[i] == '$' && g_ascii_isdigit(out[i + 1]))
      out[i] = '?';
  return out;
}

} // namespace sugarcast::store
