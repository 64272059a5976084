/* Sugarcast — clip measurement and verdicts. See clipmeter.h. */
#include "clipmeter.h"

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace sugarcast::clip {

namespace {

/* H.264 and HEVC allow at most 16 frames of reordering between decode and
 * presentation order; anything further back than that is corruption. */
constexpr int64_t kMaxReorderFrames = 16;
constexpr int64_t kGap = kSecond;
/* A header claiming more than this many times the limit rejects at once. */
constexpr int64_t kHeaderRejectFactor = 2;

std::string printf_string(const char *format, double value)
{
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

/* "15", "60", "15.5": a limit as an operator typed it. */
std::string format_limit_seconds(int64_t ns)
{
  std::string s = printf_string("%.3f", static_cast<double>(ns) / kSecond);
  while (!s.empty() && s.back() == '0')
    s.pop_back();
  if (!s.empty() && s.back() == '.')
    s.pop_back();
  return s;
}

/* "4.99 s": where in the clip something happened. */
std::string format_position(int64_t ns)
{
  return printf_string("%.2f s", static_cast<double>(ns) / kSecond);
}

std::string format_fps(double fps)
{
  return fps == std::floor(fps) ? printf_string("%.0f", fps) : printf_string("%.2f", fps);
}

} // namespace

const char *reason_nick(Reason reason)
{
  switch (reason) {
  case Reason::None:
    return nullptr;
  case Reason::TooShort:
    return "too-short";
  case Reason::TooLong:
    return "too-long";
  case Reason::TooLarge:
    return "too-large";
  case Reason::BadFramerate:
    return "bad-framerate";
  case Reason::UnsupportedCodec:
    return "unsupported-codec";
  case Reason::NoVideo:
    return "no-video";
  case Reason::CorruptTimestamps:
    return "corrupt-timestamps";
  }
  return nullptr;
}

std::vector<std::string> parse_codec_list(const std::string &list)
{
  std::vector<std::string> codecs;
  std::string current;
  auto flush = [&] {
    if (!current.empty())
      codecs.push_back(current);
    current.clear();
  };
  for (char c : list) {
    if (c == ',')
      flush();
    else if (!std::isspace(static_cast<unsigned char>(c)))
      current += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  flush();
  return codecs;
}

std::string format_duration(int64_t ns, int64_t compared_with)
{
  if (ns == kNoTime)
    return "unknown";
  if (ns >= 3600 * kSecond) {
    int64_t minutes = ns / (60 * kSecond);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%" PRId64 " h %02" PRId64 " min", minutes / 60, minutes % 60);
    return buf;
  }
  if (ns >= 600 * kSecond) {
    int64_t seconds = ns / kSecond;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%" PRId64 " min %02" PRId64 " s", seconds / 60, seconds % 60);
    return buf;
  }
  const double value = static_cast<double>(ns) / kSecond;
  for (int decimals = 1;; ++decimals) {
    char format[16];
    std::snprintf(format, sizeof format, "%%.%df", decimals);
    std::string text = printf_string(format, value);
    if (decimals == 3 || compared_with == kNoTime ||
        text != printf_string(format, static_cast<double>(compared_with) / kSecond))
      return text + " s";
  }
}

ClipMeter::ClipMeter(Limits limits) : limits_(std::move(limits)) {}

Verdict ClipMeter::base_verdict() const
{
  Verdict v;
  v.duration = measured_duration();
  v.declared = declared_;
  v.width = info_.width;
  v.height = info_.height;
  v.codec = info_.codec;
  v.frames = frames_;
  v.gaps = gaps_;
  if (info_.fps_n > 0 && info_.fps_d > 0)
    v.framerate = static_cast<double>(info_.fps_n) / info_.fps_d;
  else if (frames_ > 1 && v.duration > 0)
    v.framerate = static_cast<double>(frames_) * kSecond / v.duration;
  return v;
}

Verdict ClipMeter::reject(Reason reason, std::string message)
{
  Verdict v = base_verdict();
  v.valid = false;
  v.reason = reason;
  v.message = std::move(message);
  verdict_ = v;
  return v;
}

Verdict ClipMeter::accept()
{
  Verdict v = base_verdict();
  v.valid = true;
  v.message = "Clip accepted: " + format_duration(v.duration) + ", " + std::to_string(v.width) +
              "x" + std::to_string(v.height) + " " + v.codec + " at " +
              format_fps(std::round(v.framerate * 100) / 100) + " fps";
  verdict_ = v;
  return v;
}

std::string ClipMeter::range_text() const
{
  return "clips must be " + format_limit_seconds(limits_.min_duration) + "\u2013" +
         format_limit_seconds(limits_.max_duration) + " s";
}

int64_t ClipMeter::frame_duration_hint() const
{
  if (info_.fps_n > 0 && info_.fps_d > 0)
    return static_cast<int64_t>(kSecond) * info_.fps_d / info_.fps_n;
  return last_duration_;
}

int64_t ClipMeter::measured_duration() const
{
  if (frames_ == 0)
    return kNoTime;
  int64_t end = max_end_;
  if (end <= max_pts_ && frames_ > 1) {
    /* No frame said how long it lasts: the last one lasts as long as the
     * average one before it. */
    end = max_pts_ + (max_pts_ - min_pts_) / static_cast<int64_t>(frames_ - 1);
  }
  return end - min_pts_;
}

std::optional<Verdict> ClipMeter::set_stream(const StreamInfo &info)
{
  if (decided())
    return std::nullopt;
  info_ = info;
  have_info_ = true;
  if (!info.is_video)
    return reject(Reason::NoVideo,
                  "The stream is " + info.codec + ", not video; a clip needs video");
  if (std::find(limits_.codecs.begin(), limits_.codecs.end(), info.codec) == limits_.codecs.end()) {
    std::string accepted;
    for (const auto &c : limits_.codecs)
      accepted += (accepted.empty() ? "" : ", ") + c;
    return reject(Reason::UnsupportedCodec, "Video codec " + info.codec +
                                                " is not accepted; accepted codecs are " +
                                                accepted);
  }
  if ((limits_.max_width > 0 && info.width > limits_.max_width) ||
      (limits_.max_height > 0 && info.height > limits_.max_height)) {
    return reject(Reason::TooLarge,
                  "Video is " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                      " pixels; the largest accepted size is " + std::to_string(limits_.max_width) +
                      "x" + std::to_string(limits_.max_height));
  }
  if (info.fps_n > 0 && info.fps_d > 0 && limits_.max_framerate > 0) {
    double fps = static_cast<double>(info.fps_n) / info.fps_d;
    if (fps > limits_.max_framerate)
      return reject(Reason::BadFramerate, "Video runs at " + format_fps(fps) +
                                              " frames per second; the maximum is " +
                                              format_fps(limits_.max_framerate));
  }
  return std::nullopt;
}

std::optional<Verdict> ClipMeter::set_declared_duration(int64_t declared)
{
  if (decided())
    return std::nullopt;
  declared_ = declared;
  if (declared != kNoTime && limits_.max_duration > 0 &&
      declared > kHeaderRejectFactor * limits_.max_duration)
    return reject(Reason::TooLong, "Clip is " + format_duration(declared) +
                                       " long according to its header; " + range_text());
  return std::nullopt;
}

std::optional<Verdict> ClipMeter::add_frame(int64_t pts, int64_t dts, int64_t duration)
{
  if (decided())
    return std::nullopt;
  const int64_t hint = frame_duration_hint();
  if (duration != kNoTime && duration > 0)
    last_duration_ = duration;

  int64_t derived_end = kNoTime;
  if (pts == kNoTime && dts != kNoTime) {
    pts = dts;
  } else if (pts == kNoTime) {
    if (derived_base_ == kNoTime) {
      derived_base_ = prev_pts_ != kNoTime ? prev_pts_ : 0;
      derived_count_ = prev_pts_ != kNoTime ? 1 : 0;
    }
    if (info_.fps_n > 0 && info_.fps_d > 0) {
      /* Counted from the last real timestamp, so rounding never accumulates. */
      auto at = [&](int64_t n) {
        return derived_base_ +
               static_cast<int64_t>(static_cast<__int128>(n) * kSecond * info_.fps_d / info_.fps_n);
      };
      pts = at(derived_count_);
      derived_end = at(derived_count_ + 1);
      ++derived_count_;
    } else if (prev_pts_ != kNoTime && hint != kNoTime) {
      pts = prev_pts_ + hint;
    } else if (frames_ == 0) {
      pts = 0;
    } else {
      return reject(Reason::CorruptTimestamps,
                    "Video frames carry no timestamps and the stream declares no frame rate, so "
                    "the clip's length cannot be measured");
    }
  }
  if (derived_end == kNoTime)
    derived_base_ = kNoTime;

  if (dts != kNoTime) {
    if (prev_dts_ != kNoTime && dts < prev_dts_)
      return reject(Reason::CorruptTimestamps,
                    "Video timestamps go backwards at frame " + std::to_string(frames_ + 1) + " (" +
                        format_position(dts) + " after " + format_position(prev_dts_) +
                        "); the file is corrupt");
    prev_dts_ = dts;
  } else if (max_pts_ != kNoTime) {
    const int64_t window = hint != kNoTime ? kMaxReorderFrames * hint : kSecond / 2;
    if (pts < max_pts_ - window)
      return reject(Reason::CorruptTimestamps,
                    "Video timestamps go backwards at frame " + std::to_string(frames_ + 1) + " (" +
                        format_position(pts) + " after " + format_position(max_pts_) +
                        "); the file is corrupt");
  }

  if (max_pts_ != kNoTime && pts - max_pts_ > kGap)
    ++gaps_;
  min_pts_ = min_pts_ == kNoTime ? pts : std::min(min_pts_, pts);
  max_pts_ = max_pts_ == kNoTime ? pts : std::max(max_pts_, pts);
  int64_t end = pts;
  if (derived_end != kNoTime)
    end = derived_end;
  else if (duration != kNoTime && duration > 0)
    end += duration;
  else if (hint != kNoTime)
    end += hint;
  max_end_ = max_end_ == kNoTime ? end : std::max(max_end_, end);
  prev_pts_ = pts;
  ++frames_;

  const int64_t measured = measured_duration();
  if (limits_.max_duration > 0 && measured > limits_.max_duration)
    return reject(Reason::TooLong,
                  "Clip is longer than " + format_limit_seconds(limits_.max_duration) +
                      " s (reading stopped at " + format_duration(measured, limits_.max_duration) +
                      "); " + range_text());
  return std::nullopt;
}

Verdict ClipMeter::finish()
{
  if (verdict_)
    return *verdict_;
  if (!have_info_ && frames_ == 0)
    return reject(Reason::NoVideo, "The file contains no video stream; a clip needs video");
  if (frames_ == 0)
    return reject(Reason::NoVideo, "The video stream contains no frames");

  const int64_t measured = measured_duration();
  if (measured < limits_.min_duration)
    return reject(Reason::TooShort, "Clip is " + format_duration(measured, limits_.min_duration) +
                                        " long; " + range_text());
  if (limits_.max_duration > 0 && measured > limits_.max_duration)
    return reject(Reason::TooLong, "Clip is " + format_duration(measured, limits_.max_duration) +
                                       " long; " + range_text());

  const double fps = base_verdict().framerate;
  if (info_.fps_n == 0 && limits_.max_framerate > 0 && fps > limits_.max_framerate * 1.01)
    return reject(Reason::BadFramerate, "Video runs at " + format_fps(std::round(fps)) +
                                            " frames per second on average; the maximum is " +
                                            format_fps(limits_.max_framerate));
  return accept();
}

} // namespace sugarcast::clip
