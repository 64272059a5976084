/* Creators' own clips against a real sugarcastd: uploading (one body or
 * tus) with a user token, listing and deleting only their own, and the
 * public feed of published clips, newest first, in pages. */
#include "chat/jwt.h"
#include "media.h"
#include "sugarcastd.h"
#include "testenv.h"

#include <gio/gio.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <thread>

using namespace sugarcast;
using namespace sugarcast::test;

namespace {

constexpr const char *kSecret = "creator-test-secret";

std::string bearer(const std::string &user, chat::Role role = chat::Role::Streamer)
{
  return "Bearer " +
         chat::mint_token(kSecret, user, user, role, g_get_real_time() / G_USEC_PER_SEC + 3600);
}

/* A JSON reply's member, as text ("" when absent). */
std::string member(const std::string &json, const char *name)
{
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, json.c_str(), -1, nullptr) ||
      !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
    return "";
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  return json_object_has_member(o, name) ? json_object_get_string_member(o, name) : "";
}

/* The ids of a list reply, in order. */
std::vector<std::string> ids(const std::string &json)
{
  std::vector<std::string> out;
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, json.c_str(), -1, nullptr))
    return out;
  JsonArray *a =
      json_object_get_array_member(json_node_get_object(json_parser_get_root(p)), "clips");
  for (guint i = 0; a && i < json_array_get_length(a); ++i)
    out.push_back(json_object_get_string_member(json_array_get_object_element(a, i), "id"));
  return out;
}

class CreatorClips : public ::testing::Test
{
protected:
  void SetUp() override
  {
    d = std::make_unique<SugarcastdProcess>(SugarcastdProcess::Options{
        .config = R"({"chat": {"jwt_secret": ")" + std::string(kSecret) + R"("}})"});
    ASSERT_TRUE(d->wait_ready()) << d->log();
  }

  HttpResponse get(const std::string &path, const std::string &auth = "")
  {
    return http_request(
        "GET", d->url(path), "",
        auth.empty() ? std::vector<std::pair<std::string, std::string>>{}
                     : std::vector<std::pair<std::string, std::string>>{{"Authorization", auth}});
  }

  std::string upload(const std::string &bytes, const std::string &auth)
  {
    HttpResponse r = http_request("POST", d->url("/api/clips?filename=mine.mp4"), bytes,
                                  {{"Authorization", auth}}, "application/octet-stream");
    EXPECT_EQ(r.status, 202) << r.body;
    return member(r.body, "id");
  }

  /* The same with tus: create, then one PATCH. */
  std::string upload_tus(const std::string &bytes, const std::string &auth)
  {
    const std::vector<std::pair<std::string, std::string>> h = {{"Authorization", auth},
                                                                {"Tus-Resumable", "1.0.0"}};
    auto with = [&h](std::vector<std::pair<std::string, std::string>> more) {
      more.insert(more.end(), h.begin(), h.end());
      return more;
    };
    HttpResponse created =
        http_request("POST", d->url("/api/clips/uploads"), "",
                     with({{"Upload-Length", std::to_string(bytes.size())}}), "text/plain");
    EXPECT_EQ(created.status, 201) << created.body;
    const std::string location = created.header("location");
    HttpResponse done = http_request("PATCH", location, bytes, with({{"Upload-Offset", "0"}}),
                                     "application/offset+octet-stream");
    EXPECT_EQ(done.status, 204) << done.body;
    return done.header("sugarcast-clip-id");
  }

  std::string settle(const std::string &id)
  {
    std::string state;
    eventually(
        [&] {
          state = member(d->admin("GET", "/api/clips/" + id).body, "state");
          return state == "ready" || state == "rejected" || state == "failed";
        },
        std::chrono::seconds(60));
    return state;
  }

  /* A clip's progress stream read by curl (a real HTTP client) as the
   * server sends it. */
  struct Follower
  {
    GSubprocess *curl = nullptr;
    GDataInputStream *out = nullptr;
    ~Follower()
    {
      if (curl) {
        g_subprocess_force_exit(curl);
        g_subprocess_wait(curl, nullptr, nullptr);
      }
      g_clear_object(&out);
      g_clear_object(&curl);
    }
    /* The next event: {name, data}; {"", ""} when the stream ended. */
    std::pair<std::string, std::string> next()
    {
      std::string name, data;
      for (;;) {
        gsize n = 0;
        g_autofree gchar *line = g_data_input_stream_read_line(out, &n, nullptr, nullptr);
        if (!line)
          return {"", ""};
        const std::string l = line;
        if (l.rfind("event: ", 0) == 0)
          name = l.substr(7);
        else if (l.rfind("data: ", 0) == 0)
          data = l.substr(6);
        else if (l.empty() && !name.empty())
          return {name, data};
      }
    }
    /* curl's exit status once the server ended the stream. */
    int wait()
    {
      g_subprocess_wait(curl, nullptr, nullptr);
      return g_subprocess_get_exit_status(curl);
    }
  };

  std::unique_ptr<Follower> follow(const std::string &id, const std::string &auth)
  {
    auto f = std::make_unique<Follower>();
    g_autoptr(GError) error = nullptr;
    f->curl = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "curl", "-sSfN",
                               "--max-time", "900", "-H", ("Authorization: " + auth).c_str(),
                               d->url("/api/clips/" + id + "/events").c_str(), nullptr);
    EXPECT_NE(f->curl, nullptr) << error->message;
    if (f->curl)
      f->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(f->curl));
    return f;
  }

  std::unique_ptr<SugarcastdProcess> d;
};

/* One member of an event's JSON as a number (-1 when absent). */
gint64 number(const std::string &json, const char *name)
{
  g_autoptr(JsonParser) p = json_parser_new();
  if (!json_parser_load_from_data(p, json.c_str(), -1, nullptr))
    return -1;
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  return json_object_has_member(o, name) ? json_object_get_int_member(o, name) : -1;
}

} // namespace

TEST_F(CreatorClips, ACreatorSeesAndDeletesOnlyTheirOwnClips)
{
  /* Alice has the creator role, Bob is a streamer: both upload. */
  const std::string alice = bearer("alice", chat::Role::Creator), bob = bearer("bob");
  const std::string video = read_file(make_clip({.seconds = 16}));
  const std::string a = upload(video, alice);
  const std::string b = upload_tus(video, bob);
  const std::string broken = upload("not a video at all\n", bob);
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(settle(a), "ready");
  EXPECT_EQ(settle(b), "ready");
  EXPECT_EQ(settle(broken), "failed");

  EXPECT_EQ(ids(get("/api/clips", alice).body), std::vector<std::string>{a});
  EXPECT_EQ(ids(get("/api/clips", bob).body), (std::vector<std::string>{broken, b}));
  EXPECT_EQ(ids(d->admin("GET", "/api/clips").body).size(), 3u) << "the admin sees all";
  EXPECT_EQ(member(get("/api/clips/" + a, alice).body, "owner"), "alice");

  /* Bob's failed clip is his alone; his published one anyone may watch, only he may delete. */
  EXPECT_EQ(get("/api/clips/" + broken, alice).status, 404);
  EXPECT_EQ(get("/api/clips/" + broken).status, 404);
  EXPECT_EQ(get("/api/clips/" + broken, bob).status, 200);
  EXPECT_EQ(
      http_request("DELETE", d->url("/api/clips/" + b), "", {{"Authorization", alice}}).status,
      404);
  EXPECT_EQ(
      http_request("DELETE", d->url("/api/clips/" + broken), "", {{"Authorization", alice}}).status,
      404);
  EXPECT_EQ(get("/api/clips/" + b).status, 200) << "still there";
  EXPECT_EQ(http_request("DELETE", d->url("/api/clips/" + b), "", {{"Authorization", bob}}).status,
            204);
  EXPECT_EQ(get("/api/clips/" + b, bob).status, 404);
  EXPECT_EQ(get("/clips/" + b + "/clip.mp4").status, 404) << "its files are gone";

  EXPECT_EQ(get("/api/clips").status, 401) << "only the feed is anonymous";
  HttpResponse viewer = http_request("POST", d->url("/api/clips"), video,
                                     {{"Authorization", bearer("vic", chat::Role::Viewer)}},
                                     "application/octet-stream");
  EXPECT_EQ(viewer.status, 403) << viewer.body;
}

TEST_F(CreatorClips, TheFeedListsPublishedClipsNewestFirstInPages)
{
  const std::string video = read_file(make_clip({.seconds = 16}));
  const std::string first = upload(video, bearer("alice"));
  ASSERT_EQ(settle(first), "ready");
  const std::string second = upload(video, bearer("bob"));
  ASSERT_EQ(settle(second), "ready");
  const std::string broken = upload("not a video\n", bearer("bob"));
  ASSERT_EQ(settle(broken), "failed");

  HttpResponse page = get("/api/clips?state=ready&limit=1");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(ids(page.body), std::vector<std::string>{second});
  EXPECT_NE(page.body.find("\"duration_ms\":16000"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("/clips/" + second + "/clip.mp4"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("/clips/" + second + "/clip.webm"), std::string::npos) << page.body;
  const std::string next = member(page.body, "next");
  ASSERT_FALSE(next.empty()) << page.body;
  page = get("/api/clips?state=ready&limit=1&before=" + next);
  EXPECT_EQ(ids(page.body), std::vector<std::string>{first});
  page = get("/api/clips?state=ready&limit=1&before=" + member(page.body, "next"));
  EXPECT_TRUE(ids(page.body).empty()) << page.body;
  EXPECT_EQ(ids(get("/api/clips?state=ready").body), (std::vector<std::string>{second, first}))
      << "a failed clip is not in the feed";
  EXPECT_EQ(get("/api/clips?state=ready&limit=0").status, 400);
  EXPECT_EQ(get("/api/clips?state=ready&before=yesterday").status, 400);
  EXPECT_EQ(get("/api/clips?state=shiny", bearer("bob")).status, 400);
}

/* Progress reaches the uploader: a 1080p 20 s clip followed over server-sent
 * events with the creator's own token, from upload to ready. Progress is
 * seen at many points on the way, rising in steps of at most 10 % (never 0
 * until the end), and the stream ends with the ready clip. */
TEST_F(CreatorClips, TheUploaderFollowsA1080pClipToReadyAndProgressRisesSmoothly)
{
  const std::string alice = bearer("alice", chat::Role::Creator);
  const std::string id =
      upload(read_file(make_clip(
                 {.seconds = 20, .width = 1920, .height = 1080, .extra = {"-preset", "veryfast"}})),
             alice);
  ASSERT_FALSE(id.empty());
  auto f = follow(id, alice);
  std::vector<gint64> progress;
  std::string last;
  for (auto e = f->next(); !e.first.empty(); e = f->next()) {
    ASSERT_EQ(e.first, "clip") << e.second;
    EXPECT_EQ(member(e.second, "id"), id);
    if (member(e.second, "state") == "processing")
      progress.push_back(number(e.second, "progress"));
    last = e.second;
  }
  EXPECT_EQ(f->wait(), 0) << "the server ended the stream";
  EXPECT_EQ(member(last, "state"), "ready") << last << d->log();
  EXPECT_EQ(number(last, "progress"), 100);
  EXPECT_NE(last.find("/clips/" + id + "/clip.mp4"), std::string::npos) << last;
  ASSERT_FALSE(progress.empty());
  std::vector<gint64> seen = {progress.front()};
  for (size_t i = 1; i < progress.size(); ++i) {
    EXPECT_GE(progress[i], progress[i - 1]) << "progress never goes back";
    EXPECT_LE(progress[i] - progress[i - 1], 10)
        << "between " << progress[i - 1] << " and " << progress[i];
    if (progress[i] != seen.back())
      seen.push_back(progress[i]);
  }
  EXPECT_LE(100 - progress.back(), 10) << "from the last value seen to ready";
  EXPECT_LE(progress.front(), 10) << "the first value seen";
  EXPECT_GE(seen.size(), 10u) << "progress seen at many points, not 0 until the end";
}

/* Only the clip's owner (or the admin) may follow it; a cap on the streams
 * one uploader has open; a stream with nothing to tell ends after
 * clips.events_idle_timeout; a settled clip's stream is its last state. */
TEST_F(CreatorClips, ProgressStreamsAreTheOwnersBoundedAndEndWhenIdle)
{
  d = std::make_unique<SugarcastdProcess>(SugarcastdProcess::Options{
      .config = R"({"chat": {"jwt_secret": ")" + std::string(kSecret) +
                R"("}, "clips": {"max_event_streams_per_user": 2, "events_idle_timeout": 3}})"});
  ASSERT_TRUE(d->wait_ready()) << d->log();
  const std::string alice = bearer("alice", chat::Role::Creator);
  /* A long clip runs (clips.max_concurrent is 1): the next one waits, queued. */
  const std::string running = upload(
      read_file(make_clip({.seconds = 16, .width = 1920, .height = 1080, .audio = false})), alice);
  const std::string waiting = upload(read_file(make_clip({.seconds = 16})), alice);
  ASSERT_FALSE(waiting.empty());

  EXPECT_EQ(get("/api/clips/" + waiting + "/events", bearer("bob")).status, 404);
  EXPECT_EQ(get("/api/clips/" + waiting + "/events").status, 401);

  auto one = follow(waiting, alice), two = follow(waiting, alice);
  EXPECT_EQ(member(one->next().second, "state"), "queued");
  EXPECT_EQ(member(two->next().second, "state"), "queued");
  HttpResponse third = get("/api/clips/" + waiting + "/events", alice);
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_NE(third.body.find("max_event_streams_per_user"), std::string::npos) << third.body;
  EXPECT_EQ(get("/api/clips/" + waiting + "/events", "Bearer " + d->admin_token()).status, 200)
      << "the admin's streams are counted apart";

  /* Nothing changes for the queued clip: both streams end, saying why. */
  auto idle = one->next();
  EXPECT_EQ(idle.first, "idle") << idle.second;
  EXPECT_NE(idle.second.find("events_idle_timeout"), std::string::npos) << idle.second;
  EXPECT_EQ(one->next().first, "") << "and the stream ends";
  EXPECT_EQ(one->wait(), 0);
  EXPECT_EQ(two->next().first, "idle");
  EXPECT_EQ(two->wait(), 0);

  EXPECT_EQ(settle(running), "ready");
  auto done = follow(running, alice);
  auto e = done->next();
  EXPECT_EQ(member(e.second, "state"), "ready") << e.second;
  EXPECT_EQ(done->next().first, "") << "a settled clip's stream ends at once";
  EXPECT_EQ(done->wait(), 0);
}
