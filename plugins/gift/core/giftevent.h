/* Sugarcast — a viewer's gift as the overlay receives it (plain C++ over json-glib).
 *
 * One JSON object per gift:
 *   {"id":"gift-8812","gift":"rose","name":"Rose","user":"小明","count":3,
 *    "animation":"rose","at":1.5}
 * `gift` and `user` are required; `id` (unique per stream, made up when
 * absent), `name` (shown instead of the gift id), `count` (1 when absent),
 * `animation` (the sprite to draw; the gift id when absent), `at` (seconds
 * of running time, events files only) and `attributes` are optional. Unknown
 * members are ignored so the daemon may send more than the overlay needs.
 *
 * `attributes` is an object of more X- attributes for the gift's
 * EXT-X-DATERANGE, string or integer values, e.g. {"X-COINS":300,
 * "X-LEDGER-ID":8812}: what the application knows of the gift and players
 * should see (the daemon sends the ledger's). Names are X- then letters,
 * digits and '-'; the overlay's own attributes (X-GIFT, X-USER, X-COUNT,
 * X-COMBO, X-NAME) win over the same names here.
 *
 * Every field is checked here, where the text enters: a refused event names
 * the member and the limit, and the overlay never sees half a gift.
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sugarcast::gift {

inline constexpr std::size_t kMaxEventBytes = 4096;
inline constexpr std::size_t kMaxNesting = 4;
inline constexpr std::size_t kMaxIdBytes = 128;
inline constexpr std::size_t kMaxGiftBytes = 32;
inline constexpr std::size_t kMaxNameBytes = 64;
inline constexpr std::size_t kMaxUserBytes = 128;
inline constexpr std::uint32_t kMaxCount = 100000;
inline constexpr double kMaxAtSeconds = 7 * 24 * 3600.0;
inline constexpr std::size_t kMaxAttributes = 16;
inline constexpr std::size_t kMaxAttributeNameBytes = 64;
inline constexpr std::size_t kMaxAttributeValueBytes = 256;

/* One extra X- attribute of a gift's DATERANGE. */
struct GiftAttribute
{
  std::string name; // X-..., upper case
  std::string text; // the string value, when !is_integer
  std::int64_t integer = 0;
  bool is_integer = false;
};

struct GiftEvent
{
  std::string id;        // may be empty: the overlay names it
  std::string gift;      // [a-z0-9_-]{1,32}, the catalogue's id
  std::string name;      // display name of the gift (gift id when empty)
  std::string user;      // display name of the sender, any UTF-8
  std::string animation; // sprite name, [a-z0-9_-]{1,32} (gift id when empty)
  std::uint32_t count = 1;
  std::int64_t at_ns = -1; // running time from an events file; -1 = now
  std::vector<GiftAttribute> attributes;
};

/* Parses one event. On failure returns false and says what was wrong in
 * `error` ("member 'count' must be an integer from 1 to 100000"). */
bool parse_gift_event(std::string_view json, GiftEvent &out, std::string &error);

/* True for [a-z0-9_-]{1,32}: the names that may become file names. */
bool is_valid_asset_name(std::string_view name);

} // namespace sugarcast::gift
