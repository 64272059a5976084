/* The fan-out engine on real loopback sockets: ordering, replies, control
 * frames, refusals, the slow reader, close handshakes, close_all. */
#include "chat/fanout.h"
#include "raw_client.h"
#include "testenv.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <condition_variable>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace sugarcast::chat;
using sugarcast::test::eventually;
using sugarcast::test::RawClient;

namespace {

/* A loopback listener: connect a RawClient, accept its server end. */
class Listener
{
public:
  Listener()
  {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a);
    listen(fd_, 512);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr *>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(fd_); }
  /* A client and the server side of its connection. */
  std::pair<RawClient, int> pair(int receive_buffer = 0)
  {
    RawClient c(port_, receive_buffer);
    const int server = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    return {std::move(c), server};
  }

private:
  int fd_ = -1;
  int port_ = 0;
};

/* What the handlers saw, from the worker threads. */
struct Seen
{
  std::mutex lock;
  std::condition_variable changed;
  std::vector<std::pair<ConnId, std::string>> texts;
  std::vector<std::pair<ConnId, Refusal>> refusals;
  std::map<ConnId, uint16_t> closed;

  bool wait_closed(ConnId id, uint16_t &code)
  {
    std::unique_lock<std::mutex> guard(lock);
    const bool ok =
        changed.wait_for(guard, std::chrono::seconds(20), [&] { return closed.count(id) > 0; });
    if (ok)
      code = closed[id];
    return ok;
  }
  bool wait_texts(size_t n)
  {
    std::unique_lock<std::mutex> guard(lock);
    return changed.wait_for(guard, std::chrono::seconds(20), [&] { return texts.size() >= n; });
  }
};

FanoutHandlers handlers(Seen &seen)
{
  FanoutHandlers h;
  h.on_text = [&seen](ConnId id, std::string_view text) -> FramePtr {
    std::lock_guard<std::mutex> g(seen.lock);
    seen.texts.emplace_back(id, std::string(text));
    seen.changed.notify_all();
    return text == "echo" ? make_text_frame("echoed") : nullptr;
  };
  h.on_refused = [&seen](ConnId id, Refusal why, std::string_view) -> FramePtr {
    std::lock_guard<std::mutex> g(seen.lock);
    seen.refusals.emplace_back(id, why);
    seen.changed.notify_all();
    return make_text_frame("refused " + std::to_string(static_cast<int>(why)));
  };
  h.on_closed = [&seen](ConnId id, uint16_t code, const std::string &) {
    std::lock_guard<std::mutex> g(seen.lock);
    seen.closed[id] = code;
    seen.changed.notify_all();
  };
  return h;
}

std::string text_of(const std::optional<sugarcast::test::Frame> &f)
{
  return f && f->kind == WsEvent::Text ? f->payload : "<none>";
}

} // namespace

TEST(Fanout, FirstFramesThenBroadcastsInOrderToEveryMemberOfTheRoomOnly)
{
  Listener l;
  Seen seen;
  Fanout fanout(3, {}, handlers(seen));
  std::vector<RawClient> members, others;
  for (int i = 0; i < 20; ++i) {
    auto [client, fd] = l.pair();
    fanout.add(fd, "room", {make_text_frame("hello " + std::to_string(i))});
    members.push_back(std::move(client));
  }
  auto [other, other_fd] = l.pair();
  fanout.add(other_fd, "elsewhere", {make_text_frame("hello other")});
  for (int m = 0; m < 50; ++m)
    fanout.broadcast("room", make_text_frame("message " + std::to_string(m)));
  fanout.broadcast("elsewhere", make_text_frame("for the other room"));
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(text_of(members[i].next()), "hello " + std::to_string(i));
    for (int m = 0; m < 50; ++m)
      ASSERT_EQ(text_of(members[i].next()), "message " + std::to_string(m));
  }
  EXPECT_EQ(text_of(other.next()), "hello other");
  EXPECT_EQ(text_of(other.next()), "for the other room");
  EXPECT_EQ(fanout.stats().connections, 21u);
}

TEST(Fanout, BroadcastsWrittenTogetherKeepTheirOrderWithDirectSendsAndAreCountedOneByOne)
{
  Listener l;
  Seen seen;
  Fanout fanout(1, {}, handlers(seen));
  auto [first, fd1] = l.pair();
  auto [second, fd2] = l.pair();
  const ConnId one = fanout.add(fd1, "room", {});
  fanout.add(fd2, "room", {});
  /* Posted faster than the worker wakes: several land in one batch. */
  for (int m = 0; m < 200; ++m) {
    fanout.broadcast("room", make_text_frame("message " + std::to_string(m)));
    fanout.send(one, make_text_frame("direct " + std::to_string(m)));
  }
  for (int m = 0; m < 200; ++m) {
    ASSERT_EQ(text_of(first.next()), "message " + std::to_string(m));
    ASSERT_EQ(text_of(first.next()), "direct " + std::to_string(m));
    ASSERT_EQ(text_of(second.next()), "message " + std::to_string(m));
  }
  /* The counters follow the writes a moment later. */
  eventually([&] { return fanout.stats().frames_sent >= 600 && fanout.stats().fanouts >= 200; },
             std::chrono::seconds(5));
  EXPECT_EQ(fanout.stats().frames_sent, 600u);
  EXPECT_EQ(fanout.stats().fanouts, 200u);
}

TEST(Fanout, TextComesToTheHandlerWhoseReplyGoesBack)
{
  Listener l;
  Seen seen;
  Fanout fanout(2, {}, handlers(seen));
  auto [c, fd] = l.pair();
  const ConnId id = fanout.add(fd, "room", {});
  /* Fragmented over three frames and split across writes. */
  const std::string frames =
      ws_encode_client_frame(WsOpcode::Text, "ec", 0xA1B2C3D4, false) +
      ws_encode_client_frame(WsOpcode::Continuation, "h", 0x01020304, false) +
      ws_encode_client_frame(WsOpcode::Ping, "p!", 0x0, true) +
      ws_encode_client_frame(WsOpcode::Continuation, "o", 0xFFFFFFFF, true);
  for (char ch : frames)
    ASSERT_TRUE(c.send_raw(std::string(1, ch)));
  auto pong = c.next();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->kind, WsEvent::Pong);
  EXPECT_EQ(pong->payload, "p!");
  EXPECT_EQ(text_of(c.next()), "echoed");
  ASSERT_TRUE(seen.wait_texts(1));
  EXPECT_EQ(seen.texts[0], std::make_pair(id, std::string("echo")));
}

TEST(Fanout, RefusesBinaryOversizedAndInvalidUtf8ButKeepsTheConnection)
{
  Listener l;
  Seen seen;
  FanoutLimits limits;
  limits.max_message_bytes = 1000;
  Fanout fanout(1, limits, handlers(seen));
  auto [c, fd] = l.pair();
  fanout.add(fd, "room", {});
  c.send_raw(ws_encode_client_frame(WsOpcode::Binary, "\x01\x02", 7));
  EXPECT_EQ(text_of(c.next()), "refused 0");
  c.send_raw(ws_encode_client_frame(WsOpcode::Text, std::string(5000, 'x'), 7));
  EXPECT_EQ(text_of(c.next()), "refused 1");
  c.send_raw(ws_encode_client_frame(WsOpcode::Text, "caf\xc3", 7));
  EXPECT_EQ(text_of(c.next()), "refused 2");
  c.send_raw(ws_encode_client_frame(WsOpcode::Text, "echo", 7));
  EXPECT_EQ(text_of(c.next()), "echoed");
}

TEST(Fanout, BrokenFramingIsAnsweredThenClosedWith1002)
{
  Listener l;
  Seen seen;
  Fanout fanout(1, {}, handlers(seen));
  auto [c, fd] = l.pair();
  const ConnId id = fanout.add(fd, "room", {});
  c.send_raw(ws_encode_frame(WsOpcode::Text, "not masked"));
  EXPECT_EQ(text_of(c.next()), "refused 3");
  auto close = c.next();
  ASSERT_TRUE(close);
  EXPECT_EQ(close->kind, WsEvent::Close);
  EXPECT_EQ(close->close_code, 1002);
  c.send_raw(ws_encode_client_frame(WsOpcode::Close, std::string("\x03\xea", 2), 9));
  uint16_t code = 0;
  ASSERT_TRUE(seen.wait_closed(id, code));
  EXPECT_EQ(code, 1002);
  EXPECT_TRUE(c.wait_eof());
}

TEST(Fanout, ClientCloseIsEchoedAndReported)
{
  Listener l;
  Seen seen;
  Fanout fanout(1, {}, handlers(seen));
  auto [c, fd] = l.pair();
  const ConnId id = fanout.add(fd, "room", {});
  c.send_raw(ws_encode_client_frame(WsOpcode::Close, std::string("\x0f\xa0", 2) + "bye", 5));
  auto echo = c.next();
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->kind, WsEvent::Close);
  EXPECT_EQ(echo->close_code, 4000);
  uint16_t code = 0;
  ASSERT_TRUE(seen.wait_closed(id, code));
  EXPECT_EQ(code, 4000);
  EXPECT_TRUE(c.wait_eof());
  EXPECT_EQ(fanout.stats().connections, 0u);
}

TEST(Fanout, AReaderThatStopsIsClosedWhenItsQueueFillsWhileOthersKeepReceiving)
{
  Listener l;
  Seen seen;
  FanoutLimits limits;
  limits.send_queue_bytes = 64 * 1024;
  limits.close_timeout_ms = 200;
  Fanout fanout(2, limits, handlers(seen));
  auto [slow, slow_fd] = l.pair(4096);
  int small = 4096;
  setsockopt(slow_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  const ConnId slow_id = fanout.add(slow_fd, "room", {});
  auto [fast, fast_fd] = l.pair();
  fanout.add(fast_fd, "room", {});
  const std::string payload(1000, 'z');
  uint16_t code = 0;
  int sent = 0;
  for (; sent < 5000; ++sent) {
    fanout.broadcast("room", make_text_frame(payload + std::to_string(sent)));
    /* The fast reader keeps up. */
    ASSERT_EQ(text_of(fast.next()), payload + std::to_string(sent));
    if (fanout.stats().slow_closed > 0)
      break;
  }
  ASSERT_TRUE(seen.wait_closed(slow_id, code));
  EXPECT_EQ(code, close_code::send_queue_full);
  EXPECT_GE(fanout.stats().slow_closed, 1u);
  EXPECT_LT(sent, 5000);
  /* Memory stayed bounded: nothing is left queued for the closed reader. */
  fanout.broadcast("room", make_text_frame("after"));
  EXPECT_EQ(text_of(fast.next()), "after");
  EXPECT_LE(fanout.stats().queued_bytes, limits.send_queue_bytes);
}

TEST(Fanout, CloseAllSendsGoingAwayAndFinishes)
{
  Listener l;
  Seen seen;
  FanoutLimits limits;
  limits.close_timeout_ms = 500;
  Fanout fanout(2, limits, handlers(seen));
  std::vector<RawClient> clients;
  for (int i = 0; i < 10; ++i) {
    auto [c, fd] = l.pair();
    fanout.add(fd, "room", {});
    clients.push_back(std::move(c));
  }
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  fanout.close_all(close_code::going_away, "shutting down", [&] {
    std::lock_guard<std::mutex> g(m);
    done = true;
    cv.notify_all();
  });
  for (int i = 0; i < 10; ++i) {
    auto f = clients[i].next();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->kind, WsEvent::Close);
    EXPECT_EQ(f->close_code, 1001);
    EXPECT_EQ(f->payload, "shutting down");
    if (i % 2 == 0) /* half answer, half let the timeout cut them */
      clients[i].send_raw(ws_encode_client_frame(WsOpcode::Close, "\x03\xe9", 3));
  }
  std::unique_lock<std::mutex> g(m);
  ASSERT_TRUE(cv.wait_for(g, std::chrono::seconds(20), [&] { return done; }));
  EXPECT_EQ(fanout.stats().connections, 0u);
}

TEST(Fanout, AClientThatPingsAndNeverReadsIsClosedAtTheBudget)
{
  Listener l;
  Seen seen;
  FanoutLimits limits;
  limits.send_queue_bytes = 64 * 1024;
  limits.close_timeout_ms = 200;
  Fanout fanout(1, limits, handlers(seen));
  auto [pinger, fd] = l.pair(4096);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  const ConnId id = fanout.add(fd, "room", {});
  /* 20,000 pongs are 40,000 bytes, under the budget if only bytes
   * counted; at their real cost they are ~2.2 MB, far over it. */
  const std::string ping = ws_encode_client_frame(WsOpcode::Ping, "", 0x0badcafe);
  std::string burst;
  for (int i = 0; i < 1000; ++i)
    burst += ping;
  for (int i = 0; i < 20 && pinger.send_raw(burst); ++i) {
  }
  uint16_t code = 0;
  ASSERT_TRUE(seen.wait_closed(id, code));
  EXPECT_EQ(code, close_code::send_queue_full);
  EXPECT_EQ(fanout.stats().slow_closed, 1u);
  EXPECT_EQ(fanout.stats().queued_bytes, 0u);
}

TEST(Fanout, AnIdleConnectionIsPingedAndClosedWhenItStaysSilent)
{
  Listener l;
  Seen seen;
  FanoutLimits limits;
  limits.idle_ping_ms = 200;
  limits.close_timeout_ms = 200;
  Fanout fanout(1, limits, handlers(seen));
  auto [silent, silent_fd] = l.pair();
  auto [lively, lively_fd] = l.pair();
  const ConnId silent_id = fanout.add(silent_fd, "room", {});
  const ConnId lively_id = fanout.add(lively_fd, "room", {});
  /* Both are pinged; the lively one answers every ping, twice over the
   * deadline, and stays; the silent one reads its ping and never answers. */
  auto first = silent.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->kind, WsEvent::Ping);
  for (int i = 0; i < 3; ++i) {
    auto f = lively.next();
    ASSERT_TRUE(f);
    ASSERT_EQ(f->kind, WsEvent::Ping);
    lively.send_raw(ws_encode_client_frame(WsOpcode::Pong, f->payload, 0x01020304));
  }
  uint16_t code = 0;
  ASSERT_TRUE(seen.wait_closed(silent_id, code));
  EXPECT_EQ(code, close_code::going_away);
  std::optional<sugarcast::test::Frame> f;
  while ((f = silent.next()) && f->kind != WsEvent::Close) {
  }
  ASSERT_TRUE(f);
  EXPECT_EQ(f->close_code, 1001);
  EXPECT_NE(f->payload.find("idle"), std::string::npos) << f->payload;
  {
    std::lock_guard<std::mutex> g(seen.lock);
    EXPECT_EQ(seen.closed.count(lively_id), 0u);
  }
  fanout.send(lively_id, make_text_frame("still here"));
  std::optional<sugarcast::test::Frame> got;
  while ((got = lively.next()) && got->kind == WsEvent::Ping)
    lively.send_raw(ws_encode_client_frame(WsOpcode::Pong, got->payload, 0x01020304));
  EXPECT_EQ(text_of(got), "still here");
}
