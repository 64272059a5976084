/* Test support for chat suites. See chat_test.h. */
#include "chat_test.h"

#include <glib.h>

#include <cstdio>
#include <stdexcept>

namespace sugarcast::test {

std::string backend_name(const ::testing::TestParamInfo<Backend> &info)
{
  return info.param == Backend::sqlite ? "sqlite" : "postgresql";
}

void ChatTest::SetUp()
{
  StoreTest::SetUp();
  for (const char *id : {"s1", "s2"})
    value_of(AWAIT(StreamRecord,
                   store().create_stream(
                       {.id = id, .title = id, .key_hash = std::string("hash-") + id}, done)));
}

void ChatTest::TearDown()
{
  if (HasFailure())
    for (const std::string &path : logs_) {
      g_autofree gchar *text = nullptr;
      if (g_file_get_contents(path.c_str(), &text, nullptr, nullptr))
        std::fprintf(stderr, "---- %s\n%s", path.c_str(), text);
    }
  StoreTest::TearDown();
}

std::unique_ptr<SugarcastdProcess> ChatTest::start_daemon(const std::string &chat,
                                                          const std::string &extra)
{
  std::string store = config().database_url.empty()
                          ? R"({"sqlite_path": ")" + config().sqlite_path + "\"}"
                          : R"({"database_url": ")" + config().database_url + "\"}";
  std::string json = R"({"store": )" + store + R"(, "chat": {"jwt_secret": ")" + kSecret +
                     R"(", "rate_per_second": 1000, "rate_burst": 1000)" +
                     (chat.empty() ? "" : ", " + chat) + "}" + (extra.empty() ? "" : ", " + extra) +
                     "}";
  /* The free ports SugarcastdProcess picks may be taken by someone else's
   * connection before the daemon binds them: then it tries new ones. */
  for (int attempt = 0;; ++attempt) {
    auto d = std::make_unique<SugarcastdProcess>(SugarcastdProcess::Options{.config = json});
    logs_.push_back(d->data_dir() + "/sugarcastd.log");
    if (d->wait_ready())
      return d;
    d->stop();
    if (attempt < 2 && d->log().find("Address already in use") != std::string::npos)
      continue;
    throw std::runtime_error("sugarcastd did not start:\n" + d->log());
  }
}

bool ChatTest::wait_stored(SugarcastdProcess &d, const std::string &stream, int n)
{
  return run_until(
      [&] {
        HttpResponse r = http_request("GET", d.url("/api/streams/" + stream + "/chat?limit=200"));
        return r.status == 200 && ChatMessage(r.body).count("messages") >= n;
      },
      20s);
}

std::string token(const std::string &user, const std::string &role, const std::string &name,
                  const std::string &stream)
{
  chat::Role r = chat::Role::Viewer;
  EXPECT_TRUE(chat::parse_role(role, r)) << role;
  return chat::mint_token(kSecret, user, name, r, g_get_real_time() / 1000000 + 3600, stream);
}

std::string ws_url(SugarcastdProcess &d, const std::string &stream, const std::string &token)
{
  std::string url = "ws://127.0.0.1:" + std::to_string(d.http_port()) + "/ws/chat/" + stream;
  if (!token.empty()) {
    g_autofree gchar *escaped = g_uri_escape_string(token.c_str(), nullptr, FALSE);
    url += std::string("?token=") + escaped;
  }
  return url;
}

std::unique_ptr<ChatClient> join(SugarcastdProcess &d, const std::string &stream,
                                 const std::string &token)
{
  int status = 0;
  std::vector<std::string> protocols;
  if (!token.empty())
    protocols = {"sugarcast.v1", "sugarcast.token." + token};
  auto c = ChatClient::connect(ws_url(d, stream, ""), &status, protocols);
  if (!c)
    ADD_FAILURE() << "cannot join " << stream << ": HTTP " << status;
  return c;
}

bool wait_for_log(SugarcastdProcess &d, const std::string &text, std::chrono::milliseconds timeout)
{
  return run_until([&] { return d.log().find(text) != std::string::npos; }, timeout);
}

} // namespace sugarcast::test
