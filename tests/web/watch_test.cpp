/* The watch page in a real browser (Debian's Chromium, headless, driven by
 * playwright-core): a viewer opens /watch/ID of a live stream pushed by
 * ffmpeg and the video plays, at its size, and keeps playing. */
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <filesystem>
#include <thread>

using namespace sugarcast::test;

namespace {

std::string member(JsonObject *o, const char *name)
{
  if (!o || !json_object_has_member(o, name))
    return "";
  JsonNode *n = json_object_get_member(o, name);
  if (json_node_get_value_type(n) == G_TYPE_STRING)
    return json_node_get_string(n);
  if (json_node_get_value_type(n) == G_TYPE_BOOLEAN)
    return json_node_get_boolean(n) ? "true" : "false";
  return std::to_string(json_node_get_int(n));
}

} // namespace

TEST(WatchPage, AViewerSeesTheLiveStreamPlay)
{
  ASSERT_TRUE(std::filesystem::exists(source_dir() + "/web/node_modules/playwright-core"))
      << "web/node_modules is missing: ./dev installs it (npm ci --prefix web)";
  SugarcastdProcess d({.config = R"({"hls": {"segment_duration": 1}})"});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  HttpResponse created = d.admin("POST", "/api/streams", R"({"title": "Browser show"})");
  ASSERT_EQ(created.status, 201);
  g_autoptr(JsonParser) p = json_parser_new();
  ASSERT_TRUE(json_parser_load_from_data(p, created.body.c_str(), -1, nullptr));
  JsonObject *stream = json_node_get_object(json_parser_get_root(p));
  const std::string id = member(stream, "id");

  Background encoder({"ffmpeg",
                      "-hide_banner",
                      "-loglevel",
                      "error",
                      "-nostdin",
                      "-re",
                      "-f",
                      "lavfi",
                      "-i",
                      "testsrc2=size=640x360:rate=30",
                      "-f",
                      "lavfi",
                      "-i",
                      "sine",
                      "-t",
                      "40",
                      "-c:v",
                      "libx264",
                      "-preset",
                      "veryfast",
                      "-tune",
                      "zerolatency",
                      "-g",
                      "30",
                      "-pix_fmt",
                      "yuv420p",
                      "-c:a",
                      "aac",
                      "-f",
                      "flv",
                      member(stream, "rtmp_url")});
  for (int i = 0;
       i < 200 && http_request("GET", d.url("/hls/" + id + "/master.m3u8")).status != 200; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));

  ProcessResult r =
      run_process({"node", source_dir() + "/tests/web/play.mjs", d.url("/watch/" + id), "20000"},
                  std::chrono::seconds(90));
  ASSERT_EQ(r.exit_status, 0) << r.err;
  g_autoptr(JsonParser) q = json_parser_new();
  ASSERT_TRUE(json_parser_load_from_data(q, r.out.c_str(), -1, nullptr)) << r.out << r.err;
  JsonObject *seen = json_node_get_object(json_parser_get_root(q));
  EXPECT_EQ(member(seen, "failure"), "") << r.out << d.log();
  EXPECT_EQ(member(seen, "title"), "Browser show");
  EXPECT_EQ(member(seen, "state"), "live");
  EXPECT_EQ(member(seen, "width"), "640");
  EXPECT_EQ(member(seen, "height"), "360");
  EXPECT_EQ(member(seen, "advanced"), "true") << "the video keeps playing";
  std::cout << "open to playing: " << member(seen, "openToPlayingMs") << " ms\n";
}

TEST(WatchPage, PagesAndTheirPublicApi)
{
  SugarcastdProcess d({});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  HttpResponse page = http_request("GET", d.url("/watch/anything"));
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("/web/watch.js"), std::string::npos);
  for (const char *asset :
       {"/web/watch.js", "/web/watch.css", "/web/hls.min.js", "/web/common.js", "/web/chat.js",
        "/web/charts.js", "/web/site.css", "/web/home.js", "/web/studio.js", "/web/admin.js",
        "/web/uPlot.min.js", "/web/uPlot.min.css"})
    EXPECT_EQ(http_request("GET", d.url(asset)).status, 200) << asset;
  /* The other pages; each names only this server as a source. */
  for (const char *path : {"/", "/studio", "/admin", "/watch/x"}) {
    HttpResponse p = http_request("GET", d.url(path));
    EXPECT_EQ(p.status, 200) << path;
    EXPECT_EQ(p.header("content-type"), "text/html; charset=utf-8") << path;
    EXPECT_EQ(p.header("content-security-policy").rfind("default-src 'self';", 0), 0u) << path;
    EXPECT_EQ(p.body.find("http"), std::string::npos) << path << " links elsewhere";
  }
  EXPECT_EQ(http_request("POST", d.url("/"), "{}").status, 405);
  EXPECT_EQ(http_request("GET", d.url("/nothing-here")).status, 404)
      << "\"/\" is only the home page";
  EXPECT_EQ(http_request("GET", d.url("/studio/x")).status, 404);
  EXPECT_EQ(http_request("GET", d.url("/web/../admin-token")).status / 100, 4);
  EXPECT_EQ(http_request("GET", d.url("/web/nothing.js")).status, 404);
  HttpResponse unknown = http_request("GET", d.url("/api/watch/nosuchstream"));
  EXPECT_EQ(unknown.status, 404) << "public, but only for streams that exist";
  HttpResponse created = d.admin("POST", "/api/streams", R"({"title": "t"})");
  g_autoptr(JsonParser) p = json_parser_new();
  ASSERT_TRUE(json_parser_load_from_data(p, created.body.c_str(), -1, nullptr));
  const std::string id = member(json_node_get_object(json_parser_get_root(p)), "id");
  HttpResponse info = http_request("GET", d.url("/api/watch/" + id));
  EXPECT_EQ(info.status, 200);
  EXPECT_EQ(info.body.find("sk_"), std::string::npos) << "no key for viewers: " << info.body;
  EXPECT_NE(info.body.find("\"state\":\"idle\""), std::string::npos) << info.body;
  EXPECT_NE(info.body.find("\"chat_url\":\"ws://"), std::string::npos) << info.body;
}
