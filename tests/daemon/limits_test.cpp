/* Limits of a real sugarcastd's HTTP port (docs/security.md), with raw
 * sockets: bodies refused from the request head before they are read,
 * JSON nesting bounded before it is parsed, deadlines for heads, bodies and
 * idle keep-alive, connection and WebSocket budgets, throttled admin-token
 * guessing. */
#include "raw_http.h"
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <vector>

using namespace sugarcast::test;
using namespace std::chrono_literals;

namespace {

/* The resident memory of process PID in bytes. */
int64_t rss_bytes(int pid)
{
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoll(line.substr(6)) * 1024;
  return -1;
}

struct Pushed
{
  size_t sent = 0;   /* body bytes the kernel took before the answer came */
  Response response; /* status 0: none came */
};

/* Sends HEAD, then up to TOTAL body bytes (as chunks when CHUNKED) for as
 * long as the server reads them, and reads the answer as soon as one comes. */
Pushed push_body(int port, const std::string &head, size_t total, bool chunked)
{
  Raw c(port);
  Pushed out;
  if (!c.send(head))
    return out;
  const std::string block(64 * 1024, 'x');
  const std::string next = chunked ? "10000\r\n" + block + "\r\n" : block; /* 0x10000 bytes */
  std::string frame = next;
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  while (out.sent < total && std::chrono::steady_clock::now() < give_up) {
    pollfd p{c.fd(), POLLIN | POLLOUT, 0};
    if (poll(&p, 1, 1000) <= 0)
      continue;
    if (p.revents & (POLLIN | POLLHUP | POLLERR))
      break; /* an answer, or the end */
    const ssize_t n = ::send(c.fd(), frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      break;
    if (n > 0) {
      out.sent += static_cast<size_t>(n);
      if (static_cast<size_t>(n) < frame.size())
        frame = frame.substr(static_cast<size_t>(n)) + next;
    }
  }
  out.response = c.read(false, 20s);
  return out;
}

std::string post_head(const std::string &path, const std::string &extra)
{
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         extra + "\r\n";
}

void raise_descriptor_limit()
{
  rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

/* A daemon with short deadlines and a small WebSocket budget. */
class Limits : public ::testing::Test
{
protected:
  static void SetUpTestSuite()
  {
    d = new SugarcastdProcess({.config = R"({"http": {"head_timeout_ms": 300,
        "body_timeout_ms": 300, "idle_timeout_ms": 300, "max_websockets": 2}})"});
    ASSERT_TRUE(d->wait_ready()) << d->log();
  }
  static void TearDownTestSuite()
  {
    EXPECT_EQ(d->stop(), 0) << d->log();
    delete d;
    d = nullptr;
  }
  int port() const { return d->http_port(); }
  std::string bearer() const { return "Authorization: Bearer " + d->admin_token() + "\r\n"; }

  static SugarcastdProcess *d;
};

SugarcastdProcess *Limits::d = nullptr;

constexpr size_t k300MiB = size_t{300} << 20;

} // namespace

TEST_F(Limits, AnUnauthenticatedHugeBodyIsRefusedBeforeItIsRead)
{
  const int64_t before = rss_bytes(d->pid());
  ASSERT_GT(before, 0);
  Pushed p =
      push_body(port(), post_head("/api/streams", "Content-Length: 314572800\r\n"), k300MiB, false);
  EXPECT_EQ(p.response.status, 401) << p.response.body;
  EXPECT_EQ(p.response.header("connection"), "close");
  EXPECT_NE(p.response.body.find(R"("code":"unauthorized")"), std::string::npos);
  EXPECT_LT(p.sent, k300MiB) << "the answer came only after the whole body";
  /* Well under the 300 MiB that buffering it would have cost. */
  EXPECT_LT(rss_bytes(d->pid()) - before, int64_t{16} << 20);
  EXPECT_EQ(http_request("GET", d->url("/healthz")).status, 200);
}

TEST_F(Limits, TooLargeBodiesAreRefusedFromTheirLengthOrAsTheyArrive)
{
  const int64_t before = rss_bytes(d->pid());
  /* Content-Length over http.max_body_bytes, with the right token. */
  Pushed declared =
      push_body(port(), post_head("/api/streams", bearer() + "Content-Length: 314572800\r\n"),
                k300MiB, false);
  EXPECT_EQ(declared.response.status, 413) << declared.response.body;
  EXPECT_LT(declared.sent, k300MiB);
  /* Chunked: counted as it comes, refused once over the limit. */
  Pushed chunked =
      push_body(port(), post_head("/api/streams", bearer() + "Transfer-Encoding: chunked\r\n"),
                k300MiB, true);
  EXPECT_EQ(chunked.response.status, 413) << chunked.response.body;
  EXPECT_LT(chunked.sent, k300MiB);
  /* A body where no route takes one (media, pages) is not kept either. */
  Pushed media = push_body(port(), post_head("/hls/s/a.m3u8", "Content-Length: 314572800\r\n"),
                           k300MiB, false);
  EXPECT_EQ(media.response.status, 413) << media.response.body;
  EXPECT_LT(rss_bytes(d->pid()) - before, int64_t{16} << 20);
}

TEST_F(Limits, ChatRoutesRefuseAnUnauthenticatedBodyFromTheHead)
{
  /* Every chat REST route that acts on a token (moderation, message
   * deletes, moderators, history's neighbours that take bodies, gifts):
   * the head decides, the 300 MiB behind it is never read. */
  const std::pair<const char *, const char *> routes[] = {
      {"POST", "/api/streams/s1/bans/u42"},      {"DELETE", "/api/streams/s1/bans/u42"},
      {"POST", "/api/streams/s1/mutes/u42"},     {"DELETE", "/api/streams/s1/chat/m1"},
      {"PUT", "/api/streams/s1/moderators/u42"}, {"DELETE", "/api/streams/s1/moderators/u42"},
      {"GET", "/api/streams/s1/moderators"},     {"POST", "/api/gifts"}};
  const int64_t before = rss_bytes(d->pid());
  ASSERT_GT(before, 0);
  for (const auto &[method, path] : routes) {
    for (const bool chunked : {false, true}) {
      const std::string head =
          std::string(method) + " " + path +
          " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
          (chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: 314572800\r\n") + "\r\n";
      Pushed p = push_body(port(), head, k300MiB, chunked);
      const std::string what = std::string(method) + " " + path + (chunked ? " (chunked)" : "");
      EXPECT_EQ(p.response.status, 401) << what << ": " << p.response.body;
      EXPECT_EQ(p.response.header("connection"), "close") << what;
      /* At most what the kernel's buffers take before the answer comes. */
      EXPECT_LT(p.sent, size_t{64} << 20) << what << ": the body was read before the answer";
    }
  }
  EXPECT_LT(rss_bytes(d->pid()) - before, int64_t{16} << 20);
  EXPECT_EQ(http_request("GET", d->url("/healthz")).status, 200);
}

TEST_F(Limits, DeeplyNestedJsonIsRefusedBeforeItIsParsed)
{
  /* 100,000 levels: enough to overflow json-glib's recursion on the main thread. */
  const std::string deep(100000, '[');
  HttpResponse r = d->admin("POST", "/api/streams", deep);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("deeper than 64 levels"), std::string::npos) << r.body;
  const std::string nested = "{\"title\": " + std::string(65, '[') + std::string(65, ']') + "}";
  EXPECT_EQ(d->admin("POST", "/api/streams", nested).status, 400);
  EXPECT_EQ(http_request("GET", d->url("/healthz")).status, 200);
}

TEST_F(Limits, AHalfSentRequestIsClosedAtItsDeadline)
{
  Raw head(port());
  ASSERT_TRUE(head.send("GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  EXPECT_TRUE(head.closed_within(20s));
  EXPECT_EQ(head.received(), 0u) << "closed without an answer";

  Raw body(port());
  ASSERT_TRUE(body.send(post_head("/api/streams", bearer() + "Content-Length: 100\r\n") + "{"));
  EXPECT_TRUE(body.closed_within(20s));
  EXPECT_EQ(body.received(), 0u);

  /* Kept alive, then idle. */
  Raw idle(port());
  ASSERT_TRUE(idle.send(get("/healthz")));
  EXPECT_EQ(idle.read().status, 200);
  EXPECT_TRUE(idle.closed_within(20s));
}

TEST_F(Limits, WebSocketsBeyondTheBudgetAreRefused)
{
  auto upgrade = [&] {
    return get("/ws/control", bearer() + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                         "Sec-WebSocket-Version: 13\r\n");
  };
  auto first = std::make_unique<Raw>(port());
  ASSERT_TRUE(first->send(upgrade()));
  EXPECT_EQ(first->read().status, 101);
  Raw second(port());
  ASSERT_TRUE(second.send(upgrade()));
  EXPECT_EQ(second.read().status, 101);
  Raw third(port());
  ASSERT_TRUE(third.send(upgrade()));
  Response refused = third.read();
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.body.find("too_many_websockets"), std::string::npos) << refused.body;
  /* One leaves: a newcomer gets its place. */
  first.reset();
  EXPECT_TRUE(eventually(
      [&] {
        Raw again(port());
        return again.send(upgrade()) && again.read().status == 101;
      },
      20s));
}

TEST(HttpLimits, AThousandIdleSocketsAndTheNextViewerIsServed)
{
  raise_descriptor_limit();
  SugarcastdProcess d({.config = R"({"http": {"max_connections": 1010}})"});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  write_file(d.data_dir() + "/hls/s/a.m3u8", "#EXTM3U\n");
  std::vector<std::unique_ptr<Raw>> idle;
  for (int i = 0; i < 1000; ++i)
    idle.push_back(std::make_unique<Raw>(d.http_port()));
  {
    Raw viewer(d.http_port());
    ASSERT_TRUE(viewer.send(get("/hls/s/a.m3u8") + get("/api/watch/nothing")));
    EXPECT_EQ(viewer.read().status, 200);
    EXPECT_EQ(viewer.read().status, 404); /* answered by the API server: no such stream */
  }
  /* Up to the budget, then 503 for the newcomer while the others stay. */
  for (int i = 0; i < 10; ++i)
    idle.push_back(std::make_unique<Raw>(d.http_port()));
  Response refused;
  EXPECT_TRUE(eventually(
      [&] {
        Raw over(d.http_port());
        if (!over.send(get("/hls/s/a.m3u8")))
          return false;
        refused = over.read();
        return refused.status == 503;
      },
      20s));
  EXPECT_NE(refused.body.find("too_many_connections"), std::string::npos) << refused.body;
  idle.clear();
  EXPECT_TRUE(eventually(
      [&] {
        Raw viewer(d.http_port());
        return viewer.send(get("/hls/s/a.m3u8")) && viewer.read().status == 200;
      },
      20s));
}

TEST(HttpLimits, AdminTokenGuessesAreThrottledPerAddress)
{
  SugarcastdProcess d({.config = R"({"http": {"admin_failures_per_minute": 3}})"});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  const std::vector<std::pair<std::string, std::string>> wrong = {
      {"Authorization", "Bearer wrong-token-wrong-token"}};
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(http_request("GET", d.url("/api/streams"), "", wrong).status, 401) << i;
  HttpResponse throttled = http_request("GET", d.url("/api/streams"), "", wrong);
  EXPECT_EQ(throttled.status, 429) << throttled.body;
  EXPECT_FALSE(throttled.header("retry-after").empty());
  /* Even the right token waits out the minute from this address. */
  EXPECT_EQ(d.admin("GET", "/api/streams").status, 429);
}

TEST_F(Limits, TheControlSocketTakesTheTokenAsASubprotocol)
{
  auto upgrade = [&](const std::string &protocols) {
    return get("/ws/control", "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " +
                                  protocols + "\r\n");
  };
  /* (The sockets of the budget test may still be closing: 503 until then.) */
  std::unique_ptr<Raw> ok;
  Response accepted;
  EXPECT_TRUE(eventually(
      [&] {
        ok = std::make_unique<Raw>(port());
        accepted = ok->send(upgrade("sugarcast.control, bearer." + d->admin_token())) ? ok->read()
                                                                                      : Response{};
        return accepted.status != 503;
      },
      20s));
  EXPECT_EQ(accepted.status, 101);
  EXPECT_EQ(accepted.header("sec-websocket-protocol"), "sugarcast.control");
  Raw wrong(port());
  ASSERT_TRUE(wrong.send(upgrade("sugarcast.control, bearer.not-the-admin-token")));
  EXPECT_EQ(wrong.read().status, 401);
  Raw none(port());
  ASSERT_TRUE(none.send(upgrade("sugarcast.control")));
  EXPECT_EQ(none.read().status, 401);
}

TEST_F(Limits, UrlsInAnswersDoNotFollowTheHostHeader)
{
  Raw c(port());
  ASSERT_TRUE(c.send(post_head("/api/streams", bearer() + "Content-Length: 17\r\n") +
                     R"({"title": "Host"})"));
  Response created = c.read();
  ASSERT_EQ(created.status, 201) << created.body;
  const size_t at = created.body.find(R"("id":")");
  ASSERT_NE(at, std::string::npos);
  const std::string id = created.body.substr(at + 6, 10);
  ASSERT_TRUE(c.send("GET /api/watch/" + id + " HTTP/1.1\r\nHost: evil.example:666\r\n\r\n"));
  Response watch = c.read();
  ASSERT_EQ(watch.status, 200) << watch.body;
  EXPECT_NE(watch.body.find("\"hls_url\":\"http://127.0.0.1:" + std::to_string(port()) + "/hls/"),
            std::string::npos)
      << watch.body;
  EXPECT_EQ(watch.body.find("evil.example"), std::string::npos) << watch.body;
}

TEST_F(Limits, OutsideTextIsEscapedInTheLog)
{
  HttpResponse r =
      d->admin("POST", "/api/streams", R"({"title": "a\nerror   forged: line\u001b[31m"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(eventually(
      [&] { return d->log().find(R"(a\nerror   forged: line\x1b[31m)") != std::string::npos; },
      10s))
      << d->log();
  EXPECT_EQ(d->log().find("\nerror   forged"), std::string::npos);
}

TEST_F(Limits, FilesAndFoldersUnderTheDataFolderAreTheDaemonsOwn)
{
  auto mode = [](const std::string &path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
  };
  EXPECT_EQ(mode(d->data_dir() + "/hls"), 0700);
  EXPECT_EQ(mode(d->data_dir() + "/clips"), 0700);
  EXPECT_EQ(mode(d->data_dir() + "/sugarcast.db"), 0600);
}

TEST(HttpLimits, AFileTruncatedWhileItIsServedCannotKillTheDaemon)
{
  /* Without media threads libsoup serves media; a mapping of a file that
   * shrinks would raise SIGBUS. */
  SugarcastdProcess d({.config = R"({"http": {"media_threads": 0}})"});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  const std::string file = d.data_dir() + "/hls/s/seg.ts";
  /* Far more than the socket buffers hold: most of it is still to be sent
   * when the file is cut. */
  const std::string full = pattern(32 << 20);
  write_file(file, full);
  int whole = 0;
  for (int i = 0; i < 6; ++i) {
    Raw c(d.http_port());
    ASSERT_TRUE(c.send(get("/hls/s/seg.ts")));
    /* The answer's head is out: the file shrinks under it. */
    char first[1];
    ASSERT_EQ(recv(c.fd(), first, 1, MSG_PEEK), 1);
    ASSERT_EQ(truncate(file.c_str(), i % 2 ? 0 : 1000), 0);
    Response r = c.read();
    if (r.status == 200 && r.body == full)
      ++whole; /* the kernel's buffers held it all before the cut */
    else
      EXPECT_EQ(r.status, 0) << "a cut answer must end the connection, not claim to be whole";
    write_file(file, full);
  }
  EXPECT_TRUE(d.running());
  EXPECT_EQ(http_request("GET", d.url("/healthz")).status, 200);
  EXPECT_EQ(d.stop(), 0) << d.log();
  (void)whole;
}
