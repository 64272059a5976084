/* The private PostgreSQL fixture starts a real server that answers queries. */
#include "pgserver.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

using sugarcast::test::PgServer;

TEST(PgServer, AnswersAQueryOnLoopback)
{
  PgServer &pg = PgServer::shared();
  PGconn *conn = PQconnectdb(pg.conninfo().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult *res = PQexec(conn, "SELECT inet_server_addr()::text, "
                               "current_setting('server_version_num')::int >= 150000, 6 * 7");
  ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << PQresultErrorMessage(res);
  EXPECT_STREQ(PQgetvalue(res, 0, 0), "127.0.0.1/32");
  EXPECT_STREQ(PQgetvalue(res, 0, 1), "t");
  EXPECT_STREQ(PQgetvalue(res, 0, 2), "42");
  PQclear(res);
  PQfinish(conn);
}

TEST(PgServer, GivesEachTestItsOwnDatabase)
{
  PgServer &pg = PgServer::shared();
  std::string a = pg.create_database();
  std::string b = pg.create_database();
  EXPECT_NE(a, b);
  pg.exec("CREATE TABLE t (x int)", a);
  EXPECT_NO_THROW(pg.exec("CREATE TABLE t (x int)", b));
  EXPECT_THROW(pg.exec("CREATE TABLE t (x int)", a), std::runtime_error);
}
