/* Sugarcast — replaysrc on a recording recordsink made from real encoders:
 * whole, keyframe-aligned ranges (read back with ffprobe), seeking, live
 * pacing, a bad location. */
#include "manifest.h"
#include "retention.h"

#include "testenv.h"

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

using namespace sugarcast::record;
using namespace sugarcast::test;

namespace {

/* Runs DESC until EOS or an error; returns the error text ("" on EOS). */
std::string run_to_end(GstElement *pipeline)
{
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
  g_autoptr(GstMessage) msg = gst_bus_timed_pop_filtered(
      bus, 120 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  std::string error = msg ? "" : "no EOS within 120 s";
  if (msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    g_autoptr(GError) e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    error = e->message;
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  return error;
}

std::string launch(const std::string &desc)
{
  g_autoptr(GError) err = nullptr;
  GstElement *pipeline = gst_parse_launch(desc.c_str(), &err);
  if (!pipeline || err) {
    if (pipeline)
      gst_object_unref(pipeline);
    return err ? err->message : "no pipeline";
  }
  std::string error;
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    error = "could not start";
  const std::string ended = run_to_end(pipeline);
  gst_object_unref(pipeline);
  return error.empty() ? ended : error + ": " + ended;
}

double duration_of(const std::string &path)
{
  auto r = run_process(
      {"ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path});
  EXPECT_TRUE(r.ok()) << r.err;
  return r.ok() ? g_ascii_strtod(r.out.c_str(), nullptr) : -1;
}

/* One 12 s recording (720p30, a keyframe every second, AAC), made once. */
const std::string &recording()
{
  static std::string folder;
  if (!folder.empty())
    return folder;
  const std::string location = scratch_dir() + "/recordings";
  const std::string error =
      launch("videotestsrc num-buffers=360 ! video/x-raw,width=1280,height=720,framerate=30/1 ! "
             "x264enc speed-preset=ultrafast key-int-max=30 threads=2 ! r.video "
             "audiotestsrc num-buffers=360 samplesperbuffer=1600 ! audio/x-raw,rate=48000 ! "
             "avenc_aac ! r.audio recordsink name=r location=" +
             location);
  EXPECT_EQ(error, "");
  auto recs = list_recordings(location);
  EXPECT_EQ(recs.size(), 1u);
  if (recs.size() == 1)
    folder = recs[0].folder;
  return folder;
}

std::string replay_to_file(const std::string &props, const std::string &out)
{
  return launch("replaysrc location=" + recording() + " " + props +
                " name=r r.video ! queue ! mpegtsmux name=m ! filesink location=" + out +
                " r.audio ! queue ! m.");
}

} // namespace

TEST(ReplaySrc, PlaysTheWholeRecording)
{
  ASSERT_FALSE(recording().empty());
  const std::string out = scratch_dir() + "/whole.ts";
  ASSERT_EQ(replay_to_file("", out), "");
  EXPECT_NEAR(duration_of(out), 12.0, 0.5);
}

TEST(ReplaySrc, RangesGiveTheAskedDurationWithinAGop)
{
  ASSERT_FALSE(recording().empty());
  struct Range
  {
    double start, stop;
  };
  /* Across a segment boundary (4 s), inside one, from a non-keyframe, to the end. */
  const Range ranges[] = {{2.0, 6.0}, {4.5, 9.0}, {0.3, 1.2}, {9.5, -1}};
  int i = 0;
  for (const auto &r : ranges) {
    SCOPED_TRACE(std::to_string(r.start) + ".." + std::to_string(r.stop));
    const std::string out = scratch_dir() + "/range" + std::to_string(i++) + ".ts";
    std::string props = "start=" + std::to_string(static_cast<int64_t>(r.start * 1e9));
    if (r.stop >= 0)
      props += " stop=" + std::to_string(static_cast<int64_t>(r.stop * 1e9));
    ASSERT_EQ(replay_to_file(props, out), "");
    const double asked = (r.stop < 0 ? 12.0 : r.stop) - r.start;
    const double got = duration_of(out);
    /* Keyframe-aligned: never shorter than asked, at most a GOP (1 s) longer. */
    EXPECT_GE(got, asked - 0.05);
    EXPECT_LE(got, asked + 1.0 + 0.05);
  }
}

TEST(ReplaySrc, Seeks)
{
  ASSERT_FALSE(recording().empty());
  g_autoptr(GError) err = nullptr;
  GstElement *pipeline = gst_parse_launch(
      ("replaysrc location=" + recording() +
       " name=r r.video ! queue ! fakesink name=v async=true r.audio ! queue ! fakesink")
          .c_str(),
      &err);
  ASSERT_TRUE(pipeline && !err);
  struct Seen
  {
    std::atomic<bool> seeked{false};
    int frames = 0;
    GstClockTime first = GST_CLOCK_TIME_NONE;
  } seen;
  {
    g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), "v");
    g_autoptr(GstPad) pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad *pad, GstPadProbeInfo *info, gpointer data) -> GstPadProbeReturn {
          auto *s = static_cast<Seen *>(data);
          GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
          GstEvent *seg_event = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
          if (seg_event) {
            const GstSegment *segment;
            gst_event_parse_segment(seg_event, &segment);
            /* Frames after the seek, in stream time (from the start). */
            if (s->seeked) {
              ++s->frames;
              if (!GST_CLOCK_TIME_IS_VALID(s->first))
                s->first =
                    gst_segment_to_stream_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
            }
            gst_event_unref(seg_event);
          }
          return GST_PAD_PROBE_OK;
        },
        &seen, nullptr);
  }
  ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  ASSERT_EQ(gst_element_get_state(pipeline, nullptr, nullptr, 30 * GST_SECOND),
            GST_STATE_CHANGE_SUCCESS);
  gint64 duration = 0;
  ASSERT_TRUE(gst_element_query_duration(pipeline, GST_FORMAT_TIME, &duration));
  EXPECT_NEAR(duration / 1e9, 12.0, 0.5);
  ASSERT_TRUE(gst_element_seek_simple(
      pipeline, GST_FORMAT_TIME,
      static_cast<GstSeekFlags>(GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT), 7 * GST_SECOND));
  /* The flushing seek has returned: what arrives now comes from 7 s. */
  seen.seeked = true;
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  EXPECT_EQ(run_to_end(pipeline), "");
  gst_object_unref(pipeline);
  /* tsdemux seeks (by PCR bisection over the bytes) to a keyframe before
   * the target: here within 3 s of it, never after. */
  ASSERT_TRUE(GST_CLOCK_TIME_IS_VALID(seen.first));
  const double first = static_cast<double>(seen.first) / GST_SECOND;
  EXPECT_LE(first, 7.0 + 0.05);
  EXPECT_GE(first, 7.0 - 3.0);
  EXPECT_NEAR(seen.frames, (12.0 - first) * 30, 5) << "first frame at " << first;
}

TEST(ReplaySrc, LiveIsALiveSource)
{
  ASSERT_FALSE(recording().empty());
  g_autoptr(GError) err = nullptr;
  GstElement *pipeline =
      gst_parse_launch(("replaysrc live=true start=11000000000 location=" + recording() +
                        " name=r r.video ! queue ! fakesink r.audio ! queue ! fakesink")
                           .c_str(),
                       &err);
  ASSERT_TRUE(pipeline && !err);
  EXPECT_EQ(gst_element_set_state(pipeline, GST_STATE_PAUSED), GST_STATE_CHANGE_NO_PREROLL);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  EXPECT_EQ(run_to_end(pipeline), "");
  gst_object_unref(pipeline);
}

TEST(ReplaySrc, RefusesWhatItCannotPlay)
{
  const std::string missing = scratch_dir() + "/no-such-recording";
  std::string error = launch("replaysrc location=" + missing + " ! fakesink");
  EXPECT_NE(error.find(missing), std::string::npos) << error;
  ASSERT_FALSE(recording().empty());
  error = launch("replaysrc location=" + recording() + " start=60000000000 ! fakesink");
  EXPECT_NE(error.find("start is 60.000 s"), std::string::npos) << error;
  error =
      launch("replaysrc location=" + recording() + " start=5000000000 stop=4000000000 ! fakesink");
  EXPECT_NE(error.find("must be after start"), std::string::npos) << error;
}
