/* The store contract (daemon/store/store.h), run against both backends:
 * SQLite in a scratch folder and PostgreSQL on the private server, each
 * test on its own database file or database. What only PostgreSQL can do
 * (several daemons, LISTEN/NOTIFY, a server that goes away) follows in
 * store_postgresql_test.cpp. */
#include "store_test.h"

#include <glib.h>

#include <algorithm>
#include <set>

namespace sugarcast::test {
namespace {

class StoreContract : public StoreTest, public ::testing::WithParamInterface<Backend>
{
protected:
  Backend backend() const override { return GetParam(); }
};

std::string backend_name(const ::testing::TestParamInfo<Backend> &info)
{
  return info.param == Backend::sqlite ? "sqlite" : "postgresql";
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract,
                         ::testing::Values(Backend::sqlite, Backend::postgresql), backend_name);

StreamRecord stream(const std::string &id, const std::string &key_hash, int64_t at)
{
  return {.id = id,
          .title = "Title of " + id,
          .key_hash = key_hash,
          .created_at = at,
          .key_updated_at = at};
}

ChatRecord chat(const std::string &id, const std::string &stream_id, const std::string &text)
{
  return {.id = id,
          .stream_id = stream_id,
          .user_id = "u-" + text,
          .user_name = "User " + text,
          .text = text,
          .created_at = 1700000000000};
}

GiftRecord gift(const std::string &key, const std::string &stream_id, const std::string &user,
                int64_t coins, int count = 1)
{
  return {.idempotency_key = key,
          .stream_id = stream_id,
          .user_id = user,
          .user_name = "Name of " + user,
          .gift_id = "rose",
          .count = count,
          .coins = coins,
          .created_at = 1700000000000};
}

std::vector<std::string> ids_of(const std::vector<ChatRecord> &messages)
{
  std::vector<std::string> ids;
  for (const auto &m : messages)
    ids.push_back(m.id);
  return ids;
}

TEST_P(StoreContract, NamesItsBackend)
{
  EXPECT_STREQ(store().backend(), backend() == Backend::sqlite ? "sqlite" : "postgresql");
  EXPECT_EQ(store().supports_notify(), backend() == Backend::postgresql);
}

TEST_P(StoreContract, CallbacksRunLaterAndInOrder)
{
  /* Several calls in a row: none answers before it returns (await checks
   * that for every call in this file), and they answer in the order asked. */
  std::vector<int> order;
  bool returned = false, early = false;
  auto note = [&](int n) {
    if (!returned)
      early = true;
    order.push_back(n);
  };
  store().create_stream(stream("s1", "h1", 1), [&](auto) { note(1); });
  store().get_stream("s1", [&](auto) { note(2); });
  store().list_streams([&](auto) { note(3); });
  store().notify("channel", "payload", [&](auto) { note(4); });
  store().get_stream("nope", [&](auto) { note(5); });
  EXPECT_TRUE(order.empty());
  returned = true;
  ASSERT_TRUE(run_until([&] { return order.size() == 5; }));
  EXPECT_FALSE(early);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST_P(StoreContract, CreatesFindsAndListsStreams)
{
  StreamRecord first =
      value_of(AWAIT(StreamRecord, store().create_stream(stream("a1", "ha", 10), done)));
  EXPECT_EQ(first.id, "a1");
  EXPECT_EQ(first.title, "Title of a1");
  EXPECT_EQ(first.key_hash, "ha");
  EXPECT_EQ(first.created_at, 10);
  value_of(AWAIT(StreamRecord, store().create_stream(stream("b2", "hb", 20), done)));

  auto got = value_of(AWAIT(std::optional<StreamRecord>, store().get_stream("a1", done)));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->title, "Title of a1");
  EXPECT_EQ(got->key_updated_at, 10);
  EXPECT_FALSE(value_of(AWAIT(std::optional<StreamRecord>, store().get_stream("zz", done))));

  auto by_key =
      value_of(AWAIT(std::optional<StreamRecord>, store().find_stream_by_key_hash("hb", done)));
  ASSERT_TRUE(by_key);
  EXPECT_EQ(by_key->id, "b2");
  EXPECT_FALSE(
      value_of(AWAIT(std::optional<StreamRecord>, store().find_stream_by_key_hash("hx", done))));

  auto all = value_of(AWAIT(std::vector<StreamRecord>, store().list_streams(done)));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "b2"); /* newest first */
  EXPECT_EQ(all[1].id, "a1");
}

TEST_P(StoreContract, RefusesADuplicateStreamIdOrKeyHashForGood)
{
  value_of(AWAIT(StreamRecord, store().create_stream(stream("a1", "ha", 10), done)));

  auto same_hash = AWAIT(StreamRecord, store().create_stream(stream("b2", "ha", 20), done));
  ASSERT_FALSE(same_hash.ok());
  EXPECT_FALSE(same_hash.error().retryable);
  EXPECT_NE(same_hash.error().message.find("create_stream"), std::string::npos)
      << same_hash.error().message;

  auto same_id = AWAIT(StreamRecord, store().create_stream(stream("a1", "hz", 20), done));
  ASSERT_FALSE(same_id.ok());
  EXPECT_FALSE(same_id.error().retryable);

  /* Nothing refused was stored. */
  EXPECT_EQ(value_of(AWAIT(std::vector<StreamRecord>, store().list_streams(done))).size(), 1u);
}

TEST_P(StoreContract, RotatesAndRevokesKeys)
{
  value_of(AWAIT(StreamRecord, store().create_stream(stream("a1", "old", 10), done)));
  value_of(AWAIT(StreamRecord, store().create_stream(stream("b2", "other", 10), done)));

  EXPECT_TRUE(value_of(AWAIT(bool, store().set_stream_key("a1", "new", 50, done))));
  EXPECT_FALSE(
      value_of(AWAIT(std::optional<StreamRecord>, store().find_stream_by_key_hash("old", done))));
  auto rotated =
      value_of(AWAIT(std::optional<StreamRecord>, store().find_stream_by_key_hash("new", done)));
  ASSERT_TRUE(rotated);
  EXPECT_EQ(rotated->id, "a1");
  EXPECT_EQ(rotated->key_updated_at, 50);
  EXPECT_EQ(rotated->created_at, 10);

  /* Another stream's key is refused, for good. */
  auto taken = AWAIT(bool, store().set_stream_key("a1", "other", 60, done));
  ASSERT_FALSE(taken.ok());
  EXPECT_FALSE(taken.error().retryable);

  /* Revoking twice leaves two streams with no key, which is allowed, and
   * "" never finds a stream. */
  EXPECT_TRUE(value_of(AWAIT(bool, store().set_stream_key("a1", "", 70, done))));
  EXPECT_TRUE(value_of(AWAIT(bool, store().set_stream_key("b2", "", 70, done))));
  EXPECT_FALSE(
      value_of(AWAIT(std::optional<StreamRecord>, store().find_stream_by_key_hash("", done))));
  EXPECT_FALSE(
      value_of(AWAIT(std::optional<StreamRecord>, store().find_stream_by_key_hash("new", done))));

  EXPECT_FALSE(value_of(AWAIT(bool, store().set_stream_key("zz", "h", 80, done))));
}

TEST_P(StoreContract, DeletesAStreamWithItsSessionsModeratorsAndLease)
{
  value_of(AWAIT(StreamRecord, store().create_stream(stream("a1", "ha", 10), done)));
  value_of(AWAIT(int64_t, store().start_session({.stream_id = "a1", .started_at = 11}, done)));
  value_of(AWAIT(Done, store().set_moderator("a1", "mod", true, done)));
  EXPECT_TRUE(value_of(AWAIT(bool, store().acquire_lease("a1", "daemon-1", 12, 1000, done))));

  EXPECT_TRUE(value_of(AWAIT(bool, store().delete_stream("a1", done))));
  EXPECT_FALSE(value_of(AWAIT(bool, store().delete_stream("a1", done))));
  EXPECT_FALSE(value_of(AWAIT(std::optional<StreamRecord>, store().get_stream("a1", done))));
  EXPECT_TRUE(
      value_of(AWAIT(std::vector<SessionRecord>, store().list_sessions("a1", 10, done))).empty());
  EXPECT_TRUE(
      value_of(AWAIT(std::vector<std::string>, store().list_moderators("a1", done))).empty());

  /* The id can be used again, and its lease is free. */
  value_of(AWAIT(StreamRecord, store().create_stream(stream("a1", "ha", 20), done)));
  EXPECT_TRUE(value_of(AWAIT(bool, store().acquire_lease("a1", "daemon-2", 21, 1000, done))));
}

TEST_P(StoreContract, RecordsSessionsNewestFirst)
{
  value_of(AWAIT(StreamRecord, store().create_stream(stream("a1", "ha", 10), done)));
  value_of(AWAIT(StreamRecord, store().create_stream(stream("b2", "hb", 10), done)));
  std::vector<int64_t> ids;
  for (int64_t at : {100, 300, 200}) {
    SessionRecord s{.stream_id = "a1",
                    .started_at = at,
                    .client_address = "192.0.2.7:50000",
                    .encoder = "obs-studio"};
    ids.push_back(value_of(AWAIT(int64_t, store().start_session(s, done))));
  }
  value_of(AWAIT(int64_t, store().start_session({.stream_id = "b2", .started_at = 400}, done)));
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 3u);

  value_of(AWAIT(Done, store().end_session(ids[0], 150, "unpublished", done)));

  auto sessions =
      value_of(AWAIT(std::vector<SessionRecord>, store().list_sessions("a1", 10, done)));
  ASSERT_EQ(sessions.size(), 3u);
  EXPECT_EQ(sessions[0].started_at, 300);
  EXPECT_EQ(sessions[1].started_at, 200);
  EXPECT_EQ(sessions[2].started_at, 100);
  EXPECT_EQ(sessions[2].id, ids[0]);
  EXPECT_EQ(sessions[2].ended_at, 150);
  EXPECT_EQ(sessions[2].end_reason, "unpublished");
  EXPECT_EQ(sessions[2].client_address, "192.0.2.7:50000");
  EXPECT_EQ(sessions[2].encoder, "obs-studio");
  EXPECT_EQ(sessions[0].ended_at, 0); /* still live */
  EXPECT_EQ(sessions[0].stream_id, "a1");

  auto newest = value_of(AWAIT(std::vector<SessionRecord>, store().list_sessions("a1", 2, done)));
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[1].started_at, 200);

  /* A session of a stream that does not exist is refused. */
  auto orphan = AWAIT(int64_t, store().start_session({.stream_id = "zz", .started_at = 1}, done));
  ASSERT_FALSE(orphan.ok());
  EXPECT_FALSE(orphan.error().retryable);
}

TEST_P(StoreContract, SavesClipsWhole)
{
  ClipRecord clip{.id = "c1",
                  .filename = "my holiday.mp4",
                  .size = 1234567,
                  .state = "validating",
                  .created_at = 100,
                  .updated_at = 100};
  value_of(AWAIT(Done, store().save_clip(clip, done)));
  clip.state = "ready";
  clip.message = "Your clip is ready";
  clip.duration = 15.25;
  clip.width = 1280;
  clip.height = 720;
  clip.codec = "h264";
  clip.progress = 100;
  clip.updated_at = 200;
  value_of(AWAIT(Done, store().save_clip(clip, done)));
  value_of(AWAIT(Done, store().save_clip({.id = "c2",
                                          .state = "rejected",
                                          .reason = "too-short",
                                          .created_at = 300,
                                          .updated_at = 300},
                                         done)));

  auto got = value_of(AWAIT(std::optional<ClipRecord>, store().get_clip("c1", done)));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->filename, "my holiday.mp4");
  EXPECT_EQ(got->size, 1234567);
  EXPECT_EQ(got->state, "ready");
  EXPECT_EQ(got->message, "Your clip is ready");
  EXPECT_DOUBLE_EQ(got->duration, 15.25);
  EXPECT_EQ(got->width, 1280);
  EXPECT_EQ(got->height, 720);
  EXPECT_EQ(got->codec, "h264");
  EXPECT_EQ(got->progress, 100);
  EXPECT_EQ(got->created_at, 100);
  EXPECT_EQ(got->updated_at, 200);
  EXPECT_FALSE(value_of(AWAIT(std::optional<ClipRecord>, store().get_clip("c9", done))));

  auto clips = value_of(AWAIT(std::vector<ClipRecord>, store().list_clips(10, done)));
  ASSERT_EQ(clips.size(), 2u);
  EXPECT_EQ(clips[0].id, "c2");
  EXPECT_EQ(clips[0].reason, "too-short");
  EXPECT_EQ(clips[1].id, "c1");
  EXPECT_EQ(value_of(AWAIT(std::vector<ClipRecord>, store().list_clips(1, done))).size(), 1u);
}

TEST_P(StoreContract, ListsClipsByOwnerAndStateInPages)
{
  for (int i = 1; i <= 5; ++i)
    value_of(
        AWAIT(Done, store().save_clip({.id = "k" + std::to_string(i),
                                       .state = i == 3 ? "failed" : "ready",
                                       .created_at = i == 5 ? 400 : 100 * i, /* k4, k5: a tie */
                                       .updated_at = 100,
                                       .owner = i % 2 ? "alice" : "bob"},
                                      done)));
  auto ids = [this](const ClipQuery &q) {
    std::string out;
    for (const auto &c :
         value_of(AWAIT(std::vector<ClipRecord>, store().list_clips_where(q, done))))
      out += c.id + " ";
    return out;
  };
  EXPECT_EQ(ids({.any_owner = false, .owner = "alice"}), "k5 k3 k1 ");
  EXPECT_EQ(ids({.state = "ready"}), "k5 k4 k2 k1 ");
  EXPECT_EQ(ids({.state = "ready", .limit = 2}), "k5 k4 ");
  EXPECT_EQ(ids({.state = "ready", .before_created_at = 400, .before_id = "k4", .limit = 2}),
            "k2 k1 ");
  EXPECT_EQ(ids({.any_owner = false, .owner = "bob", .state = "failed"}), "");
  EXPECT_EQ(value_of(AWAIT(std::optional<ClipRecord>, store().get_clip("k2", done)))->owner, "bob");
  EXPECT_TRUE(value_of(AWAIT(bool, store().delete_clip("k2", done))));
  EXPECT_FALSE(value_of(AWAIT(bool, store().delete_clip("k2", done))));
  EXPECT_EQ(ids({.any_owner = false, .owner = "bob"}), "k4 ");
}

TEST_P(StoreContract, AppendsChatBatchesOnceAndPagesBack)
{
  std::vector<ChatRecord> batch;
  for (int i = 1; i <= 7; ++i)
    batch.push_back(chat("m0" + std::to_string(i), "s1", "hello " + std::to_string(i)));
  batch.push_back(chat("m08", "s2", "elsewhere"));
  value_of(AWAIT(Done, store().append_chat(batch, done)));
  /* The same batch again (a retry after a lost answer), plus one more. */
  batch.push_back(chat("m09", "s1", "late"));
  value_of(AWAIT(Done, store().append_chat(batch, done)));
  value_of(AWAIT(Done, store().append_chat({}, done)));

  auto newest = value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s1", "", 3, done)));
  EXPECT_EQ(ids_of(newest), (std::vector<std::string>{"m09", "m07", "m06"}));
  EXPECT_EQ(newest[1].text, "hello 7");
  EXPECT_EQ(newest[1].user_id, "u-hello 7");
  EXPECT_EQ(newest[1].user_name, "User hello 7");
  EXPECT_EQ(newest[1].stream_id, "s1");
  EXPECT_EQ(newest[1].created_at, 1700000000000);

  auto older = value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s1", "m06", 3, done)));
  EXPECT_EQ(ids_of(older), (std::vector<std::string>{"m05", "m04", "m03"}));
  auto oldest = value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s1", "m03", 3, done)));
  EXPECT_EQ(ids_of(oldest), (std::vector<std::string>{"m02", "m01"}));
  EXPECT_TRUE(
      value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s1", "m01", 3, done))).empty());

  auto all = value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s1", "", 100, done)));
  EXPECT_EQ(all.size(), 8u);
  auto other = value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s2", "", 100, done)));
  EXPECT_EQ(ids_of(other), (std::vector<std::string>{"m08"}));
}

TEST_P(StoreContract, AppendsABatchLargerThanOneStatement)
{
  std::vector<ChatRecord> batch;
  for (int i = 0; i < 450; ++i) {
    g_autofree gchar *id = g_strdup_printf("id%05d", i);
    batch.push_back(chat(id, "s1", "n" + std::to_string(i)));
  }
  value_of(AWAIT(Done, store().append_chat(batch, done)));
  auto all = value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s1", "", 1000, done)));
  ASSERT_EQ(all.size(), 450u);
  EXPECT_EQ(all.front().id, "id00449");
  EXPECT_EQ(all.back().id, "id00000");
}

TEST_P(StoreContract, SortsChatIdsBytewise)
{
  /* Time-ordered ids may mix cases and digits; a locale's collation would
   * put "a" and "B" the other way round. */
  value_of(AWAIT(Done, store().append_chat({chat("0B", "s1", "1"), chat("0a", "s1", "2"),
                                            chat("0Z", "s1", "3"), chat("1_", "s1", "4")},
                                           done)));
  auto all = value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s1", "", 10, done)));
  EXPECT_EQ(ids_of(all), (std::vector<std::string>{"1_", "0a", "0Z", "0B"}));
  auto below = value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s1", "0a", 10, done)));
  EXPECT_EQ(ids_of(below), (std::vector<std::string>{"0Z", "0B"}));
}

TEST_P(StoreContract, DeletesChatBeforeOrAfterItArrives)
{
  value_of(AWAIT(Done, store().append_chat({chat("m1", "s1", "a"), chat("m2", "s1", "b")}, done)));
  EXPECT_TRUE(value_of(AWAIT(bool, store().delete_chat("s1", "m1", done))));
  EXPECT_TRUE(value_of(AWAIT(bool, store().delete_chat("s1", "m1", done)))); /* twice: harmless */

  /* The deletion overtakes the batch that carries its message. */
  EXPECT_FALSE(value_of(AWAIT(bool, store().delete_chat("s1", "m3", done))));
  value_of(AWAIT(Done, store().append_chat({chat("m3", "s1", "c"), chat("m4", "s1", "d")}, done)));

  /* A message of another stream is not this stream's to delete. */
  EXPECT_FALSE(value_of(AWAIT(bool, store().delete_chat("s2", "m2", done))));

  auto left = value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s1", "", 10, done)));
  EXPECT_EQ(ids_of(left), (std::vector<std::string>{"m4", "m2"}));
  /* Paging skips deleted messages without shortening the page. */
  auto page = value_of(AWAIT(std::vector<ChatRecord>, store().list_chat("s1", "m4", 1, done)));
  EXPECT_EQ(ids_of(page), (std::vector<std::string>{"m2"}));
}

TEST_P(StoreContract, FindsTheBanInForce)
{
  const int64_t now = 1000000;
  value_of(AWAIT(Done, store().ban_user({.user_id = "troll",
                                         .scope = "s1",
                                         .reason = "spam",
                                         .banned_by = "mod",
                                         .created_at = now - 10,
                                         .expires_at = now + 60000},
                                        done)));
  auto in_s1 =
      value_of(AWAIT(std::optional<BanRecord>, store().find_ban("troll", {"s1", "*"}, now, done)));
  ASSERT_TRUE(in_s1);
  EXPECT_EQ(in_s1->scope, "s1");
  EXPECT_EQ(in_s1->reason, "spam");
  EXPECT_EQ(in_s1->banned_by, "mod");
  EXPECT_EQ(in_s1->created_at, now - 10);
  EXPECT_EQ(in_s1->expires_at, now + 60000);
  EXPECT_FALSE(
      value_of(AWAIT(std::optional<BanRecord>, store().find_ban("troll", {"s2", "*"}, now, done))));
  EXPECT_FALSE(
      value_of(AWAIT(std::optional<BanRecord>, store().find_ban("other", {"s1", "*"}, now, done))));
  EXPECT_FALSE(value_of(AWAIT(std::optional<BanRecord>, store().find_ban("troll", {}, now, done))));
  /* Expired at its expiry time. */
  EXPECT_FALSE(value_of(
      AWAIT(std::optional<BanRecord>, store().find_ban("troll", {"s1", "*"}, now + 60000, done))));

  /* A new ban of the same user and scope replaces the old one. */
  value_of(AWAIT(Done, store().ban_user({.user_id = "troll",
                                         .scope = "s1",
                                         .reason = "again",
                                         .created_at = now,
                                         .expires_at = now + 120000},
                                        done)));
  auto replaced = value_of(
      AWAIT(std::optional<BanRecord>, store().find_ban("troll", {"s1"}, now + 90000, done)));
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->reason, "again");

  /* A permanent ban everywhere wins over a timed one here. */
  value_of(AWAIT(
      Done,
      store().ban_user({.user_id = "troll", .scope = "*", .reason = "for good", .created_at = now},
                       done)));
  auto strongest =
      value_of(AWAIT(std::optional<BanRecord>, store().find_ban("troll", {"s1", "*"}, now, done)));
  ASSERT_TRUE(strongest);
  EXPECT_EQ(strongest->scope, "*");
  EXPECT_EQ(strongest->expires_at, 0);
  EXPECT_TRUE(value_of(AWAIT(std::optional<BanRecord>,
                             store().find_ban("troll", {"s7", "*"}, now + 999999999, done))));

  EXPECT_TRUE(value_of(AWAIT(bool, store().unban_user("troll", "*", done))));
  EXPECT_FALSE(value_of(AWAIT(bool, store().unban_user("troll", "*", done))));
  EXPECT_FALSE(
      value_of(AWAIT(std::optional<BanRecord>, store().find_ban("troll", {"s7", "*"}, now, done))));
  EXPECT_TRUE(
      value_of(AWAIT(std::optional<BanRecord>, store().find_ban("troll", {"s1", "*"}, now, done))));
}

TEST_P(StoreContract, NamesModeratorsPerStream)
{
  value_of(AWAIT(StreamRecord, store().create_stream(stream("s1", "h1", 1), done)));
  value_of(AWAIT(StreamRecord, store().create_stream(stream("s2", "h2", 1), done)));
  value_of(AWAIT(Done, store().set_moderator("s1", "zoe", true, done)));
  value_of(AWAIT(Done, store().set_moderator("s1", "adam", true, done)));
  value_of(AWAIT(Done, store().set_moderator("s1", "adam", true, done)));
  value_of(AWAIT(Done, store().set_moderator("s2", "eve", true, done)));
  EXPECT_EQ(value_of(AWAIT(std::vector<std::string>, store().list_moderators("s1", done))),
            (std::vector<std::string>{"adam", "zoe"}));
  value_of(AWAIT(Done, store().set_moderator("s1", "zoe", false, done)));
  value_of(AWAIT(Done, store().set_moderator("s1", "nobody", false, done)));
  EXPECT_EQ(value_of(AWAIT(std::vector<std::string>, store().list_moderators("s1", done))),
            (std::vector<std::string>{"adam"}));
  EXPECT_EQ(value_of(AWAIT(std::vector<std::string>, store().list_moderators("s2", done))),
            (std::vector<std::string>{"eve"}));
}

TEST_P(StoreContract, RecordsAGiftOncePerIdempotencyKey)
{
  std::vector<GiftOutcome> outcomes;
  for (int attempt = 0; attempt < 5; ++attempt)
    outcomes.push_back(
        value_of(AWAIT(GiftOutcome, store().record_gift(gift("key-1", "s1", "ann", 50, 5), done))));
  EXPECT_TRUE(outcomes[0].created);
  EXPECT_GT(outcomes[0].gift.ledger_id, 0);
  for (int attempt = 1; attempt < 5; ++attempt) {
    EXPECT_FALSE(outcomes[attempt].created);
    EXPECT_EQ(outcomes[attempt].gift.ledger_id, outcomes[0].gift.ledger_id);
  }
  const GiftRecord &row = outcomes[0].gift;
  EXPECT_EQ(row.idempotency_key, "key-1");
  EXPECT_EQ(row.stream_id, "s1");
  EXPECT_EQ(row.user_id, "ann");
  EXPECT_EQ(row.user_name, "Name of ann");
  EXPECT_EQ(row.gift_id, "rose");
  EXPECT_EQ(row.count, 5);
  EXPECT_EQ(row.coins, 50);
  EXPECT_EQ(row.created_at, 1700000000000);
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 1);

  /* A retry that says something else still answers what was recorded. */
  auto changed =
      value_of(AWAIT(GiftOutcome, store().record_gift(gift("key-1", "s1", "ann", 9999), done)));
  EXPECT_FALSE(changed.created);
  EXPECT_EQ(changed.gift.coins, 50);

  auto second =
      value_of(AWAIT(GiftOutcome, store().record_gift(gift("key-2", "s1", "ann", 10), done)));
  EXPECT_TRUE(second.created);
  EXPECT_NE(second.gift.ledger_id, row.ledger_id);

  auto keyless = AWAIT(GiftOutcome, store().record_gift(gift("", "s1", "ann", 10), done));
  ASSERT_FALSE(keyless.ok());
  EXPECT_FALSE(keyless.error().retryable);
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), 2);
}

TEST_P(StoreContract, RanksGiftersByCoins)
{
  struct
  {
    const char *key, *stream, *user;
    int64_t coins;
    int count;
  } gifts[] = {{"g1", "s1", "ann", 100, 1},  {"g2", "s1", "bob", 300, 3},
               {"g3", "s1", "cid", 50, 1},   {"g4", "s1", "ann", 250, 2},
               {"g5", "s2", "cid", 9000, 9}, {"g6", "s1", "dan", 50, 5}};
  for (const auto &g : gifts)
    value_of(AWAIT(GiftOutcome,
                   store().record_gift(gift(g.key, g.stream, g.user, g.coins, g.count), done)));
  /* ann's latest gift carries a new display name. */
  GiftRecord renamed = gift("g7", "s1", "ann", 10);
  renamed.user_name = "Ann the Generous";
  value_of(AWAIT(GiftOutcome, store().record_gift(renamed, done)));

  auto board = value_of(AWAIT(std::vector<LeaderboardEntry>, store().leaderboard("s1", 10, done)));
  ASSERT_EQ(board.size(), 4u);
  EXPECT_EQ(board[0].user_id, "ann");
  EXPECT_EQ(board[0].user_name, "Ann the Generous");
  EXPECT_EQ(board[0].coins, 360);
  EXPECT_EQ(board[0].gifts, 4);
  EXPECT_EQ(board[1].user_id, "bob");
  EXPECT_EQ(board[1].coins, 300);
  EXPECT_EQ(board[1].gifts, 3);
  /* Equal coins: ordered by user id, so the board does not flicker. */
  EXPECT_EQ(board[2].user_id, "cid");
  EXPECT_EQ(board[2].coins, 50);
  EXPECT_EQ(board[3].user_id, "dan");
  EXPECT_EQ(board[3].gifts, 5);

  auto top = value_of(AWAIT(std::vector<LeaderboardEntry>, store().leaderboard("s1", 2, done)));
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[1].user_id, "bob");
  EXPECT_TRUE(
      value_of(AWAIT(std::vector<LeaderboardEntry>, store().leaderboard("s9", 10, done))).empty());
}

TEST_P(StoreContract, KeepsStatsPointsAndShowsPerStreamInTimeOrder)
{
  value_of(AWAIT(StreamRecord, store().create_stream(stream("s1", "h1", 10), done)));
  for (int64_t t : {3000, 1000, 2000, 4000})
    value_of(AWAIT(Done, store().append_stats_point({.stream_id = "s1",
                                                     .t = t,
                                                     .viewers = t / 1000,
                                                     .chat_messages = 2,
                                                     .gifts = 1,
                                                     .coins = 50,
                                                     .ingest_bitrate = 4.5e6,
                                                     .ingest_fps = 29.97},
                                                    done)));
  value_of(
      AWAIT(Done, store().append_stats_point({.stream_id = "s2", .t = 2000, .viewers = 99}, done)));
  /* The same instant again replaces the point. */
  value_of(
      AWAIT(Done, store().append_stats_point({.stream_id = "s1", .t = 4000, .viewers = 7}, done)));

  auto points = value_of(
      AWAIT(std::vector<StatsPoint>, store().list_stats_points("s1", 2000, 4000, 100, done)));
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0].t, 2000);
  EXPECT_EQ(points[0].viewers, 2);
  EXPECT_EQ(points[0].chat_messages, 2);
  EXPECT_EQ(points[0].coins, 50);
  EXPECT_DOUBLE_EQ(points[0].ingest_bitrate, 4.5e6);
  EXPECT_DOUBLE_EQ(points[0].ingest_fps, 29.97);
  EXPECT_EQ(points[2].t, 4000);
  EXPECT_EQ(points[2].viewers, 7);
  /* A limit keeps the newest of the range, still oldest first. */
  auto newest =
      value_of(AWAIT(std::vector<StatsPoint>, store().list_stats_points("s1", 0, 9999, 2, done)));
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].t, 3000);
  EXPECT_EQ(newest[1].t, 4000);

  ShowStats show{.session_id = 41,
                 .stream_id = "s1",
                 .started_at = 1000,
                 .peak_viewers = 3,
                 .avg_viewers = 2.5,
                 .unique_viewers = 5,
                 .watch_minutes = 0.75,
                 .messages = 6,
                 .gifts = 3};
  value_of(AWAIT(Done, store().save_show(show, done)));
  show.ended_at = 5000;
  show.peak_viewers = 4;
  value_of(AWAIT(Done, store().save_show(show, done)));
  value_of(AWAIT(
      Done, store().save_show({.session_id = 42, .stream_id = "s1", .started_at = 6000}, done)));
  auto shows =
      value_of(AWAIT(std::vector<ShowStats>, store().list_shows("s1", 0, 10000, 10, done)));
  ASSERT_EQ(shows.size(), 2u);
  EXPECT_EQ(shows[0].session_id, 41);
  EXPECT_EQ(shows[0].ended_at, 5000);
  EXPECT_EQ(shows[0].peak_viewers, 4);
  EXPECT_DOUBLE_EQ(shows[0].avg_viewers, 2.5);
  EXPECT_EQ(shows[0].unique_viewers, 5);
  EXPECT_DOUBLE_EQ(shows[0].watch_minutes, 0.75);
  EXPECT_EQ(shows[0].messages, 6);
  EXPECT_EQ(shows[0].gifts, 3);
  EXPECT_EQ(shows[1].session_id, 42);
  EXPECT_EQ(value_of(AWAIT(std::vector<ShowStats>, store().list_shows("s1", 2000, 10000, 10, done)))
                .size(),
            1u);

  /* Deleting the stream deletes its statistics, not another stream's. */
  EXPECT_TRUE(value_of(AWAIT(bool, store().delete_stream("s1", done))));
  EXPECT_TRUE(
      value_of(AWAIT(std::vector<StatsPoint>, store().list_stats_points("s1", 0, 9999, 100, done)))
          .empty());
  EXPECT_TRUE(value_of(AWAIT(std::vector<ShowStats>, store().list_shows("s1", 0, 10000, 10, done)))
                  .empty());
  EXPECT_EQ(
      value_of(AWAIT(std::vector<StatsPoint>, store().list_stats_points("s2", 0, 9999, 100, done)))
          .size(),
      1u);
}

TEST_P(StoreContract, KeepsOneSchedulePerStreamSoonestFirst)
{
  for (const char *id : {"a", "b", "c"})
    value_of(
        AWAIT(StreamRecord, store().create_stream(stream(id, std::string("h") + id, 10), done)));
  value_of(AWAIT(Done, store().set_schedule({"a", "Late show", 9000, 1}, done)));
  value_of(AWAIT(Done, store().set_schedule({"b", "Early show", 5000, 1}, done)));
  value_of(AWAIT(Done, store().set_schedule({"c", "Over", 100, 1}, done)));
  /* Setting again replaces. */
  value_of(AWAIT(Done, store().set_schedule({"a", "Later show", 9500, 2}, done)));

  auto upcoming =
      value_of(AWAIT(std::vector<ScheduleRecord>, store().list_schedules(1000, 10, done)));
  ASSERT_EQ(upcoming.size(), 2u);
  EXPECT_EQ(upcoming[0].stream_id, "b");
  EXPECT_EQ(upcoming[0].title, "Early show");
  EXPECT_EQ(upcoming[0].starts_at, 5000);
  EXPECT_EQ(upcoming[1].stream_id, "a");
  EXPECT_EQ(upcoming[1].title, "Later show");
  EXPECT_EQ(upcoming[1].starts_at, 9500);
  EXPECT_EQ(upcoming[1].updated_at, 2);

  EXPECT_TRUE(value_of(AWAIT(bool, store().clear_schedule("b", done))));
  EXPECT_FALSE(value_of(AWAIT(bool, store().clear_schedule("b", done))));
  EXPECT_TRUE(value_of(AWAIT(bool, store().delete_stream("a", done))));
  EXPECT_EQ(
      value_of(AWAIT(std::vector<ScheduleRecord>, store().list_schedules(0, 10, done))).size(), 1u);
}

TEST_P(StoreContract, LeasesAStreamToOneOwnerAtATime)
{
  value_of(AWAIT(StreamRecord, store().create_stream(stream("s1", "h1", 1), done)));
  EXPECT_TRUE(value_of(AWAIT(bool, store().acquire_lease("s1", "d1", 1000, 500, done))));
  /* Renewed by its owner, refused to another until it expires. */
  EXPECT_TRUE(value_of(AWAIT(bool, store().acquire_lease("s1", "d1", 1400, 500, done))));
  EXPECT_FALSE(value_of(AWAIT(bool, store().acquire_lease("s1", "d2", 1600, 500, done))));
  EXPECT_FALSE(value_of(AWAIT(bool, store().acquire_lease("s1", "d2", 1899, 500, done))));
  EXPECT_TRUE(value_of(AWAIT(bool, store().acquire_lease("s1", "d2", 1900, 500, done))));
  EXPECT_FALSE(value_of(AWAIT(bool, store().acquire_lease("s1", "d1", 2000, 500, done))));

  /* Only the owner releases. */
  value_of(AWAIT(Done, store().release_lease("s1", "d1", done)));
  EXPECT_FALSE(value_of(AWAIT(bool, store().acquire_lease("s1", "d1", 2100, 500, done))));
  value_of(AWAIT(Done, store().release_lease("s1", "d2", done)));
  EXPECT_TRUE(value_of(AWAIT(bool, store().acquire_lease("s1", "d1", 2100, 500, done))));

  auto unknown = AWAIT(bool, store().acquire_lease("zz", "d1", 2100, 500, done));
  ASSERT_FALSE(unknown.ok());
  EXPECT_FALSE(unknown.error().retryable);
}

TEST_P(StoreContract, RefusesOversizedNotifications)
{
  auto big = AWAIT(Done, store().notify("chat", std::string(7001, 'x'), done));
  ASSERT_FALSE(big.ok());
  EXPECT_FALSE(big.error().retryable);
  EXPECT_NE(big.error().message.find("7000"), std::string::npos) << big.error().message;

  auto long_name = AWAIT(Done, store().notify(std::string(64, 'c'), "{}", done));
  ASSERT_FALSE(long_name.ok());
  EXPECT_FALSE(long_name.error().retryable);
  auto no_name = AWAIT(Done, store().notify("", "{}", done));
  EXPECT_FALSE(no_name.ok());

  value_of(AWAIT(Done, store().notify("chat", std::string(7000, 'x'), done)));
}

TEST_P(StoreContract, HearsItsOwnNotificationsWhenItCan)
{
  std::vector<std::string> heard;
  value_of(AWAIT(Done, store().listen(
                           "chat", [&](const std::string &p) { heard.push_back(p); }, done)));
  value_of(AWAIT(Done, store().notify("chat", "{\"text\":\"hi\"}", done)));
  value_of(AWAIT(Done, store().notify("other", "not for us", done)));
  if (!store().supports_notify()) {
    /* SQLite: there is no one to tell, not even ourselves. */
    run_for(100ms);
    EXPECT_TRUE(heard.empty());
    return;
  }
  ASSERT_TRUE(run_until([&] { return !heard.empty(); }));
  EXPECT_EQ(heard, (std::vector<std::string>{"{\"text\":\"hi\"}"}));
}

TEST_P(StoreContract, TwoStoresOnOneDatabaseRecordEachGiftOnce)
{
  /* Two daemons' stores, every gift sent to both at once. */
  std::unique_ptr<Store> other = open_store();
  ASSERT_TRUE(other);
  constexpr int keys = 40;
  std::vector<std::shared_ptr<Awaited<GiftOutcome>>> mine, theirs;
  for (int i = 0; i < keys; ++i) {
    GiftRecord g = gift("race-" + std::to_string(i), "s1", "ann", 10);
    mine.push_back(std::make_shared<Awaited<GiftOutcome>>());
    theirs.push_back(std::make_shared<Awaited<GiftOutcome>>());
    store().record_gift(g, recorder(mine.back()));
    other->record_gift(g, recorder(theirs.back()));
  }
  ASSERT_TRUE(run_until([&] {
    return std::all_of(mine.begin(), mine.end(), [](auto &a) { return a->result.has_value(); }) &&
           std::all_of(theirs.begin(), theirs.end(), [](auto &a) { return a->result.has_value(); });
  }));
  for (int i = 0; i < keys; ++i) {
    GiftOutcome a = value_of(std::move(*mine[i]->result));
    GiftOutcome b = value_of(std::move(*theirs[i]->result));
    EXPECT_EQ(a.gift.ledger_id, b.gift.ledger_id) << "key " << i;
    EXPECT_NE(a.created, b.created) << "key " << i << ": exactly one of them recorded it";
  }
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM gifts"), keys);
  close(other);
}

TEST_P(StoreContract, TwoStoresOpeningOneNewDatabaseMigrateItOnce)
{
  /* A fresh database, two stores opening it at the same moment. */
  use_fresh_database();
  std::unique_ptr<Store> a = make_store(config()), b = make_store(config());
  auto opened_a = std::make_shared<Awaited<Done>>(), opened_b = std::make_shared<Awaited<Done>>();
  a->open(recorder(opened_a));
  b->open(recorder(opened_b));
  ASSERT_TRUE(run_until([&] { return opened_a->result && opened_b->result; }));
  value_of(std::move(*opened_a->result));
  value_of(std::move(*opened_b->result));
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM schema_migrations"), store::latest_schema_version());
  close(a);
  close(b);
}

TEST_P(StoreContract, ReopensWithItsDataAndNoNewMigrations)
{
  value_of(AWAIT(StreamRecord, store().create_stream(stream("s1", "h1", 1), done)));
  const int64_t migrations = raw_scalar("SELECT COUNT(*) FROM schema_migrations");
  EXPECT_EQ(migrations, store::latest_schema_version());
  close_main_store();

  std::unique_ptr<Store> again = open_store();
  ASSERT_TRUE(again);
  EXPECT_TRUE(value_of(AWAIT(std::optional<StreamRecord>, again->get_stream("s1", done))));
  EXPECT_EQ(raw_scalar("SELECT COUNT(*) FROM schema_migrations"), migrations);
  close(again);
}

TEST_P(StoreContract, RefusesADatabaseFromANewerRelease)
{
  close_main_store();
  raw_exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)");
  std::unique_ptr<Store> old = make_store(config());
  auto opened = AWAIT(Done, old->open(done));
  ASSERT_FALSE(opened.ok());
  EXPECT_FALSE(opened.error().retryable);
  EXPECT_NE(opened.error().message.find("version 999, newer"), std::string::npos)
      << opened.error().message;
  /* Refused, not half-done: it can be told to open again and says the same. */
  auto again = AWAIT(Done, old->open(done));
  EXPECT_FALSE(again.ok());
}

TEST_P(StoreContract, AnswersCallsAfterCloseWithAnError)
{
  value_of(AWAIT(StreamRecord, store().create_stream(stream("s1", "h1", 1), done)));
  /* Queued before close: answered before close's own callback. */
  auto queued = std::make_shared<Awaited<std::optional<StreamRecord>>>();
  auto closed = std::make_shared<Awaited<Done>>();
  store().get_stream("s1", recorder(queued));
  store().close(recorder(closed));
  auto after = AWAIT(std::optional<StreamRecord>, store().get_stream("s1", done));
  ASSERT_FALSE(after.ok());
  EXPECT_FALSE(after.error().retryable);
  ASSERT_TRUE(run_until([&] { return closed->result.has_value(); }));
  ASSERT_TRUE(queued->result.has_value());
  EXPECT_TRUE(value_of(std::move(*queued->result)));
  value_of(std::move(*closed->result));
  forget_main_store();
}

TEST_P(StoreContract, MayBeDestroyedFromItsOwnCloseCallback)
{
  /* What a daemon shutting down does: close, and drop the store when told. */
  auto pending = std::make_shared<Awaited<std::vector<StreamRecord>>>();
  store().list_streams(recorder(pending));
  bool closed = false;
  store().close([&](StoreResult<Done> result) {
    EXPECT_TRUE(result.ok());
    forget_main_store();
    closed = true;
  });
  ASSERT_TRUE(run_until([&] { return closed; }));
  ASSERT_TRUE(pending->result.has_value());
  EXPECT_TRUE(pending->result->ok());
  run_for(50ms); /* nothing left to run against a destroyed store */
}

TEST_P(StoreContract, CallsBackEveryPendingCallWhenDestroyedOpen)
{
  auto pending = std::make_shared<Awaited<std::vector<StreamRecord>>>();
  store().list_streams(recorder(pending));
  destroy_main_store();
  ASSERT_TRUE(pending->result.has_value()) << "a pending callback was dropped";
  EXPECT_EQ(pending->calls, 1);
}

} // namespace
} // namespace sugarcast::test
