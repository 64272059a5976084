/* Sugarcast — HLS playlists. See playlist.h. */
#include "playlist.h"

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

MediaPlaylist::MediaPlaylist(PlaylistType type, int target_duration, unsigned window)
    : type_(type), target_(std::max(1, target_duration)), window_(window)
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
  const int64_t seconds = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
  const int64_t ms = (us - seconds * 1000000) / 1000;
  const time_t t = static_cast<time_t>(seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

int64_t parse_date(const std::string &text)
{
  int year, month, day, hour, minute, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%n", &year, &month, &day, &hour, &minute,
                  &consumed) != 5 ||
      consumed == 0)
    return -1;
  const char *p = text.c_str() + consumed;
  if (!std::isdigit(static_cast<unsigned char>(p[0])) ||
      !std::isdigit(static_cast<unsigned char>(p[1])))
    return -1;
  const int second = (p[0] - '0') * 10 + (p[1] - '0');
  p += 2;
  int64_t fraction_us = 0;
  if (*p == '.') {
    ++p;
    int64_t scale = 100000;
    while (std::isdigit(static_cast<unsigned char>(*p))) {
      fraction_us += (*p - '0') * scale;
      scale /= 10;
      ++p;
    }
  }
  int offset_minutes = 0;
  if (*p == 'Z') {
    ++p;
  } else if (*p == '+' || *p == '-') {
    const int sign = *p == '-' ? -1 : 1;
    int oh = 0, om = 0;
    if (std::sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
      return -1;
    offset_minutes = sign * (oh * 60 + om);
    p += 6;
  } else {
    return -1;
  }
  if (*p != '\0' || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60)
    return -1;
  struct tm tm = {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const time_t t = timegm(&tm);
  return (static_cast<int64_t>(t) - offset_minutes * 60) * 1000000 + fraction_us;
}

} // namespace sugarcast::abr
