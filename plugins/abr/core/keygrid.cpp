/* Sugarcast — the keyframe grid. See keygrid.h. */
#include "keygrid.h"

#include <algorithm>
#include <chrono>

namespace sugarcast::abr {

bool KeyframeGrid::on_grid(int64_t running_time, int64_t duration)
{
  if (running_time == kUnknown)
    return false;
  /* A frame up to half a frame early still belongs to the grid time: frame
   * times are rounded to nanoseconds and 30000/1001 fps never lands exactly. */
  int64_t tolerance = 1000000;
  if (duration != kUnknown && duration > 0 && duration / 2 < gop_ / 2)
    tolerance = duration / 2;

  bool keyframe;
  if (anchor_ == kUnknown || running_time < anchor_) {
    anchor_at(running_time);
    keyframe = true;
  } else if (ends_gop_ || running_time + tolerance >= next_) {
    /* The grid time this keyframe stands for is used up, even when the
     * frame came a little early (its predecessor announced it). */
    const int64_t periods = (running_time + tolerance - anchor_) / gop_;
    next_ = std::max(next_ + gop_, anchor_ + (periods + 1) * gop_);
    keyframe = true;
  } else {
    keyframe = false;
  }
  /* Decided now, so that the frame can say it ends its GOP. */
  ends_gop_ = duration != kUnknown && duration > 0 && running_time + duration + tolerance >= next_;
  return keyframe;
}

void KeyframeGrid::anchor_at(int64_t running_time)
{
  anchor_ = running_time;
  next_ = running_time + gop_;
  ends_gop_ = false;
}

void SourceTimeline::add(int64_t pts, int64_t dts, bool keyframe)
{
  {
    std::lock_guard<std::mutex> guard(lock_);
    const int64_t decode_time = dts != kUnknown ? dts : pts;
    if (keyframe && pts != kUnknown)
      keyframes_.push_back(pts);
    if (decode_time != kUnknown && (watermark_ == kUnknown || decode_time > watermark_))
      watermark_ = decode_time;
    ended_ = false;
  }
  changed_.notify_all();
}

void SourceTimeline::end()
{
  {
    std::lock_guard<std::mutex> guard(lock_);
    ended_ = true;
  }
  changed_.notify_all();
}

void SourceTimeline::reset()
{
  {
    std::lock_guard<std::mutex> guard(lock_);
    keyframes_.clear();
    watermark_ = kUnknown;
    ended_ = false;
  }
  changed_.notify_all();
}

bool SourceTimeline::ended() const
{
  std::lock_guard<std::mutex> guard(lock_);
  return ended_;
}

SourceTimeline::Answer SourceTimeline::keyframe_at(int64_t pts, int64_t tolerance, int64_t wait_ns)
{
  std::unique_lock<std::mutex> guard(lock_);
  /* Keyframes before this frame will never be asked about again. */
  auto near = [&] {
    while (!keyframes_.empty() && keyframes_.front() < pts - tolerance)
      keyframes_.pop_front();
    return !keyframes_.empty() && keyframes_.front() <= pts + tolerance;
  };
  /* Decode order: once the publisher's stream has passed `pts`, every
   * keyframe shown at `pts` has been seen. */
  if (!near() && !covers(pts) && !ended_)
    changed_.wait_for(guard, std::chrono::nanoseconds(wait_ns),
                      [&] { return near() || covers(pts) || ended_; });
  if (near())
    return Answer::Keyframe;
  return covers(pts) ? Answer::NotKeyframe : Answer::Unknown;
}

} // namespace sugarcast::abr
