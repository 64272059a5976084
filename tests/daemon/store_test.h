/* Sugarcast test support: a fixture holding an open store of either backend.
 *
 * SQLite gets a new file in a new folder of the scratch directory, PostgreSQL
 * a new database on the shared private server (PgServer::shared()), so no
 * test sees another's rows. raw_scalar/raw_exec reach the same database
 * without the store, to check what it wrote or to tamper with it.
 */
#pragma once

#include "pgserver.h"
#include "schema.h"
#include "store.h"
#include "store_await.h"
#include "testenv.h"

#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>

/* AWAIT(T, expression using `done`): the store's answer to that call. */
#define AWAIT(T, call) ::sugarcast::test::await<T>([&](auto done) { call; })

namespace sugarcast::test {

enum class Backend { sqlite, postgresql };
inline void PrintTo(Backend backend, std::ostream *out)
{
  *out << (backend == Backend::sqlite ? "sqlite" : "postgresql");
}

class StoreTest : public ::testing::Test
{
protected:
  virtual Backend backend() const = 0;

  void SetUp() override;
  void TearDown() override;

  /* The store SetUp opened. */
  Store &store() { return *store_; }
  const StoreConfig &config() const { return config_; }
  /* The next stores open a new, empty database (the main store keeps its own). */
  void use_fresh_database();

  /* A new store on config(), opened; null (and a failure) when it did not open. */
  std::unique_ptr<Store> open_store();
  /* Closes and destroys a store, failing the test when close fails. */
  void close(std::unique_ptr<Store> &store);
  void close_main_store() { close(store_); }
  /* The test closed the main store itself: only destroy it. */
  void forget_main_store() { store_.reset(); }
  /* Destroys the main store without closing it. */
  void destroy_main_store() { store_.reset(); }

  /* The first column of the first row `sql` answers, as an integer. */
  int64_t raw_scalar(const std::string &sql);
  void raw_exec(const std::string &sql);

private:
  StoreConfig config_;
  std::unique_ptr<Store> store_;
};

} // namespace sugarcast::test
