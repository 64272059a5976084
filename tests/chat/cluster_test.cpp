/* What chat does only with PostgreSQL: the database going away and coming
 * back under a running daemon (chat carries on and nothing said is lost,
 * gifts are refused retryable meanwhile), and two daemons sharing one
 * database (chat, deletions, bans, gifts and viewer counts cross over). */
#include "chat_test.h"

namespace sugarcast::test {
namespace {

class ChatCluster : public ChatTest
{
protected:
  Backend backend() const override { return Backend::postgresql; }
};

TEST_F(ChatCluster, TheStoreGoesDownAndComesBackWithoutLosingAMessage)
{
  auto d = start_daemon();
  auto alice = join(*d, "s1", token("alice"));
  auto watcher = join(*d, "s1", "");
  ASSERT_TRUE(alice && watcher);
  alice->send(R"({"v":1,"type":"chat","text":"before"})");
  ASSERT_TRUE(watcher->next("chat"));
  ASSERT_TRUE(wait_stored(*d, "s1", 1));

  RestartAtExit restart;
  ExpectLog ours("lost the connection to PostgreSQL"); /* this test's own store */
  PgServer::shared().stop();

  /* Chat carries on: every message reaches the room at once. */
  for (int i = 0; i < 5; ++i)
    alice->send(R"({"v":1,"type":"chat","text":"during )" + std::to_string(i) + "\"}");
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(watcher->next("chat")->str("text"), "during " + std::to_string(i));
  /* Gifts are refused, retryable, never acknowledged unrecorded. */
  const std::string gift =
      R"({"v":1,"type":"gift","gift":"rose","count":1,"idempotency_key":"outage-gift-1"})";
  alice->send(gift);
  auto refused = alice->next("error");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->str("code"), "unavailable");
  EXPECT_TRUE(refused->flag("retryable"));
  EXPECT_GT(refused->num("retry_after_ms"), 0);
  EXPECT_FALSE(alice->has_queued("gift_ack"));
  HttpResponse posted = d->admin("POST", "/api/gifts",
                                 R"({"stream_id":"s1","user_id":"payer","gift":"rose",)"
                                 R"("idempotency_key":"outage-gift-2"})");
  EXPECT_EQ(posted.status, 503) << posted.body;
  EXPECT_FALSE(posted.header("retry-after").empty());

  /* The daemon tried to store them, failed, and keeps them. */
  ASSERT_TRUE(wait_for_log(*d, "cannot store chat history")) << d->log();
  EXPECT_NE(
      http_request("GET", d->url("/metrics")).body.find("\nsugarcast_chat_history_pending 5\n"),
      std::string::npos);

  PgServer::shared().start();
  /* Everything said while it was down is stored once it is back. */
  ASSERT_TRUE(wait_stored(*d, "s1", 6)) << d->log();
  HttpResponse page = http_request("GET", d->url("/api/streams/s1/chat"));
  ChatMessage messages(page.body);
  ASSERT_EQ(messages.count("messages"), 6) << page.body;
  EXPECT_EQ(messages.at("messages", 0).str("text"), "during 4");
  EXPECT_EQ(messages.at("messages", 5).str("text"), "before");

  /* The same gift, retried, is recorded now: once. */
  std::optional<ChatMessage> ack;
  ASSERT_TRUE(run_until(
      [&] {
        alice->send(gift);
        ack = alice->next("gift_ack", 1s, true);
        if (!ack)
          alice->discard();
        return ack.has_value();
      },
      20s));
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts WHERE idempotency_key = 'outage-gift-1'"), 1);
  EXPECT_EQ(ack->num("ledger_id"),
            raw_scalar("SELECT ledger_id FROM gifts WHERE idempotency_key = 'outage-gift-1'"));
}

TEST_F(ChatCluster, TwoDaemonsOnOneDatabaseShareTheirRooms)
{
  auto a = start_daemon(R"("viewer_count_interval_ms": 200)");
  auto b = start_daemon(R"("viewer_count_interval_ms": 200)");
  for (auto *d : {a.get(), b.get()})
    ASSERT_TRUE(wait_for_log(*d, "hearing the other daemons")) << d->log();

  auto on_a = join(*a, "s1", token("alice"));
  auto troll = join(*a, "s1", token("troll"));
  auto on_b = join(*b, "s1", token("bob"));
  auto mod_b = join(*b, "s1", token("mod", "moderator", "", "s1"));
  ASSERT_TRUE(on_a && troll && on_b && mod_b);
  ASSERT_TRUE(troll->next("welcome"));

  /* Chat both ways. */
  on_a->send(R"({"v":1,"type":"chat","text":"hello from a"})");
  auto heard = on_b->next("chat");
  ASSERT_TRUE(heard);
  EXPECT_EQ(heard->str("text"), "hello from a");
  EXPECT_EQ(heard->str("user.id"), "alice");
  const std::string id = heard->str("id");
  EXPECT_EQ(on_a->next("chat")->str("id"), id);
  on_b->send(R"({"v":1,"type":"chat","text":"hello from b"})");
  EXPECT_EQ(on_a->next("chat")->str("text"), "hello from b");

  /* A moderator on b deletes a's message: gone on a too. */
  mod_b->send(R"({"v":1,"type":"delete","id":")" + id + R"("})");
  EXPECT_EQ(on_a->next("deleted")->str("id"), id);

  /* A moderator on b bans a user connected to a. */
  mod_b->send(R"({"v":1,"type":"ban","user":"troll","reason":"cross-daemon"})");
  auto banned = troll->next("error");
  ASSERT_TRUE(banned);
  EXPECT_EQ(banned->str("code"), "banned");
  EXPECT_EQ(troll->wait_closed(), 4003);
  for (auto *d : {a.get(), b.get()}) {
    auto again = join(*d, "s1", token("troll"));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->next("error")->str("code"), "banned");
    EXPECT_EQ(again->wait_closed(), 4003);
  }

  /* A gift on a is shown on b once; the same key posted to b is the same row. */
  on_a->send(R"({"v":1,"type":"gift","gift":"castle","count":1,"idempotency_key":"both-gift-1"})");
  auto ack = on_a->next("gift_ack");
  ASSERT_TRUE(ack);
  auto shown = on_b->next("gift");
  ASSERT_TRUE(shown);
  EXPECT_EQ(shown->num("ledger_id"), ack->num("ledger_id"));
  HttpResponse replay = b->admin("POST", "/api/gifts",
                                 R"({"stream_id":"s1","user_id":"alice","gift":"castle",)"
                                 R"("idempotency_key":"both-gift-1"})");
  ASSERT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(ChatMessage(replay.body).num("gift.ledger_id"), ack->num("ledger_id"));
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 1);

  /* Viewer counts add both daemons' connections: alice on a, bob and mod on b. */
  EXPECT_TRUE(run_until([&] {
    while (auto v = on_a->next("viewers", 100ms, true))
      if (v->num("count") == 3)
        return true;
    return false;
  }));
}

} // namespace
} // namespace sugarcast::test
