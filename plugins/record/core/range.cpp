/* Sugarcast — replaysrc's range planning (range.h): the byte chunks of a
 * range and of a frame-exact head GOP, from the manifest; the SPS and PPS at
 * a keyframe, read from its segment file. */
#include "range.h"

#include "mpegts.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

namespace sugarcast::record {

namespace {

constexpr uint64_t kTables = 2 * 188; /* PAT and PMT at every segment start */

std::string seconds(int64_t ns)
{
  char text[32];
  std::snprintf(text, sizeof text, "%.3f s", static_cast<double>(ns) / 1e9);
  return text;
}

} // namespace

std::string range_error(const Manifest &m, int64_t start, int64_t stop)
{
  if (m.segments.empty())
    return "the recording has no segments (nothing was recorded)";
  if (start < 0)
    return "start (" + std::to_string(start) + " ns) must not be negative";
  if (stop >= 0 && stop <= start)
    return "stop (" + std::to_string(stop) + " ns) must be after start (" + std::to_string(start) +
           " ns)";
  if (start >= m.duration())
    return "the recording is " + seconds(m.duration()) + " long, start is " + seconds(start);
  for (const auto &s : m.segments)
    if (s.start + s.duration > start && (stop < 0 || s.start < stop))
      return "";
  return "nothing was recorded from " + seconds(start) + " to " + seconds(stop) +
         " (a gap between segments)";
}

std::vector<Chunk> plan_range(const std::string &folder, const Manifest &m, int64_t start,
                              int64_t stop, int64_t &first_keyframe)
{
  first_keyframe = 0;
  std::vector<Chunk> out;
  uint64_t at = 0;
  auto add = [&](const Segment &s, uint64_t from, uint64_t to) {
    if (to <= from)
      return;
    out.push_back({folder + "/" + s.uri, from, to - from, at});
    at += to - from;
  };
  bool started = false;
  for (size_t i = 0; i < m.segments.size(); ++i) {
    const Segment &s = m.segments[i];
    const int64_t end = s.start + s.duration;
    if (!started && end <= start && i + 1 < m.segments.size())
      continue;
    uint64_t from = 0;
    if (!started) {
      /* The last keyframe at or before start. */
      first_keyframe = s.start;
      for (const auto &k : s.keyframes)
        if (k.time <= start) {
          from = k.offset;
          first_keyframe = k.time;
        }
      if (from <= kTables)
        from = 0; /* the segment's own start: its tables come with it */
      else
        add(s, 0, kTables);
      started = true;
    }
    if (stop >= 0 && end > stop) {
      /* The first keyframe at or after stop ends the range. */
      uint64_t to = s.bytes;
      for (const auto &k : s.keyframes)
        if (k.time >= stop && k.offset > from) {
          to = k.offset;
          break;
        }
      /* Not a frame of this segment before stop (stop on its start, or in
       * the gap before it): not its tables either. */
      if (from == 0 && to <= kTables)
        break;
      add(s, from, to);
      break;
    }
    add(s, from, s.bytes);
  }
  return out;
}

/* The head GOP of a frame-exact range: the bytes from the keyframe at or
 * before start (after its segment's tables) to the next keyframe, which is
 * where the untouched stream resumes. next_keyframe is that keyframe's time
 * (-1: none, the head runs to the recording's end). Same segment choice as
 * plan_range, so both readers start on the same packet. */
std::vector<Chunk> plan_head(const std::string &folder, const Manifest &m, int64_t start,
                             int64_t &next_keyframe)
{
  next_keyframe = -1;
  std::vector<Chunk> out;
  for (size_t i = 0; i < m.segments.size(); ++i) {
    const Segment &s = m.segments[i];
    if (s.start + s.duration <= start && i + 1 < m.segments.size())
      continue;
    uint64_t from = 0;
    for (const auto &k : s.keyframes)
      if (k.time <= start)
        from = k.offset;
    uint64_t to = s.bytes;
    for (const auto &k : s.keyframes)
      if (k.time > start && k.offset > from) {
        to = k.offset;
        next_keyframe = k.time;
        break;
      }
    if (next_keyframe < 0 && i + 1 < m.segments.size())
      next_keyframe = m.segments[i + 1].keyframes.empty() ? m.segments[i + 1].start
                                                          : m.segments[i + 1].keyframes[0].time;
    if (from <= kTables)
      from = 0;
    else
      out.push_back({folder + "/" + s.uri, 0, kTables, 0});
    const uint64_t at = out.empty() ? 0 : kTables;
    if (to > from)
      out.push_back({folder + "/" + s.uri, from, to - from, at});
    break;
  }
  return out;
}

namespace {

/* The video access unit whose PES starts at FROM in the MPEG-TS file PATH:
 * its elementary stream bytes and the PES header's PTS and DTS (90 kHz; -1
 * when absent, DTS = PTS when the header has only a PTS). */
struct PesUnit
{
  std::vector<uint8_t> es;
  int64_t pts = -1;
  int64_t dts = -1;
};

PesUnit video_unit_at(const std::string &path, uint64_t from)
{
  PesUnit unit;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return unit;
  /* The parameter sets come first in the access unit: 64 KiB is plenty. */
  std::vector<uint8_t> ts(64 * 1024);
  const ssize_t got = pread(fd, ts.data(), ts.size(), static_cast<off_t>(from));
  close(fd);
  if (got <= 0)
    return unit;
  int pid = -1;
  for (size_t at = 0; at + 188 <= static_cast<size_t>(got); at += 188) {
    const uint8_t *pkt = ts.data() + at;
    if (pkt[0] != 0x47)
      break;
    const bool unit_start = pkt[1] & 0x40;
    const int this_pid = ((pkt[1] & 0x1f) << 8) | pkt[2];
    size_t payload = 4;
    if (pkt[3] & 0x20)
      payload += 1 + pkt[4];
    if (!(pkt[3] & 0x10) || payload >= 188)
      continue;
    const uint8_t *data = pkt + payload;
    size_t size = 188 - payload;
    if (pid < 0) {
      /* The first PES of a video stream (stream_id 0xe0-0xef). */
      if (!unit_start || size < 9 || data[0] || data[1] || data[2] != 1 || (data[3] & 0xf0) != 0xe0)
        continue;
      pid = this_pid;
      const int flags = data[7] >> 6;
      if ((flags & 2) && size >= 14) {
        unit.pts = unit.dts = sugarcast::abr::read_pes_timestamp(data + 9);
        if (flags == 3 && size >= 19)
          unit.dts = sugarcast::abr::read_pes_timestamp(data + 14);
      }
    } else if (this_pid != pid) {
      continue;
    } else if (unit_start) {
      break; /* the next access unit */
    }
    if (unit_start) {
      const size_t header = 9 + data[8];
      if (header >= size)
        continue;
      data += header;
      size -= header;
    }
    unit.es.insert(unit.es.end(), data, data + size);
  }
  return unit;
}

} // namespace

KeyframeUnit keyframe_at(const std::string &path, uint64_t from)
{
  KeyframeUnit out;
  const PesUnit unit = video_unit_at(path, from);
  sugarcast::abr::collect_parameter_sets(
      sugarcast::abr::split_annexb(unit.es.data(), unit.es.size()), out.parameter_sets);
  if (unit.pts >= 0 && unit.dts >= 0) {
    /* 33-bit timestamps: the difference modulo 2^33, a delay of under a second. */
    constexpr int64_t kClock = sugarcast::abr::kTsClock;
    const int64_t ticks = (unit.pts - unit.dts) & ((int64_t{1} << 33) - 1);
    out.reorder_delay = ticks < kClock ? ticks * 1000000000 / kClock : 0;
  }
  return out;
}

} // namespace sugarcast::record
