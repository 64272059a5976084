/* Test support for the abr suites: running pipelines in-process, reading
 * HLS playlists back, asking ffprobe about segments. */
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sugarcast::test {

struct PipelineRun
{
  bool eos = false;
  std::string error;                            /* the first error message, with its debug text */
  std::vector<GstStructure *> element_messages; /* owned */
  ~PipelineRun();
  /* Element messages with this structure name. */
  std::vector<const GstStructure *> messages(const char *name) const;
};

/* Runs a gst-launch description until EOS, an error or `timeout`.
 * `setup` may install probes before it starts; `on_message` sees every
 * element message as it arrives (in this thread). */
void run_pipeline(const std::string &description, PipelineRun &run,
                  std::chrono::seconds timeout = std::chrono::seconds(120),
                  const std::function<void(GstElement *)> &setup = {},
                  const std::function<void(GstElement *, const GstStructure *)> &on_message = {});

/* Pushes `event` downstream on `pad` of element `element` right before its
 * `frame`-th buffer (counting from 0). */
void inject_event_before(GstElement *pipeline, const char *element, int frame, GstEvent *event);

struct HlsSegment
{
  double duration = 0;
  std::string uri;
  bool discontinuity = false;
  std::string pdt;
  std::string map;
  std::vector<std::string> dateranges;
};

struct MediaPlaylist
{
  bool valid = false;
  std::string problem;
  int version = 0;
  int target_duration = 0;
  long media_sequence = -1;
  long discontinuity_sequence = 0;
  std::string type;
  bool endlist = false;
  std::vector<HlsSegment> segments;
};

struct MasterVariant
{
  std::map<std::string, std::string> attributes; /* quotes removed */
  std::string uri;
};

struct MasterPlaylist
{
  bool valid = false;
  std::string problem;
  std::vector<MasterVariant> variants;
  std::vector<std::map<std::string, std::string>> media; /* EXT-X-MEDIA */
};

/* Attribute list of a tag ("A=1,B=\"x,y\"") into a map without quotes. */
std::map<std::string, std::string> parse_attributes(const std::string &list);
MediaPlaylist parse_media_playlist(const std::string &text);
MasterPlaylist parse_master_playlist(const std::string &text);

/* Reads every .m3u8 in a folder over and over while a pipeline writes it,
 * checking that each read is a whole playlist whose segments exist. */
class PlaylistWatcher
{
public:
  explicit PlaylistWatcher(std::string folder);
  ~PlaylistWatcher();
  void stop();
  int reads() const { return reads_; }
  std::vector<std::string> problems() const;

private:
  void loop();
  std::string folder_;
  std::atomic<bool> stop_{false};
  std::atomic<int> reads_{0};
  mutable std::mutex lock_;
  std::vector<std::string> problems_;
  std::thread thread_;
};

struct Packet
{
  std::string type; /* video, audio */
  double pts = 0;
  bool keyframe = false;
};

/* Every packet of a media file, as ffprobe reads it. */
std::vector<Packet> probe_packets(const std::string &path);
/* "h264,aac": the codecs of a file or playlist's streams, as ffprobe lists them. */
std::vector<std::string> probe_codecs(const std::string &path);
/* An fMP4 segment with its init segment in front, in a scratch file. */
std::string join_fmp4(const std::string &init, const std::string &segment);

} // namespace sugarcast::test
