/* Sugarcast — writing one recording to disk. */
#include "writer.h"

#include "bitstream.h"
#include "mpegts.h"

#include <glib.h>
#include <glib/gstdio.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sugarcast::record {

using abr::Bytes;

namespace {

constexpr int64_t kUnknown = INT64_MIN;
/* TS timestamps run from 1 s at the recording's start, so the DTS of the
 * first frames (before their PTS with B-frames) and audio starting just
 * before the first keyframe stay positive. */
constexpr int64_t kTsOffset = abr::kTsClock;
constexpr int64_t kTsOffsetNs = kTsOffset * 1000000000 / abr::kTsClock;
/* Frame times are rounded (33333333 ns at 30 fps): a keyframe this close to
 * the target still cuts there. */
constexpr int64_t kCutSlack = 10000000;

int64_t to90(int64_t ns)
{
  return ns / 100000 * 9 + (ns % 100000) * 9 / 100000 + kTsOffset;
}

} // namespace

struct Writer::Impl
{
  WriterSettings s;
  Hooks hooks;
  Manifest manifest;
  abr::TsWriter ts;
  bool opened = false;
  bool finished = false;
  bool failed = false;

  int64_t base = kUnknown; /* the first sample's time: the recording's zero */
  int fd = -1;
  unsigned index = 0;
  std::string seg_path;
  Segment seg;            /* the open segment */
  uint64_t committed = 0; /* bytes of it handed to the kernel */
  Bytes pending;
  int64_t pending_since = kUnknown;
  int64_t end = kUnknown; /* latest sample end, from base */

  Impl(WriterSettings settings, Hooks h)
      : s(std::move(settings)), hooks(std::move(h)), ts(s.video, s.audio)
  {
    manifest.video = s.video;
    manifest.audio = s.audio;
    manifest.segment_target = s.segment_target;
  }

  void fail(const std::string &what, const std::string &debug)
  {
    if (failed)
      return;
    failed = true;
    manifest.reason = what;
    if (hooks.failed)
      hooks.failed(what, debug);
  }

  bool open_segment(int64_t start)
  {
    seg_path = s.folder + "/" + segment_name(index);
    fd = ::open(seg_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      fail("Could not create recording segment " + seg_path + ": " + std::strerror(errno),
           "open(2) failed");
      return false;
    }
    seg = Segment{};
    seg.uri = segment_name(index);
    seg.start = start;
    committed = 0;
    pending.clear();
    pending_since = kUnknown;
    ts.write_tables(pending);
    if (hooks.segment_opened)
      hooks.segment_opened(seg_path);
    return true;
  }

  bool flush()
  {
    size_t done = 0;
    while (done < pending.size()) {
      const ssize_t n = ::write(fd, pending.data() + done, pending.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        const int e = n < 0 ? errno : ENOSPC;
        /* Leave the file as it was before this piece: whole frames only. */
        if (ftruncate(fd, static_cast<off_t>(committed)) != 0) {
          /* The reader (repair) cuts a torn tail anyway. */
        }
        fail("Could not write recording segment " + seg_path + ": " + std::strerror(e),
             "write(2) failed after " + std::to_string(committed + done) + " bytes");
        pending.clear();
        return false;
      }
      done += static_cast<size_t>(n);
    }
    committed += pending.size();
    pending.clear();
    pending_since = kUnknown;
    if (s.sync == Sync::Piece && fdatasync(fd) != 0) {
      fail("Could not sync recording segment " + seg_path + ": " + std::strerror(errno),
           "fdatasync(2) failed");
      return false;
    }
    return true;
  }

  /* Closes the open segment at END (from base) and lists it. */
  bool close_segment(int64_t seg_end)
  {
    if (fd < 0)
      return true;
    bool ok = failed ? true : flush();
    if (ok && !failed && s.sync != Sync::None && fdatasync(fd) != 0) {
      fail("Could not sync recording segment " + seg_path + ": " + std::strerror(errno),
           "fdatasync(2) failed");
    }
    ::close(fd);
    fd = -1;
    seg.bytes = committed;
    std::erase_if(seg.keyframes, [&](const Keyframe &k) { return k.offset >= committed; });
    seg.duration = std::max<int64_t>(0, seg_end - seg.start);
    if (committed == 0 || (seg.keyframes.empty() && s.video)) {
      g_unlink(seg_path.c_str());
      return ok;
    }
    manifest.segments.push_back(seg);
    ++index;
    if (hooks.segment_closed)
      hooks.segment_closed(seg, seg_path);
    return write_manifest() && ok;
  }

  bool write_manifest()
  {
    std::string error;
    if (!write_manifest_files(s.folder, manifest, s.sync != Sync::None, error)) {
      fail("Could not write the manifest of recording " + s.folder + ": " + error,
           "g_file_set_contents_full failed");
      return false;
    }
    return true;
  }

  void maybe_flush(int64_t t)
  {
    if (pending_since == kUnknown)
      pending_since = t;
    else if (t - pending_since >= s.piece)
      flush();
  }
};

Writer::Writer(WriterSettings settings, Hooks hooks)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(hooks)))
{}

Writer::~Writer()
{
  if (impl_->fd >= 0)
    ::close(impl_->fd);
}

bool Writer::open(int64_t started_us, std::string &error)
{
  Impl &d = *impl_;
  if (g_mkdir_with_parents(d.s.folder.c_str(), 0755) != 0) {
    error = "could not create " + d.s.folder + ": " + std::strerror(errno);
    d.fail("Could not create recording folder " + d.s.folder + ": " + std::strerror(errno),
           "g_mkdir_with_parents failed");
    return false;
  }
  d.manifest.started_us = started_us;
  d.opened = true;
  if (!d.write_manifest()) {
    error = d.manifest.reason;
    return false;
  }
  return true;
}

void Writer::video(const uint8_t *data, size_t size, int64_t pts, int64_t dts, int64_t duration,
                   bool keyframe)
{
  Impl &d = *impl_;
  if (!d.opened || d.finished || d.failed || pts == kUnknown)
    return;
  if (d.base == kUnknown) {
    if (!keyframe)
      return;
    d.base = pts;
  }
  const int64_t t = pts - d.base;
  /* A DTS after its PTS, or more than the TS offset before the recording's
   * zero (which would wrap), is not a decode time: the PTS stands in. */
  if (dts == kUnknown || dts > pts || dts - d.base < -kTsOffsetNs)
    dts = pts;
  if (keyframe && d.fd >= 0 && t - d.seg.start + kCutSlack >= d.s.segment_target)
    d.close_segment(t);
  if (d.fd < 0 && (d.failed || !d.open_segment(t)))
    return;

  /* recordsink's h264parse (config-interval=-1) put AUD, SPS and PPS before
   * every IDR: the access unit goes into MPEG-TS as it is. */
  const Bytes au(data, data + size);
  if (keyframe)
    d.seg.keyframes.push_back({t, d.committed + d.pending.size()});
  d.ts.write_video(d.pending, au, to90(t), to90(dts - d.base), keyframe);
  d.end = std::max(d.end, t + std::max<int64_t>(duration, 0));
  d.maybe_flush(t);
}

void Writer::audio(const uint8_t *data, size_t size, int64_t pts, int64_t duration)
{
  Impl &d = *impl_;
  if (!d.opened || d.finished || d.failed || pts == kUnknown)
    return;
  if (d.base == kUnknown) {
    if (d.s.video)
      return; /* video leads: audio joins at its first keyframe */
    d.base = pts;
  }
  const int64_t t = pts - d.base;
  if (!d.s.video && d.fd >= 0 && t - d.seg.start + kCutSlack >= d.s.segment_target)
    d.close_segment(t);
  if (d.fd < 0) {
    if (d.s.video || d.failed || !d.open_segment(t))
      return;
  }
  const Bytes frame(data, data + size);
  d.ts.write_audio(d.pending, frame, to90(t));
  d.end = std::max(d.end, t + std::max<int64_t>(duration, 0));
  d.maybe_flush(t);
}

void Writer::add_daterange(abr::DateRangeTag range)
{
  impl_->manifest.dateranges.push_back(std::move(range));
}

void Writer::mark_incomplete(const std::string &reason)
{
  if (impl_->manifest.reason.empty())
    impl_->manifest.reason = reason;
  impl_->manifest.state = State::Incomplete;
}

bool Writer::finish(int64_t ended_us)
{
  Impl &d = *impl_;
  if (!d.opened || d.finished)
    return !d.failed;
  d.finished = true;
  bool ok = d.close_segment(d.end == kUnknown ? d.seg.start : d.end);
  d.manifest.ended_us = ended_us;
  d.manifest.state =
      d.failed || d.manifest.state == State::Incomplete ? State::Incomplete : State::Complete;
  /* After a write failure this may fail too (a full disk); repair then
   * finalises from what is there. */
  std::string error;
  ok = write_manifest_files(d.s.folder, d.manifest, d.s.sync != Sync::None, error) && ok;
  return ok && !d.failed;
}

bool Writer::failed() const
{
  return impl_->failed;
}

const Manifest &Writer::manifest() const
{
  return impl_->manifest;
}

const std::string &Writer::folder() const
{
  return impl_->s.folder;
}

} // namespace sugarcast::record
