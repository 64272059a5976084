/* Sugarcast — HLS playlists (RFC 8216), independent of GStreamer.
 *
 * MediaPlaylist keeps the segments of one rendition and renders the media
 * playlist: a sliding window for live, everything for event and VOD.
 * render_master() renders the multivariant playlist. Text only: writing
 * files (atomically) is the caller's business.
 */
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

namespace sugarcast::abr {

enum class PlaylistType { Live, Event, Vod };

struct PlaylistSegment
{
  uint64_t sequence = 0;
  std::string uri;
  int64_t duration = 0; /* nanoseconds */
  int64_t pdt_us = -1;  /* wall-clock start, microseconds since the epoch; -1 = none */
  bool discontinuity = false;
  std::string map_uri;           /* fMP4 init segment; empty for MPEG-TS */
  std::vector<std::string> tags; /* extra tags before EXTINF (EXT-X-DATERANGE) */
  uint64_t bytes = 0;
};

class MediaPlaylist
{
public:
  /* `target_duration` in seconds; `window` segments for live (0 = all).
   * `can_block_reload`: say EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES until
   * the playlist ends (only where the server holds _HLS_msn requests). */
  MediaPlaylist(PlaylistType type, int target_duration, unsigned window,
                bool can_block_reload = false);

  /* Appends a segment; returns the segments that left the live window. */
  std::vector<PlaylistSegment> add(PlaylistSegment segment);

  /* The playlist text; `ended` adds EXT-X-ENDLIST. A VOD playlist is
   * written as EVENT until it has ended. */
  std::string render(bool ended) const;

  const std::deque<PlaylistSegment> &segments() const { return segments_; }
  uint64_t media_sequence() const { return media_sequence_; }
  /* The target duration written: the configured one, or the longest
   * segment's rounded duration when a segment was longer. */
  int target_duration() const { return target_; }

private:
  PlaylistType type_;
  int target_;
  unsigned window_;
  bool can_block_reload_;
  std::deque<PlaylistSegment> segments_;
  uint64_t media_sequence_ = 0;
  uint64_t discontinuity_sequence_ = 0;
};

struct MasterVariant
{
  std::string uri;
  uint64_t bandwidth = 0;         /* bits/s, peak */
  uint64_t average_bandwidth = 0; /* bits/s; 0 = omit */
  int width = 0;                  /* 0 = omit RESOLUTION */
  int height = 0;
  double frame_rate = 0; /* 0 = omit */
  std::string codecs;
  std::string audio_group; /* empty = audio muxed in, or none */
};

struct MasterAudio
{
  std::string group_id;
  std::string name;
  std::string uri;
  bool is_default = true;
};

std::string render_master(const std::vector<MasterVariant> &variants,
                          const std::vector<MasterAudio> &audio, int version);

/* ---- timed metadata ---------------------------------------------------- */

struct DateRangeAttribute
{
  std::string name;   /* X-... (upper case, digits and '-') */
  std::string value;  /* as given */
  bool quoted = true; /* a quoted string, or a decimal number */
};

struct DateRangeTag
{
  std::string id;
  std::string klass;     /* CLASS; empty = omit */
  int64_t start_us = 0;  /* START-DATE, microseconds since the epoch */
  int64_t duration = -1; /* nanoseconds; -1 = omit */
  std::vector<DateRangeAttribute> attributes;
};

/* "#EXT-X-DATERANGE:ID=...". Characters a quoted-string cannot hold
 * (double quote, CR, LF) become a single quote or a space. */
std::string render_daterange(const DateRangeTag &tag);

/* Checks a client attribute name ("X-GIFT-ID"); lower case letters are
 * accepted and upper-cased. Returns false for anything else. */
bool normalise_attribute_name(std::string &name);

/* "2025-05-01T12:00:00.123Z" */
std::string format_date(int64_t us_since_epoch);
/* Parses an ISO 8601 date with a time zone; -1 when it cannot. */
int64_t parse_date(const std::string &text);

} // namespace sugarcast::abr
