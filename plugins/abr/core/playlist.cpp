/* Sugarcast — HLS playlists. See playlist.h. */
#include "playlist.h"

#include <glib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace sugarcast::abr {

namespace {

constexpr int64_t kSecondNs = 1000000000;

/* HLS rounds segment durations to the nearest second against the target. */
int rounded_seconds(int64_t ns)
{
  return static_cast<int>((ns + kSecondNs / 2) / kSecondNs);
}

std::string seconds_text(int64_t ns, int decimals)
{
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, static_cast<double>(ns) / kSecondNs);
  return buf;
}

std::string quoted(const std::string &value)
{
  std::string out = "\"";
  for (char c : value) {
    if (c == '"')
      out += '\'';
    else if (c == '\r' || c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out + "\"";
}

} // namespace

MediaPlaylist::MediaPlaylist(PlaylistType type, int target_duration, unsigned window,
                             bool can_block_reload)
    : type_(type), target_(std::max(1, target_duration)), window_(window),
      can_block_reload_(can_block_reload)
{}

std::vector<PlaylistSegment> MediaPlaylist::add(PlaylistSegment segment)
{
  target_ = std::max(target_, rounded_seconds(segment.duration));
  segments_.push_back(std::move(segment));
  std::vector<PlaylistSegment> removed;
  if (type_ != PlaylistType::Live || window_ == 0)
    return removed;
  while (segments_.size() > window_) {
    if (segments_.front().discontinuity)
      ++discontinuity_sequence_;
    removed.push_back(std::move(segments_.front()));
    segments_.pop_front();
    ++media_sequence_;
  }
  /* The discontinuity of the new first segment is still counted by the
   * sequence only once it leaves; its tag stays while it is listed. */
  return removed;
}

std::string MediaPlaylist::render(bool ended) const
{
  const bool fmp4 = std::any_of(segments_.begin(), segments_.end(),
                                [](const PlaylistSegment &s) { return !s.map_uri.empty(); });
  std::string text = "#EXTM3U\n";
  text += "#EXT-X-VERSION:" + std::to_string(fmp4 ? 6 : 3) + "\n";
  text += "#EXT-X-TARGETDURATION:" + std::to_string(target_) + "\n";
  text += "#EXT-X-MEDIA-SEQUENCE:" + std::to_string(media_sequence_) + "\n";
  if (discontinuity_sequence_ > 0)
    text += "#EXT-X-DISCONTINUITY-SEQUENCE:" + std::to_string(discontinuity_sequence_) + "\n";
  if (type_ == PlaylistType::Event || (type_ == PlaylistType::Vod && !ended))
    text += "#EXT-X-PLAYLIST-TYPE:EVENT\n";
  else if (type_ == PlaylistType::Vod)
    text += "#EXT-X-PLAYLIST-TYPE:VOD\n";
  text += "#EXT-X-INDEPENDENT-SEGMENTS\n";
  if (can_block_reload_ && !ended)
    text += "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n";
  std::string map;
  for (const auto &s : segments_) {
    if (s.discontinuity)
      text += "#EXT-X-DISCONTINUITY\n";
    if (!s.map_uri.empty() && s.map_uri != map) {
      text += "#EXT-X-MAP:URI=" + quoted(s.map_uri) + "\n";
      map = s.map_uri;
    }
    if (s.pdt_us >= 0)
      text += "#EXT-X-PROGRAM-DATE-TIME:" + format_date(s.pdt_us) + "\n";
    for (const auto &tag : s.tags)
      text += tag + "\n";
    text += "#EXTINF:" + seconds_text(s.duration, 5) + ",\n";
    text += s.uri + "\n";
  }
  if (ended)
    text += "#EXT-X-ENDLIST\n";
  return text;
}

std::string render_master(const std::vector<MasterVariant> &variants,
                          const std::vector<MasterAudio> &audio, int version)
{
  std::string text = "#EXTM3U\n#EXT-X-VERSION:" + std::to_string(version) + "\n";
  text += "#EXT-X-INDEPENDENT-SEGMENTS\n";
  for (const auto &a : audio) {
    text += "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=" + quoted(a.group_id) + ",NAME=" + quoted(a.name) +
            ",DEFAULT=" + (a.is_default ? "YES" : "NO") + ",AUTOSELECT=YES,URI=" + quoted(a.uri) +
            "\n";
  }
  for (const auto &v : variants) {
    text += "#EXT-X-STREAM-INF:BANDWIDTH=" + std::to_string(v.bandwidth);
    if (v.average_bandwidth > 0)
      text += ",AVERAGE-BANDWIDTH=" + std::to_string(v.average_bandwidth);
    if (!v.codecs.empty())
      text += ",CODECS=" + quoted(v.codecs);
    if (v.width > 0 && v.height > 0)
      text += ",RESOLUTION=" + std::to_string(v.width) + "x" + std::to_string(v.height);
    if (v.frame_rate > 0) {
      char fps[32];
      std::snprintf(fps, sizeof fps, "%.3f", v.frame_rate);
      text += std::string(",FRAME-RATE=") + fps;
    }
    if (!v.audio_group.empty())
      text += ",AUDIO=" + quoted(v.audio_group);
    text += "\n" + v.uri + "\n";
  }
  return text;
}

bool normalise_attribute_name(std::string &name)
{
  if (name.size() < 3)
    return false;
  for (char &c : name)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.compare(0, 2, "X-") != 0)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string render_daterange(const DateRangeTag &tag)
{
  std::string text = "#EXT-X-DATERANGE:ID=" + quoted(tag.id);
  if (!tag.klass.empty())
    text += ",CLASS=" + quoted(tag.klass);
  text += ",START-DATE=" + quoted(format_date(tag.start_us));
  if (tag.duration >= 0)
    text += ",DURATION=" + seconds_text(tag.duration, 3);
  for (const auto &a : tag.attributes)
    text += "," + a.name + "=" + (a.quoted ? quoted(a.value) : a.value);
  return text;
}

std::string format_date(int64_t us)
{
  /* GDateTime does the calendar; HLS players expect milliseconds, which
   * g_date_time_format_iso8601() would print as microseconds (or not at all
   * on a whole second), so the fraction is appended here. */
  const int64_t seconds =
      us >= 0 ? us / G_USEC_PER_SEC : (us - (G_USEC_PER_SEC - 1)) / G_USEC_PER_SEC;
  const int ms = static_cast<int>((us - seconds * G_USEC_PER_SEC) / 1000);
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(seconds);
  if (!dt)
    return "";
  g_autofree gchar *text = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S");
  char fraction[8];
  std::snprintf(fraction, sizeof fraction, ".%03dZ", ms);
  return std::string(text ? text : "") + fraction;
}

int64_t parse_date(const std::string &text)
{
  /* No default time zone: a date without one is rejected, as HLS wants. */
  g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601(text.c_str(), nullptr);
  if (!dt)
    return -1;
  return g_date_time_to_unix(dt) * G_USEC_PER_SEC + g_date_time_get_microsecond(dt);
}

} // namespace sugarcast::abr
