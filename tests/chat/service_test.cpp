/* Chat and gifts end to end: a real sugarcastd process on SQLite and on the
 * private PostgreSQL, libsoup WebSocket clients (and a raw socket for what
 * libsoup will not send), the HTTP API, and the store read behind the
 * daemon's back to check what it recorded. What only PostgreSQL does (the
 * database going away, several daemons) is in cluster_test.cpp. */
#include "chat_test.h"

#include "ingest_support.h"
#include "raw_client.h"

#include <csignal>

namespace sugarcast::test {
namespace {

class Chat : public ChatTest, public ::testing::WithParamInterface<Backend>
{
protected:
  Backend backend() const override { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Backends, Chat, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         backend_name);

TEST_P(Chat, EveryoneInTheRoomReceivesWhatIsSaidAndNoOtherRoomDoes)
{
  auto d = start_daemon();
  auto alice = join(*d, "s1", token("alice", "viewer", "Alice"));
  auto bob = join(*d, "s1", token("bob"));
  auto elsewhere = join(*d, "s2", token("carol"));
  ASSERT_TRUE(alice && bob && elsewhere);
  auto welcome = alice->next("welcome");
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->str("stream"), "s1");
  EXPECT_EQ(welcome->str("you.id"), "alice");
  EXPECT_EQ(welcome->str("you.name"), "Alice");
  EXPECT_TRUE(welcome->flag("you.can_chat"));
  EXPECT_EQ(welcome->count("history"), 0);

  alice->send(R"({"v":1,"type":"chat","text":"hello ✓ everyone","ref":"a1"})");
  for (ChatClient *c : {alice.get(), bob.get()}) {
    auto got = c->next("chat");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->str("text"), "hello ✓ everyone");
    EXPECT_EQ(got->str("user.id"), "alice");
    EXPECT_EQ(got->str("user.name"), "Alice");
    EXPECT_EQ(got->str("user.role"), "viewer");
    EXPECT_FALSE(got->str("id").empty());
  }
  bob->send(R"({"v":1,"type":"chat","text":"hi alice"})");
  EXPECT_EQ(alice->next("chat")->str("text"), "hi alice");
  /* The other room heard neither: its next chat is its own. */
  elsewhere->send(R"({"v":1,"type":"chat","text":"only here"})");
  EXPECT_EQ(elsewhere->next("chat")->str("text"), "only here");

  /* Viewer counts reach the room. */
  auto viewers = bob->next("viewers");
  ASSERT_TRUE(viewers);
  EXPECT_GE(viewers->num("count"), 2);
}

TEST_P(Chat, TheTokenTravelsAsASubprotocolAndTheQueryFormStillWorks)
{
  auto d = start_daemon();
  /* What a browser does: new WebSocket(url, ["sugarcast.v1", "sugarcast.token." + jwt]). */
  int status = 0;
  auto browser = ChatClient::connect(ws_url(*d, "s1", ""), &status,
                                     {"sugarcast.v1", "sugarcast.token." + token("alice")});
  ASSERT_TRUE(browser) << status;
  /* The server answers the protocol, never the token. */
  EXPECT_EQ(browser->protocol(), "sugarcast.v1");
  auto welcome = browser->next("welcome");
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->str("you.id"), "alice");
  EXPECT_TRUE(welcome->flag("you.can_chat"));
  /* A refused token there is told and closed like one in the query. */
  auto forged = ChatClient::connect(
      ws_url(*d, "s1", ""), &status,
      {"sugarcast.v1", "sugarcast.token." + chat::mint_token("x", "eve", "", chat::Role::Admin,
                                                             g_get_real_time() / 1000000 + 60)});
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->next("error")->str("code"), "unauthorized");
  EXPECT_EQ(forged->wait_closed(), 4001);
  /* The deprecated ?token= form still signs in, and is counted. */
  auto old = ChatClient::connect(ws_url(*d, "s1", token("bob")), &status);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->next("welcome")->str("you.id"), "bob");
  EXPECT_NE(
      http_request("GET", d->url("/metrics")).body.find("sugarcast_chat_query_tokens_total 1"),
      std::string::npos);
  /* A client offering only protocols the server does not speak is refused. */
  EXPECT_FALSE(ChatClient::connect(ws_url(*d, "s1", ""), &status, {"graphql-ws"}));
  EXPECT_EQ(status, 400);
}

TEST_P(Chat, AnUnknownStreamOrAPlainRequestIsRefusedBeforeTheUpgrade)
{
  auto d = start_daemon();
  int status = 0;
  EXPECT_FALSE(ChatClient::connect(ws_url(*d, "nosuchstream", ""), &status));
  EXPECT_EQ(status, 404);
  HttpResponse plain = http_request("GET", d->url("/ws/chat/s1"));
  EXPECT_EQ(plain.status, 400) << plain.body;
  EXPECT_NE(plain.body.find("\"not_websocket\""), std::string::npos) << plain.body;
}

TEST_P(Chat, AJoinerGetsTheRecentHistoryAlsoAfterARestart)
{
  std::vector<std::string> said;
  /* A joiner's welcome holds the last `n` of what was said, oldest first. */
  auto expect_history = [&](SugarcastdProcess &d, size_t n) {
    auto joiner = join(d, "s1", "");
    ASSERT_TRUE(joiner);
    auto welcome = joiner->next("welcome");
    ASSERT_TRUE(welcome);
    ASSERT_EQ(welcome->count("history"), static_cast<int64_t>(n)) << welcome->text();
    for (size_t i = 0; i < n; ++i)
      EXPECT_EQ(welcome->at("history", i).str("text"), said[said.size() - n + i]);
  };
  {
    auto d = start_daemon(R"("history_size": 3)");
    auto alice = join(*d, "s1", token("alice"));
    ASSERT_TRUE(alice);
    for (int i = 1; i <= 5; ++i) {
      said.push_back("message " + std::to_string(i));
      alice->send(R"({"v":1,"type":"chat","text":")" + said.back() + R"("})");
      ASSERT_TRUE(alice->next("chat"));
    }
    expect_history(*d, 3);
    alice->close();
    EXPECT_EQ(d->stop(SIGTERM), 0) << d->log();
  }
  /* A new daemon on the same store: the history came back from it. */
  auto d = start_daemon(R"("history_size": 4)");
  expect_history(*d, 4);
}

TEST_P(Chat, AnonymousViewersReadButMayNotChatOrGift)
{
  auto d = start_daemon();
  auto anon = join(*d, "s1", "");
  auto alice = join(*d, "s1", token("alice"));
  ASSERT_TRUE(anon && alice);
  auto welcome = anon->next("welcome");
  ASSERT_TRUE(welcome);
  EXPECT_TRUE(welcome->flag("you.anonymous"));
  EXPECT_FALSE(welcome->flag("you.can_chat"));

  anon->send(R"({"v":1,"type":"chat","text":"let me in","ref":"x"})");
  auto refused = anon->next("error");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->str("code"), "forbidden");
  EXPECT_EQ(refused->str("ref"), "x");
  anon->send(R"({"v":1,"type":"gift","gift":"rose","count":1,"idempotency_key":"anon-gift-1"})");
  EXPECT_EQ(anon->next("error")->str("code"), "forbidden");

  /* Nothing reached the room: the next chat anyone sees is alice's. */
  alice->send(R"({"v":1,"type":"chat","text":"first for real"})");
  EXPECT_EQ(anon->next("chat")->str("text"), "first for real");
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 0);
}

TEST_P(Chat, ExpiredAndForgedTokensAreToldWhyThenClosedWith4001)
{
  auto d = start_daemon();
  const int64_t now = g_get_real_time() / 1000000;
  const std::string cases[] = {
      chat::mint_token(kSecret, "alice", "", chat::Role::Viewer, now - 10),
      chat::mint_token("another-secret", "alice", "", chat::Role::Admin, now + 3600),
      "not.a.token",
  };
  for (const std::string &t : cases) {
    SCOPED_TRACE(t);
    auto c = join(*d, "s1", t);
    ASSERT_TRUE(c);
    auto error = c->next("error");
    ASSERT_TRUE(error);
    EXPECT_EQ(error->str("code"), "unauthorized");
    EXPECT_FALSE(c->has_queued("welcome"));
    EXPECT_EQ(c->wait_closed(), 4001);
  }
}

TEST_P(Chat, RateLimitedPerUserWithABurst)
{
  /* One message per 100 s sustained: the burst is all there is. */
  auto d = start_daemon(R"("rate_per_second": 0.01, "rate_burst": 3)");
  auto alice = join(*d, "s1", token("alice"));
  auto bob = join(*d, "s1", token("bob"));
  ASSERT_TRUE(alice && bob);
  for (int i = 0; i < 4; ++i)
    alice->send(R"({"v":1,"type":"chat","text":"spam )" + std::to_string(i) + R"(","ref":"r)" +
                std::to_string(i) + "\"}");
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(alice->next("chat")->str("text"), "spam " + std::to_string(i));
  auto limited = alice->next("error");
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->str("code"), "rate_limited");
  EXPECT_EQ(limited->str("ref"), "r3");
  EXPECT_GT(limited->num("retry_after_ms"), 0);
  /* The same user on a second connection shares the bucket. */
  auto alice_again = join(*d, "s1", token("alice"));
  ASSERT_TRUE(alice_again);
  alice_again->send(R"({"v":1,"type":"chat","text":"from my phone"})");
  EXPECT_EQ(alice_again->next("error")->str("code"), "rate_limited");
  /* Another user is not slowed down by alice. */
  bob->send(R"({"v":1,"type":"chat","text":"bob is fine"})");
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(bob->next("chat"));
  EXPECT_EQ(bob->next("chat")->str("text"), "bob is fine");
}

TEST_P(Chat, AMuteRefusesMessagesUntilItExpires)
{
  auto d = start_daemon();
  auto mod = join(*d, "s1", token("mod", "moderator", "", "s1"));
  auto alice = join(*d, "s1", token("alice"));
  ASSERT_TRUE(mod && alice);
  /* Viewers may not moderate. */
  alice->send(R"({"v":1,"type":"mute","user":"mod","ref":"m0"})");
  EXPECT_EQ(alice->next("error")->str("code"), "forbidden");

  mod->send(R"({"v":1,"type":"mute","user":"alice","seconds":1,"reason":"calm down"})");
  auto told = alice->next("moderation");
  ASSERT_TRUE(told);
  EXPECT_EQ(told->str("action"), "mute");
  EXPECT_EQ(told->str("user"), "alice");
  EXPECT_EQ(told->str("reason"), "calm down");
  alice->send(R"({"v":1,"type":"chat","text":"am I muted?"})");
  auto muted = alice->next("error");
  ASSERT_TRUE(muted);
  EXPECT_EQ(muted->str("code"), "muted");
  const int64_t wait = muted->num("retry_after_ms");
  ASSERT_GT(wait, 0);
  ASSERT_LE(wait, 1000);
  run_for(std::chrono::milliseconds(wait + 50));
  alice->send(R"({"v":1,"type":"chat","text":"back again"})");
  auto said = mod->next("chat");
  ASSERT_TRUE(said);
  EXPECT_EQ(said->str("text"), "back again");
}

TEST_P(Chat, SlowModeSpacesOutViewersButNotModerators)
{
  auto d = start_daemon();
  auto mod = join(*d, "s1", token("mod", "moderator", "", "s1"));
  auto alice = join(*d, "s1", token("alice"));
  ASSERT_TRUE(mod && alice);
  alice->send(R"({"v":1,"type":"slow","seconds":60})");
  EXPECT_EQ(alice->next("error")->str("code"), "forbidden");
  mod->send(R"({"v":1,"type":"slow","seconds":60})");
  auto told = alice->next("moderation");
  ASSERT_TRUE(told);
  EXPECT_EQ(told->str("action"), "slow");
  EXPECT_EQ(told->num("seconds"), 60);
  alice->send(R"({"v":1,"type":"chat","text":"one"})");
  EXPECT_EQ(alice->next("chat")->str("text"), "one");
  alice->send(R"({"v":1,"type":"chat","text":"two","ref":"t"})");
  auto slow = alice->next("error");
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->str("code"), "slow_mode");
  EXPECT_GT(slow->num("retry_after_ms"), 50000);
  for (const char *text : {"mod one", "mod two"})
    mod->send(std::string(R"({"v":1,"type":"chat","text":")") + text + R"("})");
  EXPECT_EQ(alice->next("chat")->str("text"), "mod one");
  EXPECT_EQ(alice->next("chat")->str("text"), "mod two");
  /* A joiner learns the room is slow. */
  auto joiner = join(*d, "s1", "");
  EXPECT_EQ(joiner->next("welcome")->num("slow"), 60);
}

TEST_P(Chat, TheWordFilterMasksOrRejectsWhateverTheCaseOrWidth)
{
  {
    auto d = start_daemon(R"("sensitive_words": ["badword", "spam"])");
    auto alice = join(*d, "s1", token("alice"));
    ASSERT_TRUE(alice);
    alice->send(R"({"v":1,"type":"chat","text":"no BadWord here, ｓｐａｍ!"})");
    EXPECT_EQ(alice->next("chat")->str("text"), "no ******* here, ****!");
  }
  auto d = start_daemon(R"("sensitive_words": ["badword"], "filter_mode": "reject")");
  auto alice = join(*d, "s1", token("alice"));
  ASSERT_TRUE(alice);
  alice->send(R"({"v":1,"type":"chat","text":"ＢＡＤＷＯＲＤ","ref":"f"})");
  auto refused = alice->next("error");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->str("code"), "filtered");
  alice->send(R"({"v":1,"type":"chat","text":"fine words"})");
  EXPECT_EQ(alice->next("chat")->str("text"), "fine words");
}

TEST_P(Chat, AModeratorNamedThroughTheApiMayModerateThatStreamOnly)
{
  auto d = start_daemon();
  EXPECT_EQ(d->admin("PUT", "/api/streams/s1/moderators/carol").status, 204);
  EXPECT_EQ(d->admin("GET", "/api/streams/s1/moderators").body,
            "{\"stream\":\"s1\",\"moderators\":[\"carol\"]}\n");
  auto carol = join(*d, "s1", token("carol"));
  auto carol_elsewhere = join(*d, "s2", token("carol"));
  auto dave = join(*d, "s1", token("dave"));
  ASSERT_TRUE(carol && carol_elsewhere && dave);
  EXPECT_TRUE(carol->next("welcome")->flag("you.moderator"));
  EXPECT_FALSE(carol_elsewhere->next("welcome")->flag("you.moderator"));
  carol->send(R"({"v":1,"type":"mute","user":"dave","seconds":600})");
  ASSERT_TRUE(dave->next("moderation"));
  dave->send(R"({"v":1,"type":"chat","text":"hello?"})");
  EXPECT_EQ(dave->next("error")->str("code"), "muted");
  carol_elsewhere->send(R"({"v":1,"type":"slow","seconds":5})");
  EXPECT_EQ(carol_elsewhere->next("error")->str("code"), "forbidden");
  /* A moderator may not mute another: only the streamer or an admin. */
  dave.reset();
  auto mod2 = join(*d, "s1", token("mod2", "moderator", "", "s1"));
  ASSERT_TRUE(mod2);
  mod2->send(R"({"v":1,"type":"mute","user":"carol"})");
  EXPECT_EQ(mod2->next("error")->str("code"), "forbidden");
  EXPECT_EQ(d->admin("DELETE", "/api/streams/s1/moderators/carol").status, 204);
  auto again = join(*d, "s1", token("carol"));
  EXPECT_FALSE(again->next("welcome")->flag("you.moderator"));
}

TEST_P(Chat, AModeratorOrStreamerTokenActsInItsOwnStreamOnlyAndAnAdminEverywhere)
{
  auto d = start_daemon();
  auto bob = join(*d, "s2", token("bob"));
  ASSERT_TRUE(bob);
  bob->send(R"({"v":1,"type":"chat","text":"a message in s2"})");
  auto said = bob->next("chat");
  ASSERT_TRUE(said);
  const std::string id = said->str("id");
  for (const char *role : {"moderator", "streamer"}) {
    SCOPED_TRACE(role);
    /* The token is for s1; in s2 it is a viewer's. */
    auto home = join(*d, "s1", token("mod-a", role, "", "s1"));
    auto away = join(*d, "s2", token("mod-a", role, "", "s1"));
    /* A moderator's token that names no stream moderates nowhere. */
    auto nowhere = join(*d, "s1", token("mod-b", role));
    ASSERT_TRUE(home && away && nowhere);
    auto w = home->next("welcome");
    EXPECT_TRUE(w->flag("you.moderator"));
    EXPECT_EQ(w->str("you.role"), role);
    w = away->next("welcome");
    EXPECT_FALSE(w->flag("you.moderator"));
    EXPECT_EQ(w->str("you.role"), "viewer");
    EXPECT_FALSE(nowhere->next("welcome")->flag("you.moderator"));
    for (const std::string &m :
         std::vector<std::string>{R"({"v":1,"type":"ban","user":"bob","ref":"x"})",
                                  R"({"v":1,"type":"mute","user":"bob","seconds":60,"ref":"x"})",
                                  R"({"v":1,"type":"delete","id":")" + id + R"(","ref":"x"})",
                                  R"({"v":1,"type":"slow","seconds":30,"ref":"x"})",
                                  R"({"v":1,"type":"unban","user":"bob","ref":"x"})"}) {
      SCOPED_TRACE(m);
      away->send(m);
      auto refused = away->next("error");
      ASSERT_TRUE(refused);
      EXPECT_EQ(refused->str("code"), "forbidden");
      EXPECT_EQ(refused->str("ref"), "x");
      nowhere->send(m);
      EXPECT_EQ(nowhere->next("error")->str("code"), "forbidden");
    }
    /* At home the same token moderates. */
    home->send(R"({"v":1,"type":"slow","seconds":0})");
    EXPECT_EQ(home->next("moderation")->str("action"), "slow");
  }
  /* Nothing happened in s2: bob still talks, his message is still there. */
  EXPECT_FALSE(bob->has_queued("moderation"));
  EXPECT_FALSE(bob->has_queued("deleted"));
  ASSERT_TRUE(wait_stored(*d, "s2", 1));
  HttpResponse history = http_request("GET", d->url("/api/streams/s2/chat"));
  EXPECT_NE(history.body.find(id), std::string::npos) << history.body;
  bob->send(R"({"v":1,"type":"chat","text":"still here"})");
  EXPECT_EQ(bob->next("chat")->str("text"), "still here");
  /* An admin's token holds in every stream, whatever it names. */
  auto admin = join(*d, "s2", token("root", "admin", "", "s1"));
  ASSERT_TRUE(admin);
  EXPECT_TRUE(admin->next("welcome")->flag("you.moderator"));
  admin->send(R"({"v":1,"type":"mute","user":"bob","seconds":60})");
  auto muted = bob->next("moderation");
  ASSERT_TRUE(muted);
  EXPECT_EQ(muted->str("by"), "root");
}

TEST_P(Chat, ABannedUserIsClosedAndRefusedOnEveryReconnectAlsoAfterARestart)
{
  auto d = start_daemon();
  auto mod = join(*d, "s1", token("mod", "moderator", "", "s1"));
  auto troll = join(*d, "s1", token("troll"));
  ASSERT_TRUE(mod && troll);
  ASSERT_TRUE(troll->next("welcome"));
  mod->send(R"({"v":1,"type":"ban","user":"troll","reason":"abuse"})");
  auto banned = troll->next("error");
  ASSERT_TRUE(banned);
  EXPECT_EQ(banned->str("code"), "banned");
  EXPECT_NE(banned->str("message").find("abuse"), std::string::npos) << banned->text();
  EXPECT_EQ(troll->wait_closed(), 4003);
  auto seen = mod->next("moderation");
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->str("action"), "ban");

  auto refused = [&](SugarcastdProcess &daemon, const char *stream) {
    auto again = join(daemon, stream, token("troll"));
    if (!again)
      return false;
    auto error = again->next("error", 10s, true);
    return error && error->str("code") == "banned" && !again->has_queued("welcome") &&
           again->wait_closed() == 4003;
  };
  EXPECT_TRUE(refused(*d, "s1"));
  /* By default a ban holds in its room only. */
  auto elsewhere = join(*d, "s2", token("troll"));
  ASSERT_TRUE(elsewhere);
  EXPECT_TRUE(elsewhere->next("welcome"));
  elsewhere.reset();
  mod.reset();

  ASSERT_EQ(d->stop(SIGTERM), 0) << d->log();
  d = start_daemon();
  EXPECT_TRUE(refused(*d, "s1")) << "the ban did not survive a restart";

  /* Lifted through the API, the user comes back. */
  EXPECT_EQ(d->admin("DELETE", "/api/streams/s1/bans/troll").status, 204);
  auto back = join(*d, "s1", token("troll"));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->next("welcome"));
}

TEST_P(Chat, AGlobalBanHoldsInEveryRoom)
{
  auto d = start_daemon(R"("ban_scope": "global")");
  auto mod = join(*d, "s1", token("mod", "moderator", "", "s1"));
  auto troll_s2 = join(*d, "s2", token("troll"));
  ASSERT_TRUE(mod && troll_s2);
  ASSERT_TRUE(troll_s2->next("welcome"));
  mod->send(R"({"v":1,"type":"ban","user":"troll"})");
  /* Banned in s1, closed in s2 where the user was. */
  EXPECT_EQ(troll_s2->next("error")->str("code"), "banned");
  EXPECT_EQ(troll_s2->wait_closed(), 4003);
  for (const char *stream : {"s1", "s2"}) {
    SCOPED_TRACE(stream);
    auto again = join(*d, stream, token("troll"));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->next("error")->str("code"), "banned");
    EXPECT_EQ(again->wait_closed(), 4003);
  }
  /* A global ban through the API works the same way. */
  EXPECT_EQ(d->admin("POST", "/api/streams/s2/bans/spammer", R"({"scope":"global"})").status, 201);
  auto spammer = join(*d, "s1", token("spammer"));
  ASSERT_TRUE(spammer);
  EXPECT_EQ(spammer->next("error")->str("code"), "banned");
}

TEST_P(Chat, ADeletedMessageGoesForEveryoneAndFromTheHistory)
{
  auto d = start_daemon();
  auto mod = join(*d, "s1", token("mod", "moderator", "", "s1"));
  auto alice = join(*d, "s1", token("alice"));
  auto anon = join(*d, "s1", "");
  ASSERT_TRUE(mod && alice && anon);
  alice->send(R"({"v":1,"type":"chat","text":"regrettable"})");
  alice->send(R"({"v":1,"type":"chat","text":"fine"})");
  const std::string bad = alice->next("chat")->str("id");
  const std::string good = alice->next("chat")->str("id");
  ASSERT_TRUE(wait_stored(*d, "s1", 2));

  alice->send(R"({"v":1,"type":"delete","id":")" + bad + R"("})");
  EXPECT_EQ(alice->next("error")->str("code"), "forbidden");
  mod->send(R"({"v":1,"type":"delete","id":")" + bad + R"("})");
  for (ChatClient *c : {mod.get(), alice.get(), anon.get()}) {
    auto gone = c->next("deleted");
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->str("id"), bad);
    EXPECT_EQ(gone->str("by"), "mod");
  }
  auto joiner = join(*d, "s1", "");
  ASSERT_TRUE(joiner);
  auto welcome = joiner->next("welcome");
  ASSERT_EQ(welcome->count("history"), 1) << welcome->text();
  EXPECT_EQ(welcome->at("history", 0).str("id"), good);
  HttpResponse page = http_request("GET", d->url("/api/streams/s1/chat"));
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.body.find(bad), std::string::npos) << page.body;
  EXPECT_NE(page.body.find(good), std::string::npos) << page.body;

  /* Deleting what is not there says so. */
  mod->send(R"({"v":1,"type":"delete","id":"0000000000000000000000","ref":"d2"})");
  auto missing = mod->next("error");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->str("code"), "not_found");
  /* So does the API, which deletes too. */
  EXPECT_EQ(d->admin("DELETE", "/api/streams/s1/chat/" + good).status, 204);
  EXPECT_EQ(anon->next("deleted")->str("id"), good);
}

TEST_P(Chat, BadInputIsAnsweredWithAnErrorAndTheConnectionCarriesOn)
{
  auto d = start_daemon();
  auto c = join(*d, "s1", token("alice"));
  ASSERT_TRUE(c);
  struct Case
  {
    std::string sent;
    const char *code;
    const char *says;
  };
  const Case cases[] = {
      {"this is not JSON", "bad_message", ""},
      {R"(["an array"])", "bad_message", ""},
      {R"({"v":1,"type":"chat"})", "bad_message", "text"},
      {R"({"v":1,"type":"shout","text":"x"})", "bad_message", ""},
      {R"({"v":2,"type":"chat","text":"x"})", "bad_message", ""},
      {R"({"v":1,"type":"chat","text":")" + std::string(501, 'a') + "\"}", "too_long", "500"},
      {R"({"v":1,"type":"chat","text":")" + std::string(100000, 'a') + "\"}", "too_long", ""},
      {R"({"v":1,"type":"gift","gift":"unicorn","count":1,"idempotency_key":"key-000001"})",
       "unknown_gift", "unicorn"},
  };
  for (const Case &k : cases) {
    SCOPED_TRACE(k.sent.substr(0, 80));
    c->send(k.sent);
    auto error = c->next("error");
    ASSERT_TRUE(error);
    EXPECT_EQ(error->str("code"), k.code);
    EXPECT_NE(error->str("message").find(k.says), std::string::npos) << error->text();
  }
  c->send_binary("\x01\x02\x03");
  auto binary = c->next("error");
  ASSERT_TRUE(binary);
  EXPECT_EQ(binary->str("code"), "bad_message");
  EXPECT_NE(binary->str("message").find("binary"), std::string::npos);

  /* Still the same connection, still heard. */
  c->send(R"({"v":1,"type":"ping","ref":"p"})");
  EXPECT_EQ(c->next("pong")->str("ref"), "p");
  c->send(R"({"v":1,"type":"chat","text":"still here"})");
  EXPECT_EQ(c->next("chat")->str("text"), "still here");
}

TEST_P(Chat, InvalidUtf8AndBrokenFramingAreAnsweredWithoutACrash)
{
  auto d = start_daemon();
  {
    RawClient raw(d->http_port());
    ASSERT_EQ(raw.handshake("/ws/chat/s1?token=" + token("alice")), 101);
    ASSERT_TRUE(raw.next_of_type("welcome"));
    raw.send_raw(chat::ws_encode_client_frame(
        chat::WsOpcode::Text, "{\"v\":1,\"type\":\"chat\",\"text\":\"\xff\xfe\"}", 0x01020304));
    auto error = raw.next_of_type("error");
    ASSERT_TRUE(error);
    EXPECT_NE(error->find("\"bad_message\""), std::string::npos) << *error;
    EXPECT_NE(error->find("UTF-8"), std::string::npos) << *error;
    raw.send_text(R"({"v":1,"type":"ping","ref":"after-utf8"})");
    auto pong = raw.next_of_type("pong");
    ASSERT_TRUE(pong);
    EXPECT_NE(pong->find("after-utf8"), std::string::npos);
  }
  {
    /* A client frame without a mask breaks the protocol: error, then 1002. */
    RawClient raw(d->http_port());
    ASSERT_EQ(raw.handshake("/ws/chat/s1?token=" + token("alice")), 101);
    ASSERT_TRUE(raw.next_of_type("welcome"));
    raw.send_raw(chat::ws_encode_frame(chat::WsOpcode::Text, R"({"v":1,"type":"ping"})"));
    auto error = raw.next_of_type("error");
    ASSERT_TRUE(error);
    EXPECT_NE(error->find("\"bad_message\""), std::string::npos) << *error;
    std::optional<Frame> frame;
    while ((frame = raw.next()) && frame->kind != chat::WsEvent::Close) {
    }
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->close_code, 1002);
  }
  {
    /* Garbage instead of a frame, then a vanished peer. */
    RawClient raw(d->http_port());
    ASSERT_EQ(raw.handshake("/ws/chat/s1"), 101);
    raw.send_raw(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 10));
  }
  EXPECT_EQ(http_request("GET", d->url("/healthz")).status, 200);
  EXPECT_TRUE(d->running());
}

TEST_P(Chat, AFrameNestedDeepEnoughToOverflowTheStackIsRefusedAndTheDaemonStaysUp)
{
  /* The largest message limit lets a frame of 120,000 bytes through, far
   * more levels than json-glib's recursion survives on a worker's stack. */
  auto d = start_daemon(R"("max_message_chars": 10000)");
  auto anon = join(*d, "s1", "");
  auto alice = join(*d, "s1", token("alice"));
  ASSERT_TRUE(anon && alice);
  for (const std::string &deep :
       {std::string(120000, '['), R"({"v":1,"type":"chat","text":)" + std::string(59000, '[') +
                                      std::string(59000, ']') + "}"}) {
    anon->send(deep);
    auto error = anon->next("error");
    ASSERT_TRUE(error);
    EXPECT_EQ(error->str("code"), "bad_message");
    EXPECT_NE(error->str("message").find("deeper than 64 levels"), std::string::npos)
        << error->text();
  }
  EXPECT_TRUE(d->running());
  alice->send(R"({"v":1,"type":"chat","text":"still here"})");
  EXPECT_EQ(anon->next("chat")->str("text"), "still here");
  EXPECT_EQ(http_request("GET", d->url("/healthz")).status, 200);
}

TEST_P(Chat, TheSameGiftSentFiveTimesIsRecordedOnceAndAckedFiveTimesAlike)
{
  auto d = start_daemon();
  auto alice = join(*d, "s1", token("alice", "viewer", "Alice"));
  auto watcher = join(*d, "s1", "");
  ASSERT_TRUE(alice && watcher);
  const std::string gift =
      R"({"v":1,"type":"gift","gift":"rocket","count":2,"idempotency_key":"pay-000001"})";
  /* Two retries race the first attempt; two come after its ack. */
  for (int i = 0; i < 3; ++i)
    alice->send(gift);
  std::vector<std::string> acks;
  for (int i = 0; i < 3; ++i)
    if (auto ack = alice->next("gift_ack"))
      acks.push_back(ack->text());
  for (int i = 0; i < 2; ++i) {
    alice->send(gift);
    if (auto ack = alice->next("gift_ack"))
      acks.push_back(ack->text());
  }
  ASSERT_EQ(acks.size(), 5u);
  for (const auto &a : acks)
    EXPECT_EQ(a, acks[0]);
  ChatMessage ack(acks[0]);
  EXPECT_GT(ack.num("ledger_id"), 0);
  EXPECT_EQ(ack.num("coins"), 200);
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 1);
  EXPECT_EQ(raw_scalar("SELECT ledger_id FROM gifts WHERE idempotency_key = 'pay-000001'"),
            ack.num("ledger_id"));

  /* The room saw it once: the next gift after it is a new one. */
  auto shown = watcher->next("gift");
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->num("ledger_id"), ack.num("ledger_id"));
  EXPECT_EQ(shown->str("name"), "Rocket");
  EXPECT_EQ(shown->str("user.name"), "Alice");
  alice->send(R"({"v":1,"type":"gift","gift":"rose","count":1,"idempotency_key":"pay-000002"})");
  auto second = watcher->next("gift");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->str("gift"), "rose");

  /* The key reused for another gift is a client bug, not a retry. */
  alice->send(R"({"v":1,"type":"gift","gift":"castle","count":1,"idempotency_key":"pay-000001"})");
  auto conflict = alice->next("error");
  ASSERT_TRUE(conflict);
  EXPECT_EQ(conflict->str("code"), "conflict");
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 2);
}

TEST_P(Chat, AGiftFloodIsRateLimitedOnItsOwnBudget)
{
  /* Chat is out of the way (1000/s); gifts get 3 at once, then one per 100 s. */
  auto d = start_daemon("", R"("gifts": {"rate_per_second": 0.01, "rate_burst": 3})");
  auto alice = join(*d, "s1", token("alice"));
  auto bob = join(*d, "s1", token("bob"));
  ASSERT_TRUE(alice && bob);
  for (int i = 0; i < 20; ++i)
    alice->send(R"({"v":1,"type":"gift","gift":"rose","count":1,"idempotency_key":"flood-)" +
                std::to_string(1000 + i) + R"(","ref":"g)" + std::to_string(i) + "\"}");
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(alice->next("gift_ack"));
  for (int i = 0; i < 17; ++i) {
    auto error = alice->next("error");
    ASSERT_TRUE(error);
    EXPECT_EQ(error->str("code"), "rate_limited");
    EXPECT_NE(error->str("message").find("gifts a second"), std::string::npos) << error->text();
    EXPECT_GT(error->num("retry_after_ms"), 0);
  }
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 3);
  /* Chat still flows for alice (another budget), and bob's gifts are his own. */
  alice->send(R"({"v":1,"type":"chat","text":"still chatting"})");
  EXPECT_EQ(bob->next("chat")->str("text"), "still chatting");
  bob->send(R"({"v":1,"type":"gift","gift":"rose","count":1,"idempotency_key":"bob-000001"})");
  EXPECT_TRUE(bob->next("gift_ack"));
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 4);
  EXPECT_FALSE(alice->has_queued("gift_ack"));
}

TEST_P(Chat, AMutedOrBannedUsersGiftIsRefusedAndNotRecorded)
{
  auto d = start_daemon();
  auto mod = join(*d, "s1", token("mod", "moderator", "", "s1"));
  auto alice = join(*d, "s1", token("alice"));
  auto troll = join(*d, "s1", token("troll"));
  ASSERT_TRUE(mod && alice && troll);
  ASSERT_TRUE(troll->next("welcome"));
  mod->send(R"({"v":1,"type":"mute","user":"alice","seconds":600})");
  ASSERT_TRUE(alice->next("moderation"));
  alice->send(R"({"v":1,"type":"gift","gift":"castle","count":1,"idempotency_key":"muted-0001"})");
  auto muted = alice->next("error");
  ASSERT_TRUE(muted);
  EXPECT_EQ(muted->str("code"), "muted");

  /* Once the ban is recorded (the room hears it), what the troll still
   * sends — a raw client ignores the close — is refused or never read;
   * none of it reaches the ledger. */
  RawClient raw_troll(d->http_port());
  ASSERT_EQ(raw_troll.handshake("/ws/chat/s1?token=" + token("troll")), 101);
  ASSERT_TRUE(raw_troll.next_of_type("welcome"));
  mod->send(R"({"v":1,"type":"ban","user":"troll"})");
  std::optional<ChatMessage> seen;
  while ((seen = mod->next("moderation")) && seen->str("action") != "ban") {
  }
  ASSERT_TRUE(seen);
  for (int i = 0; i < 5; ++i)
    raw_troll.send_text(
        R"({"v":1,"type":"gift","gift":"castle","count":1,"idempotency_key":"troll-)" +
        std::to_string(1000 + i) + "\"}");
  EXPECT_EQ(troll->wait_closed(), 4003);
  EXPECT_FALSE(troll->has_queued("gift_ack"));
  std::optional<Frame> f;
  while ((f = raw_troll.next())) {
    if (f->kind == chat::WsEvent::Text) {
      EXPECT_EQ(f->payload.find("gift_ack"), std::string::npos) << f->payload;
    }
  }
  EXPECT_TRUE(raw_troll.wait_eof());
  /* A gift alice's moderator sends after all that is recorded: the store is fine. */
  mod->send(R"({"v":1,"type":"gift","gift":"rose","count":1,"idempotency_key":"mod-000001"})");
  ASSERT_TRUE(mod->next("gift_ack"));
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 1);
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts WHERE user_id <> 'mod'"), 0);
}

TEST_P(Chat, PostedGiftsAreIdempotentAndNeedTheAdminToken)
{
  auto d = start_daemon();
  auto watcher = join(*d, "s1", "");
  ASSERT_TRUE(watcher);
  const std::string body =
      R"({"stream_id":"s1","user_id":"payer","user_name":"Payer","gift":"heart","count":3,)"
      R"("idempotency_key":"psp-charge-42"})";
  EXPECT_EQ(http_request("POST", d->url("/api/gifts"), body).status, 401);
  std::vector<std::string> answers;
  for (int i = 0; i < 5; ++i) {
    HttpResponse r = d->admin("POST", "/api/gifts", body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("idempotent-replayed"), i == 0 ? "" : "true");
    answers.push_back(r.body);
  }
  for (const auto &a : answers)
    EXPECT_EQ(a, answers[0]);
  ChatMessage row(answers[0]);
  EXPECT_EQ(row.num("gift.coins"), 15);
  EXPECT_EQ(row.str("gift.user_name"), "Payer");
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 1);
  auto shown = watcher->next("gift");
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->num("ledger_id"), row.num("gift.ledger_id"));

  /* Refusals name the field. */
  HttpResponse conflict = d->admin("POST", "/api/gifts",
                                   R"({"stream_id":"s1","user_id":"payer","gift":"rose",)"
                                   R"("idempotency_key":"psp-charge-42"})");
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  HttpResponse nostream = d->admin("POST", "/api/gifts",
                                   R"({"stream_id":"nope","user_id":"payer","gift":"rose",)"
                                   R"("idempotency_key":"psp-charge-43"})");
  EXPECT_EQ(nostream.status, 404) << nostream.body;
  HttpResponse unknown = d->admin("POST", "/api/gifts",
                                  R"({"stream_id":"s1","user_id":"payer","gift":"rose",)"
                                  R"("idempotency_key":"psp-charge-44","price":0})");
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_NE(unknown.body.find("/price"), std::string::npos) << unknown.body;
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 1);

  HttpResponse catalogue = http_request("GET", d->url("/api/gifts"));
  EXPECT_EQ(catalogue.status, 200);
  EXPECT_NE(catalogue.body.find(R"({"id":"heart","name":"Heart","coins":5,"animation":"heart"})"),
            std::string::npos)
      << catalogue.body;
}

TEST_P(Chat, TheLeaderboardRanksGiftersByCoinsAndIsPushedOnChange)
{
  auto d = start_daemon();
  auto watcher = join(*d, "s1", "");
  ASSERT_TRUE(watcher);
  struct Gift
  {
    const char *user, *gift;
    int count;
  };
  /* carol 1000, bob 100 + 15 = 115, alice 5 x 20 = 100, dave 100 (ties: by id). */
  const Gift gifts[] = {{"alice", "heart", 20},
                        {"bob", "rocket", 1},
                        {"carol", "castle", 1},
                        {"bob", "heart", 3},
                        {"dave", "rocket", 1}};
  int n = 0;
  for (const Gift &g : gifts) {
    HttpResponse r =
        d->admin("POST", "/api/gifts",
                 std::string(R"({"stream_id":"s1","user_id":")") + g.user + R"(","gift":")" +
                     g.gift + R"(","count":)" + std::to_string(g.count) +
                     R"(,"idempotency_key":"lb-key-)" + std::to_string(++n) + "\"}");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  HttpResponse board = http_request("GET", d->url("/api/streams/s1/leaderboard"));
  ASSERT_EQ(board.status, 200);
  ChatMessage b(board.body);
  ASSERT_EQ(b.count("entries"), 4) << board.body;
  const char *order[] = {"carol", "bob", "alice", "dave"};
  const int64_t coins[] = {1000, 115, 100, 100};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(b.at("entries", i).str("user.id"), order[i]);
    EXPECT_EQ(b.at("entries", i).num("coins"), coins[i]);
  }
  EXPECT_EQ(b.at("entries", 1).num("gifts"), 4);
  /* The room got the same ranking pushed (the last push has every gift). */
  std::optional<ChatMessage> pushed;
  ASSERT_TRUE(run_until([&] {
    while (watcher->has_queued("leaderboard"))
      pushed = watcher->next("leaderboard");
    return pushed && pushed->count("entries") == 4 && pushed->at("entries", 1).num("coins") == 115;
  }));
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(pushed->at("entries", i).str("user.id"), order[i]);
  /* A joiner sees it in the welcome. */
  auto joiner = join(*d, "s1", "");
  auto welcome = joiner->next("welcome");
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->at("leaderboard", 0).str("user.id"), "carol");
}

TEST_P(Chat, HistoryPagesBackThroughTheApi)
{
  auto d = start_daemon();
  auto alice = join(*d, "s1", token("alice"));
  ASSERT_TRUE(alice);
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    alice->send(R"({"v":1,"type":"chat","text":"line )" + std::to_string(i) + "\"}");
    auto echo = alice->next("chat");
    ASSERT_TRUE(echo);
    ids.push_back(echo->str("id"));
  }
  ASSERT_TRUE(wait_stored(*d, "s1", 25));
  std::vector<std::string> paged;
  std::string before;
  int pages = 0;
  do {
    HttpResponse r = http_request("GET", d->url("/api/streams/s1/chat?limit=10" +
                                                (before.empty() ? "" : "&before=" + before)));
    ASSERT_EQ(r.status, 200) << r.body;
    ChatMessage page(r.body);
    for (int64_t i = 0; i < page.count("messages"); ++i) {
      ChatMessage m = page.at("messages", static_cast<size_t>(i));
      paged.push_back(m.str("id"));
      EXPECT_EQ(m.str("text"), "line " + std::to_string(24 - (paged.size() - 1)));
    }
    before = page.str("next_before");
    ++pages;
  } while (!before.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  std::vector<std::string> newest_first(ids.rbegin(), ids.rend());
  EXPECT_EQ(paged, newest_first);

  EXPECT_EQ(http_request("GET", d->url("/api/streams/s1/chat?limit=0")).status, 400);
  EXPECT_EQ(http_request("GET", d->url("/api/streams/s1/chat?limit=201")).status, 400);
  EXPECT_EQ(http_request("GET", d->url("/api/streams/s1/chat?before=no%20way")).status, 400);
  EXPECT_EQ(http_request("GET", d->url("/api/streams/nosuch/chat")).status, 404);
}

TEST_P(Chat, AReaderThatStopsIsClosedWhileTheOthersKeepReceiving)
{
  auto d = start_daemon(R"("send_queue_bytes": 8192, "max_message_chars": 10000)");
  auto sender = join(*d, "s1", token("alice"));
  auto reader = join(*d, "s1", "");
  ASSERT_TRUE(sender && reader);
  /* Never reads past the handshake, with a small window. */
  RawClient stalled(d->http_port(), 4096);
  ASSERT_EQ(stalled.handshake("/ws/chat/s1"), 101);

  const std::string text(9000, 'x');
  int sent = 0, received = 0;
  auto closed_slow = [&] {
    HttpResponse m = http_request("GET", d->url("/metrics"));
    return m.body.find("\nsugarcast_chat_slow_closed 1") != std::string::npos;
  };
  /* Rounds of 100 messages until the stalled one is closed (bounded). */
  /* Up to 1,000 messages (the burst): 9 MB, more than any socket buffers. */
  while (sent < 1000 && !closed_slow()) {
    for (int i = 0; i < 100; ++i, ++sent)
      sender->send(R"({"v":1,"type":"chat","text":")" + text + "\"}");
    while (received < sent && reader->next("chat"))
      ++received;
    sender->discard();
  }
  ASSERT_TRUE(closed_slow()) << "sent " << sent << http_request("GET", d->url("/metrics")).body;
  EXPECT_EQ(received, sent) << "the reader that kept reading missed messages";
  EXPECT_TRUE(reader->open());
  /* The stalled client finds, behind what it was sent, the close code or the end. */
  std::optional<Frame> f;
  uint16_t code = 0;
  while ((f = stalled.next(10000)))
    if (f->kind == chat::WsEvent::Close)
      code = f->close_code;
  EXPECT_EQ(code, 4000);
  EXPECT_TRUE(stalled.wait_eof());
  EXPECT_TRUE(d->running());
}

class ChatLive : public ChatTest
{
protected:
  Backend backend() const override { return Backend::sqlite; }
};

TEST_F(ChatLive, TheRoomHearsWhenItsStreamGoesLiveAndWhenItEnds)
{
  auto d = start_daemon("", R"("streams": {"grace_period_ms": 0}, "hls": {"segment_duration": 1})");
  HttpResponse created = d->admin("POST", "/api/streams", R"({"title": "live chat"})");
  ASSERT_EQ(created.status, 201) << created.body;
  ChatMessage stream(created.body);
  auto viewer = join(*d, stream.str("id"), "");
  ASSERT_TRUE(viewer);
  auto welcome = viewer->next("welcome");
  ASSERT_TRUE(welcome);
  EXPECT_FALSE(welcome->flag("live"));
  ProcessResult pushed = ffmpeg_push_file(test_flv(1.0), stream.str("rtmp_url"));
  EXPECT_EQ(pushed.exit_status, 0) << pushed.err;
  auto live = viewer->next("stream");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->str("state"), "live");
  auto ended = viewer->next("stream", 20s);
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->str("state"), "offline");
}

TEST_F(ChatLive, AGiftOnALiveStreamIsWrittenIntoEveryVariantPlaylist)
{
  auto d = start_daemon("", R"("streams": {"grace_period_ms": 0}, "hls": {"segment_duration": 1})");
  HttpResponse created = d->admin("POST", "/api/streams", R"({"title": "gift show"})");
  ASSERT_EQ(created.status, 201) << created.body;
  ChatMessage stream(created.body);
  const std::string id = stream.str("id");
  auto alice = join(*d, id, token("alice", "viewer", "Alice"));
  ASSERT_TRUE(alice);
  Background push({"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                   "-stream_loop", "-1", "-i", test_flv(2.0), "-c", "copy", "-f", "flv",
                   stream.str("rtmp_url")});
  auto live = alice->next("stream", 20s);
  ASSERT_TRUE(live);
  EXPECT_EQ(live->str("state"), "live");
  /* The variants the master lists, once each has a segment. */
  const std::string dir = d->data_dir() + "/hls/" + id + "/";
  std::vector<std::string> variants;
  ASSERT_TRUE(eventually(
      [&] {
        variants.clear();
        std::istringstream master(read_file(dir + "master.m3u8"));
        for (std::string line; std::getline(master, line);)
          if (!line.empty() && line[0] != '#')
            variants.push_back(line);
        for (const auto &v : variants)
          if (read_file(dir + v).find("#EXTINF") == std::string::npos)
            return false;
        return !variants.empty();
      },
      20s))
      << d->log();

  alice->send(R"({"v":1,"type":"gift","gift":"rocket","count":2,"idempotency_key":"live-000001"})");
  auto ack = alice->next("gift_ack");
  ASSERT_TRUE(ack);
  const std::string tag =
      "#EXT-X-DATERANGE:ID=\"gift-" + std::to_string(ack->num("ledger_id")) + "\"";
  for (const auto &v : variants) {
    const std::string line = eventually_line(dir + v, tag, 10s);
    EXPECT_FALSE(line.empty()) << v << " has no " << tag << ":\n" << read_file(dir + v);
    EXPECT_NE(line.find("CLASS=\"com.sugarcast.gift\""), std::string::npos) << line;
    EXPECT_NE(line.find("X-GIFT=\"rocket\""), std::string::npos) << line;
    EXPECT_NE(line.find("X-COUNT=2"), std::string::npos) << line;
    EXPECT_NE(line.find("X-USER=\"Alice\""), std::string::npos) << line;
    EXPECT_NE(line.find("X-LEDGER-ID=" + std::to_string(ack->num("ledger_id"))), std::string::npos)
        << line;
  }
  /* A gift for a stream that is not live is recorded, and only that. */
  HttpResponse other = d->admin("POST", "/api/streams", R"({"title": "not live"})");
  ASSERT_EQ(other.status, 201) << other.body;
  auto offline = join(*d, ChatMessage(other.body).str("id"), token("bob", "viewer", "Bob"));
  ASSERT_TRUE(offline);
  offline->send(R"({"v":1,"type":"gift","gift":"rose","count":1,"idempotency_key":"live-000002"})");
  EXPECT_TRUE(offline->next("gift_ack"));
  EXPECT_TRUE(d->running());
}

} // namespace
} // namespace sugarcast::test

namespace sugarcast::test {
namespace {

/* Connection budgets: nothing here depends on the store's backend. */
class ChatLimits : public ChatTest
{
protected:
  Backend backend() const override { return Backend::sqlite; }
};

TEST_F(ChatLimits, AClientThatPingsAndNeverReadsIsClosedAtItsQueueBudget)
{
  /* Loopback lets the kernel hold ~1.3 MB of the daemon's pongs before its
   * queue grows, so this floods until the cut (at most 2 million pings);
   * that pongs count at their real cost is shown by chat-fanout, where the
   * socket buffers are pinned small. */
  auto d = start_daemon(R"("send_queue_bytes": 65536)");
  auto reader = join(*d, "s1", "");
  ASSERT_TRUE(reader);
  RawClient pinger(d->http_port(), 4096);
  ASSERT_EQ(pinger.handshake("/ws/chat/s1"), 101);
  std::string burst;
  for (int i = 0; i < 10000; ++i)
    burst += chat::ws_encode_client_frame(chat::WsOpcode::Ping, "", 0x0badcafe);
  auto closed_slow = [&] {
    return http_request("GET", d->url("/metrics")).body.find("\nsugarcast_chat_slow_closed 1") !=
           std::string::npos;
  };
  for (int i = 0; i < 200 && pinger.send_raw(burst); ++i)
    if (i % 10 == 9 && closed_slow())
      break;
  EXPECT_TRUE(run_until(closed_slow, 20s)) << http_request("GET", d->url("/metrics")).body;
  /* Its socket is gone from the daemon: only the reader is left. */
  EXPECT_TRUE(run_until(
      [&] {
        return http_request("GET", d->url("/metrics"))
                   .body.find("\nsugarcast_chat_connections 1\n") != std::string::npos;
      },
      20s))
      << http_request("GET", d->url("/metrics")).body;
  /* The others are served as before. */
  auto alice = join(*d, "s1", token("alice"));
  ASSERT_TRUE(alice);
  alice->send(R"({"v":1,"type":"chat","text":"after the flood"})");
  EXPECT_EQ(reader->next("chat")->str("text"), "after the flood");
}

TEST_F(ChatLimits, OverARoomOrServerCapTheNewcomerIsClosedWith1013)
{
  auto d = start_daemon(R"("max_connections_per_room": 2, "max_connections": 3)");
  auto a = join(*d, "s1", "");
  auto b = join(*d, "s1", token("bob"));
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->next("welcome") && b->next("welcome"));
  auto refused_by = [&](const std::string &stream, const std::string &says) {
    SCOPED_TRACE(stream + ": " + says);
    auto c = join(*d, stream, token("carol"));
    ASSERT_TRUE(c);
    auto error = c->next("error");
    ASSERT_TRUE(error);
    EXPECT_EQ(error->str("code"), "unavailable");
    EXPECT_TRUE(error->flag("retryable"));
    EXPECT_NE(error->str("message").find(says), std::string::npos) << error->text();
    EXPECT_FALSE(c->has_queued("welcome"));
    EXPECT_EQ(c->wait_closed(), 1013);
  };
  refused_by("s1", "this room holds its limit of 2");
  /* Another room has room, until the server is full. */
  auto other = join(*d, "s2", "");
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->next("welcome"));
  refused_by("s2", "the server holds its limit of 3");
  /* Those inside carry on. */
  b->send(R"({"v":1,"type":"chat","text":"we are two"})");
  EXPECT_EQ(a->next("chat")->str("text"), "we are two");
  /* One leaves: a newcomer gets in once the server has seen it go. */
  a.reset();
  std::unique_ptr<ChatClient> in;
  ASSERT_TRUE(run_until(
      [&] {
        in = join(*d, "s1", "");
        return in && in->next("welcome", 2s, true).has_value();
      },
      20s));
  EXPECT_TRUE(d->running());
}

TEST_F(ChatLimits, AnIdleConnectionThatDoesNotAnswerPingsIsClosed)
{
  auto d = start_daemon(R"("idle_ping_ms": 500)");
  /* Two raw clients: one answers every ping (as browsers do), one reads
   * what comes and never answers. */
  RawClient lively(d->http_port());
  RawClient silent(d->http_port());
  ASSERT_EQ(lively.handshake("/ws/chat/s1"), 101);
  ASSERT_EQ(silent.handshake("/ws/chat/s1"), 101);
  std::optional<Frame> closed;
  bool pinged = false;
  int lively_pongs = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  auto answer_lively = [&] {
    while (auto f = lively.next(10))
      if (f->kind == chat::WsEvent::Ping) {
        ++lively_pongs;
        lively.send_raw(chat::ws_encode_client_frame(chat::WsOpcode::Pong, f->payload, 7));
      }
  };
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    answer_lively();
    while (auto f = silent.next(10)) {
      pinged |= f->kind == chat::WsEvent::Ping;
      if (f->kind == chat::WsEvent::Close) {
        closed = f;
        break;
      }
    }
  }
  ASSERT_TRUE(closed);
  EXPECT_TRUE(pinged);
  EXPECT_EQ(closed->close_code, 1001);
  EXPECT_NE(closed->payload.find("idle"), std::string::npos) << closed->payload;
  /* It never answers the close either: the socket goes at the close timeout. */
  bool eof = false;
  while (!eof && std::chrono::steady_clock::now() < deadline) {
    answer_lively();
    eof = silent.wait_eof(10);
  }
  EXPECT_TRUE(eof);
  /* Past the same deadline, the one that answers is still there. */
  EXPECT_GE(lively_pongs, 1);
  lively.send_text(R"({"v":1,"type":"ping","ref":"still"})");
  std::optional<Frame> f;
  while ((f = lively.next()) && f->kind != chat::WsEvent::Text)
    if (f->kind == chat::WsEvent::Ping)
      lively.send_raw(chat::ws_encode_client_frame(chat::WsOpcode::Pong, f->payload, 7));
  ASSERT_TRUE(f);
  EXPECT_NE(f->payload.find("\"still\""), std::string::npos) << f->payload;
}

} // namespace
} // namespace sugarcast::test
