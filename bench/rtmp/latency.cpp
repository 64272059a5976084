/* rtmp-bench-latency: milliseconds from a publisher's `publish` command to
 * the first media leaving the server.
 *
 *   rtmp-bench-latency ours PORT RUNS    an in-process `rtmpserversrc ! fakesink`;
 *                                        the first FLV buffer is seen by a pad probe
 *   rtmp-bench-latency player PORT RUNS  any RTMP server (nginx-rtmp): a player
 *                                        waits on live/bench; the first media
 *                                        message it receives counts
 *
 * The publisher is scripted: plain handshake, connect, createStream, then
 * the clock starts, publish, and as soon as NetStream.Publish.Start arrives
 * it sends onMetaData, the AVC sequence header and a keyframe, as encoders
 * do. Prints each run and the median.
 */
#include "rtmp_client.h"

#include <gst/gst.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

using namespace sugarcast::rtmp;
using namespace sugarcast::test;

namespace {

int dial(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  for (int i = 0; i < 100; ++i) {
    if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    usleep(50000);
  }
  close(fd);
  return -1;
}

bool send_all(int fd, const Bytes &b)
{
  size_t sent = 0;
  while (sent < b.size()) {
    ssize_t n = send(fd, b.data() + sent, b.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

Bytes read_some(int fd, int timeout_ms)
{
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0)
    return {};
  uint8_t buf[65536];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  return n > 0 ? Bytes(buf, buf + n) : Bytes{};
}

bool read_exact(int fd, size_t n, Bytes &out)
{
  while (out.size() < n) {
    Bytes more = read_some(fd, 5000);
    if (more.empty())
      return false;
    out.insert(out.end(), more.begin(), more.end());
  }
  return true;
}

/* Handshake; returns the bytes after S0S1S2 (start of the chunk stream). */
bool handshake(int fd, Bytes &rest)
{
  if (!send_all(fd, plain_c0c1()))
    return false;
  Bytes s;
  if (!read_exact(fd, 3073, s))
    return false;
  rest.assign(s.begin() + 3073, s.end());
  return send_all(fd, Bytes(s.begin() + 1, s.begin() + 1537));
}

/* Reads until reader has a command with name and code, or a timeout. */
bool await(int fd, ServerReader &reader, const std::string &name, const std::string &code = {})
{
  for (int i = 0; i < 200 && !reader.find(name, code); ++i) {
    Bytes b = read_some(fd, 50);
    if (!b.empty() && !reader.feed(b))
      return false;
  }
  return reader.find(name, code) != nullptr;
}

/* connect to app "live", then createStream; rest is what followed the handshake. */
bool connect_and_create_stream(int fd, const Bytes &rest, PublisherScript &script,
                               ServerReader &reader)
{
  reader.feed(rest);
  send_all(fd, script.connect("live"));
  if (!await(fd, reader, "_result", "NetConnection.Connect.Success"))
    return false;
  send_all(fd, script.create_stream());
  for (int i = 0; i < 100 && reader.commands.size() < 2; ++i)
    reader.feed(read_some(fd, 50));
  return reader.commands.size() >= 2;
}

/* Publishes live/bench; returns the monotonic time (µs) of the publish command. */
gint64 publish(int port)
{
  int fd = dial(port);
  Bytes rest;
  if (fd < 0 || !handshake(fd, rest))
    return -1;
  PublisherScript script;
  ServerReader reader;
  if (!connect_and_create_stream(fd, rest, script, reader))
    return -1;
  const gint64 t0 = g_get_monotonic_time();
  send_all(fd, script.publish("bench"));
  if (!await(fd, reader, "onStatus", "NetStream.Publish.Start"))
    return -1;
  Bytes media = script.metadata();
  Bytes avc = script.media(kVideo, 0, avc_sequence_header());
  Bytes key = script.media(kVideo, 0, avc_frame(true, 20000));
  media.insert(media.end(), avc.begin(), avc.end());
  media.insert(media.end(), key.begin(), key.end());
  send_all(fd, media);
  usleep(300000);
  close(fd);
  return t0;
}

double median(std::vector<double> v)
{
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double run_ours(int port)
{
  g_autofree gchar *launch = g_strdup_printf(
      "rtmpserversrc name=src address=127.0.0.1 port=%d ! fakesink name=sink sync=false", port);
  GstElement *pipeline = gst_parse_launch(launch, nullptr);
  g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  g_autoptr(GstPad) pad = gst_element_get_static_pad(sink, "sink");
  std::atomic<gint64> first{0};
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *, GstPadProbeInfo *, gpointer data) {
        auto *first = static_cast<std::atomic<gint64> *>(data);
        gint64 expected = 0;
        first->compare_exchange_strong(expected, g_get_monotonic_time());
        return GST_PAD_PROBE_OK;
      },
      &first, nullptr);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  const gint64 t0 = publish(port);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  return t0 < 0 || first == 0 ? -1 : (first - t0) / 1000.0;
}

double run_player(int port)
{
  int fd = dial(port);
  Bytes rest;
  if (fd < 0 || !handshake(fd, rest))
    return -1;
  PublisherScript script; /* the player's commands use the same writer */
  ServerReader reader;
  if (!connect_and_create_stream(fd, rest, script, reader))
    return -1;
  send_all(fd, script.command(1, {AmfValue::string("play"), AmfValue::number(5), AmfValue::null(),
                                  AmfValue::string("bench")}));
  usleep(200000);
  for (Bytes b; !(b = read_some(fd, 50)).empty();)
    reader.feed(b);
  std::atomic<gint64> t0{0};
  std::thread publisher([&] { t0 = publish(port); });
  gint64 first = 0;
  const size_t before = reader.messages.size();
  for (int i = 0; i < 100 && !first; ++i) {
    Bytes b = read_some(fd, 50);
    if (b.empty())
      continue;
    reader.feed(b);
    for (size_t m = before; m < reader.messages.size(); ++m) {
      const uint8_t type = reader.messages[m].type;
      if (type == kAudio || type == kVideo || type == kDataAmf0) {
        first = g_get_monotonic_time();
        break;
      }
    }
  }
  publisher.join();
  close(fd);
  return t0 <= 0 || !first ? -1 : (first - t0) / 1000.0;
}

} // namespace

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s ours|player PORT RUNS\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const int port = std::atoi(argv[2]), runs = std::atoi(argv[3]);
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const double ms = mode == "ours" ? run_ours(port) : run_player(port);
    if (ms < 0) {
      std::fprintf(stderr, "run %d failed\n", i + 1);
      return 1;
    }
    times.push_back(ms);
    usleep(100000);
  }
  for (double t : times)
    std::printf("%.2f ", t);
  std::printf("\nmedian %.2f ms\n", median(times));
  return 0;
}
