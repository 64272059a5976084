/* Sugarcast — the gift overlay's timeline (plain C++, no GStreamer).
 *
 * Decides which gifts are on the video at a frame's running time and how far
 * along their animation is. A banner lives through three phases:
 *
 *   enter (slide and fade in) -> hold -> leave (fade out) -> gone
 *
 * Its whole life is `duration` for one gift. The same user sending the same
 * gift within `combo_window` of their previous one raises the banner's count
 * ("×N") and holds it longer instead of adding a banner. At most
 * `max_concurrent` banners are shown; the rest wait in a queue of at most
 * `max_queued` entries, where gifts of the same user and gift merge into one
 * entry (each merged gift still comes out of advance() on its own when the
 * entry is shown, for its timed metadata; at most `max_pending` of them are
 * kept across the queue, later ones only add to the count). A gift storm therefore costs at most a
 * bounded amount of memory and at most `max_concurrent` banners per frame, whatever its rate; a
 * gift that finds the queue full is dropped and counted (and comes out of advance() with `drawn`
 * false, so its timed metadata is not lost).
 *
 * Times are nanoseconds of running time. The overlay calls push() whenever a
 * gift arrives (from any thread, under its own lock) and advance() once per
 * frame; what advance() returns are the gifts first visible on that frame —
 * the moment their timed metadata must carry.
 */
#pragma once

#include "giftevent.h"

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace sugarcast::gift {

struct TimelineConfig
{
  std::uint64_t enter_ns = 300'000'000;
  std::uint64_t leave_ns = 400'000'000;
  std::uint64_t duration_ns = 5'000'000'000; // enter + hold + leave of one gift
  std::uint64_t combo_window_ns = 3'000'000'000;
  unsigned max_concurrent = 3;
  unsigned max_queued = 32;
  unsigned max_pending = 4096; // gifts pushed but not yet reached by a frame
  /* Rows of banners the frame has room for (0: no limit); the overlay sets
   * it from the frame size, so more than fit wait in the queue instead of
   * piling up at the top of the picture. */
  unsigned max_rows = 0;
};

enum class Phase { Enter, Hold, Leave };

struct Banner
{
  std::uint64_t serial = 0;   // unique per timeline: the renderer's cache key
  std::uint64_t revision = 0; // bumps whenever what the banner shows changes
  GiftEvent first;            // the gift that opened the banner
  std::uint64_t count = 0;    // the ×N shown
  unsigned slot = 0;          // 0 = lowest row
  std::uint64_t shown_at = 0;
  std::uint64_t hold_until = 0; // the leave phase starts here
  std::uint64_t last_gift_at = 0;
};

/* A gift first visible on the frame advance() was called for. */
struct Shown
{
  GiftEvent event;          // with its id filled in
  std::uint64_t count = 0;  // the banner's count once this gift is on it
  std::uint64_t serial = 0; // the banner it is on
  bool combo = false;       // raised an existing banner
  std::uint64_t running_time = 0;
  /* False for a gift dropped because the queue was full: it is on no
   * banner, but still gets its timed metadata at this frame. */
  bool drawn = true;
};

struct BannerView
{
  Phase phase = Phase::Enter;
  double progress = 0; // 0..1 through the enter or leave phase, 1 in hold
};

class Timeline
{
public:
  explicit Timeline(TimelineConfig config = {}) : config_(config) {}

  void set_config(const TimelineConfig &config) { config_ = config; }
  const TimelineConfig &config() const { return config_; }

  /* A gift that arrived; it is considered at the first frame whose running
   * time reaches event.at_ns (at once when at_ns < 0). Returns false, and
   * counts a drop, when max_pending gifts are already waiting. */
  bool push(GiftEvent event);

  /* Moves to the frame at `now`: applies due gifts, retires finished
   * banners, promotes queued ones into free rows. */
  std::vector<Shown> advance(std::uint64_t now);

  const std::vector<Banner> &active() const { return active_; }
  BannerView view(const Banner &banner, std::uint64_t now) const;

  std::size_t pending() const { return pending_.size(); }
  std::size_t queued() const { return queued_.size(); }
  std::uint64_t dropped() const { return dropped_; }

  void clear();

private:
  struct Queued
  {
    GiftEvent event;
    std::uint64_t count = 0;
    std::vector<GiftEvent> merged; // later gifts on this entry, shown with it
  };

  unsigned row_limit() const;

  void apply(GiftEvent event, std::uint64_t now, std::vector<Shown> &shown);
  void open_banner(Queued queued, std::uint64_t now, std::vector<Shown> &shown);
  std::string next_id();

  TimelineConfig config_;
  std::multimap<std::int64_t, GiftEvent> pending_;
  std::deque<Queued> queued_;
  std::vector<Banner> active_;
  std::uint64_t next_serial_ = 1;
  std::uint64_t next_id_ = 1;
  std::uint64_t dropped_ = 0;
  std::size_t merged_ = 0; // events kept in queued entries' `merged`
};

} // namespace sugarcast::gift
