/* The daemon's way: one sugarcast::rtmp::Server on its own main context,
 * publishes answered asynchronously, each accepted session handed to an
 * rtmpserversrc through its `session` property. */
#include "ingest_support.h"
#include "rtmp_client.h"
#include "rtmpserver.h"

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>

#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <future>
#include <thread>

using namespace sugarcast::rtmp;
using namespace sugarcast::test;
using namespace std::chrono_literals;

namespace {

/* A Server running on its own thread, as the daemon's main loop would. */
class ServerThread
{
public:
  explicit ServerThread(ServerLimits limits = {})
  {
    context_ = g_main_context_new();
    loop_ = g_main_loop_new(context_, FALSE);
    ServerConfig config;
    config.address = "127.0.0.1";
    config.port = 0;
    config.limits = limits;
    server_ = std::make_unique<Server>(config, context_);
    server_->on_publish = [this](std::shared_ptr<PublishRequest> request) {
      std::lock_guard<std::mutex> guard(lock_);
      requests_.push_back(std::move(request));
      cond_.notify_all();
    };
    server_->on_session_end = [this](SugarcastRtmpSession *session, const std::string &reason) {
      std::lock_guard<std::mutex> guard(lock_);
      ended_.push_back(std::string(sugarcast_rtmp_session_get_stream(session)) + ": " + reason);
      cond_.notify_all();
    };
    g_autoptr(GError) error = nullptr;
    if (!server_->start(&error))
      ADD_FAILURE() << error->message;
    port_ = server_->port();
    thread_ = std::thread([this] { g_main_loop_run(loop_); });
  }

  ~ServerThread()
  {
    g_main_loop_quit(loop_);
    thread_.join();
    requests_.clear();
    server_.reset(); /* nobody runs the context now */
    g_main_loop_unref(loop_);
    g_main_context_unref(context_);
  }

  int port() const { return port_; }

  std::shared_ptr<PublishRequest> next_request(std::chrono::seconds timeout = 20s)
  {
    std::unique_lock<std::mutex> lock(lock_);
    if (!cond_.wait_for(lock, timeout, [this] { return !requests_.empty(); }))
      return nullptr;
    auto r = requests_.front();
    requests_.pop_front();
    return r;
  }

  bool wait_ended(size_t count, std::chrono::seconds timeout = 20s)
  {
    std::unique_lock<std::mutex> lock(lock_);
    return cond_.wait_for(lock, timeout, [&] { return ended_.size() >= count; });
  }

  std::vector<std::string> ended()
  {
    std::lock_guard<std::mutex> guard(lock_);
    return ended_;
  }

  size_t pending_requests()
  {
    std::lock_guard<std::mutex> guard(lock_);
    return requests_.size();
  }

  /* Runs f(server) on the server's thread and returns what it returns. */
  template <typename F>
  auto call(F f) -> decltype(f(std::declval<Server &>()))
  {
    using R = decltype(f(*server_));
    struct Job
    {
      F &f;
      Server &server;
      std::promise<R> done;
    } job{f, *server_, {}};
    auto result = job.done.get_future();
    g_main_context_invoke(
        context_,
        [](gpointer data) -> gboolean {
          auto *j = static_cast<Job *>(data);
          j->done.set_value(j->f(j->server));
          return G_SOURCE_REMOVE;
        },
        &job);
    return result.get();
  }

  /* Waits until pred(server), checked on the server's thread, holds. */
  template <typename F>
  bool wait_until(F pred, std::chrono::milliseconds timeout = 20000ms)
  {
    return eventually([&] { return call(pred); }, timeout);
  }

private:
  GMainContext *context_;
  GMainLoop *loop_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex lock_;
  std::condition_variable cond_;
  std::deque<std::shared_ptr<PublishRequest>> requests_;
  std::vector<std::string> ended_;
};

std::string url(int port, const std::string &stream)
{
  return "rtmp://127.0.0.1:" + std::to_string(port) + "/live/" + stream;
}

/* An rtmpserversrc reading session decodes the whole 60-frame test push,
 * and the FFmpeg publishing it exits cleanly. */
void expect_whole_publish(SugarcastRtmpSession *session, GSubprocess *push)
{
  IngestPipeline p("");
  g_object_set(p.src(), "session", session, nullptr);
  ASSERT_TRUE(p.play());
  ASSERT_EQ(p.wait_end(), GST_MESSAGE_EOS);
  EXPECT_EQ(p.decoded_frames(), 60u);
  auto [status, err] = finish(push);
  EXPECT_EQ(status, 0) << err;
}

} // namespace

TEST(SessionMode, DaemonFlowWithReconnectAndEndByEos)
{
  ServerThread server;
  g_autoptr(GSubprocess) first =
      spawn(ffmpeg_push_argv(test_flv(), url(server.port(), "key1?user=7")));
  auto request = server.next_request();
  ASSERT_TRUE(request);
  EXPECT_EQ(request->info().app, "live");
  EXPECT_EQ(request->info().stream, "key1");
  EXPECT_EQ(request->info().arg("user"), "7");
  EXPECT_NE(request->info().encoder.find("Lavf"), std::string::npos);

  /* The application looks the key up; meanwhile the same name is refused. */
  ProcessResult twin = ffmpeg_push_file(test_flv(1.0), url(server.port(), "key1"));
  EXPECT_NE(twin.exit_status, 0);
  EXPECT_NE(twin.err.find("is already being published"), std::string::npos) << twin.err;
  const std::string said = twin.err.substr(twin.err.find("Server error:"));
  EXPECT_EQ(said.substr(0, said.find('\n')).find("key1"), std::string::npos)
      << "the server does not echo the key: " << said;
  EXPECT_EQ(server.pending_requests(), 0u) << "the application is not asked about the twin";

  g_autoptr(SugarcastRtmpSession) session = request->allow(); /* from another thread */
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(request->allow(), nullptr) << "a request is answered once";

  IngestPipeline p("loop=true");
  g_object_set(p.src(), "session", session, nullptr);
  ASSERT_TRUE(p.play());
  auto [status, err] = finish(first);
  EXPECT_EQ(status, 0) << err;
  ASSERT_TRUE(p.wait_frames(60));
  ASSERT_TRUE(server.wait_ended(1));
  EXPECT_EQ(server.ended()[0], "key1: the publisher stopped publishing");
  gboolean ended = FALSE;
  g_object_get(session, "ended", &ended, nullptr);
  EXPECT_TRUE(ended);

  /* The encoder reconnects within the grace period: a new session
   * continues the same pipeline. */
  g_autoptr(GSubprocess) again = spawn(ffmpeg_push_argv(test_flv(1.0), url(server.port(), "key1")));
  auto second = server.next_request();
  ASSERT_TRUE(second);
  g_autoptr(SugarcastRtmpSession) next = second->allow();
  ASSERT_NE(next, nullptr);
  g_object_set(p.src(), "session", next, nullptr);
  auto [status2, err2] = finish(again);
  EXPECT_EQ(status2, 0) << err2;
  ASSERT_TRUE(p.wait_frames(90));

  /* The grace period is over: the daemon ends the stream with EOS while
   * rtmpserversrc waits for another session. */
  gst_element_send_event(p.pipeline(), gst_event_new_eos());
  ASSERT_EQ(p.wait_end(), GST_MESSAGE_EOS);
  EXPECT_EQ(p.decoded_frames(), 90u);
  std::string why;
  EXPECT_TRUE(strictly_increasing(p.decoded_pts(), &why)) << why;
  EXPECT_EQ(p.restarts(), (std::vector<size_t>{60}));
}

TEST(SessionMode, RefusalReachesTheEncoder)
{
  ServerThread server;
  g_autoptr(GSubprocess) push = spawn(ffmpeg_push_argv(test_flv(1.0), url(server.port(), "k")));
  auto request = server.next_request();
  ASSERT_TRUE(request);
  request->refuse("stream key revoked");
  auto [status, err] = finish(push);
  EXPECT_NE(status, 0);
  EXPECT_NE(err.find("stream key revoked"), std::string::npos) << err;
}

TEST(SessionMode, UnansweredRequestIsRefusedWhenDropped)
{
  ServerThread server;
  g_autoptr(GSubprocess) push = spawn(ffmpeg_push_argv(test_flv(1.0), url(server.port(), "k")));
  auto request = server.next_request();
  ASSERT_TRUE(request);
  request.reset();
  auto [status, err] = finish(push);
  EXPECT_NE(status, 0);
  EXPECT_NE(err.find("the server did not answer the publish"), std::string::npos) << err;
}

TEST(SessionMode, ApplicationClosesASession)
{
  ServerThread server;
  g_autoptr(GSubprocess) push = spawn(ffmpeg_push_argv(test_flv(4.0), url(server.port(), "k")));
  auto request = server.next_request();
  ASSERT_TRUE(request);
  g_autoptr(SugarcastRtmpSession) session = request->allow();
  ASSERT_NE(session, nullptr);
  IngestPipeline p("");
  g_object_set(p.src(), "session", session, nullptr);
  ASSERT_TRUE(p.play());
  ASSERT_TRUE(p.wait_frames(15));
  sugarcast_rtmp_session_close(session); /* a ban */
  ASSERT_EQ(p.wait_end(), GST_MESSAGE_EOS);
  ASSERT_TRUE(server.wait_ended(1));
  EXPECT_EQ(server.ended()[0], "k: closed by the application");
  finish(push);
}

TEST(SessionMode, SlowConsumerPausesThePublisherWithoutLosingMedia)
{
  /* 64 KiB of queue, an idle timeout shorter than the consumer's delay: the
   * server stops reading (TCP pushes back on ffmpeg) and does not take the
   * stalled publisher for a gone one. */
  ServerThread server(ServerLimits{.idle_timeout_ms = 1000, .max_queued_bytes = 64 * 1024});
  g_autoptr(GSubprocess) push = spawn(ffmpeg_push_argv(test_flv(), url(server.port(), "slow")));
  auto request = server.next_request();
  ASSERT_TRUE(request);
  g_autoptr(SugarcastRtmpSession) session = request->allow();
  ASSERT_NE(session, nullptr);
  /* The behaviour under test: nobody reads the session for longer than two
   * idle timeouts, and it must not be taken for a gone publisher. Nothing
   * marks "the timeout would have fired", so the time itself has to pass. */
  std::this_thread::sleep_for(2500ms);
  EXPECT_FALSE(sugarcast_rtmp_session_is_ended(session));
  expect_whole_publish(session, push);
}

TEST(SessionMode, ConnectionsBeyondTheLimitAreClosed)
{
  ServerThread server(ServerLimits{.max_connections = 2});
  RawConnection a(server.port()), b(server.port());
  ASSERT_TRUE(a.connected() && b.connected());
  ASSERT_TRUE(server.wait_until([](Server &s) { return s.connection_count() == 2; }));
  RawConnection c(server.port());
  EXPECT_TRUE(c.closed_by_server(5000ms));
  /* the first two still get their handshake answered */
  a.send(plain_c0c1());
  EXPECT_EQ(a.read(3073, 5000ms).size(), 3073u);
}

/* A plain handshake and a connect to app over c; returns what the server answered. */
ServerReader handshake_and_connect(RawConnection &c, const std::string &app)
{
  ServerReader reader;
  if (!c.send(plain_c0c1()))
    return reader;
  Bytes s = c.read(3073, 5000ms);
  if (s.size() != 3073u)
    return reader;
  c.send(Bytes(s.begin() + 1, s.begin() + 1537));
  PublisherScript script;
  c.send(script.connect(app));
  for (int i = 0; i < 40 && !reader.find("_result") && !reader.find("_error"); ++i)
    reader.feed(c.read(4096, 250ms));
  return reader;
}

TEST(SessionMode, PlainHandshakeAndConnectOverASocket)
{
  /* ffmpeg uses the digest handshake; a plain one works over a socket too. */
  ServerThread server;
  RawConnection c(server.port());
  ASSERT_TRUE(c.connected());
  ServerReader reader = handshake_and_connect(c, "live");
  EXPECT_NE(reader.find("_result", "NetConnection.Connect.Success"), nullptr);
}

TEST(SessionMode, ConnectionsBeyondThePerAddressLimitAreRejectedWhileOthersPublish)
{
  ServerThread server(ServerLimits{.max_connections_per_address = 3});
  RawConnection a(server.port()), b(server.port());
  ASSERT_TRUE(a.connected() && b.connected());
  ASSERT_TRUE(server.wait_until([](Server &s) { return s.connection_count("127.0.0.1") == 2; }));
  /* A real publisher is the third: let in. Its publish waits for our answer,
   * so it is still open when the fourth comes. */
  g_autoptr(GSubprocess) push = spawn(ffmpeg_push_argv(test_flv(), url(server.port(), "cam")));
  auto request = server.next_request();
  ASSERT_TRUE(request);

  RawConnection d(server.port());
  ASSERT_TRUE(d.connected());
  ServerReader refused = handshake_and_connect(d, "live");
  const ServerCommand *error = refused.find("_error", "NetConnection.Connect.Rejected");
  ASSERT_NE(error, nullptr) << "the fourth connection from 127.0.0.1 is rejected at connect";
  EXPECT_NE(error->description().find("the limit is 3"), std::string::npos) << error->description();
  EXPECT_TRUE(d.closed_by_server(5000ms));

  /* Everyone else is unaffected: the publisher publishes every frame, the
   * idle ones still get their handshake answered. */
  g_autoptr(SugarcastRtmpSession) session = request->allow();
  ASSERT_NE(session, nullptr);
  expect_whole_publish(session, push);
  a.send(plain_c0c1());
  EXPECT_EQ(a.read(3073, 5000ms).size(), 3073u);
  /* Closed connections are counted out: a newcomer is let in again. */
  ASSERT_TRUE(server.wait_until([](Server &s) { return s.connection_count("127.0.0.1") == 2; }));
  RawConnection e(server.port());
  ASSERT_TRUE(e.connected());
  EXPECT_NE(handshake_and_connect(e, "live").find("_result", "NetConnection.Connect.Success"),
            nullptr);
}

/* The RLIMIT_NOFILE under which exactly `free` descriptor numbers are still
 * unused (the limit bounds the numbers, not the count). */
rlim_t nofile_limit_leaving(int free)
{
  int fd = 0;
  for (; free > 0; ++fd)
    if (fcntl(fd, F_GETFD) == -1 && errno == EBADF)
      --free;
  return static_cast<rlim_t>(fd);
}

TEST(SessionMode, AcceptOnEmfilePausesInsteadOfSpinning)
{
  ServerThread server;
  ExpectLog warned("rtmp: accept failed");
  /* Leave this process room for exactly one more accepted connection. */
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = nofile_limit_leaving(2); /* first's client side and its accepted side */
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  auto first = std::make_unique<RawConnection>(server.port());
  ASSERT_TRUE(first->connected());
  ASSERT_TRUE(server.wait_until([](Server &s) { return s.connection_count() == 1; }));
  low.rlim_cur = nofile_limit_leaving(1); /* one more client socket; the server has none left */
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  RawConnection second(server.port()); /* queued by the kernel, accept() fails with EMFILE */
  ASSERT_TRUE(second.connected());
  ASSERT_TRUE(server.wait_until([](Server &s) { return !s.accepting(); }))
      << "accept failed, so the server stops watching the listener";
  /* It retries with a growing delay (250 ms, 500 ms, ...): by its third try
   * a spinning loop would have failed accept() millions of times. */
  ASSERT_TRUE(server.wait_until([](Server &s) { return s.accept_failures() >= 3; }));
  EXPECT_LT(server.call([](Server &s) { return s.accept_failures(); }), 10u);
  EXPECT_EQ(server.call([](Server &s) { return s.connection_count(); }), 1u);
  EXPECT_GE(warned.matched(), 1) << "the failure is logged, once per try";

  /* A connection closing frees a descriptor: the queued one is accepted and served. */
  first.reset();
  ASSERT_TRUE(
      server.wait_until([](Server &s) { return s.accepting() && s.connection_count() == 1; }));
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  second.send(plain_c0c1());
  EXPECT_EQ(second.read(3073, 5000ms).size(), 3073u);
}

namespace {

/* A scripted publisher over a real socket: handshake, connect, createStream,
 * publish; then media as the test says. */
class ScriptedPublisher
{
public:
  ScriptedPublisher(int port, const std::string &name) : conn_(port)
  {
    EXPECT_TRUE(conn_.send(plain_c0c1()));
    Bytes s = conn_.read(3073, 5000ms);
    EXPECT_EQ(s.size(), 3073u);
    conn_.send(Bytes(s.begin() + 1, s.begin() + 1537));
    conn_.send(script_.connect("live"));
    conn_.send(script_.create_stream());
    conn_.send(script_.publish(name));
  }
  bool wait_started()
  {
    for (int i = 0; i < 40 && !reader_.find("onStatus", "NetStream.Publish.Start"); ++i)
      reader_.feed(conn_.read(65536, 100ms));
    return reader_.find("onStatus", "NetStream.Publish.Start") != nullptr;
  }
  void send_media(uint8_t type, uint32_t ts, const Bytes &body)
  {
    conn_.send(script_.media(type, ts, body));
  }
  void send_metadata() { conn_.send(script_.metadata()); }
  void unpublish() { conn_.send(script_.fc_unpublish("k")); }

private:
  RawConnection conn_;
  PublisherScript script_;
  ServerReader reader_;
};

struct FlvTag
{
  uint8_t type;
  uint32_t timestamp;
  size_t size;
};

/* Pulls one buffer and parses the FLV in it (an optional header, then one tag). */
bool pull_tag(GstHarness *h, FlvTag &tag, bool *had_header = nullptr)
{
  GstBuffer *buf = gst_harness_pull(h);
  if (!buf)
    return false;
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_READ);
  size_t at = 0;
  const bool header = map.size >= 13 && memcmp(map.data, "FLV", 3) == 0;
  if (header)
    at = 13;
  if (had_header)
    *had_header = header;
  const uint8_t *t = map.data + at;
  tag.type = t[0];
  tag.size = size_t(t[1]) << 16 | size_t(t[2]) << 8 | t[3];
  tag.timestamp = uint32_t(t[7]) << 24 | uint32_t(t[4]) << 16 | uint32_t(t[5]) << 8 | t[6];
  const bool whole = map.size == at + 11 + tag.size + 4;
  gst_buffer_unmap(buf, &map);
  gst_buffer_unref(buf);
  return whole;
}

} // namespace

TEST(SessionHarness, FlvBytesAcrossTwoPublishers)
{
  ServerThread server;
  ScriptedPublisher first(server.port(), "k");
  auto request = server.next_request();
  ASSERT_TRUE(request);
  g_autoptr(SugarcastRtmpSession) session = request->allow();
  ASSERT_TRUE(first.wait_started());

  GstHarness *h = gst_harness_new("rtmpserversrc");
  g_object_set(h->element, "session", session, "loop", TRUE, nullptr);
  gst_harness_play(h);

  first.send_metadata();
  first.send_media(kVideo, 0, avc_sequence_header());
  first.send_media(kAudio, 0, aac_sequence_header());
  first.send_media(kVideo, 0, avc_frame(true));
  first.send_media(kAudio, 23, aac_frame());
  first.send_media(kVideo, 1000, avc_frame(false));
  FlvTag tag{};
  bool header = false;
  ASSERT_TRUE(pull_tag(h, tag, &header));
  EXPECT_TRUE(header) << "the first buffer starts with the FLV header";
  EXPECT_EQ(tag.type, kDataAmf0);
  std::vector<uint32_t> ts;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(pull_tag(h, tag, &header));
    EXPECT_FALSE(header);
    ts.push_back(tag.timestamp);
  }
  EXPECT_EQ(ts, (std::vector<uint32_t>{0, 0, 0, 23, 1000}));
  first.unpublish();
  ASSERT_TRUE(server.wait_ended(1));

  /* The encoder comes back with its clock at zero again. */
  ScriptedPublisher second(server.port(), "k");
  auto again = server.next_request();
  ASSERT_TRUE(again);
  g_autoptr(SugarcastRtmpSession) next = again->allow();
  ASSERT_TRUE(second.wait_started());
  g_object_set(h->element, "session", next, nullptr);
  second.send_media(kVideo, 0, avc_sequence_header());
  second.send_media(kVideo, 0, avc_frame(true));
  second.send_media(kVideo, 40, avc_frame(false));

  /* Before its first tag: the restart event, after the first's events. */
  bool restart = false;
  while (GstEvent *event = gst_harness_try_pull_event(h)) {
    const GstStructure *s = gst_event_get_structure(event);
    if (GST_EVENT_TYPE(event) == GST_EVENT_CUSTOM_DOWNSTREAM && s &&
        gst_structure_has_name(s, "sugarcast-stream-restart")) {
      restart = true;
      EXPECT_STREQ(gst_structure_get_string(s, "app"), "live");
      EXPECT_STREQ(gst_structure_get_string(s, "stream"), "k");
    }
    gst_event_unref(event);
  }
  ts.clear();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pull_tag(h, tag, &header));
    EXPECT_FALSE(header) << "no second FLV header";
    ts.push_back(tag.timestamp);
    if (i == 0) {
      /* the event was queued before this buffer */
      while (GstEvent *event = gst_harness_try_pull_event(h)) {
        restart |= gst_event_has_name(event, "sugarcast-stream-restart");
        gst_event_unref(event);
      }
      EXPECT_TRUE(restart) << "sugarcast-stream-restart before the new publisher's first tag";
    }
  }
  EXPECT_EQ(ts, (std::vector<uint32_t>{1001, 1001, 1041}));
  gst_harness_teardown(h);
}
