/* Sugarcast test support: a private PostgreSQL server.
 *
 * initdb into a temporary folder, start `postgres` on 127.0.0.1 on a free
 * port, stop it and delete the folder when the object dies. As root, the
 * server runs as the `postgres` user Debian's package creates (PostgreSQL
 * refuses to run as root). The server dies with the test binary even when
 * the binary crashes (parent-death signal).
 */
#pragma once

#include <memory>
#include <string>

namespace sugarcast::test {

class PgServer
{
public:
  PgServer();
  ~PgServer();
  PgServer(const PgServer &) = delete;
  PgServer &operator=(const PgServer &) = delete;

  /* One server per test binary, started on first use. */
  static PgServer &shared();

  /* libpq connection string for the `postgres` superuser. */
  std::string conninfo(const std::string &dbname = "postgres") const;
  int port() const { return port_; }
  /* Runs SQL as the superuser through libpq; throws on failure. */
  void exec(const std::string &sql, const std::string &dbname = "postgres") const;
  /* A new empty database, for tests that must not see each other's tables.
   * `options` are appended to CREATE DATABASE (e.g. a collation). */
  std::string create_database(const std::string &prefix = "test", const std::string &options = "");

  /* Stops the server (fast shutdown: clients are disconnected) and waits
   * until it has exited; the data folder stays. */
  void stop();
  /* Starts it again on the same port and data folder; throws if it does not
   * answer. For tests of "the database went away and came back". */
  void start();
  bool running() const;

private:
  /* Starts postgres on port_ and waits until it answers; false if it exited. */
  bool launch();

  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

/* Starts the shared server again however the test ends, for tests that
 * stop it: `RestartAtExit restart;` before the first stop(). */
struct RestartAtExit
{
  RestartAtExit() = default;
  RestartAtExit(const RestartAtExit &) = delete;
  RestartAtExit &operator=(const RestartAtExit &) = delete;
  ~RestartAtExit()
  {
    if (!PgServer::shared().running())
      PgServer::shared().start();
  }
};

} // namespace sugarcast::test
