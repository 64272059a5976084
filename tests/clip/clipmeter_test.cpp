/* ClipMeter: the measurement rules, without GStreamer. */
#include "clipmeter.h"

#include <gtest/gtest.h>

using namespace sugarcast::clip;

namespace {

constexpr int64_t kMs = 1000000;

StreamInfo h264(int fps_n = 30, int fps_d = 1)
{
  StreamInfo info;
  info.codec = "h264";
  info.width = 640;
  info.height = 360;
  info.fps_n = fps_n;
  info.fps_d = fps_d;
  return info;
}

/* Feeds `count` frames of `step` each, with PTS = DTS; returns the first
 * early verdict, if any. */
std::optional<Verdict> feed(ClipMeter &meter, int count, int64_t step, int64_t start = 0)
{
  for (int i = 0; i < count; ++i) {
    const int64_t t = start + i * step;
    if (auto v = meter.add_frame(t, t, step))
      return v;
  }
  return std::nullopt;
}

} // namespace

TEST(FormatDuration, UsesEnoughDecimalsNotToReadAsTheLimit)
{
  EXPECT_EQ(format_duration(72400 * kMs), "72.4 s");
  EXPECT_EQ(format_duration(14990 * kMs, 15 * kSecond), "14.99 s");
  EXPECT_EQ(format_duration(60010 * kMs, 60 * kSecond), "60.01 s");
  EXPECT_EQ(format_duration(60000 * kMs, 60 * kSecond), "60.000 s");
  EXPECT_EQ(format_duration(16 * kSecond), "16.0 s");
  EXPECT_EQ(format_duration(754 * kSecond), "12 min 34 s");
  EXPECT_EQ(format_duration(7200 * kSecond + 5 * 60 * kSecond), "2 h 05 min");
  EXPECT_EQ(format_duration(kNoTime), "unknown");
}

TEST(ParseCodecList, TrimsLowercasesAndDropsEmptyEntries)
{
  EXPECT_EQ(parse_codec_list(" H264, vp9,,AV1 "), (std::vector<std::string>{"h264", "vp9", "av1"}));
  EXPECT_TRUE(parse_codec_list("").empty());
}

TEST(ClipMeter, AcceptsBothBoundariesAndRejectsJustOutside)
{
  struct Case
  {
    int frames;
    bool valid;
    Reason reason;
  } cases[] = {
      {1499, false, Reason::TooShort}, /* 14.99 s */
      {1500, true, Reason::None},      /* 15.00 s */
      {6000, true, Reason::None},      /* 60.00 s */
      {6001, false, Reason::TooLong},  /* 60.01 s */
  };
  for (const auto &c : cases) {
    ClipMeter meter;
    ASSERT_FALSE(meter.set_stream(h264(100)));
    auto early = feed(meter, c.frames, 10 * kMs);
    Verdict v = early ? *early : meter.finish();
    EXPECT_EQ(v.valid, c.valid) << c.frames << " frames: " << v.message;
    EXPECT_EQ(v.reason, c.reason) << c.frames << " frames: " << v.message;
    EXPECT_EQ(v.duration, c.frames * 10 * kMs);
  }
}

TEST(ClipMeter, TooShortMessageNamesTheLengthAndTheRange)
{
  ClipMeter meter;
  meter.set_stream(h264(100));
  feed(meter, 1499, 10 * kMs);
  EXPECT_EQ(meter.finish().message, "Clip is 14.99 s long; clips must be 15\u201360 s");
}

TEST(ClipMeter, StopsTheMomentMeasuredTimePassesTheMaximum)
{
  ClipMeter meter;
  meter.set_stream(h264());
  const int64_t step = kSecond / 30;
  auto v = feed(meter, 30 * 3600, step);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->reason, Reason::TooLong);
  EXPECT_EQ(v->frames, 1801u); /* 1801 frames of 1/30 s is the first length over 60 s */
  EXPECT_TRUE(meter.decided());
  EXPECT_FALSE(meter.add_frame(kSecond * 100, kNoTime, kNoTime));
  EXPECT_EQ(meter.finish().reason, Reason::TooLong);
}

TEST(ClipMeter, AHeaderCanRejectButNeverAccept)
{
  ClipMeter far_too_long;
  far_too_long.set_stream(h264());
  auto v = far_too_long.set_declared_duration(2 * 3600 * kSecond);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->reason, Reason::TooLong);
  EXPECT_EQ(v->message,
            "Clip is 2 h 00 min long according to its header; clips must be 15\u201360 s");

  ClipMeter lying_short; /* the header says 30 s, the content is 8 s */
  lying_short.set_stream(h264());
  EXPECT_FALSE(lying_short.set_declared_duration(30 * kSecond));
  feed(lying_short, 240, kSecond / 30);
  Verdict verdict = lying_short.finish();
  EXPECT_EQ(verdict.reason, Reason::TooShort);
  EXPECT_EQ(verdict.declared, 30 * kSecond);
}

TEST(ClipMeter, DerivesMissingTimestampsFromTheFrameRate)
{
  ClipMeter meter;
  meter.set_stream(h264(30));
  for (int i = 0; i < 450; ++i)
    ASSERT_FALSE(meter.add_frame(kNoTime, kNoTime, kNoTime));
  Verdict v = meter.finish();
  EXPECT_TRUE(v.valid) << v.message;
  EXPECT_EQ(v.duration, 15 * kSecond);
}

TEST(ClipMeter, NoTimestampsAndNoFrameRateIsCorrupt)
{
  ClipMeter meter;
  meter.set_stream(h264(0));
  EXPECT_FALSE(meter.add_frame(kNoTime, kNoTime, kNoTime));
  auto v = meter.add_frame(kNoTime, kNoTime, kNoTime);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->reason, Reason::CorruptTimestamps);
}

TEST(ClipMeter, DecodeTimestampsGoingBackwardsAreCorrupt)
{
  ClipMeter meter;
  meter.set_stream(h264());
  feed(meter, 100, kSecond / 30);
  auto v = meter.add_frame(kSecond, kSecond, kSecond / 30);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->reason, Reason::CorruptTimestamps);
  EXPECT_EQ(
      v->message,
      "Video timestamps go backwards at frame 101 (1.00 s after 3.30 s); the file is corrupt");
}

TEST(ClipMeter, PresentationReorderOfBFramesIsNotCorruption)
{
  ClipMeter meter;
  meter.set_stream(h264());
  const int64_t f = kSecond / 30;
  /* decode order I P B B: presentation 0, 3, 1, 2 frames; DTS monotonic */
  int64_t order[] = {0, 3, 1, 2};
  int64_t dts = -2 * f;
  for (int gop = 0; gop < 150; ++gop) {
    for (int64_t p : order) {
      ASSERT_FALSE(meter.add_frame((gop * 4 + p) * f, dts, f));
      dts += f;
    }
  }
  Verdict v = meter.finish();
  EXPECT_TRUE(v.valid) << v.message;
  EXPECT_EQ(v.duration, 600 * f);
}

TEST(ClipMeter, PresentationOnlyTimestampsJumpingBackIsCorrupt)
{
  ClipMeter pts_only;
  pts_only.set_stream(h264());
  for (int i = 0; i < 90; ++i)
    ASSERT_FALSE(pts_only.add_frame(i * kSecond / 30, kNoTime, kSecond / 30));
  auto v = pts_only.add_frame(kSecond / 2, kNoTime, kSecond / 30);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->reason, Reason::CorruptTimestamps);
}

TEST(ClipMeter, GapsCountButTheClipSpansFirstToLastFrame)
{
  ClipMeter meter;
  meter.set_stream(h264());
  feed(meter, 125, kSecond / 25);               /* 0-5 s */
  feed(meter, 250, kSecond / 25, 10 * kSecond); /* 10-20 s */
  Verdict v = meter.finish();
  EXPECT_TRUE(v.valid) << v.message;
  EXPECT_EQ(v.duration, 20 * kSecond);
  EXPECT_EQ(v.gaps, 1u);
}

TEST(ClipMeter, VariableFrameRateIsMeasuredFromTimestamps)
{
  ClipMeter meter;
  meter.set_stream(h264(0));
  int64_t t = 0;
  for (int i = 0; i < 600; ++i) {
    const int64_t step = (i % 2 ? 20 : 40) * kMs; /* averages 33.3 fps */
    ASSERT_FALSE(meter.add_frame(t, kNoTime, step));
    t += step;
  }
  Verdict v = meter.finish();
  EXPECT_TRUE(v.valid) << v.message;
  EXPECT_EQ(v.duration, 18 * kSecond);
  EXPECT_NEAR(v.framerate, 33.33, 0.01);
}

TEST(ClipMeter, VariableFrameRateAboveTheLimitIsRejectedAtTheEnd)
{
  ClipMeter meter;
  meter.set_stream(h264(0));
  for (int i = 0; i < 16 * 240; ++i)
    ASSERT_FALSE(meter.add_frame(i * kSecond / 240, kNoTime, kNoTime));
  Verdict v = meter.finish();
  EXPECT_EQ(v.reason, Reason::BadFramerate) << v.message;
}

TEST(ClipMeter, CapsAreCheckedBeforeAnyFrame)
{
  Limits limits;
  limits.max_width = 1920;
  limits.max_height = 1920;
  limits.max_framerate = 60;

  StreamInfo big = h264();
  big.width = 3840;
  big.height = 2160;
  auto v = ClipMeter(limits).set_stream(big);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->reason, Reason::TooLarge);
  EXPECT_EQ(v->message, "Video is 3840x2160 pixels; the largest accepted size is 1920x1920");

  v = ClipMeter(limits).set_stream(h264(120));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->reason, Reason::BadFramerate);
  EXPECT_EQ(v->message, "Video runs at 120 frames per second; the maximum is 60");

  StreamInfo mpeg2 = h264();
  mpeg2.codec = "mpeg2";
  v = ClipMeter(limits).set_stream(mpeg2);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->reason, Reason::UnsupportedCodec);
  EXPECT_EQ(v->message,
            "Video codec mpeg2 is not accepted; accepted codecs are h264, h265, vp8, vp9, av1");

  StreamInfo audio;
  audio.is_video = false;
  audio.codec = "audio/mpeg";
  v = ClipMeter(limits).set_stream(audio);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->reason, Reason::NoVideo);

  EXPECT_EQ(ClipMeter().finish().reason, Reason::NoVideo);
}
