/* Sugarcast — finalising a recording from what is on disk. */
#include "repair.h"

#include "mpegts.h"

#include <glib.h>
#include <glib/gstdio.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

namespace sugarcast::record {

namespace {

constexpr size_t kPacket = 188;
constexpr uint16_t kVideoPid = 0x100; /* plugins/abr/core/mpegts.h */
constexpr uint16_t kAudioPid = 0x101;
constexpr int64_t kTsOffset = 90000; /* writer.cpp: TS time of the recording's start */

int64_t from90(int64_t t90)
{
  return (t90 - kTsOffset) * 100000 / 9;
}

struct Pes
{
  uint16_t pid = 0;
  uint64_t start = 0;  /* offset of its first packet */
  uint64_t end = 0;    /* offset after its last packet */
  size_t declared = 0; /* PES_packet_length + 6, 0 when unbounded */
  size_t payload = 0;  /* bytes of PES seen */
  int64_t pts = -1;    /* 90 kHz */
  bool random_access = false;
  bool stuffed_last = false; /* the last packet ends with stuffing: the PES ended there */
  bool complete = false;
};

} // namespace

TsScan scan_segment(const uint8_t *data, size_t size)
{
  TsScan out;
  std::vector<Pes> done;
  std::map<uint16_t, Pes> open;
  uint64_t off = 0;
  for (; off + kPacket <= size && data[off] == 0x47; off += kPacket) {
    const uint8_t *p = data + off;
    const uint16_t pid = static_cast<uint16_t>(((p[1] & 0x1f) << 8) | p[2]);
    const bool pusi = p[1] & 0x40;
    const int afc = (p[3] >> 4) & 3;
    size_t pos = 4;
    bool ra = false, stuffed = false;
    if (afc & 2) {
      const size_t len = p[4];
      if (len > 183)
        break; /* not our writer's packet: stop trusting the file here */
      if (len > 0) {
        const uint8_t flags = p[5];
        ra = flags & 0x40;
        const size_t needed = 1 + ((flags & 0x10) ? 6 : 0);
        stuffed = len > needed;
      } else {
        stuffed = true;
      }
      pos = 5 + len;
    }
    if (pid != kVideoPid && pid != kAudioPid)
      continue;
    const size_t payload = (afc & 1) ? kPacket - pos : 0;
    if (pusi) {
      auto it = open.find(pid);
      if (it != open.end()) {
        it->second.complete = true;
        done.push_back(it->second);
        open.erase(it);
      }
      const uint8_t *h = p + pos;
      if (payload < 14 || h[0] != 0 || h[1] != 0 || h[2] != 1)
        break;
      Pes pes;
      pes.pid = pid;
      pes.start = off;
      const size_t len = (h[4] << 8) | h[5];
      pes.declared = len ? len + 6 : 0;
      if (h[7] & 0x80)
        pes.pts = abr::read_pes_timestamp(h + 9);
      pes.random_access = ra;
      open[pid] = pes;
    }
    auto it = open.find(pid);
    if (it == open.end())
      continue; /* continuation of a PES that began before the scan */
    it->second.payload += payload;
    it->second.end = off + kPacket;
    it->second.stuffed_last = stuffed;
    if (it->second.declared && it->second.payload >= it->second.declared)
      it->second.complete = true;
  }
  out.packets = off / kPacket;
  uint64_t cut = off;
  for (auto &[pid, pes] : open) {
    if (!pes.complete && !pes.stuffed_last) {
      cut = std::min(cut, pes.start);
    } else {
      pes.complete = true;
      done.push_back(pes);
    }
  }
  out.size = cut;
  std::sort(done.begin(), done.end(), [](const Pes &a, const Pes &b) { return a.start < b.start; });
  int64_t first = INT64_MAX, last = INT64_MIN, step = INT64_MAX;
  std::vector<int64_t> video_pts;
  bool have_video = false;
  for (const auto &pes : done) {
    if (pes.end > cut || pes.pts < 0)
      continue;
    if (pes.pid == kVideoPid) {
      have_video = true;
      ++out.video_frames;
      video_pts.push_back(pes.pts);
      if (pes.random_access)
        out.keyframes.push_back({from90(pes.pts), pes.start});
    } else {
      ++out.audio_frames;
    }
  }
  for (const auto &pes : done) {
    if (pes.end > cut || pes.pts < 0 || (have_video && pes.pid != kVideoPid))
      continue;
    first = std::min(first, pes.pts);
    last = std::max(last, pes.pts);
  }
  std::sort(video_pts.begin(), video_pts.end());
  for (size_t i = 1; i < video_pts.size(); ++i)
    if (video_pts[i] > video_pts[i - 1])
      step = std::min(step, video_pts[i] - video_pts[i - 1]);
  if (step == INT64_MAX)
    step = have_video ? 3000 : 1920; /* one frame at 30 fps, one AAC frame at 48 kHz */
  if (first != INT64_MAX) {
    out.start = from90(first);
    out.end = from90(last + step);
  }
  return out;
}

bool repair_recording(const std::string &folder, int64_t now_us, RepairReport &report,
                      std::string &error)
{
  report = RepairReport{};
  const std::string manifest_path = folder + "/" + kManifestName;
  Manifest m;
  if (g_file_test(manifest_path.c_str(), G_FILE_TEST_EXISTS)) {
    auto read = read_manifest(manifest_path, error);
    if (!read)
      return false;
    m = *read;
  } else {
    GStatBuf st;
    if (g_stat(folder.c_str(), &st) != 0) {
      error = folder + ": " + std::strerror(errno);
      return false;
    }
    m.started_us = static_cast<int64_t>(st.st_mtime) * 1000000;
  }
  if (m.state != State::Recording) {
    report.duration = m.duration();
    report.message = folder + " is already " + state_name(m.state);
    return true;
  }

  /* Segment files after the listed ones. */
  unsigned next = 0;
  for (const auto &s : m.segments)
    next = std::max(next, *segment_index(s.uri) + 1);
  std::vector<unsigned> unlisted;
  std::vector<std::string> names;
  if (!folder_names(folder, names, error))
    return false;
  for (const auto &name : names) {
    auto index = segment_index(name);
    if (index && *index >= next)
      unlisted.push_back(*index);
  }
  std::sort(unlisted.begin(), unlisted.end());

  for (unsigned index : unlisted) {
    const std::string path = folder + "/" + segment_name(index);
    g_autoptr(GError) err = nullptr;
    g_autofree gchar *bytes = nullptr;
    gsize size = 0;
    if (!g_file_get_contents(path.c_str(), &bytes, &size, &err)) {
      error = err->message;
      return false;
    }
    const TsScan scan = scan_segment(reinterpret_cast<const uint8_t *>(bytes), size);
    const bool usable = m.video ? !scan.keyframes.empty() : scan.audio_frames > 0;
    if (!usable) {
      if (!remove_path(path, error))
        return false;
      ++report.removed;
      continue;
    }
    if (scan.size < size) {
      if (truncate(path.c_str(), static_cast<off_t>(scan.size)) != 0) {
        error = "could not truncate " + path + ": " + std::strerror(errno);
        return false;
      }
      report.truncated += size - scan.size;
    }
    Segment seg;
    seg.uri = segment_name(index);
    seg.start = m.segments.empty() ? 0 : std::max(scan.start, m.duration());
    seg.duration = std::max<int64_t>(0, scan.end - seg.start);
    seg.bytes = scan.size;
    seg.keyframes = scan.keyframes;
    m.segments.push_back(std::move(seg));
    ++report.recovered;
  }

  m.state = State::Interrupted;
  m.ended_us = now_us;
  if (m.reason.empty())
    m.reason = "the recorder stopped without finalising (a crash, kill or power cut); "
               "repaired from the files on disk";
  if (!write_manifest_files(folder, m, true, error))
    return false;
  report.changed = true;
  report.duration = m.duration();
  report.message = folder + ": interrupted recording finalised, " +
                   std::to_string(m.segments.size()) + " segments, " +
                   std::to_string(report.recovered) + " recovered from disk, " +
                   std::to_string(report.truncated) + " torn bytes cut";
  return true;
}

} // namespace sugarcast::record
