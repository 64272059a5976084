/* Sugarcast — the gift overlay's timeline (see timeline.h). */
#include "timeline.h"

#include <algorithm>

namespace sugarcast::gift {

namespace {

bool same_sender(const GiftEvent &a, const GiftEvent &b)
{
  return a.user == b.user && a.gift == b.gift;
}

constexpr std::uint64_t kMaxBannerCount = 1'000'000'000;

} // namespace

bool Timeline::push(GiftEvent event)
{
  if (pending_.size() >= config_.max_pending) {
    ++dropped_;
    return false;
  }
  const std::int64_t due = event.at_ns < 0 ? 0 : event.at_ns;
  pending_.emplace(due, std::move(event));
  return true;
}

std::string Timeline::next_id()
{
  return "gift-overlay-" + std::to_string(next_id_++);
}

void Timeline::apply(GiftEvent event, std::uint64_t now, std::vector<Shown> &shown)
{
  if (event.id.empty())
    event.id = next_id();

  for (Banner &banner : active_) {
    if (!same_sender(banner.first, event) || now > banner.last_gift_at + config_.combo_window_ns)
      continue;
    if (now >= banner.hold_until + config_.leave_ns)
      continue; // already gone on this frame
    banner.count = std::min(banner.count + event.count, kMaxBannerCount);
    banner.last_gift_at = now;
    const std::uint64_t hold = config_.duration_ns > config_.enter_ns + config_.leave_ns
                                   ? config_.duration_ns - config_.enter_ns - config_.leave_ns
                                   : 0;
    banner.hold_until = std::max(banner.hold_until, now + hold);
    ++banner.revision;
    shown.push_back({std::move(event), banner.count, banner.serial, true, now});
    return;
  }
  for (Queued &queued : queued_) {
    if (same_sender(queued.event, event)) {
      queued.count = std::min(queued.count + event.count, kMaxBannerCount);
      if (merged_ < config_.max_pending) {
        queued.merged.push_back(std::move(event));
        ++merged_;
      }
      return;
    }
  }
  const std::uint64_t count = event.count;
  if (queued_.empty() && active_.size() < row_limit()) {
    open_banner({std::move(event), count}, now, shown);
    return;
  }
  if (queued_.size() >= config_.max_queued) {
    ++dropped_;
    shown.push_back({std::move(event), 0, 0, false, now, false});
    return;
  }
  queued_.push_back({std::move(event), count, {}});
}

unsigned Timeline::row_limit() const
{
  return config_.max_rows ? std::min(config_.max_concurrent, config_.max_rows)
                          : config_.max_concurrent;
}

void Timeline::open_banner(Queued queued, std::uint64_t now, std::vector<Shown> &shown)
{
  unsigned slot = 0;
  while (std::any_of(active_.begin(), active_.end(),
                     [slot](const Banner &b) { return b.slot == slot; }))
    ++slot;
  Banner banner;
  banner.serial = next_serial_++;
  banner.first = queued.event;
  banner.count = queued.count;
  banner.slot = slot;
  banner.shown_at = now;
  banner.last_gift_at = now;
  const std::uint64_t minimum = config_.enter_ns + config_.leave_ns;
  banner.hold_until = now + std::max(config_.duration_ns, minimum) - config_.leave_ns;
  /* The first gift opens it; those merged into the entry while it waited
   * appear on the same frame, each with the count it brings the banner to. */
  std::uint64_t count = std::min<std::uint64_t>(queued.event.count, banner.count);
  shown.push_back({std::move(queued.event), count, banner.serial, false, now});
  merged_ -= std::min(merged_, queued.merged.size());
  for (GiftEvent &event : queued.merged) { // ids were given in apply()
    count = std::min(count + event.count, banner.count);
    shown.push_back({std::move(event), count, banner.serial, true, now});
  }
  active_.push_back(std::move(banner));
}

std::vector<Shown> Timeline::advance(std::uint64_t now)
{
  std::vector<Shown> shown;

  /* Retire first, so a combo never revives a banner that has gone. */
  std::erase_if(active_,
                [&](const Banner &banner) { return now >= banner.hold_until + config_.leave_ns; });

  /* Rows freed by banners that left go to the queue first, in order. */
  while (!queued_.empty() && active_.size() < row_limit()) {
    Queued queued = std::move(queued_.front());
    queued_.pop_front();
    open_banner(std::move(queued), now, shown);
  }

  while (!pending_.empty() && pending_.begin()->first <= static_cast<std::int64_t>(now)) {
    GiftEvent event = std::move(pending_.begin()->second);
    pending_.erase(pending_.begin());
    apply(std::move(event), now, shown);
  }
  return shown;
}

BannerView Timeline::view(const Banner &banner, std::uint64_t now) const
{
  BannerView view;
  if (now < banner.shown_at + config_.enter_ns) {
    view.phase = Phase::Enter;
    view.progress =
        config_.enter_ns == 0 ? 1.0 : static_cast<double>(now - banner.shown_at) / config_.enter_ns;
  } else if (now < banner.hold_until) {
    view.phase = Phase::Hold;
    view.progress = 1.0;
  } else {
    view.phase = Phase::Leave;
    view.progress =
        config_.leave_ns == 0
            ? 1.0
            : std::min(1.0, static_cast<double>(now - banner.hold_until) / config_.leave_ns);
  }
  return view;
}

void Timeline::clear()
{
  pending_.clear();
  queued_.clear();
  merged_ = 0;
  active_.clear();
}

} // namespace sugarcast::gift
