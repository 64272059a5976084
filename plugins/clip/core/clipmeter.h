/* Sugarcast — clip measurement and verdicts, independent of GStreamer.
 *
 * ClipMeter decides whether a short video is acceptable from what a demuxer
 * tells about it (codec, size, frame rate, header duration) and from the
 * timestamps of its frames. It never trusts a header to accept a clip: only
 * measured timestamps can. It rejects as soon as a rejection is certain, so
 * callers can stop reading an over-long upload early.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sugarcast::clip {

/* Times are signed nanoseconds in running time; kNoTime marks "unknown". */
constexpr int64_t kNoTime = INT64_MIN;
constexpr int64_t kSecond = 1000000000;

struct Limits
{
  int64_t min_duration = 15 * kSecond;
  int64_t max_duration = 60 * kSecond;
  int max_width = 4096;
  int max_height = 4096;
  double max_framerate = 120.0;
  std::vector<std::string> codecs = {"h264", "h265", "vp8", "vp9", "av1"};
};

enum class Reason {
  None,
  TooShort,
  TooLong,
  TooLarge,
  BadFramerate,
  UnsupportedCodec,
  NoVideo,
  CorruptTimestamps,
};

/* The public, stable spelling of a reason ("too-long"); nullptr for None. */
const char *reason_nick(Reason reason);

struct StreamInfo
{
  bool is_video = true;
  std::string codec; /* short name: h264, vp9, ... or the caps name */
  int width = 0;     /* 0 when unknown */
  int height = 0;
  int fps_n = 0; /* 0/1 means variable or unknown */
  int fps_d = 1;
};

struct Verdict
{
  bool valid = false;
  Reason reason = Reason::None;
  std::string message;        /* one sentence a creator understands */
  int64_t duration = kNoTime; /* measured from timestamps */
  int64_t declared = kNoTime; /* what the container header claims */
  int width = 0;
  int height = 0;
  double framerate = 0.0; /* declared, or measured for variable rate */
  std::string codec;
  uint64_t frames = 0;
  uint64_t gaps = 0; /* holes longer than a second between frames */
};

/* Parse "h264, VP9,av1" into lower-case names; empty entries are dropped. */
std::vector<std::string> parse_codec_list(const std::string &list);

/* "14.99 s", "72.4 s", "2 h 05 min": a duration written for people, with just
 * enough decimals that it never reads as the limit it is compared with. */
std::string format_duration(int64_t ns, int64_t compared_with = kNoTime);

class ClipMeter
{
public:
  explicit ClipMeter(Limits limits = {});

  /* Each returns a rejection as soon as one is certain, nullopt while the
   * clip may still be acceptable. After a rejection the meter is finished. */
  std::optional<Verdict> set_stream(const StreamInfo &info);
  std::optional<Verdict> set_declared_duration(int64_t declared);
  /* pts, dts and duration may each be kNoTime. Frames arrive in decode order. */
  std::optional<Verdict> add_frame(int64_t pts, int64_t dts, int64_t duration);
  /* End of stream: the final verdict (the rejection, if one came earlier). */
  Verdict finish();

  bool decided() const { return verdict_.has_value(); }
  int64_t measured_duration() const;
  const Limits &limits() const { return limits_; }

private:
  Verdict base_verdict() const;
  Verdict reject(Reason reason, std::string message);
  Verdict accept();
  int64_t frame_duration_hint() const;
  std::string range_text() const;

  Limits limits_;
  StreamInfo info_;
  bool have_info_ = false;
  std::optional<Verdict> verdict_;
  int64_t declared_ = kNoTime;

  uint64_t frames_ = 0;
  uint64_t gaps_ = 0;
  int64_t min_pts_ = kNoTime;
  int64_t max_pts_ = kNoTime;
  int64_t max_end_ = kNoTime; /* max over frames of pts + known duration */
  int64_t prev_dts_ = kNoTime;
  int64_t prev_pts_ = kNoTime; /* pts of the previous frame, real or derived */
  int64_t last_duration_ = kNoTime;
  int64_t derived_base_ = kNoTime; /* last real pts before frames without one */
  int64_t derived_count_ = 0;
};

} // namespace sugarcast::clip
