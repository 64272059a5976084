/* Sugarcast — replaysrc's range planning (plugins/record/core/range.*): which
 * bytes of which segments a range reads, from the manifest alone; the
 * frame-exact head GOP; the SPS/PPS at a keyframe; the ranges refused.
 *
 * Made-up manifests pin the exact chunks (a range inside a segment, across
 * segments, on and next to keyframes, stops past the end, gaps); recordings
 * the record core's Writer makes are read back through the plan, and the
 * video frames found in those bytes must be exactly the keyframe-aligned
 * range's. range.* works in the manifest's nanoseconds from the recording's
 * start, never in MPEG-TS timestamps, so a 33-bit PTS wrap cannot reach it;
 * one test pins that times past the wrap plan like any others. */
#include "range.h"

#include "fake_media.h"
#include "testenv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

using namespace sugarcast::record;
using namespace sugarcast::test::fake;

namespace {

constexpr int64_t kSecond = 1000000000;
constexpr uint64_t kTables = 2 * 188; /* PAT and PMT at every segment's start */
constexpr uint64_t kGop = 10000;      /* bytes of one GOP in made-up segments */

/* A made-up segment as recordsink writes them: its tables, then GOPS
 * one-second GOPs of kGop bytes, a keyframe at each GOP's first byte. */
Segment made_up(unsigned index, int64_t start, int gops)
{
  Segment s;
  s.uri = segment_name(index);
  s.start = start;
  s.duration = gops * kSecond;
  s.bytes = kTables + gops * kGop;
  for (int g = 0; g < gops; ++g)
    s.keyframes.push_back({start + g * kSecond, kTables + g * kGop});
  return s;
}

/* 12 s in three segments of 4 s: 0-4, 4-8, 8-12. */
Manifest twelve_seconds()
{
  Manifest m;
  for (unsigned i = 0; i < 3; ++i)
    m.segments.push_back(made_up(i, i * 4 * kSecond, 4));
  return m;
}

/* "seg00000.ts[0,376)@0 ..." : each chunk's file, byte span and place in the stream. */
std::string show(const std::vector<Chunk> &chunks)
{
  std::ostringstream out;
  for (const auto &c : chunks) {
    const size_t slash = c.path.rfind('/');
    out << (out.tellp() > 0 ? " " : "") << c.path.substr(slash + 1) << "[" << c.from << ","
        << c.from + c.size << ")@" << c.at;
  }
  return out.str();
}

/* What any plan must be: chunks of the manifest's segments in FOLDER, each
 * inside its segment and not empty, one after the other in the stream. */
void expect_well_formed(const std::string &folder, const Manifest &m,
                        const std::vector<Chunk> &chunks)
{
  uint64_t at = 0;
  for (const auto &c : chunks) {
    SCOPED_TRACE(show(chunks));
    const Segment *seg = nullptr;
    for (const auto &s : m.segments)
      if (c.path == folder + "/" + s.uri)
        seg = &s;
    ASSERT_NE(seg, nullptr) << c.path << " is none of the manifest's segments";
    EXPECT_GT(c.size, 0u);
    EXPECT_LE(c.from + c.size, seg->bytes);
    EXPECT_EQ(c.at, at);
    at = c.at + c.size;
  }
}

/* The bytes CHUNKS stand for, read from their files, one after the other. */
std::string read_chunks(const std::vector<Chunk> &chunks)
{
  std::string out;
  for (const auto &c : chunks) {
    std::ifstream in(c.path, std::ios::binary);
    EXPECT_TRUE(in) << c.path;
    in.seekg(static_cast<std::streamoff>(c.from));
    std::string part(c.size, '\0');
    in.read(part.data(), static_cast<std::streamsize>(c.size));
    EXPECT_EQ(static_cast<uint64_t>(in.gcount()), c.size) << c.path;
    out += part;
  }
  return out;
}

struct Stream
{
  bool starts_with_pat = false;
  bool whole_packets = false;
  std::vector<long> video_frames; /* frame numbers (30 fps) of the video PES, in order */
};

/* Walks an MPEG-TS stream the Writer made: video on PID 0x100, PTS at 90 kHz
 * from 1 s at the recording's start. */
Stream parse_ts(const std::string &ts)
{
  Stream out;
  out.whole_packets = ts.size() % 188 == 0;
  for (size_t at = 0; at + 188 <= ts.size(); at += 188) {
    const auto *p = reinterpret_cast<const uint8_t *>(ts.data() + at);
    if (p[0] != 0x47) {
      out.whole_packets = false;
      break;
    }
    const int pid = ((p[1] & 0x1f) << 8) | p[2];
    if (at == 0)
      out.starts_with_pat = pid == 0;
    if (pid != 0x100 || !(p[1] & 0x40))
      continue;
    size_t payload = 4 + ((p[3] & 0x20) ? 1 + p[4] : 0);
    const uint8_t *pes = p + payload;
    if (payload + 14 > 188 || pes[0] || pes[1] || pes[2] != 1 || !(pes[7] & 0x80))
      continue;
    const int64_t pts = (static_cast<int64_t>(pes[9] & 0x0e) << 29) | (pes[10] << 22) |
                        ((pes[11] & 0xfe) << 14) | (pes[12] << 7) | (pes[13] >> 1);
    out.video_frames.push_back(std::lround((pts - 90000) / 3000.0));
  }
  return out;
}

/* A 12 s recording (30 fps, a keyframe every second, AAC; segments 0-4,
 * 4-8, 8-12 s) written by the Writer, and its manifest. */
struct Recording
{
  std::string folder;
  Manifest manifest;
};

const Recording &recording()
{
  static const Recording rec = [] {
    Recording r;
    r.folder = fresh("range") + "/rec";
    auto w = write_media(r.folder, 12.0);
    EXPECT_TRUE(w->finish(1700000012000000));
    r.manifest = w->manifest();
    return r;
  }();
  return rec;
}

/* Frame numbers FROM to TO - 1. */
std::vector<long> frames(long from, long to)
{
  std::vector<long> out;
  for (long n = from; n < to; ++n)
    out.push_back(n);
  return out;
}

/* The first frame at or after T (ns), and the keyframes (every 30th frame)
 * at or before and at or after T, in a recording of FRAMES frames. */
long frame_at(int64_t t)
{
  return static_cast<long>((t + kFrame - 1) / kFrame); /* the first at or after t */
}
long keyframe_at_or_before(int64_t t)
{
  return static_cast<long>(t / kFrame) / 30 * 30;
}
long keyframe_at_or_after(int64_t t, long frames)
{
  const long n = (frame_at(t) + 29) / 30 * 30;
  return n < frames ? n : frames;
}

} // namespace

TEST(RecordRange, InsideOneSegment)
{
  const Manifest m = twelve_seconds();
  int64_t k0 = -1;
  const auto chunks = plan_range("/rec", m, 1500000000, 2500000000, k0);
  /* The tables, then from the keyframe at 1 s to the one at 3 s. */
  EXPECT_EQ(show(chunks), "seg00000.ts[0,376)@0 seg00000.ts[10376,30376)@376");
  EXPECT_EQ(k0, kSecond);
  expect_well_formed("/rec", m, chunks);
}

TEST(RecordRange, AcrossSegmentBoundaries)
{
  const Manifest m = twelve_seconds();
  int64_t k0 = -1;
  const auto chunks = plan_range("/rec", m, 2500000000, 9500000000, k0);
  EXPECT_EQ(show(chunks), "seg00000.ts[0,376)@0 seg00000.ts[20376,40376)@376 "
                          "seg00001.ts[0,40376)@20376 seg00002.ts[0,20376)@60752");
  EXPECT_EQ(k0, 2 * kSecond);
  expect_well_formed("/rec", m, chunks);
}

TEST(RecordRange, StartsOnOrNextToAKeyframe)
{
  const Manifest m = twelve_seconds();
  struct Case
  {
    int64_t start;
    int64_t keyframe;
    const char *plan;
  } cases[] = {
      {2 * kSecond, 2 * kSecond, "seg00000.ts[0,376)@0 seg00000.ts[20376,30376)@376"},
      {2 * kSecond + 1, 2 * kSecond, "seg00000.ts[0,376)@0 seg00000.ts[20376,30376)@376"},
      {2 * kSecond - 1, kSecond, "seg00000.ts[0,376)@0 seg00000.ts[10376,20376)@376"},
      /* A segment's first keyframe: the segment from its start, tables and all. */
      {4 * kSecond, 4 * kSecond, "seg00001.ts[0,10376)@0"},
      {4 * kSecond - 1, 3 * kSecond, "seg00000.ts[0,376)@0 seg00000.ts[30376,40376)@376"},
      {0, 0, "seg00000.ts[0,10376)@0"},
  };
  for (const auto &c : cases) {
    SCOPED_TRACE(c.start);
    int64_t k0 = -1;
    /* To the keyframe after the next one: one GOP past start's. */
    const int64_t stop = c.keyframe + kSecond;
    const auto chunks = plan_range("/rec", m, c.start, stop, k0);
    EXPECT_EQ(show(chunks), c.plan);
    EXPECT_EQ(k0, c.keyframe);
  }
}

TEST(RecordRange, EndsAtTheFirstKeyframeAtOrAfterStop)
{
  const Manifest m = twelve_seconds();
  int64_t k0 = -1;
  /* On a keyframe: its frame is not in the range, its bytes are not read. */
  EXPECT_EQ(show(plan_range("/rec", m, 0, 3 * kSecond, k0)), "seg00000.ts[0,30376)@0");
  /* Just after it: to the next keyframe, the next segment's first. */
  EXPECT_EQ(show(plan_range("/rec", m, 0, 3 * kSecond + 1, k0)), "seg00000.ts[0,40376)@0");
  /* On a segment boundary: nothing of the next segment, not even its tables. */
  EXPECT_EQ(show(plan_range("/rec", m, 0, 4 * kSecond, k0)), "seg00000.ts[0,40376)@0");
  EXPECT_EQ(show(plan_range("/rec", m, 2 * kSecond, 8 * kSecond, k0)),
            "seg00000.ts[0,376)@0 seg00000.ts[20376,40376)@376 seg00001.ts[0,40376)@20376");
}

TEST(RecordRange, StopPastTheEndIsTheEnd)
{
  const Manifest m = twelve_seconds();
  int64_t k0 = -1, k0_to_end = -1;
  const auto past = plan_range("/rec", m, 5 * kSecond, 100 * kSecond, k0);
  EXPECT_EQ(show(past), "seg00001.ts[0,376)@0 seg00001.ts[10376,40376)@376 "
                        "seg00002.ts[0,40376)@30376");
  EXPECT_EQ(k0, 5 * kSecond);
  EXPECT_EQ(show(plan_range("/rec", m, 5 * kSecond, -1, k0_to_end)), show(past));
  EXPECT_EQ(range_error(m, 5 * kSecond, 100 * kSecond), "");
}

TEST(RecordRange, RefusesRangesNoOneCanPlay)
{
  const Manifest m = twelve_seconds();
  EXPECT_EQ(range_error(m, 0, -1), "");
  EXPECT_EQ(range_error(m, 11 * kSecond, 12 * kSecond), "");
  struct Case
  {
    int64_t start, stop;
    const char *says;
  } cases[] = {
      {-1, -1, "start (-1 ns) must not be negative"},
      {-5 * kSecond, 2 * kSecond, "must not be negative"},
      {5 * kSecond, 5 * kSecond, "stop (5000000000 ns) must be after start (5000000000 ns)"},
      {5 * kSecond, 4 * kSecond, "stop (4000000000 ns) must be after start (5000000000 ns)"},
      {5 * kSecond, 0, "must be after start"},
      {12 * kSecond, -1, "the recording is 12.000 s long, start is 12.000 s"},
      {60 * kSecond, 70 * kSecond, "the recording is 12.000 s long, start is 60.000 s"},
  };
  for (const auto &c : cases) {
    SCOPED_TRACE(std::to_string(c.start) + ".." + std::to_string(c.stop));
    const std::string error = range_error(m, c.start, c.stop);
    EXPECT_NE(error.find(c.says), std::string::npos) << error;
    /* Planned anyway (replaysrc never does), the chunks stay inside the
     * recording's files. */
    int64_t k0 = -1, k1 = -1;
    expect_well_formed("/rec", m, plan_range("/rec", m, c.start, c.stop, k0));
    expect_well_formed("/rec", m, plan_head("/rec", m, c.start, k1));
  }
}

TEST(RecordRange, AnEmptyRecordingPlansNothing)
{
  const Manifest m;
  EXPECT_EQ(range_error(m, 0, -1), "the recording has no segments (nothing was recorded)");
  int64_t k0 = -1, k1 = 0;
  EXPECT_TRUE(plan_range("/rec", m, 0, -1, k0).empty());
  EXPECT_EQ(k0, 0);
  EXPECT_TRUE(plan_head("/rec", m, 0, k1).empty());
  EXPECT_EQ(k1, -1);
}

TEST(RecordRange, SegmentsWithAGap)
{
  /* 0-4 s, then 6-10 s in seg00002.ts: seg00001.ts and 2 s were lost. */
  Manifest m;
  m.segments.push_back(made_up(0, 0, 4));
  m.segments.push_back(made_up(2, 6 * kSecond, 4));
  int64_t k0 = -1;
  /* Across the gap: to the keyframe at 8 s in the segment after it. */
  EXPECT_EQ(show(plan_range("/rec", m, 3500000000, 7500000000, k0)),
            "seg00000.ts[0,376)@0 seg00000.ts[30376,40376)@376 seg00002.ts[0,20376)@10376");
  EXPECT_EQ(k0, 3 * kSecond);
  /* Starting in the gap: at the first keyframe after it. */
  EXPECT_EQ(show(plan_range("/rec", m, 5 * kSecond, -1, k0)), "seg00002.ts[0,40376)@0");
  EXPECT_EQ(k0, 6 * kSecond);
  /* Stopping in the gap: nothing after it. */
  EXPECT_EQ(show(plan_range("/rec", m, kSecond, 5 * kSecond, k0)),
            "seg00000.ts[0,376)@0 seg00000.ts[10376,40376)@376");
  EXPECT_EQ(range_error(m, 5 * kSecond, -1), "");
  EXPECT_EQ(range_error(m, 3 * kSecond, 5 * kSecond), "");
  EXPECT_EQ(range_error(m, 4 * kSecond, 6 * kSecond),
            "nothing was recorded from 4.000 s to 6.000 s (a gap between segments)");
  EXPECT_NE(range_error(m, 4500000000, 5 * kSecond).find("nothing was recorded"),
            std::string::npos);
  /* The end is the last segment's end, gap included. */
  EXPECT_NE(range_error(m, 10 * kSecond, -1).find("10.000 s long"), std::string::npos);
}

TEST(RecordRange, AudioOnlySegmentsPlayWhole)
{
  /* No video, no keyframes: a range is whole segments. */
  Manifest m = twelve_seconds();
  m.video = false;
  for (auto &s : m.segments)
    s.keyframes.clear();
  int64_t k0 = -1;
  EXPECT_EQ(show(plan_range("/rec", m, 5 * kSecond, 9 * kSecond, k0)),
            "seg00001.ts[0,40376)@0 seg00002.ts[0,40376)@40376");
  EXPECT_EQ(k0, 4 * kSecond);
}

TEST(RecordRange, TimesPastAPtsWrapPlanLikeAnyOther)
{
  /* 2^33 ticks of 90 kHz is 26.5 h: a recording that long has wrapped its
   * PTS, not its manifest's nanoseconds. */
  const int64_t wrap = (int64_t{1} << 33) * kSecond / 90000;
  Manifest m;
  m.segments.push_back(made_up(0, wrap - 2 * kSecond, 4));
  m.segments.push_back(made_up(1, wrap + 2 * kSecond, 4));
  int64_t k0 = -1, k1 = -1;
  EXPECT_EQ(show(plan_range("/rec", m, wrap + 500000000, wrap + 2500000000, k0)),
            "seg00000.ts[0,376)@0 seg00000.ts[20376,40376)@376 seg00001.ts[0,10376)@20376");
  EXPECT_EQ(k0, wrap);
  EXPECT_EQ(show(plan_head("/rec", m, wrap + 500000000, k1)),
            "seg00000.ts[0,376)@0 seg00000.ts[20376,30376)@376");
  EXPECT_EQ(k1, wrap + kSecond);
}

TEST(RecordRange, HeadIsTheGopStartFallsIn)
{
  const Manifest m = twelve_seconds();
  struct Case
  {
    int64_t start;
    int64_t next_keyframe;
    const char *plan;
  } cases[] = {
      {2500000000, 3 * kSecond, "seg00000.ts[0,376)@0 seg00000.ts[20376,30376)@376"},
      /* The first GOP of a segment: from its start, tables and all. */
      {4500000000, 5 * kSecond, "seg00001.ts[0,10376)@0"},
      /* A segment's last GOP: to its end; the next keyframe opens the next segment. */
      {7500000000, 8 * kSecond, "seg00001.ts[0,376)@0 seg00001.ts[30376,40376)@376"},
      /* The recording's last GOP: no next keyframe. */
      {11500000000, -1, "seg00002.ts[0,376)@0 seg00002.ts[30376,40376)@376"},
      /* On a keyframe (replaysrc re-encodes nothing then): that GOP. */
      {6 * kSecond, 7 * kSecond, "seg00001.ts[0,376)@0 seg00001.ts[20376,30376)@376"},
  };
  for (const auto &c : cases) {
    SCOPED_TRACE(c.start);
    int64_t k1 = 0, k0 = -1;
    const auto head = plan_head("/rec", m, c.start, k1);
    EXPECT_EQ(show(head), c.plan);
    EXPECT_EQ(k1, c.next_keyframe);
    /* Both readers start on the same packet. */
    const auto range = plan_range("/rec", m, c.start, -1, k0);
    ASSERT_FALSE(head.empty());
    ASSERT_FALSE(range.empty());
    ASSERT_GE(range.size(), head.size());
    EXPECT_EQ(head.back().path, range[head.size() - 1].path);
    EXPECT_EQ(head.back().from, range[head.size() - 1].from);
  }
}

TEST(RecordRange, TheBytesOfARangeHoldItsFrames)
{
  /* Read through the plan, a recording the Writer made: the video frames in
   * the bytes are the keyframe-aligned range's, each once, in order, from
   * the keyframe at or before start to the last before the first keyframe
   * at or after stop. */
  const Recording &rec = recording();
  ASSERT_EQ(rec.manifest.segments.size(), 3u);
  const long total = 360;
  const int64_t starts[] = {0,
                            500000000,
                            30 * kFrame,
                            30 * kFrame + 1,
                            30 * kFrame - 1,
                            120 * kFrame, /* the second segment's first frame */
                            120 * kFrame - 1,
                            7900000000,
                            11500000000};
  for (const int64_t start : starts)
    for (const int64_t length :
         {int64_t{-1}, int64_t{100000000}, kSecond, 5 * kSecond, 30 * kFrame, 100 * kSecond}) {
      const int64_t stop = length < 0 ? -1 : start + length;
      SCOPED_TRACE(std::to_string(start) + ".." + std::to_string(stop));
      ASSERT_EQ(range_error(rec.manifest, start, stop), "");
      int64_t k0 = -1;
      const auto chunks = plan_range(rec.folder, rec.manifest, start, stop, k0);
      expect_well_formed(rec.folder, rec.manifest, chunks);
      const Stream ts = parse_ts(read_chunks(chunks));
      EXPECT_TRUE(ts.starts_with_pat);
      EXPECT_TRUE(ts.whole_packets);
      const long first = keyframe_at_or_before(start);
      const long end = stop < 0 ? total : keyframe_at_or_after(stop, total);
      EXPECT_EQ(k0, first * kFrame);
      EXPECT_EQ(ts.video_frames, frames(first, end));
    }
}

TEST(RecordRange, TheBytesOfAHeadAreOneGop)
{
  const Recording &rec = recording();
  for (const int64_t start : {int64_t{2500000000}, int64_t{3900000000}, int64_t{4000000001},
                              int64_t{11500000000}, int64_t{100000000}}) {
    SCOPED_TRACE(start);
    int64_t k1 = 0;
    const auto head = plan_head(rec.folder, rec.manifest, start, k1);
    expect_well_formed(rec.folder, rec.manifest, head);
    const Stream ts = parse_ts(read_chunks(head));
    EXPECT_TRUE(ts.starts_with_pat);
    const long first = keyframe_at_or_before(start);
    const long next = first + 30 < 360 ? first + 30 : -1;
    EXPECT_EQ(k1, next < 0 ? -1 : next * kFrame);
    EXPECT_EQ(ts.video_frames, frames(first, next < 0 ? 360 : next));
  }
}

TEST(RecordRange, ParameterSetsAreTheKeyframesOwn)
{
  /* Each keyframe carries its own SPS (told apart by its bytes); the later
   * ones are longer than a TS packet. */
  const std::string folder = fresh("range-sps") + "/rec";
  auto sps_of = [](int gop) {
    return std::vector<uint8_t>(8 + 100 * static_cast<size_t>(gop),
                                static_cast<uint8_t>(0x10 + gop));
  };
  auto w = write_media(folder, 6.0, {}, [&](int n) {
    const bool keyframe = n % 30 == 0;
    return fake_au(keyframe, keyframe ? 3000 : 600, static_cast<uint8_t>(0x10 + n / 30),
                   8 + 100 * static_cast<size_t>(n / 30));
  });
  ASSERT_TRUE(w->finish(1700000006000000));
  const Manifest &m = w->manifest();
  int gop = 0;
  for (const auto &s : m.segments)
    for (const auto &k : s.keyframes) {
      SCOPED_TRACE(gop);
      const auto sets = keyframe_at(folder + "/" + s.uri, k.offset).parameter_sets;
      ASSERT_EQ(sets.sps.size(), 1u);
      ASSERT_EQ(sets.pps.size(), 1u);
      std::vector<uint8_t> sps = {0x67};
      const auto body = sps_of(gop);
      sps.insert(sps.end(), body.begin(), body.end());
      EXPECT_EQ(sets.sps[0], sps);
      EXPECT_EQ(sets.pps[0], (std::vector<uint8_t>{0x68, 0x5a, 0x5a, 0x5a}));
      ++gop;
    }
  EXPECT_EQ(gop, 6);
  /* Nothing to read: none found, no crash. */
  EXPECT_TRUE(keyframe_at(folder + "/no-such.ts", 0).parameter_sets.empty());
  EXPECT_TRUE(
      keyframe_at(folder + "/" + m.segments[0].uri, m.segments[0].bytes).parameter_sets.empty());
  EXPECT_TRUE(keyframe_at(folder + "/" + m.segments[0].uri, 1u << 30).parameter_sets.empty());
}

TEST(RecordRange, ReorderDelayIsThePesHeaders)
{
  /* PTS - DTS at each keyframe: the source's reorder delay, which a
   * frame-exact head's DTS are offset by; 0 without B-frames. */
  for (const int64_t reorder : {int64_t{0}, 2 * kFrame}) {
    SCOPED_TRACE(reorder);
    const std::string folder = fresh("range-reorder-" + std::to_string(reorder)) + "/rec";
    auto w = write_media(folder, 5.0, {}, nullptr, reorder);
    ASSERT_TRUE(w->finish(1700000005000000));
    int keyframes = 0;
    for (const auto &s : w->manifest().segments)
      for (const auto &k : s.keyframes) {
        /* 90 kHz ticks: within one of the nanoseconds. */
        EXPECT_NEAR(keyframe_at(folder + "/" + s.uri, k.offset).reorder_delay, reorder, 11112);
        ++keyframes;
      }
    EXPECT_EQ(keyframes, 5);
  }
  EXPECT_EQ(keyframe_at(fresh("range-reorder-none") + "/no-such.ts", 0).reorder_delay, 0);
}
