/* sugarcastd — a gift as giftoverlay draws it: the event giftoverlay takes
 * (docs/elements/giftoverlay.md, "Gift events") and the DATERANGE
 * attributes that go with it. One way to say a gift, shared by the live
 * path (each gift the ledger records for a live stream, pushed into the
 * stream's overlay) and highlights cut from a recording (the gifts of the
 * cut span, written as the clip's events file), so a highlight shows the
 * same banner the show did. */
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <optional>
#include <string>

namespace sugarcast {

struct GiftDrawn
{
  int64_t ledger_id = 0;
  std::string user_id;
  std::string user_name; /* shown; the user id when empty */
  std::string gift_id;   /* catalogue id */
  std::string name;      /* catalogue name */
  std::string animation; /* catalogue animation */
  int count = 1;
  int64_t coins = 0;
};

/* "gift-LEDGER_ID": the DATERANGE's id, the same live and in a replay. */
std::string gift_daterange_id(const GiftDrawn &gift);

/* X-GIFT, X-NAME, X-COUNT, X-COINS, X-USER, X-ANIMATION, X-LEDGER-ID. */
GstStructure *gift_daterange_attributes(const GiftDrawn &gift);

/* The gift as one giftoverlay event (one line of JSON, no newline), within
 * the element's limits (long names cut at a character, an animation that is
 * no sprite name left out), carrying `attributes`. `at`: seconds of running
 * time when it is due, for an events file (push-gift ignores it). */
std::string gift_overlay_event(const GiftDrawn &gift, const GstStructure *attributes,
                               std::optional<double> at = std::nullopt);

} // namespace sugarcast
