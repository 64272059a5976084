/* What only the PostgreSQL store does: several daemons on one database
 * (LISTEN/NOTIFY between stores), and a server that goes away and comes
 * back while the daemon keeps running — calls fail fast and retryable, the
 * main loop never waits for the network, and everything (LISTEN included)
 * works again without a new Store. The contract both backends share is in
 * store_contract_test.cpp. */
#include "store_test.h"

#include <gio/gio.h>
#include <glib.h>

namespace sugarcast::test {
namespace {

class PostgresStore : public StoreTest
{
protected:
  Backend backend() const override { return Backend::postgresql; }
};

GiftRecord a_gift(const std::string &key)
{
  return {.idempotency_key = key,
          .stream_id = "s1",
          .user_id = "ann",
          .gift_id = "rose",
          .count = 1,
          .coins = 10,
          .created_at = 1};
}

/* Retries get_stream until it answers the stream (every failure on the way
 * being retryable); false when that takes more than 20 s. */
bool stream_readable_again(Store &store, const std::string &id)
{
  return run_until(
      [&] {
        auto got =
            await<std::optional<StreamRecord>>([&](auto done) { store.get_stream(id, done); }, 5s);
        if (!got.ok()) {
          EXPECT_TRUE(got.error().retryable) << got.error().message;
          run_for(100ms);
        }
        return got.ok() && got.value().has_value();
      },
      20s);
}

/* Notifies until a listener hears something: what is sent before the
 * LISTEN is in force again is lost, by design. */
bool notify_until_heard(Store &store, const std::string &channel, const std::string &payload,
                        const std::vector<std::string> &heard)
{
  return run_until(
      [&] {
        store.notify(channel, payload, [](auto) {});
        run_for(100ms);
        return !heard.empty();
      },
      20s);
}

TEST_F(PostgresStore, NotifiesEveryListenerOnEveryDaemon)
{
  std::unique_ptr<Store> other = open_store();
  ASSERT_TRUE(other);
  /* A channel name that needs quoting in LISTEN. */
  const std::string channel = "room:s1 \"chat\"";
  std::vector<std::string> here, here_too, there;
  value_of(AWAIT(Done, store().listen(
                           channel, [&](const auto &p) { here.push_back(p); }, done)));
  value_of(AWAIT(Done, store().listen(
                           channel, [&](const auto &p) { here_too.push_back(p); }, done)));
  value_of(AWAIT(Done, other->listen(
                           channel, [&](const auto &p) { there.push_back(p); }, done)));

  value_of(AWAIT(Done, store().notify(channel, "from here", done)));
  value_of(AWAIT(Done, other->notify(channel, "from there", done)));
  value_of(AWAIT(Done, other->notify("another channel", "not heard", done)));
  ASSERT_TRUE(
      run_until([&] { return here.size() == 2 && here_too.size() == 2 && there.size() == 2; }));
  const std::vector<std::string> both{"from here", "from there"};
  EXPECT_EQ(here, both);
  EXPECT_EQ(here_too, both);
  EXPECT_EQ(there, both);
  close(other);
}

TEST_F(PostgresStore, SurvivesTheDatabaseGoingAwayAndComingBack)
{
  PgServer &pg = PgServer::shared();
  RestartAtExit restart;
  value_of(AWAIT(StreamRecord, store().create_stream({.id = "s1", .key_hash = "h1"}, done)));
  std::vector<std::string> heard;
  value_of(AWAIT(Done, store().listen(
                           "events", [&](const auto &p) { heard.push_back(p); }, done)));

  ExpectLog lost("lost the connection to PostgreSQL");
  pg.stop();

  /* Every kind of call answers, retryable, and keeps answering so round
   * after round while the store tries to reconnect behind the scenes. (That
   * the main loop is not held by the network is shown with a server that
   * never answers, in OpenGivesUpOnAServerThatNeverAnswers.) */
  int answered = 0;
  for (int round = 0; round < 5; ++round) {
    auto got =
        await<std::optional<StreamRecord>>([&](auto done) { store().get_stream("s1", done); }, 5s);
    ASSERT_FALSE(got.ok());
    EXPECT_TRUE(got.error().retryable) << got.error().message;
    auto gift = await<GiftOutcome>([&](auto done) { store().record_gift(a_gift("g1"), done); }, 5s);
    ASSERT_FALSE(gift.ok());
    EXPECT_TRUE(gift.error().retryable) << gift.error().message;
    auto sent = await<Done>([&](auto done) { store().notify("events", "lost", done); }, 5s);
    ASSERT_FALSE(sent.ok());
    EXPECT_TRUE(sent.error().retryable);
    ++answered;
    run_for(50ms);
  }
  EXPECT_EQ(answered, 5);
  EXPECT_GE(lost.matched(), 1);

  pg.start();
  /* The same Store works again once it has reconnected. */
  ASSERT_TRUE(stream_readable_again(store(), "s1"));
  auto gift = value_of(AWAIT(GiftOutcome, store().record_gift(a_gift("g1"), done)));
  EXPECT_TRUE(gift.created);

  /* And listening again: what is sent after the LISTEN is re-issued arrives. */
  ASSERT_TRUE(notify_until_heard(store(), "events", "back", heard));
  EXPECT_EQ(heard.front(), "back");
}

TEST_F(PostgresStore, ReplacesConnectionsTheServerKilled)
{
  value_of(AWAIT(StreamRecord, store().create_stream({.id = "s1", .key_hash = "h1"}, done)));
  std::vector<std::string> heard;
  value_of(AWAIT(Done, store().listen(
                           "events", [&](const auto &p) { heard.push_back(p); }, done)));

  ExpectLog lost("lost the connection to PostgreSQL");
  /* An administrator (or a failover) ends every session of this daemon. */
  EXPECT_EQ(raw_scalar("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND application_name = 'sugarcastd'"),
            2);
  ASSERT_TRUE(stream_readable_again(store(), "s1"));
  ASSERT_TRUE(notify_until_heard(store(), "events", "again", heard));
  EXPECT_GE(lost.matched(), 1);
}

TEST_F(PostgresStore, OpenFailsRetryableWhenNothingListens)
{
  const int port = free_tcp_port();
  std::unique_ptr<Store> store = make_store(
      {.database_url = "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/postgres"});
  auto opened = await<Done>([&](auto done) { store->open(done); }, 10s);
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(opened.error().retryable);
  EXPECT_NE(opened.error().message.find(std::to_string(port)), std::string::npos)
      << opened.error().message;
  /* Not open: calls are refused, not queued. */
  auto got = AWAIT(std::optional<StreamRecord>, store->get_stream("s1", done));
  EXPECT_FALSE(got.ok());
}

/* A listening socket that accepts TCP connections (the kernel does, from
 * the backlog) and never says a word: libpq's blocking connect would hang. */
class SilentServer
{
public:
  SilentServer()
  {
    g_autoptr(GError) error = nullptr;
    socket_ =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
    if (!socket_ || !g_socket_bind(socket_, any, TRUE, &error) || !g_socket_listen(socket_, &error))
      ADD_FAILURE() << "cannot listen: " << error->message;
    g_autoptr(GSocketAddress) bound = g_socket_get_local_address(socket_, nullptr);
    port_ = bound ? g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)) : 0;
  }
  ~SilentServer() { g_clear_object(&socket_); }
  std::string conninfo(const char *extra = "") const
  {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=postgres " +
           extra;
  }

private:
  GSocket *socket_ = nullptr;
  int port_ = 0;
};

TEST_F(PostgresStore, ClosesWhileStillOpening)
{
  SilentServer silent;
  std::unique_ptr<Store> store = make_store({.database_url = silent.conninfo()});
  auto opened = std::make_shared<Awaited<Done>>();
  store->open(recorder(opened));
  value_of(AWAIT(Done, store->close(done)));
  ASSERT_TRUE(opened->result.has_value());
  ASSERT_FALSE(opened->result->ok());
  EXPECT_FALSE(opened->result->error().retryable);
}

TEST_F(PostgresStore, OpenGivesUpOnAServerThatNeverAnswers)
{
  SilentServer silent;
  std::unique_ptr<Store> silent_store =
      make_store({.database_url = silent.conninfo("connect_timeout=1")});
  auto opened = std::make_shared<Awaited<Done>>();
  silent_store->open(recorder(opened));
  /* While that open waits for an answer that never comes, the main loop
   * serves everyone else: the working store answers a query before the
   * silent one gives up (a blocking connect would hold the loop until then). */
  auto got = AWAIT(std::optional<StreamRecord>, store().get_stream("s1", done));
  EXPECT_TRUE(got.ok());
  EXPECT_FALSE(opened->result.has_value()) << "the silent open ended before the loop served others";
  ASSERT_TRUE(run_until([&] { return opened->result.has_value(); }));
  ASSERT_FALSE(opened->result->ok());
  EXPECT_TRUE(opened->result->error().retryable);
  EXPECT_NE(opened->result->error().message.find("no answer"), std::string::npos)
      << opened->result->error().message;
}

TEST_F(PostgresStore, RefusesAMalformedConnectionStringForGood)
{
  std::unique_ptr<Store> store = make_store({.database_url = "host=127.0.0.1 no_such_option=1"});
  auto opened = AWAIT(Done, store->open(done));
  ASSERT_FALSE(opened.ok());
  EXPECT_FALSE(opened.error().retryable);
  EXPECT_NE(opened.error().message.find("no_such_option"), std::string::npos)
      << opened.error().message;
}

} // namespace
} // namespace sugarcast::test
