/* Test support for RTMP ingest: an in-process pipeline behind rtmpserversrc
 * that decodes what arrives, publishers (ffmpeg, rtmp2sink, raw sockets). */
#pragma once

#include "testenv.h"

#include <gio/gio.h>
#include <gst/gst.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace sugarcast::test {

/* rtmpserversrc name=src [props] ! flvdemux ! (video) h264parse ! avdec_h264 ! fakesink,
 * (audio) fakesink. Records decoded video PTS, encoded video buffers and
 * sugarcast-stream-restart events in arrival order. */
class IngestPipeline
{
public:
  /* audio: whether the publisher sends audio (an audio branch that never
   * gets a pad would keep the pipeline from ever posting EOS). */
  explicit IngestPipeline(const std::string &src_properties, bool audio = true);
  ~IngestPipeline();
  IngestPipeline(const IngestPipeline &) = delete;
  IngestPipeline &operator=(const IngestPipeline &) = delete;

  GstElement *pipeline() const { return pipeline_; }
  GstElement *src() const { return src_; }
  bool play();
  /* Waits for EOS or an error; element messages and warnings met on the way
   * are kept. Returns the EOS/error message type, or 0 on timeout. */
  GstMessageType wait_end(std::chrono::seconds timeout = std::chrono::seconds(30));
  /* Waits for an element message with this structure name. */
  bool wait_element_message(const std::string &name,
                            std::chrono::seconds timeout = std::chrono::seconds(30));
  /* Drains the bus into the lists below without blocking. */
  void drain();

  std::vector<GstClockTime> decoded_pts();
  size_t decoded_frames();
  /* Waits until at least frames decoded frames have come out. */
  bool wait_frames(size_t frames, std::chrono::seconds timeout = std::chrono::seconds(20));
  size_t encoded_video_buffers();
  /* How many encoded video buffers had passed when each restart event came. */
  std::vector<size_t> restarts();
  std::vector<std::string> restart_streams();

  std::vector<GstStructure *> element_messages; /* owned */
  std::vector<std::string> warnings;            /* "domain/code: text" */
  std::vector<std::string> errors;

private:
  void keep(GstMessage *msg);
  GstElement *pipeline_ = nullptr;
  GstElement *src_ = nullptr;
  GstBus *bus_ = nullptr;
  std::mutex lock_;
  std::vector<GstClockTime> pts_;
  size_t encoded_ = 0;
  std::vector<size_t> restarts_;
  std::vector<std::string> restart_streams_;
  gulong probe_decoded_ = 0;
};

/* A 320x240 30 fps H.264 (+ AAC) FLV file made once. */
std::string test_flv(double seconds = 2.0, bool audio = true);

/* ffmpeg -re -i FILE -c copy -f flv URL */
ProcessResult ffmpeg_push_file(const std::string &file, const std::string &url,
                               std::vector<std::string> extra = {});
/* ffmpeg encoding live: testsrc2 + sine, libx264 + aac, for seconds. */
ProcessResult ffmpeg_push_live(const std::string &url, double seconds);
std::vector<std::string> ffmpeg_push_argv(const std::string &file, const std::string &url);

/* Starts a process in the background (standard error piped, read by finish). */
GSubprocess *spawn(const std::vector<std::string> &argv);
/* Waits for it; returns its exit status (-1 when killed) and standard error. */
std::pair<int, std::string> finish(GSubprocess *proc);

/* Strictly increasing? */
bool strictly_increasing(const std::vector<GstClockTime> &pts, std::string *why);

/* A TCP connection to 127.0.0.1:port with plain blocking sockets. */
class RawConnection
{
public:
  explicit RawConnection(int port);
  ~RawConnection();
  bool connected() const { return fd_ >= 0; }
  bool send(const std::vector<uint8_t> &data);
  /* Reads until n bytes (or EOF/timeout); returns what came. */
  std::vector<uint8_t> read(size_t n, std::chrono::milliseconds timeout);
  /* True when the server closes the connection within timeout. */
  bool closed_by_server(std::chrono::milliseconds timeout);

private:
  int fd_ = -1;
};

/* Waits until something accepts TCP connections on 127.0.0.1:port (e.g. a
 * gst-launch-1.0 that is starting); true when it does within timeout. */
bool wait_listening(int port, std::chrono::milliseconds timeout = std::chrono::seconds(30));

} // namespace sugarcast::test
