/* The plain C++ parts of the abr plugin, without GStreamer: ladder, keyframe
 * grid, bitstreams, playlists. */
#include "bitstream.h"
#include "downscale.h"
#include "keygrid.h"
#include "ladder.h"
#include "mpegts.h"
#include "playlist.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <thread>

using namespace sugarcast::abr;

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000000000;

std::vector<RungSpec> ladder(const std::string &text)
{
  std::string error;
  auto rungs = parse_ladder(text, error);
  EXPECT_TRUE(rungs) << error;
  return rungs ? *rungs : std::vector<RungSpec>{};
}

std::string sizes(const LadderPlan &plan)
{
  std::string out;
  for (const auto &r : plan.active) {
    if (!out.empty())
      out += " ";
    out += r.spec.source ? "source" : std::to_string(r.width) + "x" + std::to_string(r.height);
  }
  return out;
}

} // namespace

/* ---- ladder ---- */

TEST(Ladder, ParsesSortsAndNormalises)
{
  auto rungs = ladder(" 360p:800 , 1080P:5000,720p:2800:30,source ");
  ASSERT_EQ(rungs.size(), 4u);
  EXPECT_TRUE(rungs[0].source);
  EXPECT_EQ(rungs[1].short_side, 1080);
  EXPECT_EQ(rungs[2].text, "720p:2800:30");
  EXPECT_EQ(rungs[2].max_fps, 30);
  EXPECT_EQ(rungs[3].kbps, 800);
  EXPECT_EQ(format_ladder(rungs), "source,1080p:5000,720p:2800:30,360p:800");
}

TEST(Ladder, RefusesWithTheEntryAndWhatWasExpected)
{
  struct Case
  {
    const char *text;
    const char *message;
  } cases[] = {
      {"720p:2800,720x:1400", "ladder entry 2 '720x:1400': the size must be a height followed by "
                              "'p'; expected HEIGHTp:KBPS[:MAXFPS] (like 720p:2800 or 360p:800:30) "
                              "or source[:KBPS]"},
      {"720p", "ladder entry 1 '720p': expected HEIGHTp:KBPS[:MAXFPS] (like 720p:2800 or "
               "360p:800:30) or source[:KBPS]"},
      {"720p:fast", "ladder entry 1 '720p:fast': the bitrate must be a whole number of kb/s "
                    "between 1 and 1000000"},
      {"720p:2800,,360p:800", "ladder entry 2 '': empty; expected HEIGHTp:KBPS[:MAXFPS] (like "
                              "720p:2800 or 360p:800:30) or source[:KBPS]"},
      {"source", "the ladder needs at least one encoded rung besides 'source'"},
      {"source,source,360p:800", "ladder entry 2 'source': only one source rung is allowed"},
      {"360p:800:0", "ladder entry 1 '360p:800:0': the maximum frame rate must be a whole number "
                     "between 1 and 1000"},
  };
  for (const auto &c : cases) {
    std::string error;
    EXPECT_FALSE(parse_ladder(c.text, error)) << c.text;
    EXPECT_EQ(error, c.message) << c.text;
  }
}

TEST(Ladder, A720pSourceKeeps720And480And360)
{
  auto plan = plan_rungs(ladder("1080p:5000,720p:2800,480p:1400,360p:800"), {1280, 720}, false);
  EXPECT_EQ(sizes(plan), "1280x720 854x480 640x360");
  ASSERT_EQ(plan.dropped.size(), 1u);
  EXPECT_EQ(plan.dropped[0].text, "1080p:5000");
}

TEST(Ladder, OddSizesGiveEvenAspectCorrectSizes)
{
  auto plan = plan_rungs(ladder("1080p:5000,720p:2800,480p:1400,360p:800"), {1366, 768}, false);
  EXPECT_EQ(sizes(plan), "1280x720 854x480 640x360");
  for (const auto &r : plan.active) {
    EXPECT_EQ(r.width % 2, 0);
    EXPECT_EQ(r.height % 2, 0);
    EXPECT_NEAR(static_cast<double>(r.width) / r.height, 1366.0 / 768.0, 0.01);
  }
}

TEST(Ladder, PortraitIsLadderedByItsShortSide)
{
  auto plan = plan_rungs(ladder("1080p:5000,720p:2800,480p:1400,360p:800"), {1080, 1920}, false);
  EXPECT_TRUE(plan.portrait);
  EXPECT_EQ(sizes(plan), "1080x1920 720x1280 480x854 360x640");
}

TEST(Ladder, NonSquarePixelsAreDisplayedSquare)
{
  /* 720x576 at 16:15 is 768x576 on screen. */
  auto plan = plan_rungs(ladder("576p:2000,288p:600"), {720, 576, 16, 15}, false);
  EXPECT_EQ(sizes(plan), "768x576 384x288");
}

TEST(Ladder, ASourceSmallerThanEveryRungKeepsTheSmallestAtItsOwnSize)
{
  auto plan = plan_rungs(ladder("720p:2800,360p:800"), {320, 241}, false);
  EXPECT_EQ(sizes(plan), "320x240");
  ASSERT_EQ(plan.active.size(), 1u);
  EXPECT_TRUE(plan.active[0].clamped);
  EXPECT_EQ(plan.active[0].spec.kbps, 800);
  EXPECT_EQ(plan.dropped.size(), 1u);
}

TEST(Ladder, SourceRungOnlyWithThePublishersStream)
{
  auto rungs = ladder("source,720p:2800,360p:800");
  EXPECT_EQ(sizes(plan_rungs(rungs, {1920, 1080}, true)), "source 1280x720 640x360");
  auto without = plan_rungs(rungs, {1920, 1080}, false);
  EXPECT_EQ(sizes(without), "1280x720 640x360");
  ASSERT_EQ(without.dropped.size(), 1u);
  EXPECT_TRUE(without.dropped[0].source);
}

TEST(Ladder, MaximumFrameRateKeepsOneFrameInN)
{
  auto plan = plan_rungs(ladder("720p:2800,360p:800:30"), {1280, 720, 1, 1, 60, 1}, false);
  ASSERT_EQ(plan.active.size(), 2u);
  EXPECT_EQ(plan.active[0].decimation, 1);
  EXPECT_EQ(plan.active[1].decimation, 2);
  EXPECT_EQ(plan.active[1].fps_n * 1.0 / plan.active[1].fps_d, 30.0);
  /* 29.97 under a 30 cap is left whole. */
  auto ntsc = plan_rungs(ladder("360p:800:30"), {640, 360, 1, 1, 30000, 1001}, false);
  EXPECT_EQ(ntsc.active[0].decimation, 1);
}

/* ---- keyframe grid ---- */

TEST(KeyframeGrid, EveryGopFromTheFirstFrameAndNowhereElse)
{
  KeyframeGrid grid(kSec);
  std::vector<int> keys;
  for (int i = 0; i < 300; ++i) {
    const int64_t t = 5 * kSec + i * kSec / 30;
    if (grid.on_grid(t, kSec / 30))
      keys.push_back(i);
  }
  std::vector<int> expected;
  for (int i = 0; i < 300; i += 30)
    expected.push_back(i);
  EXPECT_EQ(keys, expected);
}

TEST(KeyframeGrid, NtscFrameTimesDoNotDrift)
{
  KeyframeGrid grid(kSec);
  std::vector<int> keys;
  for (int i = 0; i < 2997; ++i) {
    const int64_t t = static_cast<int64_t>(i) * 1001 * kSec / 30000;
    if (grid.on_grid(t, 1001 * kSec / 30000))
      keys.push_back(i);
  }
  /* 100 s of 29.97 fps: 100 keyframes, each within a frame after a whole second. */
  ASSERT_EQ(keys.size(), 100u);
  for (size_t k = 0; k < keys.size(); ++k) {
    const int64_t t = static_cast<int64_t>(keys[k]) * 1001 * kSec / 30000;
    EXPECT_GE(t + 1001 * kSec / 60000, static_cast<int64_t>(k) * kSec);
    EXPECT_LT(t, static_cast<int64_t>(k) * kSec + 1001 * kSec / 30000);
  }
}

TEST(KeyframeGrid, TheLastFrameOfEachGopIsKnownBeforeTheNextArrives)
{
  KeyframeGrid grid(kSec);
  std::vector<int> keys, ends;
  for (int i = 0; i < 2997; ++i) {
    const int64_t t = static_cast<int64_t>(i) * 1001 * kSec / 30000;
    if (grid.on_grid(t, 1001 * kSec / 30000))
      keys.push_back(i);
    if (grid.ends_gop())
      ends.push_back(i + 1);
  }
  /* Every announced keyframe came, and no other (the first is the anchor;
   * the last frame announces one that never comes). */
  ASSERT_EQ(keys.size(), 100u);
  ends.erase(std::remove_if(ends.begin(), ends.end(), [](int i) { return i >= 2997; }), ends.end());
  EXPECT_EQ(std::vector<int>(keys.begin() + 1, keys.end()), ends);
}

TEST(KeyframeGrid, AnAnnouncedKeyframeThatComesEarlyUsesUpItsGridTime)
{
  KeyframeGrid grid(kSec);
  EXPECT_TRUE(grid.on_grid(0, 100 * kMs));
  for (int i = 1; i < 9; ++i)
    EXPECT_FALSE(grid.on_grid(i * 100 * kMs, 100 * kMs)) << i;
  EXPECT_FALSE(grid.on_grid(900 * kMs, 100 * kMs));
  EXPECT_TRUE(grid.ends_gop());
  /* The next frame comes 30 ms early (a variable frame rate): still the
   * keyframe, and the one after it is not one again. */
  EXPECT_TRUE(grid.on_grid(970 * kMs, 100 * kMs));
  EXPECT_FALSE(grid.ends_gop());
  EXPECT_FALSE(grid.on_grid(1070 * kMs, 100 * kMs));
  /* Frames without a duration announce nothing; the grid still holds. */
  EXPECT_FALSE(grid.on_grid(1950 * kMs, kUnknown));
  EXPECT_FALSE(grid.ends_gop());
  EXPECT_TRUE(grid.on_grid(2000 * kMs, kUnknown));
}

TEST(KeyframeGrid, RestartAnchorsAtTheNextFrame)
{
  KeyframeGrid grid(kSec);
  EXPECT_TRUE(grid.on_grid(0, 40 * kMs));
  EXPECT_FALSE(grid.on_grid(400 * kMs, 40 * kMs));
  grid.restart();
  EXPECT_TRUE(grid.on_grid(440 * kMs, 40 * kMs));
  EXPECT_FALSE(grid.on_grid(1000 * kMs, 40 * kMs));
  EXPECT_TRUE(grid.on_grid(1440 * kMs, 40 * kMs));
}

TEST(SourceTimeline, AnswersOnceThePublisherHasPassedTheFrame)
{
  SourceTimeline timeline;
  timeline.add(0, 0, true);
  timeline.add(33 * kMs, 33 * kMs, false);
  EXPECT_EQ(timeline.keyframe_at(0, 5 * kMs, 0), SourceTimeline::Answer::Keyframe);
  EXPECT_EQ(timeline.keyframe_at(33 * kMs, 5 * kMs, 0), SourceTimeline::Answer::NotKeyframe);
  EXPECT_EQ(timeline.keyframe_at(50 * kMs, 5 * kMs, 0), SourceTimeline::Answer::Unknown);
  std::thread late([&] {
    /* Not an ordering: the answer is Keyframe whichever runs first; the
     * pause only makes keyframe_at() below likely to be the one waiting. */
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    timeline.add(66 * kMs, 66 * kMs, true);
  });
  /* Waits for the publisher rather than guessing. */
  EXPECT_EQ(timeline.keyframe_at(66 * kMs, 5 * kMs, 10 * kSec), SourceTimeline::Answer::Keyframe);
  late.join();
  timeline.end();
  EXPECT_EQ(timeline.keyframe_at(99 * kMs, 5 * kMs, 10 * kSec), SourceTimeline::Answer::Unknown);
}

/* ---- bitstreams ---- */

namespace {

/* x264's SPS for 1280x720 High 3.1 and a PPS. */
const Bytes kSps = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb,
                    0x01, 0x6a, 0x02, 0x02, 0x02, 0x80, 0x00, 0x00, 0x03, 0x00,
                    0x80, 0x00, 0x00, 0x1e, 0x47, 0x8c, 0x18, 0xcb};
const Bytes kPps = {0x68, 0xef, 0xbc, 0xb0};

} // namespace

TEST(Bitstream, SpsGivesTheCodecStringAndTheSize)
{
  EXPECT_EQ(avc_codec_string(kSps), "avc1.64001f");
  auto info = parse_sps(kSps);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->width, 1280);
  EXPECT_EQ(info->height, 720);
  EXPECT_EQ(info->id, 0);
}

TEST(Bitstream, PpsGivesItsId)
{
  EXPECT_EQ(pps_id(kPps), 0);
  /* ue(v) 010 = 1, 00110 = 5, 0001001 = 8 */
  EXPECT_EQ(pps_id(Bytes{0x68, 0x4f, 0xbc}), 1);
  EXPECT_EQ(pps_id(Bytes{0x68, 0x37, 0xbc}), 5);
  EXPECT_EQ(pps_id(Bytes{0x68, 0x13, 0xbc}), 8);
  EXPECT_FALSE(pps_id(kSps));
  EXPECT_FALSE(pps_id(Bytes{0x68}));
  EXPECT_FALSE(pps_id(Bytes{0x68, 0x00}));
}

TEST(Bitstream, AvccRoundTripsAndAnMp4SampleLosesItsParameterSets)
{
  AvcConfig config;
  config.sps = {kSps};
  config.pps = {kPps};
  Bytes avcc = build_avcc(config);
  auto back = parse_avcc(avcc.data(), avcc.size());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->sps, config.sps);
  EXPECT_EQ(back->pps, config.pps);
  EXPECT_EQ(back->length_size, 4);

  /* An Annex B access unit as h264parse config-interval=-1 makes it (AUD,
   * SPS, PPS, IDR) becomes an MP4 sample with the IDR alone. */
  const Bytes idr = {0x65, 0x88, 0x84, 0x00, 0x33};
  Bytes avc = {0, 0, 0, 5};
  avc.insert(avc.end(), idr.begin(), idr.end());
  auto nals = split_avc(avc.data(), avc.size(), 4);
  ASSERT_EQ(nals.size(), 1u);
  EXPECT_TRUE(has_idr(nals));
  Bytes annexb = {0, 0, 0, 1, 0x09, 0xf0};
  for (const Bytes *nal : {&kSps, &kPps, &idr}) {
    annexb.insert(annexb.end(), {0, 0, 0, 1});
    annexb.insert(annexb.end(), nal->begin(), nal->end());
  }
  auto split = split_annexb(annexb.data(), annexb.size());
  ASSERT_EQ(split.size(), 4u);
  EXPECT_EQ(split[0].type(), kNalAud);
  EXPECT_EQ(split[1].type(), kNalSps);
  EXPECT_EQ(split[2].type(), kNalPps);
  EXPECT_EQ(split[3].type(), kNalIdr);
  EXPECT_EQ(Bytes(split[3].data, split[3].data + split[3].size), idr);
  EXPECT_EQ(to_avc_sample(split), avc);
}

TEST(Bitstream, AnnexBKeepsZerosInsideNalsAndDropsTrailingOnes)
{
  const Bytes stream = {0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 0x00, 0x00, 0x03, 0x01, 0, 0};
  auto nals = split_annexb(stream.data(), stream.size());
  ASSERT_EQ(nals.size(), 2u);
  EXPECT_EQ(nals[1].size, 5u);
}

TEST(Bitstream, AdtsHeaderCarriesTheAudioSpecificConfig)
{
  const Bytes asc = {0x11, 0x90}; /* AAC LC, 48 kHz, stereo */
  auto config = parse_audio_specific_config(asc.data(), asc.size());
  ASSERT_TRUE(config);
  EXPECT_EQ(config->object_type, 2);
  EXPECT_EQ(config->sample_rate, 48000);
  EXPECT_EQ(config->channels, 2);
  EXPECT_EQ(aac_codec_string(*config), "mp4a.40.2");
  Bytes frame = adts_header(*config, 100);
  frame.resize(107, 0x21);
  /* syncword, no CRC; LC (profile 1), 48 kHz (index 3), 2 channels; 107 bytes. */
  EXPECT_EQ(frame[0], 0xff);
  EXPECT_EQ(frame[1], 0xf1);
  EXPECT_EQ(frame[2] >> 6, 1);
  EXPECT_EQ((frame[2] >> 2) & 0xf, 3);
  EXPECT_EQ(((frame[2] & 1) << 2) | (frame[3] >> 6), 2);
  EXPECT_EQ(((frame[3] & 3) << 11) | (frame[4] << 3) | (frame[5] >> 5), 107);
}

TEST(Bitstream, Vp9KeyframeHeaderAndLevel)
{
  /* The start of vp9enc's first frame for 640x360 I420 (the uncompressed
   * header and a little more: codecparsers reads the whole header). */
  const Bytes frame = {0x82, 0x49, 0x83, 0x42, 0x20, 0x27, 0xf0, 0x16, 0x76, 0x10, 0x38, 0x24,
                       0x1c, 0x18, 0xaa, 0x10, 0x05, 0x20, 0x7f, 0xd5, 0xfa, 0x3c, 0x77, 0x66,
                       0xf7, 0x17, 0xbf, 0x0b, 0xfb, 0xff, 0xde, 0xfc, 0xdf, 0x23, 0xf7, 0xfc};
  auto info = parse_vp9_frame(frame.data(), frame.size());
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->keyframe);
  EXPECT_EQ(info->profile, 0);
  EXPECT_EQ(info->bit_depth, 8);
  EXPECT_EQ(info->color_space, 1);
  EXPECT_EQ(info->width, 640);
  EXPECT_EQ(info->height, 360);
  EXPECT_EQ(vp9_codec_string(*info, vp9_level(640, 360, 30)), "vp09.00.21.08");
  EXPECT_EQ(vp9_level(1920, 1080, 30), 40);
  /* ...and of its second. */
  const Bytes inter = {0x86, 0x00, 0x40, 0x92, 0xf0, 0x01, 0x55, 0x04, 0x00, 0xfa, 0x7f, 0xd3,
                       0xec, 0x79, 0xf7, 0xeb, 0xbb, 0xc0, 0x3a, 0xd7, 0xb7, 0xdf, 0x57, 0x77};
  auto p = parse_vp9_frame(inter.data(), inter.size());
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->keyframe);
}

TEST(MpegTs, PacketsAreWholeAndTablesCarryACorrectCrc)
{
  TsWriter ts(true, true);
  Bytes out;
  ts.write_tables(out);
  ts.write_video(out, Bytes(1000, 0x42), 900000, 897000, true);
  ts.write_audio(out, Bytes(300, 0x21), 900000);
  ASSERT_EQ(out.size() % 188, 0u);
  for (size_t i = 0; i < out.size(); i += 188)
    EXPECT_EQ(out[i], 0x47);
  /* PAT: the CRC over the section including its CRC is zero. */
  const size_t section_length = ((out[6] & 0x0f) << 8) | out[7];
  EXPECT_EQ(mpeg_crc32(out.data() + 5, 3 + section_length), 0u);
}

/* ---- playlists ---- */

namespace {

PlaylistSegment segment(uint64_t n, int64_t duration = 2 * kSec)
{
  PlaylistSegment s;
  s.sequence = n;
  s.uri = "v-" + std::to_string(n) + ".ts";
  s.duration = duration;
  s.pdt_us = 1746100800000000 + static_cast<int64_t>(n) * 2000000;
  return s;
}

} // namespace

TEST(MediaPlaylist, LiveWindowSlidesAndCountsDiscontinuities)
{
  MediaPlaylist p(PlaylistType::Live, 2, 3);
  for (uint64_t n = 0; n < 5; ++n) {
    auto s = segment(n);
    s.discontinuity = n == 1;
    auto removed = p.add(s);
    EXPECT_EQ(removed.size(), n >= 3 ? 1u : 0u);
  }
  EXPECT_EQ(p.render(false), "#EXTM3U\n"
                             "#EXT-X-VERSION:3\n"
                             "#EXT-X-TARGETDURATION:2\n"
                             "#EXT-X-MEDIA-SEQUENCE:2\n"
                             "#EXT-X-DISCONTINUITY-SEQUENCE:1\n"
                             "#EXT-X-INDEPENDENT-SEGMENTS\n"
                             "#EXT-X-PROGRAM-DATE-TIME:2025-05-01T12:00:04.000Z\n"
                             "#EXTINF:2.00000,\n"
                             "v-2.ts\n"
                             "#EXT-X-PROGRAM-DATE-TIME:2025-05-01T12:00:06.000Z\n"
                             "#EXTINF:2.00000,\n"
                             "v-3.ts\n"
                             "#EXT-X-PROGRAM-DATE-TIME:2025-05-01T12:00:08.000Z\n"
                             "#EXTINF:2.00000,\n"
                             "v-4.ts\n");
}

TEST(MediaPlaylist, VodIsAnEventUntilItEndsAndMapsAreWrittenOnce)
{
  MediaPlaylist p(PlaylistType::Vod, 2, 3);
  for (uint64_t n = 0; n < 4; ++n) {
    auto s = segment(n);
    s.pdt_us = -1;
    s.map_uri = "v-init-1.mp4";
    p.add(s);
  }
  const std::string open = p.render(false);
  EXPECT_NE(open.find("#EXT-X-PLAYLIST-TYPE:EVENT\n"), std::string::npos);
  EXPECT_EQ(open.find("#EXT-X-ENDLIST"), std::string::npos);
  const std::string closed = p.render(true);
  EXPECT_NE(closed.find("#EXT-X-VERSION:6\n"), std::string::npos);
  EXPECT_NE(closed.find("#EXT-X-PLAYLIST-TYPE:VOD\n"), std::string::npos);
  EXPECT_EQ(closed.find("#EXT-X-MAP"), closed.rfind("#EXT-X-MAP"));
  EXPECT_EQ(closed.substr(closed.size() - 15), "#EXT-X-ENDLIST\n");
  EXPECT_EQ(p.segments().size(), 4u) << "VOD keeps every segment";
}

TEST(MediaPlaylist, CanBlockReloadIsSaidUntilItEnds)
{
  MediaPlaylist p(PlaylistType::Live, 1, 3, true);
  p.add(segment(0));
  const std::string open = p.render(false);
  EXPECT_NE(open.find("#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n"),
            std::string::npos)
      << open;
  /* An ended playlist never changes: nothing to wait for. */
  EXPECT_EQ(p.render(true).find("SERVER-CONTROL"), std::string::npos);
  EXPECT_EQ(MediaPlaylist(PlaylistType::Live, 1, 3).render(false).find("SERVER-CONTROL"),
            std::string::npos);
}

TEST(MediaPlaylist, TargetDurationCoversTheLongestSegmentAsRounded)
{
  MediaPlaylist p(PlaylistType::Event, 2, 0);
  p.add(segment(0, 2002 * kMs));
  EXPECT_EQ(p.target_duration(), 2);
  p.add(segment(1, 2600 * kMs));
  EXPECT_EQ(p.target_duration(), 3);
}

TEST(MasterPlaylist, ListsEveryAttribute)
{
  MasterVariant v;
  v.uri = "video_0.m3u8";
  v.bandwidth = 5500000;
  v.average_bandwidth = 5000000;
  v.width = 1920;
  v.height = 1080;
  v.frame_rate = 30;
  v.codecs = "avc1.64002a,mp4a.40.2";
  v.audio_group = "audio";
  EXPECT_EQ(render_master({v}, {{"audio", "audio", "audio.m3u8", true}}, 3),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,"
            "URI=\"audio.m3u8\"\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=5500000,AVERAGE-BANDWIDTH=5000000,"
            "CODECS=\"avc1.64002a,mp4a.40.2\",RESOLUTION=1920x1080,FRAME-RATE=30.000,"
            "AUDIO=\"audio\"\nvideo_0.m3u8\n");
}

TEST(DateRange, RendersQuotedAndDecimalAttributesSafely)
{
  DateRangeTag tag;
  tag.id = "gift-1";
  tag.klass = "com.sugarcast.gift";
  tag.start_us = 1746100800123000;
  tag.duration = 3 * kSec;
  tag.attributes = {{"X-FROM", "a \"fan\"\nof yours", true}, {"X-COUNT", "10", false}};
  EXPECT_EQ(render_daterange(tag),
            "#EXT-X-DATERANGE:ID=\"gift-1\",CLASS=\"com.sugarcast.gift\","
            "START-DATE=\"2025-05-01T12:00:00.123Z\",DURATION=3.000,X-FROM=\"a 'fan' of yours\","
            "X-COUNT=10");
}

TEST(DateRange, AttributeNamesMustBeClientAttributes)
{
  std::string name = "x-gift-id";
  EXPECT_TRUE(normalise_attribute_name(name));
  EXPECT_EQ(name, "X-GIFT-ID");
  for (std::string bad : {"GIFT", "X-", "X-GIFT ID", "X-GIFT=1", "Y-GIFT"})
    EXPECT_FALSE(normalise_attribute_name(bad)) << bad;
}

TEST(Dates, FormatAndParseAgree)
{
  EXPECT_EQ(format_date(1746100800123456), "2025-05-01T12:00:00.123Z");
  EXPECT_EQ(parse_date("2025-05-01T12:00:00.123Z"), 1746100800123000);
  EXPECT_EQ(parse_date("2025-05-01T14:00:00+02:00"), 1746100800000000);
  EXPECT_EQ(parse_date("2025-05-01 12:00:00"), -1);
  EXPECT_EQ(parse_date("yesterday"), -1);
}

/* ---- downscaling ---- */

TEST(Downscale, RatiosAllowOneInputSampleOfSlack)
{
  EXPECT_EQ(fast_ratio(1920, 1280), Ratio::TwoThirds);
  EXPECT_EQ(fast_ratio(1280, 854), Ratio::TwoThirds);
  EXPECT_EQ(fast_ratio(640, 427), Ratio::TwoThirds);
  EXPECT_EQ(fast_ratio(1280, 640), Ratio::Half);
  EXPECT_EQ(fast_ratio(427, 214), Ratio::Half);
  EXPECT_EQ(fast_ratio(854, 640), Ratio::None);
  EXPECT_EQ(fast_ratio(1366, 1280), Ratio::None);
  EXPECT_TRUE(fast_scalable(1920, 1080, 1280, 720));
  EXPECT_TRUE(fast_scalable(1280, 720, 854, 480));
  EXPECT_TRUE(fast_scalable(1280, 720, 640, 360));
  EXPECT_TRUE(fast_scalable(720, 1280, 480, 854));
  EXPECT_FALSE(fast_scalable(854, 480, 640, 360)) << "4:3 is not one of them";
  EXPECT_FALSE(fast_scalable(1920, 1080, 1280, 540)) << "different ratios";
}

namespace {

/* The area filter written the slow, obvious way: each output sample is the
 * mean of the input it covers (the last input sample repeated). */
std::vector<uint8_t> area_reference(const std::vector<uint8_t> &in, int iw, int ih, int ow, int oh,
                                    double step)
{
  auto at = [&](int x, int y) {
    return static_cast<double>(
        in[static_cast<size_t>(std::min(y, ih - 1)) * iw + std::min(x, iw - 1)]);
  };
  auto weights = [&](int o) {
    std::vector<std::pair<int, double>> w;
    const double from = o * step, to = (o + 1) * step;
    for (int i = static_cast<int>(from); i < to; ++i)
      w.push_back({i, (std::min<double>(i + 1, to) - std::max<double>(i, from)) / step});
    return w;
  };
  std::vector<uint8_t> out(static_cast<size_t>(ow) * oh);
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      double v = 0;
      for (auto [yi, wy] : weights(y))
        for (auto [xi, wx] : weights(x))
          v += wy * wx * at(xi, yi);
      out[static_cast<size_t>(y) * ow + x] = static_cast<uint8_t>(std::lround(v));
    }
  return out;
}

void expect_area(int iw, int ih, int ow, int oh, double step)
{
  std::vector<uint8_t> in(static_cast<size_t>(iw) * ih);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = static_cast<uint8_t>((i * 37 + i / iw * 11) & 0xff);
  std::vector<uint8_t> out(static_cast<size_t>(ow) * oh), scratch;
  downscale_plane(in.data(), iw, iw, ih, out.data(), ow, ow, oh, scratch);
  auto expected = area_reference(in, iw, ih, ow, oh, step);
  int worst = 0;
  for (size_t i = 0; i < out.size(); ++i)
    worst = std::max(worst, std::abs(static_cast<int>(out[i]) - expected[i]));
  EXPECT_LE(worst, 1) << iw << "x" << ih << " to " << ow << "x" << oh;
}

} // namespace

TEST(Downscale, MatchesTheAreaFilterWithinRounding)
{
  expect_area(96, 54, 64, 36, 1.5);
  expect_area(64, 36, 32, 18, 2.0);
  expect_area(65, 35, 33, 18, 2.0); /* odd sizes: the last sample repeated */
  expect_area(64, 36, 43, 24, 1.5); /* 43 columns where 42.7 would be exact */
  expect_area(200, 120, 100, 60, 2.0);
}
