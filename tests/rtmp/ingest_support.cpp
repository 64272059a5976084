/* Test support for RTMP ingest. */
#include "ingest_support.h"

#include "media.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace sugarcast::test {

IngestPipeline::IngestPipeline(const std::string &src_properties, bool audio)
{
  const std::string launch =
      "rtmpserversrc name=src " + src_properties +
      " ! flvdemux name=d d.video ! queue name=vq ! h264parse ! avdec_h264 ! "
      "fakesink name=vsink sync=false async=false" +
      std::string(audio ? " d.audio ! queue ! fakesink sync=false async=false" : "");
  g_autoptr(GError) error = nullptr;
  pipeline_ = gst_parse_launch(launch.c_str(), &error);
  if (!pipeline_ || error) {
    ADD_FAILURE() << "cannot build " << launch << ": " << error->message;
    return;
  }
  src_ = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
  bus_ = gst_element_get_bus(pipeline_);

  g_autoptr(GstElement) vsink = gst_bin_get_by_name(GST_BIN(pipeline_), "vsink");
  g_autoptr(GstPad) decoded = gst_element_get_static_pad(vsink, "sink");
  gst_pad_add_probe(
      decoded, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *, GstPadProbeInfo *info, gpointer data) {
        auto *self = static_cast<IngestPipeline *>(data);
        std::lock_guard<std::mutex> guard(self->lock_);
        self->pts_.push_back(GST_BUFFER_PTS(GST_PAD_PROBE_INFO_BUFFER(info)));
        return GST_PAD_PROBE_OK;
      },
      this, nullptr);
  g_autoptr(GstElement) vq = gst_bin_get_by_name(GST_BIN(pipeline_), "vq");
  g_autoptr(GstPad) encoded = gst_element_get_static_pad(vq, "sink");
  gst_pad_add_probe(
      encoded,
      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      [](GstPad *, GstPadProbeInfo *info, gpointer data) {
        auto *self = static_cast<IngestPipeline *>(data);
        std::lock_guard<std::mutex> guard(self->lock_);
        if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
          ++self->encoded_;
        } else {
          GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
          const GstStructure *s = gst_event_get_structure(event);
          if (GST_EVENT_TYPE(event) == GST_EVENT_CUSTOM_DOWNSTREAM && s &&
              gst_structure_has_name(s, "sugarcast-stream-restart")) {
            self->restarts_.push_back(self->encoded_);
            const char *stream = gst_structure_get_string(s, "stream");
            self->restart_streams_.push_back(stream ? stream : "");
          }
        }
        return GST_PAD_PROBE_OK;
      },
      this, nullptr);
}

IngestPipeline::~IngestPipeline()
{
  if (pipeline_)
    gst_element_set_state(pipeline_, GST_STATE_NULL);
  for (GstStructure *s : element_messages)
    gst_structure_free(s);
  if (src_)
    gst_object_unref(src_);
  if (bus_)
    gst_object_unref(bus_);
  if (pipeline_)
    gst_object_unref(pipeline_);
}

bool IngestPipeline::play()
{
  if (!pipeline_)
    return false;
  const GstStateChangeReturn r = gst_element_set_state(pipeline_, GST_STATE_PLAYING);
  if (r == GST_STATE_CHANGE_FAILURE) {
    drain();
    ADD_FAILURE() << "pipeline did not start"
                  << (errors.empty() ? std::string() : ": " + errors.front());
    return false;
  }
  return true;
}

void IngestPipeline::keep(GstMessage *msg)
{
  switch (GST_MESSAGE_TYPE(msg)) {
  case GST_MESSAGE_ELEMENT:
    if (const GstStructure *s = gst_message_get_structure(msg))
      element_messages.push_back(gst_structure_copy(s));
    break;
  case GST_MESSAGE_WARNING:
  case GST_MESSAGE_ERROR: {
    g_autoptr(GError) error = nullptr;
    g_autofree gchar *debug = nullptr;
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_WARNING)
      gst_message_parse_warning(msg, &error, &debug);
    else
      gst_message_parse_error(msg, &error, &debug);
    std::string text = std::string(g_quark_to_string(error->domain)) + "/" +
                       std::to_string(error->code) + ": " + error->message;
    (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_WARNING ? warnings : errors).push_back(text);
    break;
  }
  default:
    break;
  }
}

void IngestPipeline::drain()
{
  while (GstMessage *msg = gst_bus_pop(bus_)) {
    keep(msg);
    gst_message_unref(msg);
  }
}

GstMessageType IngestPipeline::wait_end(std::chrono::seconds timeout)
{
  const gint64 deadline = g_get_monotonic_time() + timeout.count() * G_USEC_PER_SEC;
  for (;;) {
    const gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0)
      return GstMessageType(0);
    GstMessage *msg = gst_bus_timed_pop(bus_, static_cast<GstClockTime>(left) * GST_USECOND);
    if (!msg)
      return GstMessageType(0);
    keep(msg);
    const GstMessageType type = GST_MESSAGE_TYPE(msg);
    gst_message_unref(msg);
    if (type == GST_MESSAGE_EOS || type == GST_MESSAGE_ERROR)
      return type;
  }
}

bool IngestPipeline::wait_element_message(const std::string &name, std::chrono::seconds timeout)
{
  for (GstStructure *s : element_messages)
    if (gst_structure_has_name(s, name.c_str()))
      return true;
  const gint64 deadline = g_get_monotonic_time() + timeout.count() * G_USEC_PER_SEC;
  for (;;) {
    const gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0)
      return false;
    GstMessage *msg = gst_bus_timed_pop(bus_, static_cast<GstClockTime>(left) * GST_USECOND);
    if (!msg)
      return false;
    keep(msg);
    const bool found =
        GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT && gst_message_has_name(msg, name.c_str());
    gst_message_unref(msg);
    if (found)
      return true;
  }
}

std::vector<GstClockTime> IngestPipeline::decoded_pts()
{
  std::lock_guard<std::mutex> guard(lock_);
  return pts_;
}

size_t IngestPipeline::decoded_frames()
{
  std::lock_guard<std::mutex> guard(lock_);
  return pts_.size();
}

size_t IngestPipeline::encoded_video_buffers()
{
  std::lock_guard<std::mutex> guard(lock_);
  return encoded_;
}

std::vector<size_t> IngestPipeline::restarts()
{
  std::lock_guard<std::mutex> guard(lock_);
  return restarts_;
}

std::vector<std::string> IngestPipeline::restart_streams()
{
  std::lock_guard<std::mutex> guard(lock_);
  return restart_streams_;
}

bool IngestPipeline::wait_frames(size_t frames, std::chrono::seconds timeout)
{
  return eventually([&] { return decoded_frames() >= frames; }, timeout);
}

GSubprocess *spawn(const std::vector<std::string> &argv)
{
  std::vector<const char *> args;
  for (const auto &a : argv)
    args.push_back(a.c_str());
  args.push_back(nullptr);
  g_autoptr(GError) error = nullptr;
  GSubprocess *proc =
      g_subprocess_newv(args.data(),
                        static_cast<GSubprocessFlags>(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                      G_SUBPROCESS_FLAGS_STDERR_PIPE),
                        &error);
  if (!proc)
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << error->message;
  return proc;
}

std::pair<int, std::string> finish(GSubprocess *proc)
{
  g_autofree gchar *err = nullptr;
  g_subprocess_communicate_utf8(proc, nullptr, nullptr, nullptr, &err, nullptr);
  return {g_subprocess_get_if_exited(proc) ? g_subprocess_get_exit_status(proc) : -1,
          err ? err : ""};
}

std::string test_flv(double seconds, bool audio)
{
  return make_clip(
      {.seconds = seconds, .audio = audio, .container = "flv", .extra = {"-g", "30", "-bf", "0"}});
}

std::vector<std::string> ffmpeg_push_argv(const std::string &file, const std::string &url)
{
  return {"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i",
          file,     "-c",           "copy",      "-f",    "flv",      url};
}

ProcessResult ffmpeg_push_file(const std::string &file, const std::string &url,
                               std::vector<std::string> extra)
{
  std::vector<std::string> argv = ffmpeg_push_argv(file, url);
  argv.insert(argv.end() - 3, extra.begin(), extra.end());
  return run_process(argv, std::chrono::seconds(60));
}

ProcessResult ffmpeg_push_live(const std::string &url, double seconds)
{
  const std::string t = std::to_string(seconds);
  return run_process({"ffmpeg",    "-hide_banner",
                      "-loglevel", "error",
                      "-nostdin",  "-re",
                      "-f",        "lavfi",
                      "-i",        "testsrc2=size=320x240:rate=30",
                      "-f",        "lavfi",
                      "-i",        "sine=frequency=440:sample_rate=44100",
                      "-t",        t,
                      "-c:v",      "libx264",
                      "-preset",   "ultrafast",
                      "-g",        "30",
                      "-pix_fmt",  "yuv420p",
                      "-c:a",      "aac",
                      "-f",        "flv",
                      url},
                     std::chrono::seconds(60));
}

bool strictly_increasing(const std::vector<GstClockTime> &pts, std::string *why)
{
  for (size_t i = 1; i < pts.size(); ++i) {
    if (!GST_CLOCK_TIME_IS_VALID(pts[i]) || pts[i] <= pts[i - 1]) {
      if (why)
        *why = "frame " + std::to_string(i) + " at " + std::to_string(pts[i]) + " ns after " +
               std::to_string(pts[i - 1]) + " ns";
      return false;
    }
  }
  return true;
}

RawConnection::RawConnection(int port)
{
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

bool wait_listening(int port, std::chrono::milliseconds timeout)
{
  return eventually([port] { return RawConnection(port).connected(); }, timeout);
}

RawConnection::~RawConnection()
{
  if (fd_ >= 0)
    close(fd_);
}

bool RawConnection::send(const std::vector<uint8_t> &data)
{
  return send_all(fd_, data.data(), data.size());
}

std::vector<uint8_t> RawConnection::read(size_t n, std::chrono::milliseconds timeout)
{
  std::vector<uint8_t> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n) {
    uint8_t buf[65536];
    const std::optional<ssize_t> got =
        recv_before(fd_, buf, std::min(sizeof buf, n - out.size()), deadline);
    if (!got || *got <= 0)
      break;
    out.insert(out.end(), buf, buf + *got);
  }
  return out;
}

bool RawConnection::closed_by_server(std::chrono::milliseconds timeout)
{
  return wait_closed(fd_, timeout);
}

} // namespace sugarcast::test
