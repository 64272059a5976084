/* The pages in a real browser (tests/web/pages.mjs drives Debian's headless
 * Chromium through playwright-core) against a real sugarcastd and a real
 * ffmpeg push. Each check the script makes is one assertion here, by name.
 *
 * Pages.WhatMainServes: /watch plays, chat across contexts, escaping,
 * gifts and the leaderboard, a moderator's delete, the admin's ban,
 * offline without a reload, the studio's key; every page at 375 px and
 * desktop width with axe-core and a keyboard check; screenshots into
 * build/meson-logs/pages/.
 * PagesStats.ContractRoutes: what needs the stats, record and schedule
 * routes (docs/api.md); skipped, naming the route, on a daemon without
 * them ("route missing on this branch"; exit status 77, which meson
 * reports as SKIP). */
#include "chat/jwt.h"
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

using namespace sugarcast;
using namespace sugarcast::test;

namespace {

constexpr const char *kSecret = "pages-test-secret-0123456789abcdef";

std::string token(const std::string &user, chat::Role role, const std::string &stream = "")
{
  return chat::mint_token(kSecret, user, user, role, g_get_real_time() / G_USEC_PER_SEC + 3600,
                          stream);
}

std::string string_member(JsonObject *o, const char *name)
{
  return o && json_object_has_member(o, name) ? json_object_get_string_member(o, name) : "";
}

struct Browser
{
  std::string out, err;
  JsonObject *checks = nullptr;
  std::vector<std::string> missing, page_errors;
  JsonParser *parser = json_parser_new();
  ~Browser() { g_object_unref(parser); }
};

/* Runs pages.mjs SCENARIO against a fresh daemon with one stream. */
void run(const char *scenario, Browser &b)
{
  ASSERT_TRUE(std::filesystem::exists(source_dir() + "/web/node_modules/axe-core"))
      << "web/node_modules is missing: ./dev installs it (npm ci --prefix web)";
  SugarcastdProcess d(
      /* live-plain: live without its giftoverlay, so the page animates
       * gifts itself (tests/web/pipelines/live-plain.json). */
      {.config = std::string(R"({"pipelines_dir": ")") + source_dir() + "/tests/web/pipelines" +
                 R"(", "streams": {"pipeline": "live-plain"}, )"
                 R"("hls": {"segment_duration": 1}, "chat": {"jwt_secret": ")" +
                 kSecret + R"("}})"});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  HttpResponse created = d.admin("POST", "/api/streams", R"({"title": "Browser <b>show</b>"})");
  ASSERT_EQ(created.status, 201) << created.body;
  g_autoptr(JsonParser) p = json_parser_new();
  ASSERT_TRUE(json_parser_load_from_data(p, created.body.c_str(), -1, nullptr));
  JsonObject *stream = json_node_get_object(json_parser_get_root(p));
  const std::string id = string_member(stream, "id");

  const std::string out = build_dir() + "/meson-logs/pages/" + scenario;
  g_autoptr(JsonBuilder) c = json_builder_new();
  json_builder_begin_object(c);
  auto put = [&](const char *k, const std::string &v) {
    json_builder_set_member_name(c, k);
    json_builder_add_string_value(c, v.c_str());
  };
  put("base", d.url(""));
  put("stream", id);
  put("push_url", string_member(stream, "rtmp_url"));
  put("admin", d.admin_token());
  put("out", out);
  json_builder_set_member_name(c, "tokens");
  json_builder_begin_object(c);
  put("alice", token("alice", chat::Role::Viewer));
  put("bob", token("bob", chat::Role::Viewer));
  put("mod", token("mod", chat::Role::Moderator, id));
  put("streamer", token("streamer", chat::Role::Streamer, id));
  json_builder_end_object(c);
  json_builder_end_object(c);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(c);
  json_generator_set_root(gen, root);
  g_autofree gchar *config = json_generator_to_data(gen, nullptr);

  ProcessResult r = run_process({"node", source_dir() + "/tests/web/pages.mjs", scenario, config},
                                std::chrono::seconds(500));
  b.out = r.out;
  b.err = r.err;
  ASSERT_EQ(r.exit_status, 0) << r.err << d.log();
  ASSERT_TRUE(json_parser_load_from_data(b.parser, r.out.c_str(), -1, nullptr)) << r.out << r.err;
  JsonObject *o = json_node_get_object(json_parser_get_root(b.parser));
  b.checks = json_object_get_object_member(o, "checks");
  for (const char *name : {"missing", "pageErrors"}) {
    JsonArray *a = json_object_get_array_member(o, name);
    for (guint i = 0; i < json_array_get_length(a); ++i)
      (std::string(name) == "missing" ? b.missing : b.page_errors)
          .push_back(json_array_get_string_element(a, i));
  }
  std::cout << "screenshots: " << out << "\n";
}

/* Each named check passed (and was made at all). */
void expect_checks(const Browser &b, std::initializer_list<const char *> names)
{
  for (const char *name : names) {
    ASSERT_TRUE(json_object_has_member(b.checks, name)) << name << " was not checked\n"
                                                        << b.out << b.err;
    JsonObject *c = json_object_get_object_member(b.checks, name);
    EXPECT_TRUE(json_object_get_boolean_member(c, "ok"))
        << name << ": " << json_object_get_string_member(c, "detail");
  }
  g_autoptr(GList) all = json_object_get_members(b.checks);
  for (GList *l = all; l; l = l->next) {
    JsonObject *c = json_object_get_object_member(b.checks, static_cast<const char *>(l->data));
    EXPECT_TRUE(json_object_get_boolean_member(c, "ok"))
        << static_cast<const char *>(l->data) << ": " << json_object_get_string_member(c, "detail");
  }
  for (const auto &e : b.page_errors)
    ADD_FAILURE() << "page error: " << e;
}

} // namespace

TEST(Pages, WhatMainServes)
{
  Browser b;
  ASSERT_NO_FATAL_FAILURE(run("main", b));
  expect_checks(b, {"watch_plays", "watch_state_live", "watch_session_param", "watch_quality",
                    "chat_between_contexts", "anonymous_read_only", "chat_escaped",
                    "gift_animation_leaderboard", "gift_hideable", "moderator_deletes",
                    "admin_bans", "reconnecting_without_reload", "reconnected_plays_on",
                    "offline_without_reload", "token_leaves_url", "studio_key", "survey"});
  for (const char *page : {"home", "watch", "studio", "admin"})
    for (const char *width : {"phone", "desktop"})
      for (const char *what : {"fits", "keyboard", "axe"})
        EXPECT_TRUE(json_object_has_member(b.checks,
                                           (std::string(page) + "_" + width + "_" + what).c_str()))
            << page << " " << width << " " << what;
}

TEST(PagesStats, ContractRoutes)
{
  Browser b;
  ASSERT_NO_FATAL_FAILURE(run("contract", b));
  if (!b.missing.empty()) {
    std::string all;
    for (const auto &m : b.missing)
      all += "\n  " + m;
    /* 77: meson reports the test SKIP, not OK (GTEST_SKIP exits 0). */
    std::cout << "[  SKIPPED ] PagesStats.ContractRoutes: route missing on this branch:" << all
              << std::endl;
    std::_Exit(77);
  }
  expect_checks(b, {"home_lists_live_with_thumbnail", "studio_ingest_and_viewers",
                    "recordings_listed", "scheduled_starting_soon", "studio_records",
                    "recording_replays", "replay_draws_gifts", "studio_cuts_highlight"});
}
