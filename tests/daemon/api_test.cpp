/* The control API and media serving of a real sugarcastd: what a platform
 * scripts against, and what it refuses. */
#include "pgserver.h"
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <filesystem>
#include <fstream>

using namespace sugarcast::test;
namespace fs = std::filesystem;

namespace {

/* The parsed JSON object of a response (owned by the returned parser). */
struct Json
{
  JsonParser *parser = json_parser_new();
  JsonObject *o = nullptr;
  explicit Json(const std::string &text)
  {
    if (json_parser_load_from_data(parser, text.c_str(), -1, nullptr) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
      o = json_node_get_object(json_parser_get_root(parser));
    else
      ADD_FAILURE() << "not a JSON object: " << text;
  }
  ~Json() { g_object_unref(parser); }
  std::string str(const char *name) const
  {
    return o && json_object_has_member(o, name) ? json_object_get_string_member(o, name) : "";
  }
  std::string error_code() const
  {
    return o && json_object_has_member(o, "error")
               ? json_object_get_string_member(json_object_get_object_member(o, "error"), "code")
               : "";
  }
  std::string error_message() const
  {
    return o && json_object_has_member(o, "error")
               ? json_object_get_string_member(json_object_get_object_member(o, "error"), "message")
               : "";
  }
};

class Api : public ::testing::Test
{
protected:
  void SetUp() override { ASSERT_TRUE(d.wait_ready()) << d.log(); }
  SugarcastdProcess d{{}};
};

} // namespace

TEST_F(Api, CreateShowsTheKeyOnceAndTheUrlsToUse)
{
  HttpResponse r = d.admin("POST", "/api/streams", R"({"title": "Friday night"})");
  ASSERT_EQ(r.status, 201) << r.body;
  Json created(r.body);
  const std::string id = created.str("id");
  const std::string key = created.str("key");
  EXPECT_EQ(id.size(), 10u);
  EXPECT_EQ(key.rfind("sk_", 0), 0u);
  EXPECT_EQ(created.str("rtmp_url"),
            "rtmp://127.0.0.1:" + std::to_string(d.rtmp_port()) + "/live/" + key);
  EXPECT_EQ(created.str("hls_url"), d.url("/hls/" + id + "/master.m3u8"));
  EXPECT_EQ(created.str("state"), "idle");

  HttpResponse shown = d.admin("GET", "/api/streams/" + id);
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body.find(key), std::string::npos) << "the key is shown only once";
  EXPECT_EQ(Json(shown.body).str("title"), "Friday night");

  HttpResponse list = d.admin("GET", "/api/streams");
  EXPECT_NE(list.body.find("\"id\":\"" + id + "\""), std::string::npos) << list.body;
}

TEST_F(Api, RotateRevokeAndDelete)
{
  Json created(d.admin("POST", "/api/streams", R"({"title": "t"})").body);
  const std::string id = created.str("id");
  HttpResponse rotated = d.admin("POST", "/api/streams/" + id + "/key");
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  EXPECT_NE(Json(rotated.body).str("key"), created.str("key"));

  EXPECT_EQ(d.admin("DELETE", "/api/streams/" + id + "/key").status, 204);
  EXPECT_NE(d.admin("GET", "/api/streams/" + id).body.find("\"has_key\":false"), std::string::npos);
  EXPECT_EQ(d.admin("DELETE", "/api/streams/" + id).status, 204);
  HttpResponse gone = d.admin("GET", "/api/streams/" + id);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(Json(gone.body).error_message(), "No stream with id \"" + id + "\"");
  EXPECT_EQ(d.admin("DELETE", "/api/streams/" + id).status, 404);
  EXPECT_EQ(d.admin("POST", "/api/streams/nosuchid/key").status, 404);
}

TEST_F(Api, BadBodiesAreRefusedWithTheFieldAndNothingIsStored)
{
  struct Case
  {
    std::string body;
    std::string code;
    std::string message;
  } cases[] = {
      {"{\"title\": ", "bad_json", "The body is not valid JSON"},
      {"[1, 2]", "bad_json", "Expected a JSON object body"},
      {"", "bad_json", "Expected a JSON object body, got nothing"},
      {"{}", "bad_request", "/: missing required field \"title\""},
      {R"({"title": 42})", "bad_request", "/title: expected string, found integer 42"},
      {R"({"title": ""})", "bad_request", "/title: expected a non-empty string"},
      {R"({"title": "x", "owner": "me"})", "bad_request", "/owner: unknown field \"owner\""},
      {"{\"title\": \"" + std::string(201, 'a') + "\"}", "bad_request",
       "/title: expected at most 200 characters, found 201"},
  };
  for (const auto &c : cases) {
    HttpResponse r = d.admin("POST", "/api/streams", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    Json j(r.body);
    EXPECT_EQ(j.error_code(), c.code) << r.body;
    EXPECT_NE(j.error_message().find(c.message), std::string::npos) << r.body;
  }
  HttpResponse wrong_type =
      http_request("POST", d.url("/api/streams"), R"({"title": "x"})",
                   {{"Authorization", "Bearer " + d.admin_token()}}, "text/plain");
  EXPECT_EQ(wrong_type.status, 415);
  EXPECT_EQ(d.admin("GET", "/api/streams").body, "{\"streams\":[]}\n");
}

TEST_F(Api, ControlRoutesNeedTheAdminToken)
{
  HttpResponse none = http_request("GET", d.url("/api/streams"));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.header("www-authenticate"), "Bearer");
  EXPECT_EQ(Json(none.body).error_message(),
            "This route needs the admin token: Authorization: Bearer TOKEN");
  HttpResponse wrong = http_request("POST", d.url("/api/streams"), R"({"title": "x"})",
                                    {{"Authorization", "Bearer not-the-token"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(Json(wrong.body).error_message(), "The admin token is not valid");
}

TEST_F(Api, UnknownRoutesAndMethods)
{
  EXPECT_EQ(d.admin("GET", "/api/streams/a/b/c").status, 404);
  HttpResponse put = d.admin("PUT", "/api/streams");
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(put.header("allow"), "POST, GET");
  HttpResponse preflight =
      http_request("OPTIONS", d.url("/api/streams"), "", {{"Origin", "https://app.example"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.header("access-control-allow-origin"), "*");
  EXPECT_NE(preflight.header("access-control-allow-headers").find("Authorization"),
            std::string::npos);
}

TEST_F(Api, MediaIsServedWithTypesCachingCorsAndRanges)
{
  const std::string dir = d.data_dir() + "/hls/abc123";
  fs::create_directories(dir + "/720p");
  std::ofstream(dir + "/master.m3u8") << "#EXTM3U\n";
  std::ofstream(dir + "/720p/seg1.ts") << std::string(1000, 'x');

  HttpResponse playlist = http_request("GET", d.url("/hls/abc123/master.m3u8"), "",
                                       {{"Origin", "https://player.example"}});
  EXPECT_EQ(playlist.status, 200);
  EXPECT_EQ(playlist.body, "#EXTM3U\n");
  EXPECT_EQ(playlist.header("content-type"), "application/vnd.apple.mpegurl");
  EXPECT_EQ(playlist.header("cache-control"), "no-cache");
  EXPECT_EQ(playlist.header("access-control-allow-origin"), "*");

  HttpResponse segment = http_request("GET", d.url("/hls/abc123/720p/seg1.ts"));
  EXPECT_EQ(segment.status, 200);
  EXPECT_EQ(segment.header("content-type"), "video/mp2t");
  EXPECT_EQ(segment.header("cache-control"), "public, max-age=31536000, immutable");

  HttpResponse range =
      http_request("GET", d.url("/hls/abc123/720p/seg1.ts"), "", {{"Range", "bytes=10-19"}});
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.body, std::string(10, 'x'));
  EXPECT_EQ(range.header("content-range"), "bytes 10-19/1000");
}

TEST_F(Api, NoPathLeavesTheDataFolder)
{
  std::ofstream(d.data_dir() + "/secret.json") << "{}";
  fs::create_directories(d.data_dir() + "/hls/s1");
  fs::create_symlink(d.data_dir() + "/secret.json", d.data_dir() + "/hls/s1/link.json");
  for (const std::string path :
       {"/hls/../secret.json", "/hls/s1/../../secret.json", "/hls/%2e%2e/secret.json",
        "/hls/s1/%2e%2e/%2e%2e/admin-token", "/hls/s1/link.json", "/hls/s1/.hidden.ts",
        "/hls/s1/..%2f..%2fsecret.json", "/clips/../admin-token", "/hls/s1"}) {
    HttpResponse r = http_request("GET", d.url(path));
    /* libsoup itself answers 400 to some of them; neither serves a byte. */
    EXPECT_TRUE(r.status == 404 || r.status == 400) << path << ": " << r.status << " " << r.body;
    EXPECT_EQ(r.body.find("{}"), std::string::npos) << path;
  }
}

TEST_F(Api, LiveListIsEmptyWhenNothingIsLive)
{
  HttpResponse r = d.admin("GET", "/api/live");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"streams\":[]}\n");
}

TEST(ApiOnPostgresql, StreamsLiveInTheDatabaseAcrossRestarts)
{
  PgServer &pg = PgServer::shared();
  const std::string url = pg.conninfo(pg.create_database("daemon"));
  std::string data_dir;
  std::string id;
  {
    SugarcastdProcess d({.env = {{"SUGARCAST_DATABASE_URL", url}}});
    ASSERT_TRUE(d.wait_ready()) << d.log();
    EXPECT_NE(d.log().find("postgresql store"), std::string::npos) << d.log();
    HttpResponse r = d.admin("POST", "/api/streams", R"({"title": "on postgres"})");
    ASSERT_EQ(r.status, 201) << r.body;
    id = Json(r.body).str("id");
    data_dir = d.data_dir();
    EXPECT_EQ(d.stop(), 0);
  }
  fs::remove(data_dir + "/sugarcast.db"); /* nothing may come from SQLite */
  SugarcastdProcess again({.env = {{"SUGARCAST_DATABASE_URL", url}}, .data_dir = data_dir});
  ASSERT_TRUE(again.wait_ready()) << again.log();
  EXPECT_EQ(Json(again.admin("GET", "/api/streams/" + id).body).str("title"), "on postgres");
  EXPECT_FALSE(fs::exists(data_dir + "/sugarcast.db"));
}
