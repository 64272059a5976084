/* sugarcastd as a process: starts with defaults, answers health and
 * metrics, refuses what it must, shuts down cleanly. */
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

using namespace sugarcast::test;

TEST(Sugarcastd, StartsAnswersAndStopsCleanlyOnSigterm)
{
  SugarcastdProcess d({});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  EXPECT_EQ(http_request("GET", d.url("/healthz")).body, "ok\n");
  HttpResponse metrics = http_request("GET", d.url("/metrics"));
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("# TYPE sugarcast_http_requests_total counter"), std::string::npos)
      << metrics.body;
  EXPECT_TRUE(std::filesystem::exists(d.data_dir() + "/sugarcast.db"));
  EXPECT_EQ(d.stop(SIGTERM), 0) << d.log();
}

TEST(Sugarcastd, SigintStopsItToo)
{
  SugarcastdProcess d({});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  EXPECT_EQ(d.stop(SIGINT), 0) << d.log();
}

TEST(Sugarcastd, UnknownRoutesAndMissingTokensAreJsonErrors)
{
  SugarcastdProcess d({});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  HttpResponse r = http_request("GET", d.url("/api/nothing-here"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.body, "{\"error\":{\"code\":\"not_found\",\"message\":\"No such route: GET "
                    "/api/nothing-here\"}}\n");
}

TEST(Sugarcastd, ABadPipelineFolderStopsStartUpWithTheReason)
{
  const std::string dir = scratch_dir() + "/bad-pipelines";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/live.json")
      << R"({"kind": "live", "nodes": {"x": {"factory": "nosuchelement"}}, "links": [{"from": "x", "to": "x"}]})";
  SugarcastdProcess d({.config = R"({"pipelines_dir": ")" + dir + R"("})"});
  EXPECT_FALSE(d.wait_ready());
  EXPECT_EQ(d.stop(), 1);
  EXPECT_NE(d.log().find(dir + "/live.json: /nodes/x/factory: no GStreamer element "
                               "\"nosuchelement\" is installed"),
            std::string::npos)
      << d.log();
}

TEST(Sugarcastd, AnUnreachableDatabaseStopsStartUp)
{
  SugarcastdProcess d(
      {.env = {{"SUGARCAST_DATABASE_URL", "host=127.0.0.1 port=" + std::to_string(free_tcp_port()) +
                                              " dbname=none connect_timeout=2"}}});
  EXPECT_FALSE(d.wait_ready());
  EXPECT_EQ(d.stop(), 1);
  EXPECT_NE(d.log().find("cannot open the postgresql store"), std::string::npos) << d.log();
}
