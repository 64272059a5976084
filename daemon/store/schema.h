/* sugarcastd store: the schema and its migrations.
 *
 * One ordered list of migrations serves both dialects: their SQL is written
 * once with a few {tokens} for what the dialects spell differently (an
 * auto-numbered key, an id column sorted bytewise). open() runs
 * migration_script(): in one transaction, under a lock two daemons share,
 * it reads the version in `schema_migrations`, refuses a database newer
 * than this code and applies what is missing.
 */
#pragma once

#include "sql.h"

#include <memory>
#include <string>
#include <vector>

namespace sugarcast::store {

struct Migration
{
  int version;
  const char *name;
  std::vector<const char *> statements; /* with {tokens}, see dialect_sql() */
};

/* Every migration, oldest first; versions count up from 1. */
const std::vector<Migration> &migrations();
int latest_schema_version();

/* A migration statement spelled for `dialect`. */
std::string dialect_sql(const std::string &sql, Dialect dialect);

/* The script open() runs; `now` is recorded as the time each was applied. */
std::unique_ptr<Script> migration_script(Dialect dialect, int64_t now);

} // namespace sugarcast::store
