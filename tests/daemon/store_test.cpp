/* Sugarcast test support: a fixture holding an open store. See store_test.h. */
#include "store_test.h"

#include <glib.h>
#include <libpq-fe.h>
#include <sqlite3.h>

namespace sugarcast::test {

void StoreTest::SetUp()
{
  use_fresh_database();
  store_ = open_store();
  ASSERT_TRUE(store_) << "the store did not open";
}

void StoreTest::TearDown()
{
  if (store_)
    close(store_);
}

void StoreTest::use_fresh_database()
{
  static int count = 0;
  const ::testing::TestInfo *test = ::testing::UnitTest::GetInstance()->current_test_info();
  config_ = {};
  if (backend() == Backend::sqlite) {
    /* A folder that does not exist yet: the store makes it. */
    config_.sqlite_path =
        scratch_dir() + "/" + std::to_string(++count) + "-" + test->name() + "/data/sugarcast.db";
    for (char &c : config_.sqlite_path)
      if (c == '\\')
        c = '_';
  } else {
    /* Production databases sort text by a language's rules, not bytes:
     * so do ours, or a store that relied on "C" collation would pass. */
    PgServer &pg = PgServer::shared();
    config_.database_url = pg.conninfo(
        pg.create_database("store", "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"));
  }
}

std::unique_ptr<Store> StoreTest::open_store()
{
  std::unique_ptr<Store> store = make_store(config_);
  StoreResult<Done> opened = AWAIT(Done, store->open(done));
  if (!opened.ok()) {
    ADD_FAILURE() << "open failed: " << opened.error().message;
    return nullptr;
  }
  return store;
}

void StoreTest::close(std::unique_ptr<Store> &store)
{
  StoreResult<Done> closed = AWAIT(Done, store->close(done));
  EXPECT_TRUE(closed.ok()) << closed.error().message;
  store.reset();
}

namespace {

int64_t sqlite_scalar(const std::string &path, const std::string &sql, bool want_row)
{
  sqlite3 *db = nullptr;
  int64_t value = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << path << ": " << sqlite3_errmsg(db);
  } else {
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *statement = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
    } else {
      const int code = sqlite3_step(statement);
      if (code == SQLITE_ROW)
        value = sqlite3_column_int64(statement, 0);
      else if (code != SQLITE_DONE || want_row)
        ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return value;
}

int64_t postgresql_scalar(const std::string &conninfo, const std::string &sql, bool want_row)
{
  PGconn *conn = PQconnectdb(conninfo.c_str());
  int64_t value = -1;
  if (PQstatus(conn) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect: " << PQerrorMessage(conn);
  } else {
    PGresult *result = PQexec(conn, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_TUPLES_OK && PQntuples(result) > 0)
      value = g_ascii_strtoll(PQgetvalue(result, 0, 0), nullptr, 10);
    else if ((status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) || want_row)
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(result);
    PQclear(result);
  }
  PQfinish(conn);
  return value;
}

} // namespace

int64_t StoreTest::raw_scalar(const std::string &sql)
{
  return backend() == Backend::sqlite ? sqlite_scalar(config_.sqlite_path, sql, true)
                                      : postgresql_scalar(config_.database_url, sql, true);
}

void StoreTest::raw_exec(const std::string &sql)
{
  if (backend() == Backend::sqlite)
    sqlite_scalar(config_.sqlite_path, sql, false);
  else
    postgresql_scalar(config_.database_url, sql, false);
}

} // namespace sugarcast::test
