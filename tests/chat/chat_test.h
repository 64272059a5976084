/* Test support for chat suites: a store of either backend (StoreTest) with
 * two streams, "s1" and "s2", and real sugarcastd processes on that store,
 * with a known token secret and rate limits out of the way unless a test
 * sets its own. */
#pragma once

#include "chat/jwt.h"
#include "chat_client.h"
#include "store_test.h"
#include "sugarcastd.h"

#include <memory>
#include <string>

namespace sugarcast::test {

inline constexpr const char *kSecret = "chat-test-secret";

std::string backend_name(const ::testing::TestParamInfo<Backend> &info);

class ChatTest : public StoreTest
{
protected:
  void SetUp() override;
  /* Prints the logs of the daemons the test started when it failed. */
  void TearDown() override;

  /* A daemon on this test's store, ready; throws (failing the test) when it
   * does not start. `chat` is more members of the "chat" section, `extra`
   * more top-level members, both as JSON text without braces. */
  std::unique_ptr<SugarcastdProcess> start_daemon(const std::string &chat = "",
                                                  const std::string &extra = "");

  /* Waits until GET /api/streams/{stream}/chat lists at least `n` messages. */
  bool wait_stored(SugarcastdProcess &d, const std::string &stream, int n);

private:
  std::vector<std::string> logs_;
};

/* A token signed with kSecret, valid for an hour; a moderator's or
 * streamer's role holds in `stream` only. */
std::string token(const std::string &user, const std::string &role = "viewer",
                  const std::string &name = "", const std::string &stream = "");
/* The room's URL; a token given goes in the query (the deprecated form). */
std::string ws_url(SugarcastdProcess &d, const std::string &stream, const std::string &token);
/* Connects to the stream's room ("" token: anonymous), the token offered
 * as a subprotocol the way a browser sends it. */
std::unique_ptr<ChatClient> join(SugarcastdProcess &d, const std::string &stream,
                                 const std::string &token);
/* Waits until the daemon's log has `text`. */
bool wait_for_log(SugarcastdProcess &d, const std::string &text,
                  std::chrono::milliseconds timeout = 20s);

} // namespace sugarcast::test
