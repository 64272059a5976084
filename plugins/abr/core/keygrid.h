/* Sugarcast — the keyframe grid shared by every rung, independent of GStreamer.
 *
 * abrladder decides once, on its input, which frames become keyframes; every
 * rung is then told to make exactly those frames keyframes (and no others),
 * so segment N of every variant covers the same running time.
 *
 * Own grid: the first frame, then the first frame at or after each multiple
 * of the GOP duration counted from it. The grid is anchored, so frame-time
 * rounding (29.97 fps) never accumulates. A restart re-anchors it at the next
 * frame.
 *
 * Following a publisher: when the top rung is the publisher's own stream,
 * the laddered rungs put their keyframes where the publisher put its own
 * (SourceTimeline records them from the passthrough pad), so a cut at any
 * keyframe of the source variant is a cut in every variant.
 */
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

namespace sugarcast::abr {

/* Signed nanoseconds of running time; kUnknown = not known. */
constexpr int64_t kUnknown = INT64_MIN;

class KeyframeGrid
{
public:
  explicit KeyframeGrid(int64_t gop_ns = 1000000000) : gop_(gop_ns) {}

  void set_gop(int64_t gop_ns) { gop_ = gop_ns > 0 ? gop_ns : 1; }
  int64_t gop() const { return gop_; }

  /* Whether the frame at `running_time` (lasting `duration`, kUnknown if not
   * known) is on the grid. Frames must come in presentation order. */
  bool on_grid(int64_t running_time, int64_t duration);

  /* Whether the frame just decided ends its GOP: it reaches the next grid
   * time (within half a frame), so the next frame is a keyframe whatever its
   * time. Known only for frames with a duration; then a segment can be
   * closed as soon as this frame is written, without waiting for the next
   * one to be captured and encoded. */
  bool ends_gop() const { return ends_gop_; }

  /* The next frame is a keyframe and the grid starts again from it. */
  void restart()
  {
    anchor_ = kUnknown;
    ends_gop_ = false;
  }

  /* Makes `running_time` a keyframe already taken (following a publisher),
   * re-anchoring the grid there for when the publisher goes away. */
  void anchor_at(int64_t running_time);

  int64_t next_grid_time() const { return next_; }

private:
  int64_t gop_;
  int64_t anchor_ = kUnknown;
  int64_t next_ = kUnknown;
  bool ends_gop_ = false;
};

/* The publisher's keyframes, seen on the passthrough pad, read by the
 * decoded-video thread. Thread-safe. */
class SourceTimeline
{
public:
  /* Called for every buffer of the publisher's stream, in decode order. */
  void add(int64_t pts, int64_t dts, bool keyframe);
  /* The publisher's stream has ended (EOS) or its pad went away. */
  void end();
  /* A new publisher stream starts: forget the old keyframes. */
  void reset();

  enum class Answer { Keyframe, NotKeyframe, Unknown };

  /* Whether the publisher had a keyframe at `pts` (within `tolerance`).
   * Waits up to `wait_ns` of wall time for the publisher's stream to reach
   * `pts`; Unknown when it did not (or has ended and never got there). */
  Answer keyframe_at(int64_t pts, int64_t tolerance, int64_t wait_ns);

  bool ended() const;

private:
  bool covers(int64_t pts) const { return watermark_ != kUnknown && watermark_ >= pts; }

  mutable std::mutex lock_;
  std::condition_variable changed_;
  std::deque<int64_t> keyframes_;
  int64_t watermark_ = kUnknown; /* the largest decode time seen */
  bool ended_ = false;
};

} // namespace sugarcast::abr
