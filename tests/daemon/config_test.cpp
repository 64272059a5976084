/* sugarcastd configuration: defaults, refusals that name file, path and
 * expectation, the environment winning over the file. */
#include "config.h"
#include "testenv.h"

#include <glib.h>
#include <gtest/gtest.h>

#include <fstream>

using namespace sugarcast;

namespace {

std::string write_config(const std::string &name, const std::string &json)
{
  std::string path = test::scratch_dir() + "/" + name;
  std::ofstream(path) << json;
  return path;
}

} // namespace

TEST(Config, NoFileMeansEveryDefault)
{
  std::string error;
  auto c = load_config({"", "/srv/sc"}, error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->data_dir, "/srv/sc");
  EXPECT_EQ(c->http.port, 8080);
  EXPECT_EQ(c->rtmp.port, 1935);
  EXPECT_EQ(c->store.database_url, "");
  EXPECT_EQ(c->store.sqlite_path, "/srv/sc/sugarcast.db");
  EXPECT_EQ(c->hls.dir, "/srv/sc/hls");
  EXPECT_EQ(c->clips.dir, "/srv/sc/clips");
  EXPECT_EQ(c->streams.grace_period_ms, 10000);
  EXPECT_EQ(c->clips.min_duration, 15);
  EXPECT_EQ(c->clips.max_duration, 60);
  EXPECT_EQ(c->gifts.catalogue.size(), 4u);
  EXPECT_FALSE(c->instance_id.empty());
  EXPECT_NE(c->effective_json.find("\"sqlite_path\" : \"/srv/sc/sugarcast.db\""), std::string::npos)
      << c->effective_json;
}

TEST(Config, FileValuesAndRelativePaths)
{
  std::string file = write_config("ok.json", R"({"data_dir": "/var/sc", "http": {"port": 9000},
      "hls": {"dir": "video"}, "clips": {"max_duration": 90}})");
  std::string error;
  auto c = load_config({file, ""}, error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->http.port, 9000);
  EXPECT_EQ(c->http.address, "0.0.0.0") << "siblings keep their defaults";
  EXPECT_EQ(c->hls.dir, "/var/sc/video");
  EXPECT_EQ(c->clips.max_duration, 90);
}

TEST(Config, RefusalNamesFilePathAndExpectation)
{
  std::string file = write_config("bad.json", R"({"http": {"port": 70000, "colour": "red"},
      "chat": {"filter_mode": "blur"}, "streams": {"grace_period_ms": "ten"}})");
  std::string error;
  EXPECT_FALSE(load_config({file, ""}, error));
  EXPECT_NE(error.find(file + ": /http/port: expected an integer from 0 to 65535, found 70000"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find(file + ": /http/colour: unknown field \"colour\""), std::string::npos)
      << error;
  EXPECT_NE(error.find(file + ": /chat/filter_mode: expected one of \"mask\", \"reject\", found "
                              "\"blur\""),
            std::string::npos)
      << error;
  EXPECT_NE(error.find(file + ": /streams/grace_period_ms: expected integer, found string "
                              "\"ten\""),
            std::string::npos)
      << error;
}

TEST(Config, SyntaxErrorsNameTheLine)
{
  std::string file = write_config("syntax.json", "{\n  \"http\": {\"port\": 80,}\n}\n");
  std::string error;
  EXPECT_FALSE(load_config({file, ""}, error));
  EXPECT_EQ(error.rfind(file + ":2:", 0), 0u) << error;
}

TEST(Config, RelationsBetweenFieldsAreChecked)
{
  std::string file = write_config("relations.json", R"({"clips": {"min_duration": 70},
      "rtmp": {"tls_port": 1936},
      "gifts": {"catalogue": [{"id": "a", "name": "A", "coins": 1},
                               {"id": "a", "name": "B", "coins": 2}]}})");
  std::string error;
  EXPECT_FALSE(load_config({file, ""}, error));
  EXPECT_NE(error.find("/clips/min_duration: must not exceed clips.max_duration"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("/rtmp/tls_port: RTMPS needs"), std::string::npos) << error;
  EXPECT_NE(error.find("/gifts/catalogue/1/id: gift id \"a\" appears twice"), std::string::npos)
      << error;
}

TEST(Config, EnvironmentWinsOverTheFileAndSecretsAreNotPrinted)
{
  std::string file = write_config("secrets.json", R"({"admin_token": "from-file",
      "chat": {"jwt_secret": "file-secret"}})");
  g_setenv("SUGARCAST_ADMIN_TOKEN", "from-env", TRUE);
  g_setenv("SUGARCAST_DATABASE_URL", "host=127.0.0.1 dbname=x", TRUE);
  std::string error;
  auto c = load_config({file, ""}, error);
  g_unsetenv("SUGARCAST_ADMIN_TOKEN");
  g_unsetenv("SUGARCAST_DATABASE_URL");
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->admin_token, "from-env");
  EXPECT_EQ(c->chat.jwt_secret, "file-secret");
  EXPECT_EQ(c->store.database_url, "host=127.0.0.1 dbname=x");
  EXPECT_EQ(c->effective_json.find("from-env"), std::string::npos);
  EXPECT_EQ(c->effective_json.find("file-secret"), std::string::npos);
  EXPECT_EQ(c->effective_json.find("dbname=x"), std::string::npos);
}

TEST(Sugarcastd, PrintConfigAndRefuseABadOne)
{
  const std::string daemon = test::built_program("daemon/sugarcastd");
  auto r = test::run_process({daemon, "--data-dir", test::scratch_dir(), "--print-config"});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.out.find("\"port\" : 1935"), std::string::npos) << r.out;

  std::string bad = write_config("daemon-bad.json", R"({"rtmp": {"port": -1}})");
  r = test::run_process({daemon, "--config", bad});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find(bad + ": /rtmp/port: expected an integer from 0 to 65535, found -1"),
            std::string::npos)
      << r.err;
}

TEST(Config, DeeplyNestedFilesAreRefusedBeforeTheyAreParsed)
{
  /* Deep enough to overflow json-glib's recursion if it were handed over. */
  std::string deep = write_config("deep.json", R"({"gifts": )" + std::string(100000, '['));
  std::string error;
  EXPECT_FALSE(load_config({deep, ""}, error));
  EXPECT_NE(error.find(deep + ": the JSON nests deeper than 64 levels"), std::string::npos)
      << error;
}

TEST(Sugarcastd, ShortSecretsStopStartUpNamingTheField)
{
  const std::string daemon = test::built_program("daemon/sugarcastd");
  std::string weak =
      write_config("weak.json", R"({"admin_token": "short", "chat": {"jwt_secret": "abc"}})");
  auto r = test::run_process({daemon, "--config", weak, "--data-dir", test::scratch_dir()});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("admin_token (or SUGARCAST_ADMIN_TOKEN) is 5 bytes long; it must have at "
                       "least 16"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("chat.jwt_secret (or SUGARCAST_JWT_SECRET) is 3 bytes long"),
            std::string::npos)
      << r.err;
}
