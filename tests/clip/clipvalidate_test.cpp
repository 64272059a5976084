/* clipvalidate through GstHarness: synthetic buffers at the boundaries. */
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <string>

namespace {

constexpr GstClockTime kMs = GST_MSECOND;

class ClipValidate : public ::testing::Test
{
protected:
  void start(const std::string &launch, const char *caps)
  {
    h = gst_harness_new_parse(launch.c_str());
    ASSERT_NE(h, nullptr);
    bus = gst_bus_new();
    gst_element_set_bus(h->element, bus);
    gst_harness_set_src_caps_str(h, caps);
  }

  void TearDown() override
  {
    if (h)
      gst_harness_teardown(h);
    if (bus)
      gst_object_unref(bus);
  }

  GstFlowReturn push(GstClockTime pts, GstClockTime dts, GstClockTime duration)
  {
    GstBuffer *buf = gst_buffer_new_allocate(nullptr, 16, nullptr);
    GST_BUFFER_PTS(buf) = pts;
    GST_BUFFER_DTS(buf) = dts;
    GST_BUFFER_DURATION(buf) = duration;
    return gst_harness_push(h, buf);
  }

  /* Pushes `count` frames of `step`; returns the first flow that is not OK. */
  GstFlowReturn push_frames(int count, GstClockTime step)
  {
    for (int i = 0; i < count; ++i) {
      GstFlowReturn ret = push(i * step, i * step, step);
      if (ret != GST_FLOW_OK)
        return ret;
    }
    return GST_FLOW_OK;
  }

  /* The clip-validation message, or nullptr; caller owns it. */
  GstMessage *verdict()
  {
    while (GstMessage *msg = gst_bus_pop(bus)) {
      if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT &&
          gst_structure_has_name(gst_message_get_structure(msg), "clip-validation"))
        return msg;
      if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR)
        errors.push_back(msg);
      else
        gst_message_unref(msg);
    }
    return nullptr;
  }

  void expect_verdict(bool valid, const char *reason, GstClockTime duration = GST_CLOCK_TIME_NONE)
  {
    GstMessage *msg = verdict();
    ASSERT_NE(msg, nullptr) << "no clip-validation message";
    const GstStructure *s = gst_message_get_structure(msg);
    gboolean got_valid = !valid;
    gst_structure_get_boolean(s, "valid", &got_valid);
    EXPECT_EQ(got_valid, valid) << gst_structure_get_string(s, "message");
    EXPECT_STREQ(gst_structure_get_string(s, "reason"), reason);
    if (GST_CLOCK_TIME_IS_VALID(duration)) {
      guint64 measured = 0;
      gst_structure_get_uint64(s, "duration", &measured);
      EXPECT_EQ(measured, duration);
    }
    last_message = gst_structure_get_string(s, "message");
    gst_message_unref(msg);
    EXPECT_EQ(verdict(), nullptr) << "more than one verdict";
  }

  void push_eos() { gst_harness_push_event(h, gst_event_new_eos()); }

  GstHarness *h = nullptr;
  GstBus *bus = nullptr;
  std::vector<GstMessage *> errors;
  std::string last_message;
};

const char *kH264At100 =
    "video/x-h264,stream-format=avc,alignment=au,width=640,height=360,framerate=100/1";

TEST_F(ClipValidate, JustUnderFifteenSecondsIsTooShort)
{
  start("clipvalidate action=report", kH264At100);
  ASSERT_EQ(push_frames(1499, 10 * kMs), GST_FLOW_OK);
  push_eos();
  expect_verdict(false, "too-short", 14990 * kMs);
  EXPECT_EQ(last_message, "Clip is 14.99 s long; clips must be 15\u201360 s");
}

TEST_F(ClipValidate, FifteenSecondsIsAccepted)
{
  start("clipvalidate action=report", kH264At100);
  ASSERT_EQ(push_frames(1500, 10 * kMs), GST_FLOW_OK);
  push_eos();
  expect_verdict(true, nullptr, 15 * GST_SECOND);
  EXPECT_EQ(gst_harness_buffers_received(h), 1500u) << "every buffer passes through";
}

TEST_F(ClipValidate, SixtySecondsIsAccepted)
{
  start("clipvalidate", kH264At100);
  ASSERT_EQ(push_frames(6000, 10 * kMs), GST_FLOW_OK);
  push_eos();
  expect_verdict(true, nullptr, 60 * GST_SECOND);
}

TEST_F(ClipValidate, PastSixtySecondsStopsTheStreamAtOnce)
{
  start("clipvalidate action=report", kH264At100);
  ASSERT_EQ(push_frames(6000, 10 * kMs), GST_FLOW_OK);
  EXPECT_EQ(push(60000 * kMs, 60000 * kMs, 10 * kMs), GST_FLOW_EOS);
  expect_verdict(false, "too-long", 60010 * kMs);
  EXPECT_EQ(last_message,
            "Clip is longer than 60 s (reading stopped at 60.01 s); clips must be 15\u201360 s");
  /* report mode ends the stream downstream and refuses what follows */
  bool saw_eos = false;
  while (GstEvent *e = gst_harness_try_pull_event(h)) {
    saw_eos |= GST_EVENT_TYPE(e) == GST_EVENT_EOS;
    gst_event_unref(e);
  }
  EXPECT_TRUE(saw_eos);
  EXPECT_EQ(push(60010 * kMs, 60010 * kMs, 10 * kMs), GST_FLOW_EOS);
  EXPECT_EQ(gst_harness_buffers_received(h), 6000u);
}

TEST_F(ClipValidate, ActionErrorPostsAnErrorACreatorUnderstands)
{
  start("clipvalidate action=error", kH264At100);
  ASSERT_EQ(push_frames(6000, 10 * kMs), GST_FLOW_OK);
  EXPECT_EQ(push(60000 * kMs, 60000 * kMs, 10 * kMs), GST_FLOW_ERROR);
  expect_verdict(false, "too-long");
  ASSERT_EQ(errors.size(), 1u);
  g_autoptr(GError) err = nullptr;
  gst_message_parse_error(errors[0], &err, nullptr);
  EXPECT_STREQ(err->message,
               "Clip is longer than 60 s (reading stopped at 60.01 s); clips must be 15\u201360 s");
  const GstStructure *details = nullptr;
  gst_message_parse_error_details(errors[0], &details);
  ASSERT_NE(details, nullptr);
  EXPECT_STREQ(gst_structure_get_string(details, "reason"), "too-long");
  for (auto *m : errors)
    gst_message_unref(m);
}

TEST_F(ClipValidate, MissingTimestampsAreDerivedFromTheFrameRate)
{
  start("clipvalidate action=report", "video/x-vp9,width=1280,height=720,framerate=30/1");
  for (int i = 0; i < 450; ++i)
    ASSERT_EQ(push(GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE), GST_FLOW_OK);
  push_eos();
  expect_verdict(true, nullptr, 15 * GST_SECOND);
}

TEST_F(ClipValidate, NoTimestampsAndNoFrameRateIsCorrupt)
{
  start("clipvalidate action=report", "video/x-vp9,width=1280,height=720,framerate=0/1");
  ASSERT_EQ(push(GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE), GST_FLOW_OK);
  EXPECT_EQ(push(GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE), GST_FLOW_EOS);
  expect_verdict(false, "corrupt-timestamps");
}

TEST_F(ClipValidate, BackwardsTimestampsAreCorrupt)
{
  start("clipvalidate action=report", kH264At100);
  ASSERT_EQ(push_frames(500, 10 * kMs), GST_FLOW_OK);
  EXPECT_EQ(push(1000 * kMs, 1000 * kMs, 10 * kMs), GST_FLOW_EOS);
  expect_verdict(false, "corrupt-timestamps");
  EXPECT_EQ(
      last_message,
      "Video timestamps go backwards at frame 501 (1.00 s after 4.99 s); the file is corrupt");
}

TEST_F(ClipValidate, MeasuresInRunningTime)
{
  start("clipvalidate action=report", kH264At100);
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  segment.start = 3600 * GST_SECOND; /* like x264enc's 1000-hour offset, smaller */
  segment.time = 0;
  gst_harness_push_event(h, gst_event_new_segment(&segment));
  for (int i = 0; i < 2000; ++i) {
    GstClockTime t = segment.start + i * 10 * kMs;
    ASSERT_EQ(push(t, t, 10 * kMs), GST_FLOW_OK);
  }
  push_eos();
  expect_verdict(true, nullptr, 20 * GST_SECOND);
}

TEST_F(ClipValidate, RejectsAtOnceWhenUpstreamDeclaresFarTooLong)
{
  start("clipvalidate action=report", kH264At100);
  /* Answer the duration query the element sends upstream, as a demuxer would. */
  static GstPadQueryFunction harness_query = GST_PAD_QUERYFUNC(h->srcpad);
  gst_pad_set_query_function(
      h->srcpad, [](GstPad *pad, GstObject *parent, GstQuery *query) -> gboolean {
        if (GST_QUERY_TYPE(query) == GST_QUERY_DURATION) {
          gst_query_set_duration(query, GST_FORMAT_TIME, 2 * 3600 * GST_SECOND);
          return TRUE;
        }
        return harness_query(pad, parent, query);
      });
  EXPECT_EQ(push(0, 0, 10 * kMs), GST_FLOW_EOS);
  expect_verdict(false, "too-long");
  EXPECT_EQ(last_message,
            "Clip is 2 h 00 min long according to its header; clips must be 15\u201360 s");
  EXPECT_EQ(gst_harness_buffers_received(h), 0u);
}

TEST_F(ClipValidate, ChecksCodecSizeAndRateAtCaps)
{
  struct Case
  {
    const char *caps;
    const char *reason;
  } cases[] = {
      {"video/x-h264,width=5000,height=3000,framerate=30/1", "too-large"},
      {"video/x-h264,width=1920,height=1080,framerate=240/1", "bad-framerate"},
      {"video/mpeg,mpegversion=2,width=720,height=576,framerate=25/1", "unsupported-codec"},
      {"audio/mpeg,mpegversion=4,rate=48000,channels=2", "no-video"},
  };
  for (const auto &c : cases) {
    SCOPED_TRACE(c.caps);
    start("clipvalidate action=report", c.caps);
    expect_verdict(false, c.reason);
    EXPECT_EQ(push(0, 0, 10 * kMs), GST_FLOW_EOS);
    gst_harness_teardown(h);
    h = nullptr;
    gst_object_unref(bus);
    bus = nullptr;
  }
}

TEST_F(ClipValidate, LimitsAreProperties)
{
  start("clipvalidate action=report min-duration=1000000000 max-duration=2000000000 "
        "codecs=vp9 max-width=640 max-height=360 max-framerate=100",
        kH264At100);
  expect_verdict(false, "unsupported-codec");
  EXPECT_EQ(last_message, "Video codec h264 is not accepted; accepted codecs are vp9");
}

TEST_F(ClipValidate, ANewStreamStartsANewMeasurement)
{
  start("clipvalidate action=report", kH264At100);
  ASSERT_EQ(push_frames(1000, 10 * kMs), GST_FLOW_OK);
  gst_harness_push_event(h, gst_event_new_stream_start("second"));
  gst_harness_set_src_caps_str(h, kH264At100);
  ASSERT_EQ(push_frames(1600, 10 * kMs), GST_FLOW_OK);
  push_eos();
  expect_verdict(true, nullptr, 16 * GST_SECOND);
}

} // namespace
