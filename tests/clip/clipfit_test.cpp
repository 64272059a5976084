/* clipfit: the output format rule (plain C++) and the element through
 * GstHarness, with real raw video caps and buffers. */
#include "clipfit.h"

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <string>

using namespace sugarcast::clip;

namespace {

VideoShape shape(int w, int h, int fps_n, int fps_d = 1, int par_n = 1, int par_d = 1)
{
  VideoShape s;
  s.width = w, s.height = h, s.fps_n = fps_n, s.fps_d = fps_d, s.par_n = par_n, s.par_d = par_d;
  return s;
}

std::string text(const VideoShape &s)
{
  return std::to_string(s.width) + "x" + std::to_string(s.height) + "@" + std::to_string(s.fps_n) +
         "/" + std::to_string(s.fps_d);
}

} // namespace

TEST(ClipFitRule, ShorterSideAtMost1080WhateverTheOrientation)
{
  const FitLimits limits;
  EXPECT_EQ(text(fit(shape(1920, 1080, 30), limits)), "1920x1080@30/1");
  EXPECT_EQ(text(fit(shape(1080, 1920, 30), limits)), "1080x1920@30/1");
  EXPECT_EQ(text(fit(shape(3840, 2160, 30), limits)), "1920x1080@30/1");
  EXPECT_EQ(text(fit(shape(2160, 3840, 30), limits)), "1080x1920@30/1");
  /* 4:3 and odd results: even sides, rounded down, never past the limit */
  EXPECT_EQ(text(fit(shape(4032, 3024, 30), limits)), "1440x1080@30/1");
  EXPECT_EQ(text(fit(shape(1440, 1081, 30), limits)), "1438x1080@30/1");
}

TEST(ClipFitRule, NeverEnlarges)
{
  const FitLimits limits;
  EXPECT_EQ(text(fit(shape(640, 360, 30), limits)), "640x360@30/1");
  EXPECT_EQ(text(fit(shape(720, 1280, 25), limits)), "720x1280@25/1");
  EXPECT_EQ(text(fit(shape(321, 241, 30), limits)), "320x240@30/1");
}

TEST(ClipFitRule, NonSquarePixelsBecomeSquare)
{
  /* DV-style 720x576 with 16:15 pixels shows as 768x576 */
  EXPECT_EQ(text(fit(shape(720, 576, 25, 1, 16, 15), FitLimits())), "768x576@25/1");
}

TEST(ClipFitRule, ConstantRateAtMostTheLimit)
{
  const FitLimits limits;
  EXPECT_EQ(text(fit(shape(1920, 1080, 60), limits)), "1920x1080@30/1");
  EXPECT_EQ(text(fit(shape(1920, 1080, 50), limits)), "1920x1080@25/1");
  EXPECT_EQ(text(fit(shape(1920, 1080, 60000, 1001), limits)), "1920x1080@30000/1001");
  EXPECT_EQ(text(fit(shape(1920, 1080, 120), limits)), "1920x1080@30/1");
  EXPECT_EQ(text(fit(shape(1920, 1080, 240), limits)), "1920x1080@30/1");
  EXPECT_EQ(text(fit(shape(1920, 1080, 24000, 1001), limits)), "1920x1080@24000/1001");
  EXPECT_EQ(text(fit(shape(1920, 1080, 24), limits)), "1920x1080@24/1");
  /* variable: declared 0/1, or an average such as qtdemux's 85/4 */
  EXPECT_EQ(text(fit(shape(1920, 1080, 0), limits)), "1920x1080@30/1");
  EXPECT_EQ(text(fit(shape(1920, 1080, 85, 4), limits)), "1920x1080@30/1");
  EXPECT_EQ(text(fit(shape(1920, 1080, 1799, 60), limits)), "1920x1080@30/1");
  FitLimits sixty;
  sixty.max_framerate = 60;
  EXPECT_EQ(text(fit(shape(1920, 1080, 60), sixty)), "1920x1080@60/1");
  EXPECT_EQ(text(fit(shape(1920, 1080, 120), sixty)), "1920x1080@60/1");
  EXPECT_EQ(text(fit(shape(1920, 1080, 0), sixty)), "1920x1080@60/1");
}

namespace {

/* The caps clipfit gives its output, as "WxH@N/D FORMAT" ("" before any). */
std::string output_caps(GstHarness *h)
{
  g_autoptr(GstCaps) sink_caps = gst_pad_get_current_caps(h->sinkpad);
  GstVideoInfo o;
  if (!sink_caps || !gst_video_info_from_caps(&o, sink_caps))
    return "";
  return std::to_string(o.width) + "x" + std::to_string(o.height) + "@" + std::to_string(o.fps_n) +
         "/" + std::to_string(o.fps_d) + " " +
         gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&o));
}

/* Pushes `frames` raw frames of `caps` spaced by `spacing` through clipfit;
 * the output caps and the number of frames that came out. */
std::pair<std::string, int> run(const std::string &caps, int frames, GstClockTime spacing,
                                const char *launch = "clipfit")
{
  GstHarness *h = gst_harness_new_parse(launch);
  gst_harness_set_src_caps_str(h, caps.c_str());
  GstVideoInfo info;
  g_autoptr(GstCaps) in = gst_caps_from_string(caps.c_str());
  gst_video_info_from_caps(&info, in);
  for (int i = 0; i < frames; ++i) {
    GstBuffer *buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
    gst_buffer_memset(buf, 0, 0x80, GST_VIDEO_INFO_SIZE(&info));
    GST_BUFFER_PTS(buf) = i * spacing;
    GST_BUFFER_DURATION(buf) = spacing;
    EXPECT_EQ(gst_harness_push(h, buf), GST_FLOW_OK);
  }
  gst_harness_push_event(h, gst_event_new_eos());
  int out = 0;
  while (GstBuffer *b = gst_harness_try_pull(h)) {
    ++out;
    gst_buffer_unref(b);
  }
  std::string result = output_caps(h);
  gst_harness_teardown(h);
  return {result, out};
}

} // namespace

TEST(ClipFit, Scales4kAt60To1080pAt30)
{
  auto [caps, frames] =
      run("video/x-raw,format=I420,width=3840,height=2160,framerate=60/1", 60, GST_SECOND / 60);
  EXPECT_EQ(caps, "1920x1080@30/1 I420");
  EXPECT_NEAR(frames, 30, 1);
}

TEST(ClipFit, KeepsPortraitAndSmallInput)
{
  EXPECT_EQ(run("video/x-raw,format=I420,width=1080,height=1920,framerate=30/1", 3, GST_SECOND / 30)
                .first,
            "1080x1920@30/1 I420");
  EXPECT_EQ(
      run("video/x-raw,format=I420,width=640,height=360,framerate=25/1", 3, GST_SECOND / 25).first,
      "640x360@25/1 I420");
}

TEST(ClipFit, VariableRateBecomesConstant)
{
  /* 20 frames declared 0/1, one every 100 ms: 1.9 s to the last frame's
   * start, 2 s to its end, at a constant 30 fps (videorate may stop at the
   * last frame's start) */
  auto [caps, frames] =
      run("video/x-raw,format=I420,width=320,height=240,framerate=0/1", 20, GST_SECOND / 10);
  EXPECT_EQ(caps, "320x240@30/1 I420");
  EXPECT_GE(frames, 57);
  EXPECT_LE(frames, 60);
}

TEST(ClipFit, PropertiesSetTheLimits)
{
  auto [caps, frames] = run("video/x-raw,format=I420,width=1920,height=1080,framerate=60/1", 6,
                            GST_SECOND / 60, "clipfit max-short-side=720 max-framerate=60");
  EXPECT_EQ(caps, "1280x720@60/1 I420");
  EXPECT_EQ(frames, 6);
}

TEST(ClipFitRule, UnchangedOnlyWhenSizePixelsAndRateStay)
{
  const FitLimits limits;
  auto same = [&](const VideoShape &in) { return unchanged(in, fit(in, limits)); };
  EXPECT_TRUE(same(shape(1920, 1080, 30)));
  EXPECT_TRUE(same(shape(1080, 1920, 30000, 1001)));
  EXPECT_TRUE(same(shape(640, 360, 25)));
  EXPECT_FALSE(same(shape(3840, 2160, 30))); /* scaled */
  EXPECT_FALSE(same(shape(1920, 1080, 60))); /* halved */
  EXPECT_FALSE(same(shape(1920, 1080, 0)));  /* variable: made constant */
  EXPECT_FALSE(same(shape(1920, 1080, 1799, 60)));
  EXPECT_FALSE(same(shape(720, 576, 25, 1, 16, 15))); /* pixels made square */
  EXPECT_FALSE(same(shape(641, 360, 30)));            /* made even */
}

namespace {

GstBuffer *frame(const GstVideoInfo &info, int i, GstClockTime spacing)
{
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
  gst_buffer_memset(buf, 0, 0x80, GST_VIDEO_INFO_SIZE(&info));
  GST_BUFFER_PTS(buf) = i * spacing;
  GST_BUFFER_DURATION(buf) = spacing;
  return buf;
}

GstVideoInfo info_of(const char *caps)
{
  GstVideoInfo info;
  g_autoptr(GstCaps) c = gst_caps_from_string(caps);
  gst_video_info_from_caps(&info, c);
  return info;
}

} // namespace

/* Sets CAPS on the harness and pushes COUNT frames of them, numbered from
 * FIRST (so their times follow on from earlier stretches). */
void push_stretch(GstHarness *h, const char *caps, int first, int count)
{
  gst_harness_set_src_caps_str(h, caps);
  const GstVideoInfo info = info_of(caps);
  for (int i = first; i < first + count; ++i)
    ASSERT_EQ(gst_harness_push(h, frame(info, i, GST_SECOND / 30)), GST_FLOW_OK);
}

/* A 1080p30 phone clip needs no conversion: its frames must come out as the
 * very buffers that went in (through videorate each would be a new buffer
 * sharing the frame's memory, which makes the decoder's pool throw the frame
 * away and allocate another 3 MB). */
TEST(ClipFit, InputThatFitsPassesUntouched)
{
  const char *caps = "video/x-raw,format=I420,width=1920,height=1080,framerate=30/1";
  GstHarness *h = gst_harness_new_parse("clipfit");
  gst_harness_set_src_caps_str(h, caps);
  const GstVideoInfo info = info_of(caps);
  for (int i = 0; i < 5; ++i) {
    GstBuffer *in = frame(info, i, GST_SECOND / 30);
    ASSERT_EQ(gst_harness_push(h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull(h);
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(out, in) << "frame " << i << " was copied";
    EXPECT_EQ(GST_BUFFER_PTS(out), i * (GST_SECOND / 30));
    gst_buffer_unref(out);
  }
  EXPECT_EQ(output_caps(h), "1920x1080@30/1 I420");
  gst_harness_teardown(h);
}

/* A clip that starts fitting and grows mid-stream is scaled from then on. */
TEST(ClipFit, SizeChangeMidStreamIsScaled)
{
  GstHarness *h = gst_harness_new_parse("clipfit");
  const char *small = "video/x-raw,format=I420,width=1280,height=720,framerate=30/1";
  const char *big = "video/x-raw,format=I420,width=3840,height=2160,framerate=30/1";
  ASSERT_NO_FATAL_FAILURE(push_stretch(h, small, 0, 3));
  ASSERT_NO_FATAL_FAILURE(push_stretch(h, big, 3, 6));
  gst_harness_push_event(h, gst_event_new_eos());
  const GstVideoInfo small_info = info_of(small);
  const gsize small_size = GST_VIDEO_INFO_SIZE(&small_info);
  int small_frames = 0, scaled_frames = 0;
  while (GstBuffer *b = gst_harness_try_pull(h)) {
    const gsize size = gst_buffer_get_size(b);
    small_frames += size == small_size ? 1 : 0;
    scaled_frames += size == 1920 * 1080 * 3 / 2 ? 1 : 0;
    gst_buffer_unref(b);
  }
  EXPECT_EQ(small_frames, 3);
  EXPECT_GE(scaled_frames, 5); /* videorate may hold back the last one */
  EXPECT_EQ(output_caps(h), "1920x1080@30/1 I420");
  gst_harness_teardown(h);
}

/* Scaled, then fitting, then scaled again (4K, 1080p, 4K): every frame comes
 * out once, in time order, each at the size its stretch gets; videorate
 * starts afresh after the bypass instead of repeating a frame from before. */
TEST(ClipFit, ScaledFittingScaledKeepsTimeOrder)
{
  GstHarness *h = gst_harness_new_parse("clipfit");
  const char *big = "video/x-raw,format=I420,width=3840,height=2160,framerate=30/1";
  const char *fits = "video/x-raw,format=I420,width=1920,height=1080,framerate=30/1";
  ASSERT_NO_FATAL_FAILURE(push_stretch(h, big, 0, 6));
  ASSERT_NO_FATAL_FAILURE(push_stretch(h, fits, 6, 6));
  ASSERT_NO_FATAL_FAILURE(push_stretch(h, big, 12, 6));
  gst_harness_push_event(h, gst_event_new_eos());
  GstClockTime last = GST_CLOCK_TIME_NONE;
  int frames = 0;
  while (GstBuffer *b = gst_harness_try_pull(h)) {
    const GstClockTime pts = GST_BUFFER_PTS(b);
    if (GST_CLOCK_TIME_IS_VALID(last)) {
      EXPECT_GT(pts, last) << "frame " << frames << " goes back in time";
    }
    EXPECT_EQ(gst_buffer_get_size(b), static_cast<gsize>(1920 * 1080 * 3 / 2));
    last = pts;
    ++frames;
    gst_buffer_unref(b);
  }
  /* 18 in; at each switch into the bypass videorate's held frame is dropped,
   * and at the end videorate may hold back its last one */
  EXPECT_GE(frames, 16);
  EXPECT_LE(frames, 18);
  gst_harness_teardown(h);
}
