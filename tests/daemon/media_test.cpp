/* The media fast path of a real sugarcastd (daemon/fastpath.h), through raw
 * sockets so that nothing normalises what is sent: keep-alive, pipelining,
 * HEAD, ranges, Connection: close, timeouts, clients that vanish, requests
 * handed on to the API server mid-connection, size limits, paths that try to
 * leave the data folder, playlists rewritten under the cache, descriptors. */
#include "raw_http.h"
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <libsoup/soup.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

using namespace sugarcast::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

/* Until PATH's modification and change times are over 50 ms old by the
 * clock they are stamped with: what the fast path waits for before it keeps
 * a file in memory (fastpath.h), so that a rewrite never looks unchanged. */
bool wait_until_cacheable(const std::string &path)
{
  return eventually([&] {
    struct stat st;
    timespec now;
    if (stat(path.c_str(), &st) != 0 || clock_gettime(CLOCK_REALTIME, &now) != 0)
      return false;
    auto ns = [](const timespec &t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
    const int64_t settled = ns(now) - 60'000'000; /* the fast path's 50 ms, and a margin */
    return ns(st.st_mtim) < settled && ns(st.st_ctim) < settled;
  });
}

/* One daemon for most tests: every test uses its own stream folder. Its idle
 * timeout is longer than any wait below, so that it cannot tidy up a leak
 * before the descriptor counts look. */
class Media : public ::testing::Test
{
protected:
  static void SetUpTestSuite()
  {
    d = new SugarcastdProcess({.config = R"({"http": {"idle_timeout_ms": 60000}})"});
    ASSERT_TRUE(d->wait_ready()) << d->log();
    hls = d->data_dir() + "/hls";
    write_file(hls + "/s1/master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n360p.m3u8\n");
    write_file(hls + "/s1/360p/seg1.ts", pattern(1000));
    write_file(hls + "/s1/360p/big.ts", pattern(350 * 1024));
    write_file(d->data_dir() + "/secret.json", "{\"secret\": \"do not serve\"}");
  }
  static void TearDownTestSuite()
  {
    EXPECT_EQ(d->stop(), 0) << d->log();
    delete d;
    d = nullptr;
  }
  int port() const { return d->http_port(); }

  static SugarcastdProcess *d;
  static std::string hls;
};

SugarcastdProcess *Media::d = nullptr;
std::string Media::hls;

} // namespace

TEST_F(Media, KeepAliveServesManyRequestsOnOneConnection)
{
  Raw c(port());
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(c.send(get("/hls/s1/master.m3u8", "Origin: https://player.example\r\n")));
    Response playlist = c.read();
    ASSERT_EQ(playlist.status, 200) << round;
    EXPECT_EQ(playlist.body, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n360p.m3u8\n");
    EXPECT_EQ(playlist.header("content-type"), "application/vnd.apple.mpegurl");
    EXPECT_EQ(playlist.header("cache-control"), "no-cache");
    EXPECT_EQ(playlist.header("access-control-allow-origin"), "*");
    EXPECT_EQ(playlist.header("accept-ranges"), "bytes");
    EXPECT_EQ(playlist.header("connection"), "");

    ASSERT_TRUE(c.send(get("/hls/s1/360p/big.ts")));
    Response segment = c.read();
    ASSERT_EQ(segment.status, 200);
    EXPECT_EQ(segment.body, pattern(350 * 1024));
    EXPECT_EQ(segment.header("content-type"), "video/mp2t");
    EXPECT_EQ(segment.header("cache-control"), "public, max-age=31536000, immutable");

    ASSERT_TRUE(c.send(get("/hls/s1/360p/missing.ts")));
    Response missing = c.read();
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.header("content-type"), "application/json");
    EXPECT_NE(missing.body.find(R"("code":"not_found")"), std::string::npos) << missing.body;
    EXPECT_NE(missing.body.find("/hls/s1/360p/missing.ts"), std::string::npos) << missing.body;
  }
}

TEST_F(Media, KeepAliveWithLibsoupAcrossMediaAndApi)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options("max-conns", 1, nullptr);
  guint64 connection = 0;
  for (const char *path : {"/hls/s1/master.m3u8", "/hls/s1/360p/seg1.ts", "/healthz",
                           "/hls/s1/master.m3u8", "/api/streams", "/hls/s1/360p/seg1.ts"}) {
    g_autoptr(SoupMessage) msg = soup_message_new("GET", d->url(path).c_str());
    soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                 ("Bearer " + d->admin_token()).c_str());
    g_autoptr(GError) error = nullptr;
    g_autoptr(GBytes) body = soup_session_send_and_read(session, msg, nullptr, &error);
    ASSERT_NE(body, nullptr) << path << ": " << error->message;
    EXPECT_EQ(soup_message_get_status(msg), SOUP_STATUS_OK) << path;
    if (!connection)
      connection = soup_message_get_connection_id(msg);
    /* One connection for all: the API requests were answered on the media
     * connection, and the media requests after them too. */
    EXPECT_EQ(soup_message_get_connection_id(msg), connection) << path;
  }
}

TEST_F(Media, PipelinedRequestsAreAnsweredInOrder)
{
  Raw c(port());
  ASSERT_TRUE(c.send(get("/hls/s1/master.m3u8") + get("/hls/s1/360p/big.ts") +
                     get("/hls/s1/360p/seg1.ts", "", "HEAD") +
                     get("/hls/s1/360p/seg1.ts", "Range: bytes=0-3\r\n") + get("/nope.ts") +
                     get("/hls/s1/master.m3u8") + get("/healthz")));
  EXPECT_EQ(c.read().body.substr(0, 8), "#EXTM3U\n");
  EXPECT_EQ(c.read().body, pattern(350 * 1024));
  Response head = c.read(true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), "1000");
  Response range = c.read();
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.body, pattern(4));
  /* From here on libsoup answers: a route it does not know, then media and
   * health on the same connection. */
  Response unknown = c.read();
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find(R"("code":"not_found")"), std::string::npos) << unknown.body;
  EXPECT_EQ(c.read().body.substr(0, 8), "#EXTM3U\n");
  EXPECT_EQ(c.read().body, "ok\n");
}

TEST_F(Media, HeadAnswersLengthAndTypeWithoutABody)
{
  Raw c(port());
  ASSERT_TRUE(c.send(get("/hls/s1/360p/big.ts", "", "HEAD")));
  Response head = c.read(true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(350 * 1024));
  EXPECT_EQ(head.header("content-type"), "video/mp2t");
  /* No body came: the next answer starts right away. */
  ASSERT_TRUE(c.send(get("/hls/s1/360p/seg1.ts")));
  Response next = c.read();
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, pattern(1000));
}

TEST_F(Media, ByteRanges)
{
  Raw c(port());
  struct Case
  {
    const char *file;
    size_t size;
    std::string range;
    int status;
    size_t first, last;
  };
  const size_t big = 350 * 1024;
  for (const Case &k : {
           Case{"seg1.ts", 1000, "bytes=10-19", 206, 10, 19},
           Case{"seg1.ts", 1000, "bytes=990-", 206, 990, 999},
           Case{"seg1.ts", 1000, "bytes=-5", 206, 995, 999},
           Case{"seg1.ts", 1000, "bytes=900-5000", 206, 900, 999},
           Case{"big.ts", big, "bytes=100000-100099", 206, 100000, 100099},
           Case{"big.ts", big, "bytes=-1", 206, big - 1, big - 1},
           Case{"seg1.ts", 1000, "bytes=0-1,5-6", 200, 0, 999}, /* several: the whole file */
           Case{"seg1.ts", 1000, "bytes=9-2", 200, 0, 999},     /* malformed: ignored */
           Case{"seg1.ts", 1000, "lines=1-2", 200, 0, 999},
       }) {
    ASSERT_TRUE(c.send(get(std::string("/hls/s1/360p/") + k.file, "Range: " + k.range + "\r\n")));
    Response r = c.read();
    EXPECT_EQ(r.status, k.status) << k.range;
    EXPECT_EQ(r.body, pattern(k.size).substr(k.first, k.last - k.first + 1)) << k.range;
    if (k.status == 206) {
      EXPECT_EQ(r.header("content-range"), "bytes " + std::to_string(k.first) + "-" +
                                               std::to_string(k.last) + "/" +
                                               std::to_string(k.size));
    }
  }
  for (const char *range : {"bytes=1000-", "bytes=5000-6000", "bytes=-0"}) {
    ASSERT_TRUE(c.send(get("/hls/s1/360p/seg1.ts", std::string("Range: ") + range + "\r\n")));
    Response r = c.read();
    EXPECT_EQ(r.status, 416) << range;
    EXPECT_EQ(r.header("content-range"), "bytes */1000") << range;
    EXPECT_NE(r.body.find("range_not_satisfiable"), std::string::npos) << r.body;
  }
  /* If-Range names a version the server never handed out: the whole file. */
  ASSERT_TRUE(c.send(get("/hls/s1/360p/seg1.ts", "Range: bytes=0-1\r\nIf-Range: \"x\"\r\n")));
  EXPECT_EQ(c.read().status, 200);
}

TEST_F(Media, ConnectionCloseIsHonoured)
{
  {
    Raw c(port());
    ASSERT_TRUE(c.send(get("/hls/s1/master.m3u8", "Connection: close\r\n")));
    Response r = c.read();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("connection"), "close");
    EXPECT_TRUE(c.closed_within(20s));
  }
  {
    Raw c(port());
    ASSERT_TRUE(c.send("GET /hls/s1/master.m3u8 HTTP/1.0\r\n\r\n"));
    EXPECT_EQ(c.read().status, 200);
    EXPECT_TRUE(c.closed_within(20s));
  }
  {
    Raw c(port());
    ASSERT_TRUE(c.send("GET /hls/s1/master.m3u8 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    Response r = c.read();
    EXPECT_EQ(r.header("connection"), "keep-alive");
    ASSERT_TRUE(c.send("GET /hls/s1/360p/seg1.ts HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    EXPECT_EQ(c.read().body, pattern(1000));
  }
}

TEST_F(Media, OptionsPreflightOnAFreshConnection)
{
  Raw c(port());
  ASSERT_TRUE(c.send(get("/hls/s1/master.m3u8",
                         "Origin: https://player.example\r\n"
                         "Access-Control-Request-Method: GET\r\n",
                         "OPTIONS")));
  Response r = c.read();
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_EQ(r.header("access-control-allow-methods"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(r.header("access-control-allow-headers"), "Authorization, Content-Type, Range");
  ASSERT_TRUE(c.send(get("/hls/s1/master.m3u8")));
  EXPECT_EQ(c.read().status, 200);
}

TEST_F(Media, OtherRequestsOnAMediaConnectionGoToTheApiServer)
{
  Raw c(port());
  ASSERT_TRUE(c.send(get("/hls/s1/master.m3u8")));
  EXPECT_EQ(c.read().status, 200);
  ASSERT_TRUE(c.send(get("/api/streams", "Authorization: Bearer " + d->admin_token() + "\r\n")));
  Response api = c.read();
  EXPECT_EQ(api.status, 200);
  EXPECT_EQ(api.body, "{\"streams\":[]}\n");
  /* A body on a media path, and a method media does not take. */
  ASSERT_TRUE(
      c.send("POST /hls/s1/master.m3u8 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"));
  Response post = c.read();
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("allow"), "GET, HEAD, OPTIONS");
  EXPECT_NE(post.body.find(R"("code":"method_not_allowed")"), std::string::npos) << post.body;
  ASSERT_TRUE(c.send(get("/hls/s1/360p/seg1.ts")));
  EXPECT_EQ(c.read().body, pattern(1000));

  /* A request the fast path cannot read goes the same way: libsoup says 400. */
  Raw bad(port());
  ASSERT_TRUE(bad.send(get("/hls/s1/master.m3u8") + "GET /hls/s1/master.m3u8 HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(bad.read().status, 200);
  EXPECT_EQ(bad.read().status, 400); /* HTTP/1.1 without Host */
}

TEST_F(Media, OversizedRequestHeadsAreRefused)
{
  {
    Raw c(port());
    ASSERT_TRUE(c.send(get("/hls/s1/master.m3u8", "X-Big: " + std::string(20000, 'a') + "\r\n")));
    Response r = c.read();
    EXPECT_EQ(r.status, 431);
    EXPECT_EQ(r.header("connection"), "close");
    EXPECT_NE(r.body.find(R"("code":"headers_too_large")"), std::string::npos) << r.body;
    EXPECT_TRUE(c.closed_within(20s));
  }
  {
    Raw c(port());
    ASSERT_TRUE(c.send(get("/hls/s1/" + std::string(20000, 'a') + ".ts")));
    EXPECT_EQ(c.read().status, 414);
    EXPECT_TRUE(c.closed_within(20s));
  }
  /* Just under the limit is fine. */
  Raw c(port());
  ASSERT_TRUE(c.send(get("/hls/s1/master.m3u8", "X-Big: " + std::string(15000, 'a') + "\r\n")));
  EXPECT_EQ(c.read().status, 200);
}

TEST_F(Media, NoPathLeavesTheDataFolder)
{
  const std::string dir = hls + "/trav";
  write_file(dir + "/real.m3u8", "#EXTM3U\n");
  fs::create_symlink(d->data_dir() + "/secret.json", dir + "/abs.json");
  fs::create_symlink("../../secret.json", dir + "/rel.json");
  fs::create_symlink(d->data_dir(), dir + "/up");
  fs::create_symlink("../trav/real.m3u8", dir + "/inside.m3u8");
  const std::string port_text = std::to_string(port());
  const std::string attempts[] = {
      "/hls/../secret.json",
      "/hls/trav/../../secret.json",
      "/hls/%2e%2e/secret.json",
      "/hls/trav/%2e%2e/%2e%2e/secret.json",
      "/hls/trav/..%2f..%2fsecret.json",
      "/hls/trav%2f..%2f..%2fsecret.json",
      "/hls/trav/..\\..\\secret.json",
      "/hls//trav/../../secret.json",
      "/hls/trav/abs.json",
      "/hls/trav/rel.json",
      "/hls/trav/up/secret.json",
      "/hls/trav/.hidden.json",
      "/hls/trav/real.m3u8/../../../secret.json",
      "http://127.0.0.1:" + port_text + "/hls/../secret.json",
      "http://127.0.0.1:" + port_text + "/hls/trav/%2e%2e/%2e%2e/secret.json",
      "/hls/trav/rel.json?x=/../../secret.json",
      "/hls/trav/\0../../secret.json"s,
      "/hls/trav/real.m3u8\0/../../secret.json"s,
  };
  for (const std::string &path : attempts) {
    /* On a fresh connection, and on a connection the fast path already owns. */
    for (bool warm : {false, true}) {
      Raw c(port());
      if (warm) {
        ASSERT_TRUE(c.send(get("/hls/trav/real.m3u8")));
        ASSERT_EQ(c.read().status, 200);
      }
      ASSERT_TRUE(c.send(get(path)));
      Response r = c.read();
      EXPECT_TRUE(r.status == 404 || r.status == 400)
          << path << " (warm " << warm << "): " << r.status << " " << r.body;
      EXPECT_EQ(r.body.find("do not serve"), std::string::npos) << path;
    }
  }
  /* A link that stays inside the folder is followed. */
  Raw c(port());
  ASSERT_TRUE(c.send(get("/hls/trav/inside.m3u8")));
  EXPECT_EQ(c.read().body, "#EXTM3U\n");
}

TEST_F(Media, RewrittenPlaylistIsServedFresh)
{
  const std::string file = hls + "/fresh/live.m3u8";
  write_file(file, "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n");
  ASSERT_TRUE(wait_until_cacheable(file));
  Raw c(port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(get("/hls/fresh/live.m3u8")));
    EXPECT_EQ(c.read().body, "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n");
  }
  /* In place, same size, at once. */
  write_file(file, "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:2\n");
  ASSERT_TRUE(c.send(get("/hls/fresh/live.m3u8")));
  EXPECT_EQ(c.read().body, "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:2\n");
  /* Replaced by a rename, as atomic writers do, after it was kept again. */
  ASSERT_TRUE(wait_until_cacheable(file));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send(get("/hls/fresh/live.m3u8")));
    EXPECT_EQ(c.read().body, "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:2\n");
  }
  write_file(file + ".tmp", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n");
  fs::rename(file + ".tmp", file);
  ASSERT_TRUE(c.send(get("/hls/fresh/live.m3u8")));
  EXPECT_EQ(c.read().body, "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n");
  /* Deleted. */
  fs::remove(file);
  ASSERT_TRUE(c.send(get("/hls/fresh/live.m3u8")));
  EXPECT_EQ(c.read().status, 404);
}

TEST_F(Media, ClientsThatVanishMidResponseLeaveNothingBehind)
{
  write_file(hls + "/vanish/huge.ts", pattern(16 << 20));
  const int before = settled_descriptors(d->pid());
  for (int i = 0; i < 20; ++i) {
    Raw c(port());
    ASSERT_TRUE(c.send(get("/hls/vanish/huge.ts")));
    char some[4096];
    ASSERT_GT(recv(c.fd(), some, sizeof some, 0), 0);
    if (i % 2)
      c.reset();
    /* else: closed with 16 MB unread, which resets it too */
  }
  /* The daemon serves on, and every one of those connections is gone. */
  EXPECT_EQ(http_request("GET", d->url("/hls/s1/360p/seg1.ts")).body, pattern(1000));
  EXPECT_TRUE(eventually([&] { return open_descriptors(d->pid()) <= before; }, 20s))
      << open_descriptors(d->pid()) << " descriptors open, " << before << " before";
}

TEST_F(Media, NoDescriptorGrowthOverAThousandConnections)
{
  /* Warm up: the daemon opens what it keeps (folders, the store) once. */
  for (int i = 0; i < 5; ++i) {
    Raw c(port());
    c.send(get("/hls/s1/master.m3u8") + get("/healthz"));
    c.read();
    c.read();
  }
  const int before = settled_descriptors(d->pid());
  for (int i = 0; i < 1000; ++i) {
    Raw c(port());
    switch (i % 5) {
    case 0: /* a whole media exchange */
      ASSERT_TRUE(c.send(get("/hls/s1/360p/seg1.ts")));
      ASSERT_EQ(c.read().status, 200) << i;
      break;
    case 1: /* an API exchange, handed to libsoup */
      ASSERT_TRUE(c.send(get("/healthz")));
      ASSERT_EQ(c.read().status, 200) << i;
      break;
    case 2: /* media, then the API on the same connection */
      ASSERT_TRUE(c.send(get("/hls/s1/master.m3u8") + get("/healthz")));
      ASSERT_EQ(c.read().status, 200) << i;
      ASSERT_EQ(c.read().status, 200) << i;
      break;
    case 3: /* half a request, or half a first line */
      ASSERT_TRUE(c.send(i % 2 ? "GET /hls/s1/mas" : "GET /h"));
      break;
    case 4: /* nothing at all */
      break;
    }
  }
  EXPECT_TRUE(eventually([&] { return open_descriptors(d->pid()) <= before; }, 20s))
      << open_descriptors(d->pid()) << " descriptors open, " << before << " before";
}

TEST_F(Media, KeepAliveApiConnectionsClosedByTheirClientsAreFreed)
{
  /* libsoup 3.2 keeps every idle keep-alive connection its client closed
   * (about 2 KiB each) unless the daemon takes it back; browsers and API
   * clients do this all day. */
  auto exchange = [&] {
    Raw c(port());
    ASSERT_TRUE(c.send(get("/healthz")));
    ASSERT_EQ(c.read().status, 200);
  };
  for (int i = 0; i < 100; ++i)
    exchange();
  const int fds = settled_descriptors(d->pid());
  const double before = d->heap_bytes();
  ASSERT_GT(before, 0);
  for (int i = 0; i < 2000; ++i)
    exchange();
  EXPECT_TRUE(eventually([&] { return open_descriptors(d->pid()) <= fds; }, 10s))
      << open_descriptors(d->pid()) << " descriptors open, " << fds << " before";
  /* 2,000 connections: 4 MiB if each were kept. */
  EXPECT_LT(d->heap_bytes() - before, 512 * 1024) << "bytes of heap growth";
}

TEST_F(Media, AnswersAreCountedInTheRequestMetrics)
{
  const std::string before = http_request("GET", d->url("/metrics")).body;
  Raw c(port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(get("/hls/s1/master.m3u8") + get("/hls/s1/none.m3u8")));
    EXPECT_EQ(c.read().status, 200);
    EXPECT_EQ(c.read().status, 404);
  }
  const std::string after = http_request("GET", d->url("/metrics")).body;
  const std::string ok = "sugarcast_http_requests_total{status=\"200\"}";
  const std::string missing = "sugarcast_http_requests_total{status=\"404\"}";
  /* The /metrics request itself is counted after its answer is written. */
  EXPECT_GE(metric(after, ok) - metric(before, ok), 3) << after;
  EXPECT_LE(metric(after, ok) - metric(before, ok), 4) << after;
  EXPECT_EQ(metric(after, missing) - metric(before, missing), 3) << after;
}

/* Timeouts and origins need a daemon configured for them. */
TEST(MediaLimits, IdleAndSlowClientsAreClosedAfterTheTimeout)
{
  SugarcastdProcess d({.config = R"({"http": {"idle_timeout_ms": 500,
                                              "cors_origins": ["https://player.example"]}})"});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  write_file(d.data_dir() + "/hls/s/a.m3u8", "#EXTM3U\n");
  write_file(d.data_dir() + "/hls/s/huge.ts", pattern(32 << 20));
  const int port = d.http_port();

  Raw silent(port); /* never says anything */
  Raw idle(port);   /* one request, then nothing */
  ASSERT_TRUE(idle.send(get("/hls/s/a.m3u8")));
  EXPECT_EQ(idle.read().status, 200);
  Raw partial(port); /* half a request head */
  ASSERT_TRUE(partial.send("GET /hls/s/a.m3u8 HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_TRUE(silent.closed_within(20s));
  EXPECT_TRUE(idle.closed_within(20s));
  EXPECT_TRUE(partial.closed_within(20s));

  /* A head trickled a byte at a time is closed too: the timeout runs from
   * the start of the request, not from its last byte. */
  Raw trickle(port);
  ASSERT_TRUE(trickle.send("GET /hls/s/a.m3u8 HTTP/1.1\r\n"));
  bool sending = true;
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (sending && std::chrono::steady_clock::now() < give_up) {
    sending = trickle.send("X");
    pollfd p{trickle.fd(), POLLIN, 0};
    if (poll(&p, 1, 100) > 0)
      break;
  }
  EXPECT_TRUE(trickle.closed_within(20s));

  /* A client that stops reading a response is let go. */
  Raw stalled(port);
  ASSERT_TRUE(stalled.send(get("/hls/s/huge.ts")));
  /* The behaviour under test: this client reads nothing for three of the
   * daemon's send deadlines. closed_within() reads, so it cannot stand in. */
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(stalled.closed_within(20s));
  EXPECT_LT(stalled.received(), size_t{32} << 20);

  /* Origins: only the configured one, with Vary. */
  Raw c(port);
  ASSERT_TRUE(c.send(get("/hls/s/a.m3u8", "Origin: https://player.example\r\n")));
  Response allowed = c.read();
  EXPECT_EQ(allowed.header("access-control-allow-origin"), "https://player.example");
  EXPECT_EQ(allowed.header("vary"), "Origin");
  ASSERT_TRUE(c.send(get("/hls/s/a.m3u8", "Origin: https://elsewhere.example\r\n")));
  Response other = c.read();
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.header("access-control-allow-origin"), "");
}

TEST_F(Media, NoOtherProcessCanShareThePort)
{
  /* Another daemon started on the same port by mistake must fail, not take
   * half of the connections. */
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
  EXPECT_EQ(errno, EADDRINUSE);
  close(fd);
}

TEST(MediaLimits, ShutdownClosesMediaConnections)
{
  SugarcastdProcess d({});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  write_file(d.data_dir() + "/hls/s/a.m3u8", "#EXTM3U\n");
  Raw c(d.http_port());
  ASSERT_TRUE(c.send(get("/hls/s/a.m3u8")));
  EXPECT_EQ(c.read().status, 200);
  EXPECT_EQ(d.stop(), 0) << d.log();
  EXPECT_TRUE(c.closed_within(20s));
}

TEST(MediaLimits, WithoutMediaThreadsLibsoupServesMedia)
{
  SugarcastdProcess d({.config = R"({"http": {"media_threads": 0}})"});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  write_file(d.data_dir() + "/hls/s/360p/seg1.ts", pattern(1000));
  HttpResponse r =
      http_request("GET", d.url("/hls/s/360p/seg1.ts"), "", {{"Range", "bytes=10-19"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, pattern(1000).substr(10, 10));
  EXPECT_EQ(r.header("content-type"), "video/mp2t");
  EXPECT_EQ(r.header("cache-control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(http_request("GET", d.url("/hls/s/360p/../../../secret.json")).status, 404);
}

/* Blocking playlist reload (RFC 8216bis 6.2.5.2), as hls.js asks for it in
 * low-latency mode: "index.m3u8?_HLS_msn=N" is held until segment N is
 * listed, so that a player learns of each segment the moment it exists
 * instead of polling. */
namespace {

std::string live_playlist(int first, int count, bool ended = false)
{
  std::string text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:" +
                     std::to_string(first) + "\n";
  if (!ended)
    text += "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n";
  for (int i = first; i < first + count; ++i)
    text += "#EXTINF:1.00000,\nseg" + std::to_string(i) + ".ts\n";
  if (ended)
    text += "#EXT-X-ENDLIST\n";
  return text;
}

/* As hlsabrsink writes it: in full beside it, then renamed into place. */
void replace_file(const std::string &path, const std::string &content)
{
  write_file(path + ".tmp", content);
  fs::rename(path + ".tmp", path);
}

/* sugarcast_hls_held_requests in the daemon's /metrics; -1 when absent. */
double held_requests(const SugarcastdProcess &d)
{
  const std::string text = http_request("GET", d.url("/metrics")).body;
  const std::string name = "\nsugarcast_hls_held_requests ";
  const size_t at = text.find(name);
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size()));
}

} // namespace

TEST_F(Media, BlockingReloadHoldsARequestUntilItsSegmentIsListed)
{
  const std::string file = hls + "/block/360p.m3u8";
  write_file(file, live_playlist(5, 2)); /* segments 5 and 6 */
  ASSERT_TRUE(wait_until_cacheable(file));
  Raw c(port());
  /* Listed already: answered at once. */
  ASSERT_TRUE(c.send(get("/hls/block/360p.m3u8?session=v1&_HLS_msn=6")));
  Response r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, live_playlist(5, 2));
  /* The next one: held (the daemon says so) until the playlist lists it. */
  ASSERT_TRUE(c.send(get("/hls/block/360p.m3u8?session=v1&_HLS_msn=7")));
  ASSERT_TRUE(eventually([&] { return held_requests(*d) == 1; })) << held_requests(*d);
  EXPECT_FALSE(eventually([&] { return held_requests(*d) != 1; }, 1000ms)) << held_requests(*d);
  replace_file(file, live_playlist(5, 3));
  r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, live_playlist(5, 3));
  EXPECT_EQ(held_requests(*d), 0);
  /* A rewrite that does not list it yet leaves it held: the 8th segment,
   * asked for before the 7th is... */
  ASSERT_TRUE(c.send(get("/hls/block/360p.m3u8?_HLS_msn=9")));
  ASSERT_TRUE(eventually([&] { return held_requests(*d) == 1; }));
  replace_file(file, live_playlist(6, 3)); /* 6..8 */
  ASSERT_TRUE(wait_until_cacheable(file));
  EXPECT_EQ(held_requests(*d), 1);
  replace_file(file, live_playlist(6, 4)); /* 6..9 */
  r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, live_playlist(6, 4));
  /* ... and the connection goes on serving. */
  ASSERT_TRUE(c.send(get("/hls/block/360p.m3u8")));
  EXPECT_EQ(c.read().body, live_playlist(6, 4));
  /* Two past the last (9): held too. A request pipelined behind a held one
   * waits its turn; both are answered in order once the playlist lists 11. */
  ASSERT_TRUE(c.send(get("/hls/block/360p.m3u8?_HLS_msn=11") + get("/hls/s1/360p/seg1.ts")));
  ASSERT_TRUE(eventually([&] { return held_requests(*d) == 1; }));
  replace_file(file, live_playlist(6, 5)); /* 6..10: not yet */
  replace_file(file, live_playlist(6, 6)); /* 6..11 */
  r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, live_playlist(6, 6));
  r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, pattern(1000));
  /* A playlist deleted while a request waits for it: answered 404 at once. */
  ASSERT_TRUE(c.send(get("/hls/block/360p.m3u8?_HLS_msn=12")));
  ASSERT_TRUE(eventually([&] { return held_requests(*d) == 1; }));
  fs::remove(file);
  EXPECT_EQ(c.read().status, 404);
  EXPECT_EQ(held_requests(*d), 0);
}

TEST_F(Media, BlockingReloadRefusesWhatItCannotHold)
{
  const std::string file = hls + "/far/360p.m3u8";
  write_file(file, live_playlist(5, 2)); /* the last is 6: 8 may be asked for, 9 not */
  Raw c(port());
  ASSERT_TRUE(c.send(get("/hls/far/360p.m3u8?_HLS_msn=9")));
  Response r = c.read();
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("_HLS_msn=9 is more than two segments past the last one listed (6)"),
            std::string::npos)
      << r.body;
  ASSERT_TRUE(c.send(get("/hls/far/360p.m3u8?_HLS_msn=seven")));
  EXPECT_EQ(c.read().status, 400);
  /* A playlist that has ended, or that does not say it can block, is
   * served at once whatever is asked. */
  replace_file(file, live_playlist(5, 2, true));
  ASSERT_TRUE(c.send(get("/hls/far/360p.m3u8?_HLS_msn=7")));
  EXPECT_EQ(c.read().body, live_playlist(5, 2, true));
  write_file(hls + "/far/plain.m3u8", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:5\n");
  ASSERT_TRUE(c.send(get("/hls/far/plain.m3u8?_HLS_msn=7")));
  EXPECT_EQ(c.read().status, 200);
  /* Nothing is held for a playlist that does not exist. */
  ASSERT_TRUE(c.send(get("/hls/far/none.m3u8?_HLS_msn=7")));
  EXPECT_EQ(c.read().status, 404);
}

TEST_F(Media, BlockingReloadGivesUpAfterThreeTargetDurations)
{
  const std::string file = hls + "/stalled/360p.m3u8";
  write_file(file, live_playlist(5, 2)); /* EXT-X-TARGETDURATION:1 */
  Raw c(port());
  ASSERT_TRUE(c.send(get("/hls/stalled/360p.m3u8?_HLS_msn=7")));
  ASSERT_TRUE(eventually([&] { return held_requests(*d) == 1; })) << held_requests(*d);
  Response r = c.read();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(held_requests(*d), 0);
  EXPECT_NE(r.body.find("_HLS_msn=7"), std::string::npos) << r.body;
  /* The connection is still the client's. */
  ASSERT_TRUE(c.send(get("/hls/stalled/360p.m3u8")));
  EXPECT_EQ(c.read().status, 200);
}

TEST_F(Media, HeldRequestsOfClientsThatLeaveAreForgotten)
{
  const std::string file = hls + "/leave/360p.m3u8";
  write_file(file, live_playlist(0, 1));
  {
    Raw a(port()), b(port());
    ASSERT_TRUE(a.send(get("/hls/leave/360p.m3u8?_HLS_msn=1")));
    ASSERT_TRUE(b.send(get("/hls/leave/360p.m3u8?_HLS_msn=2")));
    ASSERT_TRUE(eventually([&] { return held_requests(*d) == 2; })) << held_requests(*d);
  }
  /* Well before the three target durations (3 s) that would end them anyway. */
  EXPECT_TRUE(eventually([&] { return held_requests(*d) == 0; }, 1500ms)) << held_requests(*d);
  /* Listing the segments later finds no one to answer, and nothing breaks. */
  replace_file(file, live_playlist(0, 3));
  Raw c(port());
  ASSERT_TRUE(c.send(get("/hls/leave/360p.m3u8?_HLS_msn=2")));
  EXPECT_EQ(c.read().body, live_playlist(0, 3));
}

TEST_F(Media, BlockingReloadOnAConnectionTheApiServerHas)
{
  /* A browser reuses a connection that began with an API request for its
   * playlists: libsoup serves those, and holds them the same way. */
  const std::string file = hls + "/soup/360p.m3u8";
  write_file(file, live_playlist(3, 2)); /* 3 and 4 */
  Raw c(port());
  ASSERT_TRUE(c.send(get("/metrics")));
  EXPECT_EQ(c.read().status, 200);
  ASSERT_TRUE(c.send(get("/hls/soup/360p.m3u8?_HLS_msn=8")));
  EXPECT_EQ(c.read().status, 400);
  ASSERT_TRUE(c.send(get("/hls/soup/360p.m3u8?_HLS_msn=5&session=v2")));
  ASSERT_TRUE(eventually([&] { return held_requests(*d) == 1; })) << held_requests(*d);
  /* Still held a second later: past the looks for clients that left (every
   * 0.5 s), which must not take this one for gone. */
  EXPECT_FALSE(eventually([&] { return held_requests(*d) != 1; }, 1000ms)) << held_requests(*d);
  replace_file(file, live_playlist(3, 3));
  Response r = c.read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, live_playlist(3, 3));
  EXPECT_EQ(held_requests(*d), 0);
  /* Given up after three target durations. */
  ASSERT_TRUE(c.send(get("/hls/soup/360p.m3u8?_HLS_msn=6")));
  ASSERT_TRUE(eventually([&] { return held_requests(*d) == 1; })) << held_requests(*d);
  r = c.read();
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("_HLS_msn=6"), std::string::npos) << r.body;
  /* A client that leaves is forgotten. */
  {
    Raw gone(port());
    ASSERT_TRUE(gone.send(get("/metrics")));
    EXPECT_EQ(gone.read().status, 200);
    ASSERT_TRUE(gone.send(get("/hls/soup/360p.m3u8?_HLS_msn=6")));
    ASSERT_TRUE(eventually([&] { return held_requests(*d) == 1; }));
  }
  /* Looked for every 0.5 s: well before the 3 s that would end it anyway. */
  EXPECT_TRUE(eventually([&] { return held_requests(*d) == 0; }, 2000ms)) << held_requests(*d);
}
