/* abrladder through GstHarness: raw frames in, every rung collected. */
#include "abrinternal.h"
#include "daterange.h"
#include "streamrestart.h"

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr GstClockTime kFrame30 = GST_SECOND / 30;

struct Frame
{
  GstClockTime running_time;
  bool keyframe;
  gsize size;
  int64_t gop_end; /* abrladder's mark: the next keyframe's running time, or kUnknown */
};

/* Everything one src pad of abrladder produced. */
struct Collector
{
  std::string name;
  GstPad *pad = nullptr; /* our sink pad linked to it */
  GstSegment segment;
  std::vector<Frame> frames;
  std::vector<std::string> events; /* custom events, in order, interleaved with "frame N" */
  GstCaps *caps = nullptr;
  bool eos = false;
  std::vector<GstBuffer *> buffers; /* kept when keep_buffers */
  bool keep_buffers = false;
};

class Ladder : public ::testing::Test
{
protected:
  void SetUp() override
  {
    element = gst_element_factory_make("abrladder", nullptr);
    ASSERT_NE(element, nullptr) << "abrladder is not built";
    bus = gst_bus_new();
    gst_element_set_bus(element, bus);
    g_signal_connect(element, "pad-added", G_CALLBACK(on_pad_added), this);
  }

  void TearDown() override
  {
    for (GstHarness *h : harnesses)
      gst_harness_teardown(h);
    if (element)
      gst_object_unref(element);
    if (bus)
      gst_object_unref(bus);
    for (auto &[name, c] : collectors) {
      if (c->caps)
        gst_caps_unref(c->caps);
      for (GstBuffer *b : c->buffers)
        gst_buffer_unref(b);
      if (c->pad)
        gst_object_unref(c->pad);
    }
  }

  static void on_pad_added(GstElement *, GstPad *pad, gpointer data)
  {
    auto *self = static_cast<Ladder *>(data);
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
      return;
    auto c = std::make_unique<Collector>();
    c->name = GST_PAD_NAME(pad);
    c->keep_buffers = self->keep_buffers;
    gst_segment_init(&c->segment, GST_FORMAT_TIME);
    c->pad = gst_pad_new(("collect_" + c->name).c_str(), GST_PAD_SINK);
    g_object_set_data(G_OBJECT(c->pad), "collector", c.get());
    g_object_set_data(G_OBJECT(c->pad), "fixture", self);
    gst_pad_set_chain_function(c->pad, collect_chain);
    gst_pad_set_event_function(c->pad, collect_event);
    gst_pad_set_active(c->pad, TRUE);
    EXPECT_EQ(gst_pad_link(pad, c->pad), GST_PAD_LINK_OK);
    std::lock_guard<std::mutex> guard(self->lock);
    self->collectors[c->name] = std::move(c);
  }

  static GstFlowReturn collect_chain(GstPad *pad, GstObject *, GstBuffer *buf)
  {
    auto *c = static_cast<Collector *>(g_object_get_data(G_OBJECT(pad), "collector"));
    auto *self = static_cast<Ladder *>(g_object_get_data(G_OBJECT(pad), "fixture"));
    std::lock_guard<std::mutex> guard(self->lock);
    if (!c->caps)
      c->caps = gst_pad_get_current_caps(pad);
    c->frames.push_back(
        {gst_segment_to_running_time(&c->segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buf)),
         !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT), gst_buffer_get_size(buf),
         sugarcast::abr::gop_end_mark(buf)});
    c->events.push_back("frame");
    if (c->keep_buffers)
      c->buffers.push_back(buf);
    else
      gst_buffer_unref(buf);
    return GST_FLOW_OK;
  }

  static gboolean collect_event(GstPad *pad, GstObject *, GstEvent *event)
  {
    auto *c = static_cast<Collector *>(g_object_get_data(G_OBJECT(pad), "collector"));
    auto *self = static_cast<Ladder *>(g_object_get_data(G_OBJECT(pad), "fixture"));
    {
      std::lock_guard<std::mutex> guard(self->lock);
      if (GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT)
        gst_event_copy_segment(event, &c->segment);
      else if (GST_EVENT_TYPE(event) == GST_EVENT_EOS)
        c->eos = true;
      else if (GST_EVENT_TYPE(event) == GST_EVENT_CUSTOM_DOWNSTREAM &&
               !gst_video_event_is_force_key_unit(event))
        c->events.push_back(gst_structure_get_name(gst_event_get_structure(event)));
    }
    self->changed.notify_all();
    gst_event_unref(event);
    return TRUE;
  }

  GstHarness *harness(const char *pad)
  {
    GstHarness *h = gst_harness_new_with_element(element, pad, nullptr);
    harnesses.push_back(h);
    return h;
  }

  void raw_caps(GstHarness *h, int w, int hgt, int fps = 30)
  {
    gst_harness_set_src_caps_str(h, ("video/x-raw,format=I420,width=" + std::to_string(w) +
                                     ",height=" + std::to_string(hgt) + ",framerate=" +
                                     std::to_string(fps) + "/1,pixel-aspect-ratio=1/1")
                                        .c_str());
  }

  /* A frame with a moving pattern, so encoders have something to encode. */
  static GstBuffer *raw_frame(int w, int h, int index, GstClockTime duration)
  {
    GstVideoInfo info;
    gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I420, static_cast<guint>(w),
                              static_cast<guint>(h));
    GstBuffer *buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
    GstVideoFrame frame;
    gst_video_frame_map(&frame, &info, buf, GST_MAP_WRITE);
    auto *luma = static_cast<guint8 *>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
    const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        luma[y * stride + x] = static_cast<guint8>((x + y + index * 4) & 0xff);
    for (guint plane = 1; plane < 3; ++plane)
      std::memset(GST_VIDEO_FRAME_PLANE_DATA(&frame, plane), 128,
                  static_cast<size_t>(GST_VIDEO_FRAME_PLANE_STRIDE(&frame, plane)) *
                      GST_VIDEO_FRAME_COMP_HEIGHT(&frame, plane));
    gst_video_frame_unmap(&frame);
    GST_BUFFER_PTS(buf) =
        gst_util_uint64_scale(static_cast<guint64>(index), GST_SECOND, GST_SECOND / duration);
    GST_BUFFER_DURATION(buf) = duration;
    return buf;
  }

  void push_frames(GstHarness *h, int w, int hgt, int first, int count,
                   GstClockTime duration = kFrame30)
  {
    for (int i = first; i < first + count; ++i)
      ASSERT_EQ(gst_harness_push(h, raw_frame(w, hgt, i, duration)), GST_FLOW_OK);
  }

  /* Pushes EOS and waits (bounded) until every rung has it. */
  void finish(GstHarness *h, size_t rungs)
  {
    gst_harness_push_event(h, gst_event_new_eos());
    std::unique_lock<std::mutex> guard(lock);
    const bool done = changed.wait_for(guard, std::chrono::seconds(60), [&] {
      if (collectors.size() < rungs)
        return false;
      for (auto &[name, c] : collectors)
        if (!c->eos)
          return false;
      return true;
    });
    ASSERT_TRUE(done) << "not every rung reached EOS";
  }

  Collector &rung(const std::string &name)
  {
    std::lock_guard<std::mutex> guard(lock);
    auto it = collectors.find(name);
    if (it == collectors.end()) {
      ADD_FAILURE() << "no pad " << name;
      static Collector none;
      return none;
    }
    return *it->second;
  }

  std::vector<GstClockTime> keyframes(const std::string &name)
  {
    std::vector<GstClockTime> out;
    for (const auto &f : rung(name).frames)
      if (f.keyframe)
        out.push_back(f.running_time);
    return out;
  }

  std::string size_of(const std::string &name)
  {
    Collector &c = rung(name);
    if (!c.caps)
      return "no caps";
    const GstStructure *s = gst_caps_get_structure(c.caps, 0);
    int w = 0, hgt = 0;
    gst_structure_get_int(s, "width", &w);
    gst_structure_get_int(s, "height", &hgt);
    return std::to_string(w) + "x" + std::to_string(hgt);
  }

  /* Pushes a few frames of a w x h source through the default ladder and
   * returns the size of every rung made, src_0 first. */
  std::vector<std::string> rung_sizes(int w, int hgt, size_t rungs)
  {
    GstHarness *h = harness("sink");
    gst_util_set_object_arg(G_OBJECT(element), "preset", "ultrafast");
    raw_caps(h, w, hgt);
    push_frames(h, w, hgt, 0, 2);
    finish(h, rungs);
    std::vector<std::string> sizes;
    for (size_t i = 0; i < collectors.size(); ++i)
      sizes.push_back(size_of("src_" + std::to_string(i)));
    return sizes;
  }

  /* The abrladder-rungs message, or nullptr. */
  GstStructure *rungs_message()
  {
    GstStructure *found = nullptr;
    while (GstMessage *msg = gst_bus_pop(bus)) {
      const GstStructure *s = gst_message_get_structure(msg);
      if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT && s &&
          gst_structure_has_name(s, "abrladder-rungs")) {
        if (found)
          gst_structure_free(found);
        found = gst_structure_copy(s);
      }
      gst_message_unref(msg);
    }
    return found;
  }

  GstElement *element = nullptr;
  GstBus *bus = nullptr;
  std::vector<GstHarness *> harnesses;
  std::mutex lock;
  std::condition_variable changed;
  std::map<std::string, std::unique_ptr<Collector>> collectors;
  bool keep_buffers = false;
};

std::vector<GstClockTime> every(GstClockTime step, GstClockTime end)
{
  std::vector<GstClockTime> out;
  for (GstClockTime t = 0; t < end; t += step)
    out.push_back(t);
  return out;
}

/* Running time of frame `n` at 30 fps, as videotestsrc and the tests stamp it. */
GstClockTime frame30(int n)
{
  return gst_util_uint64_scale(static_cast<guint64>(n), GST_SECOND, 30);
}

} // namespace

TEST_F(Ladder, KeyframesOfAllRungsAtIdenticalRunningTimesOver300Frames)
{
  g_object_set(element, "ladder", "480p:1400,360p:800,240p:400", nullptr);
  gst_util_set_object_arg(G_OBJECT(element), "preset", "ultrafast");
  GstHarness *h = harness("sink");
  raw_caps(h, 854, 480);
  push_frames(h, 854, 480, 0, 300);
  finish(h, 3);

  const auto expected = every(GST_SECOND, 10 * GST_SECOND);
  for (const char *pad : {"src_0", "src_1", "src_2"}) {
    EXPECT_EQ(rung(pad).frames.size(), 300u) << pad;
    EXPECT_EQ(keyframes(pad), expected) << pad << ": keyframes every second and nowhere else";
  }
  EXPECT_EQ(size_of("src_0"), "854x480");
  EXPECT_EQ(size_of("src_1"), "640x360");
  EXPECT_EQ(size_of("src_2"), "428x240");
}

TEST_F(Ladder, TheFrameBeforeEachKeyframeCarriesItsTimeThroughScalersAndEncoders)
{
  /* hlsabrsink closes a segment on this mark instead of waiting for the next
   * keyframe to be encoded: it must be on exactly the last frame of every GOP
   * of every rung, laddered (scaled) or not, with the next keyframe's time. */
  g_object_set(element, "ladder", "480p:1400,360p:800,240p:400", nullptr);
  gst_util_set_object_arg(G_OBJECT(element), "preset", "ultrafast");
  GstHarness *h = harness("sink");
  raw_caps(h, 854, 480);
  push_frames(h, 854, 480, 0, 90);
  finish(h, 3);
  for (const char *pad : {"src_0", "src_1", "src_2"}) {
    const auto &frames = rung(pad).frames;
    ASSERT_EQ(frames.size(), 90u) << pad;
    for (size_t i = 0; i < frames.size(); ++i) {
      const bool last_of_gop = i % 30 == 29;
      if (last_of_gop) {
        /* The frame's end: within rounding of the next frame's time. */
        EXPECT_NEAR(static_cast<double>(frames[i].gop_end),
                    static_cast<double>(frame30(static_cast<int>(i) + 1)), 2.0)
            << pad << " frame " << i;
        if (i + 1 < frames.size()) {
          EXPECT_TRUE(frames[i + 1].keyframe) << pad << " frame " << i + 1;
        }
      } else {
        EXPECT_EQ(frames[i].gop_end, sugarcast::abr::kUnknown) << pad << " frame " << i;
      }
    }
  }
}

TEST_F(Ladder, A720pSourceYields720And480And360Only)
{
  EXPECT_EQ(rung_sizes(1280, 720, 3), (std::vector<std::string>{"1280x720", "854x480", "640x360"}));

  GstStructure *s = rungs_message();
  ASSERT_NE(s, nullptr) << "no abrladder-rungs message";
  const GValue *rungs = gst_structure_get_value(s, "rungs");
  ASSERT_EQ(gst_value_array_get_size(rungs), 3u);
  const GstStructure *first = gst_value_get_structure(gst_value_array_get_value(rungs, 0));
  EXPECT_STREQ(gst_structure_get_string(first, "pad"), "src_0");
  int width = 0, height = 0, bitrate = 0;
  gst_structure_get_int(first, "width", &width);
  gst_structure_get_int(first, "height", &height);
  gst_structure_get_int(first, "bitrate", &bitrate);
  EXPECT_EQ(width, 1280);
  EXPECT_EQ(height, 720);
  EXPECT_EQ(bitrate, 2800);
  const GValue *dropped = gst_structure_get_value(s, "dropped");
  ASSERT_EQ(gst_value_array_get_size(dropped), 1u);
  EXPECT_STREQ(g_value_get_string(gst_value_array_get_value(dropped, 0)), "1080p:5000");
  gst_structure_free(s);
}

TEST_F(Ladder, OddSourceSizesGiveEvenAspectCorrectRungs)
{
  EXPECT_EQ(rung_sizes(1366, 768, 3), (std::vector<std::string>{"1280x720", "854x480", "640x360"}));
}

TEST_F(Ladder, PortraitSourcesAreLadderedByTheirShortSide)
{
  EXPECT_EQ(rung_sizes(1080, 1920, 4),
            (std::vector<std::string>{"1080x1920", "720x1280", "480x854", "360x640"}));
}

TEST_F(Ladder, AFrameRateCapKeepsTheKeyframeGrid)
{
  g_object_set(element, "ladder", "240p:400,180p:200:30", nullptr);
  gst_util_set_object_arg(G_OBJECT(element), "preset", "ultrafast");
  GstHarness *h = harness("sink");
  raw_caps(h, 426, 240, 60);
  push_frames(h, 426, 240, 0, 180, GST_SECOND / 60);
  finish(h, 2);
  EXPECT_EQ(rung("src_0").frames.size(), 180u);
  EXPECT_EQ(rung("src_1").frames.size(), 90u);
  const GstStructure *s = gst_caps_get_structure(rung("src_1").caps, 0);
  int n = 0, d = 0;
  ASSERT_TRUE(gst_structure_get_fraction(s, "framerate", &n, &d));
  EXPECT_DOUBLE_EQ(static_cast<double>(n) / d, 30.0);
  EXPECT_EQ(keyframes("src_0"), every(GST_SECOND, 3 * GST_SECOND));
  EXPECT_EQ(keyframes("src_1"), every(GST_SECOND, 3 * GST_SECOND));
}

TEST_F(Ladder, CustomEventsReachEveryRungAndARestartIsAKeyframeEverywhere)
{
  g_object_set(element, "ladder", "240p:400,180p:200", nullptr);
  gst_util_set_object_arg(G_OBJECT(element), "preset", "ultrafast");
  GstHarness *h = harness("sink");
  raw_caps(h, 426, 240);
  push_frames(h, 426, 240, 0, 20);
  ASSERT_TRUE(gst_harness_push_event(
      h, sugarcast_daterange_event_new("gift-1", "com.sugarcast.gift", 500 * GST_MSECOND,
                                       GST_CLOCK_TIME_NONE, nullptr)));
  push_frames(h, 426, 240, 20, 5);
  ASSERT_TRUE(gst_harness_push_event(h, sugarcast_stream_restart_event_new("live", "key")));
  push_frames(h, 426, 240, 25, 40);
  finish(h, 2);

  for (const char *pad : {"src_0", "src_1"}) {
    const auto &events = rung(pad).events;
    /* In stream order: after frame 20 and frame 25. */
    std::vector<std::string> custom;
    size_t frames_before_daterange = 0, frames_before_restart = 0, frames = 0;
    for (const auto &e : events) {
      if (e == "frame") {
        ++frames;
        continue;
      }
      custom.push_back(e);
      if (e == "sugarcast-daterange")
        frames_before_daterange = frames;
      if (e == "sugarcast-stream-restart")
        frames_before_restart = frames;
    }
    EXPECT_EQ(custom, (std::vector<std::string>{"sugarcast-daterange", "sugarcast-stream-restart"}))
        << pad;
    EXPECT_EQ(frames_before_daterange, 20u) << pad;
    EXPECT_EQ(frames_before_restart, 25u) << pad;
    /* The frame after the restart is a keyframe and the grid starts there. */
    EXPECT_EQ(keyframes(pad), (std::vector<GstClockTime>{0, frame30(25), frame30(55)})) << pad;
  }
}

TEST_F(Ladder, UpstreamKeyUnitRequestsDoNotAddKeyframes)
{
  g_object_set(element, "ladder", "240p:400", nullptr);
  gst_util_set_object_arg(G_OBJECT(element), "preset", "ultrafast");
  GstHarness *h = harness("sink");
  raw_caps(h, 426, 240);
  push_frames(h, 426, 240, 0, 10);
  GstPad *pad = rung("src_0").pad;
  gst_pad_push_event(pad,
                     gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 1));
  push_frames(h, 426, 240, 10, 50);
  finish(h, 1);
  EXPECT_EQ(keyframes("src_0"), every(GST_SECOND, 2 * GST_SECOND));
}

TEST_F(Ladder, Vp9RungsShareTheGridToo)
{
  g_object_set(element, "ladder", "240p:400,120p:150", nullptr);
  gst_util_set_object_arg(G_OBJECT(element), "codec", "vp9");
  gst_util_set_object_arg(G_OBJECT(element), "preset", "ultrafast");
  GstHarness *h = harness("sink");
  raw_caps(h, 426, 240);
  push_frames(h, 426, 240, 0, 75);
  finish(h, 2);
  for (const char *pad : {"src_0", "src_1"}) {
    EXPECT_EQ(rung(pad).frames.size(), 75u) << pad;
    EXPECT_EQ(keyframes(pad), every(GST_SECOND, frame30(75))) << pad;
    EXPECT_TRUE(gst_structure_has_name(gst_caps_get_structure(rung(pad).caps, 0), "video/x-vp9"));
  }
}

TEST_F(Ladder, AnInvalidLadderFailsWithTheEntryAndWhatWasExpected)
{
  g_object_set(element, "ladder", "720p:2800,480:1400", nullptr);
  EXPECT_EQ(gst_element_set_state(element, GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  ASSERT_NE(msg, nullptr);
  GError *err = nullptr;
  gst_message_parse_error(msg, &err, nullptr);
  EXPECT_STREQ(
      err->message,
      "Invalid abrladder ladder \"720p:2800,480:1400\": ladder entry 2 '480:1400': the size "
      "must be a height followed by 'p'; expected HEIGHTp:KBPS[:MAXFPS] (like 720p:2800 "
      "or 360p:800:30) or source[:KBPS]");
  g_error_free(err);
  gst_message_unref(msg);
  gst_element_set_state(element, GST_STATE_NULL);
}

namespace {

/* An encoded stream and its decoded frames, as a publisher's push and the
 * decoder after it would give them: x264 with a keyframe every 45 frames. */
struct Published
{
  GstCaps *encoded_caps = nullptr;
  GstCaps *raw_caps = nullptr;
  GstSegment encoded_segment;
  std::vector<GstBuffer *> encoded;
  std::vector<GstBuffer *> raw;

  ~Published()
  {
    for (GstBuffer *b : encoded)
      gst_buffer_unref(b);
    for (GstBuffer *b : raw)
      gst_buffer_unref(b);
    if (encoded_caps)
      gst_caps_unref(encoded_caps);
    if (raw_caps)
      gst_caps_unref(raw_caps);
  }
};

void pull_all(GstElement *pipeline, const char *name, std::vector<GstBuffer *> &out, GstCaps *&caps,
              GstSegment *segment = nullptr)
{
  GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), name);
  while (true) {
    GstSample *sample = nullptr;
    g_signal_emit_by_name(sink, "pull-sample", &sample);
    if (!sample)
      break;
    if (!caps) {
      caps = gst_caps_ref(gst_sample_get_caps(sample));
      if (segment)
        gst_segment_copy_into(gst_sample_get_segment(sample), segment);
    }
    out.push_back(gst_buffer_ref(gst_sample_get_buffer(sample)));
    gst_sample_unref(sample);
  }
  gst_object_unref(sink);
}

} // namespace

TEST_F(Ladder, TheSourceRungPassesThePublisherThroughAndTheOthersFollowItsKeyframes)
{
  Published pub;
  GError *error = nullptr;
  GstElement *source = gst_parse_launch(
      "videotestsrc num-buffers=120 ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 "
      "! tee name=t t. ! queue ! x264enc key-int-max=45 speed-preset=ultrafast ! h264parse ! "
      "video/x-h264,stream-format=avc,alignment=au ! appsink name=enc sync=false "
      "t. ! queue ! appsink name=raw sync=false",
      &error);
  ASSERT_NE(source, nullptr) << error->message;
  gst_element_set_state(source, GST_STATE_PLAYING);
  std::thread encoded_puller(
      [&] { pull_all(source, "enc", pub.encoded, pub.encoded_caps, &pub.encoded_segment); });
  pull_all(source, "raw", pub.raw, pub.raw_caps);
  encoded_puller.join();
  gst_element_set_state(source, GST_STATE_NULL);
  gst_object_unref(source);
  ASSERT_EQ(pub.raw.size(), 120u);
  ASSERT_EQ(pub.encoded.size(), 120u);

  g_object_set(element, "ladder", "source,180p:200,120p:120", nullptr);
  gst_util_set_object_arg(G_OBJECT(element), "preset", "ultrafast");
  keep_buffers = true;
  GstHarness *raw = harness("sink");
  GstHarness *publisher = harness("passthrough_sink");
  gst_harness_set_src_caps(publisher, gst_caps_ref(pub.encoded_caps));
  /* x264enc's output segment: its timestamps are 1000 hours ahead. */
  gst_harness_push_event(publisher, gst_event_new_segment(&pub.encoded_segment));
  for (GstBuffer *b : pub.encoded)
    ASSERT_EQ(gst_harness_push(publisher, gst_buffer_ref(b)), GST_FLOW_OK);
  gst_harness_push_event(publisher, gst_event_new_eos());
  gst_harness_set_src_caps(raw, gst_caps_ref(pub.raw_caps));
  for (GstBuffer *b : pub.raw)
    ASSERT_EQ(gst_harness_push(raw, gst_buffer_ref(b)), GST_FLOW_OK);
  finish(raw, 3);

  /* The publisher's keyframes: 0, 1.5 s, 3 s; never the 1 s grid. */
  const std::vector<GstClockTime> publisher_keys = {0, frame30(45), frame30(90)};
  EXPECT_EQ(keyframes("src_0"), publisher_keys);
  EXPECT_EQ(keyframes("src_1"), publisher_keys);
  EXPECT_EQ(keyframes("src_2"), publisher_keys);
  EXPECT_EQ(size_of("src_1"), "240x180");
  /* The source rung is the publisher's stream, byte for byte (as Annex B). */
  Collector &src = rung("src_0");
  ASSERT_EQ(src.buffers.size(), pub.encoded.size());
  const GstStructure *s = gst_caps_get_structure(src.caps, 0);
  EXPECT_STREQ(gst_structure_get_string(s, "stream-format"), "byte-stream");
  gsize in = 0, out = 0;
  for (size_t i = 0; i < pub.encoded.size(); ++i) {
    in += gst_buffer_get_size(pub.encoded[i]);
    out += gst_buffer_get_size(src.buffers[i]);
  }
  /* Start codes replace lengths; parameter sets are repeated at keyframes. */
  EXPECT_GE(out, in);
  EXPECT_LT(out, in + 200 * 3);
}
