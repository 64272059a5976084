/* Sugarcast — replaysrc on a recording recordsink made from real encoders:
 * whole, keyframe-aligned ranges (read back with ffprobe), frame-exact
 * ranges (each frame's number, stamped into the picture before encoding,
 * read back from the decoded output), seeking, live pacing, a bad location. */
#include "manifest.h"
#include "retention.h"

#include "testenv.h"

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>

using namespace sugarcast::record;
using namespace sugarcast::test;

namespace {

/* Waits for PIPELINE's EOS or error; returns the error text ("" on EOS). */
std::string wait_for_end(GstElement *pipeline, int timeout_s = 120)
{
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
  g_autoptr(GstMessage) msg =
      gst_bus_timed_pop_filtered(bus, timeout_s * GST_SECOND,
                                 static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  std::string error = msg ? "" : "no EOS within " + std::to_string(timeout_s) + " s";
  if (msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    g_autoptr(GError) e = nullptr;
    g_autofree gchar *debug = nullptr;
    gst_message_parse_error(msg, &e, &debug);
    /* The element and its debug text say which of a muxer's reasons it was. */
    error = e->message;
    error += std::string(" (") + GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)) + ": " +
             (debug ? debug : "") + ")";
  }
  return error;
}

/* Runs PIPELINE until EOS or an error, then stops it; returns the error
 * text ("" on EOS). */
std::string run_to_end(GstElement *pipeline, int timeout_s = 120)
{
  std::string error = wait_for_end(pipeline, timeout_s);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  return error;
}

/* Runs DESC to its end (SETUP, if given, sees the pipeline first); returns
 * the error text ("" on EOS). */
std::string launch(const std::string &desc,
                   const std::function<void(GstElement *)> &setup = nullptr, int timeout_s = 120)
{
  g_autoptr(GError) err = nullptr;
  GstElement *pipeline = gst_parse_launch(desc.c_str(), &err);
  if (!pipeline || err) {
    if (pipeline)
      gst_object_unref(pipeline);
    return err ? err->message : "no pipeline";
  }
  if (setup)
    setup(pipeline);
  std::string error;
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    error = "could not start";
  const std::string ended = run_to_end(pipeline, timeout_s);
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

constexpr int kFps = 30;
constexpr int kCodeBits = 12;  /* frame numbers up to 4095 */
constexpr int kCodeBlock = 64; /* pixels a side of one bit's square */

/* Stamps the frame number (from the PTS) into the top rows of a Y444_10LE
 * 1280x720 frame (what videotestsrc gives x264enc when the format is left
 * to them, as in the recordings these tests always made): one white or black
 * square per bit, which survive two encodings. */
GstPadProbeReturn stamp_frame_number(GstPad *, GstPadProbeInfo *info, gpointer)
{
  GstBuffer *buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  const long n = std::lround(static_cast<double>(GST_BUFFER_PTS(buf)) * kFps / GST_SECOND);
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_WRITE))
    return GST_PAD_PROBE_OK;
  auto *luma = reinterpret_cast<uint16_t *>(map.data);
  for (int y = 0; y < kCodeBlock; ++y)
    for (int x = 0; x < kCodeBits * kCodeBlock; ++x)
      luma[y * 1280 + x] = GUINT16_TO_LE((n >> (x / kCodeBlock)) & 1 ? 940 : 64);
  gst_buffer_unmap(buf, &map);
  return GST_PAD_PROBE_OK;
}

/* A recording of FRAMES frames (720p30, a keyframe every KEY_INT frames,
 * AAC, segments of 4 s) in scratch folder NAME, x264enc given OPTIONS too;
 * every frame carries its number. */
std::string make_recording(const std::string &name, int frames, int key_int,
                           const std::string &options = "")
{
  const std::string location = scratch_dir() + "/" + name;
  const std::string n = std::to_string(frames);
  g_autoptr(GError) err = nullptr;
  GstElement *pipeline =
      gst_parse_launch(("videotestsrc name=v num-buffers=" + n +
                        " ! video/x-raw,format=Y444_10LE,width=1280,height=720,framerate=30/1 ! "
                        "x264enc speed-preset=ultrafast key-int-max=" +
                        std::to_string(key_int) + " " + options +
                        " threads=2 ! r.video "
                        "audiotestsrc num-buffers=" +
                        n +
                        " samplesperbuffer=1600 ! audio/x-raw,rate=48000 ! "
                        "avenc_aac ! r.audio recordsink name=r location=" +
                        location)
                           .c_str(),
                       &err);
  EXPECT_TRUE(pipeline && !err);
  if (!pipeline)
    return "";
  {
    g_autoptr(GstElement) src = gst_bin_get_by_name(GST_BIN(pipeline), "v");
    g_autoptr(GstPad) pad = gst_element_get_static_pad(src, "src");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, stamp_frame_number, nullptr, nullptr);
  }
  EXPECT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  EXPECT_EQ(run_to_end(pipeline), "");
  gst_object_unref(pipeline);
  auto recs = list_recordings(location);
  EXPECT_EQ(recs.size(), 1u);
  return recs.size() == 1 ? recs[0].folder : "";
}

/* The 12 s recording most tests use: a keyframe every second. */
const std::string &recording()
{
  static const std::string folder = make_recording("recordings", 360, 30);
  return folder;
}

/* The number stamped into each decoded video frame of PATH, in order. */
std::vector<long> frame_numbers(const std::string &path)
{
  const std::string filter = "crop=" + std::to_string(kCodeBits * kCodeBlock) + ":" +
                             std::to_string(kCodeBlock) +
                             ":0:0,scale=" + std::to_string(kCodeBits) + ":1:flags=area";
  auto r = run_process({"ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-vf", filter,
                        "-pix_fmt", "gray", "-f", "rawvideo", "-"});
  EXPECT_TRUE(r.ok()) << r.err;
  std::vector<long> out;
  for (size_t at = 0; at + kCodeBits <= r.out.size(); at += kCodeBits) {
    long n = 0;
    for (int bit = 0; bit < kCodeBits; ++bit)
      if (static_cast<unsigned char>(r.out[at + bit]) > 128)
        n |= 1L << bit;
    out.push_back(n);
  }
  return out;
}

/* The first number ffprobe reports for ENTRIES of a stream in PATH; KIND is
 * "v" or "a". */
double probe_first(const std::string &path, const char *kind, const char *entries)
{
  auto r = run_process({"ffprobe", "-v", "error", "-select_streams", kind, "-show_entries", entries,
                        "-of", "csv=p=0", path});
  EXPECT_TRUE(r.ok()) << r.err;
  return r.ok() ? g_ascii_strtod(r.out.c_str(), nullptr) : -1;
}

/* A stream's start_time (s) in PATH; KIND is "v" or "a". */
double start_time_of(const std::string &path, const char *kind)
{
  return probe_first(path, kind, "stream=start_time");
}

/* The PTS (s) of a stream's first packet in PATH, in file order. */
double first_packet_pts(const std::string &path, const char *kind)
{
  return probe_first(path, kind, "packet=pts_time");
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
    /* Audio begins with the video: not before its first frame (the AAC
     * frames muxed before the range's first keyframe are earlier), within
     * one frame of it. */
    const double video = start_time_of(out, "v"), audio = start_time_of(out, "a");
    EXPECT_GE(audio, video - 0.0001);
    EXPECT_LE(audio, video + 1.0 / kFps);
  }
}

TEST(ReplaySrc, AudioBeginsWithTheFirstVideoFrame)
{
  /* From the buffers: the first AAC frame out of the audio pad is not
   * before the first video frame and within a frame of it, for ranges that
   * begin at keyframes inside a segment and at a segment's start. */
  ASSERT_FALSE(recording().empty());
  for (const double start : {2.0, 3.3, 4.0, 6.9}) {
    SCOPED_TRACE(start);
    g_autoptr(GError) err = nullptr;
    GstElement *pipeline =
        gst_parse_launch(("replaysrc location=" + recording() +
                          " start=" + std::to_string(std::llround(start * 1e9)) +
                          " stop=" + std::to_string(std::llround((start + 2) * 1e9)) +
                          " name=r r.video ! fakesink name=v r.audio ! fakesink name=a")
                             .c_str(),
                         &err);
    ASSERT_TRUE(pipeline && !err);
    struct First
    {
      std::atomic<GstClockTime> pts{GST_CLOCK_TIME_NONE};
    } first[2];
    int i = 0;
    for (const char *name : {"v", "a"}) {
      g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), name);
      g_autoptr(GstPad) pad = gst_element_get_static_pad(sink, "sink");
      gst_pad_add_probe(
          pad, GST_PAD_PROBE_TYPE_BUFFER,
          [](GstPad *, GstPadProbeInfo *info, gpointer data) -> GstPadProbeReturn {
            auto *f = static_cast<First *>(data);
            GstClockTime none = GST_CLOCK_TIME_NONE;
            f->pts.compare_exchange_strong(none, GST_BUFFER_PTS(GST_PAD_PROBE_INFO_BUFFER(info)));
            return GST_PAD_PROBE_OK;
          },
          &first[i++], nullptr);
    }
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    EXPECT_EQ(run_to_end(pipeline), "");
    gst_object_unref(pipeline);
    const GstClockTime video = first[0].pts, audio = first[1].pts;
    ASSERT_TRUE(GST_CLOCK_TIME_IS_VALID(video));
    ASSERT_TRUE(GST_CLOCK_TIME_IS_VALID(audio));
    const double lead = (static_cast<double>(audio) - static_cast<double>(video)) / GST_SECOND;
    EXPECT_GE(lead, 0.0);
    EXPECT_LE(lead, 1.0 / kFps);
  }
}

TEST(ReplaySrc, NeedsNoQueuesDownstream)
{
  /* A muxer straight on both pads, no queue between: it blocks each branch
   * until the other has data, which the multiqueue inside takes. */
  ASSERT_FALSE(recording().empty());
  for (const char *exact : {"false", "true"}) {
    SCOPED_TRACE(std::string("frame-exact=") + exact);
    const std::string out = scratch_dir() + "/no-queues-" + exact + ".mp4";
    ASSERT_EQ(launch("replaysrc location=" + recording() + " frame-exact=" + exact +
                         " start=2500000000 stop=6000000000 name=r mp4mux name=m ! filesink "
                         "location=" +
                         out + " r.video ! h264parse ! m. r.audio ! aacparse ! m.",
                     nullptr, 30),
              "");
    EXPECT_NEAR(duration_of(out), exact[0] == 't' ? 3.5 : 4.0, 0.1);
  }
}

TEST(ReplaySrc, AudioThatReachedTheRecorderLate)
{
  /* A publisher whose audio arrives 600 ms after its video (an audio sync
   * offset, a slow audio path): at each segment cut the AAC frames from
   * before the keyframe are written after it, and tsdemux, whose timeline
   * starts at the segment's first PCR, gives the earliest of them no
   * timestamp. Replayed from those keyframes, into mp4mux straight on the
   * pads (which refuses a buffer without PTS) and into mpegtsmux (which
   * would place them before the first video frame), aligned and
   * frame-exact. */
  const std::string location = scratch_dir() + "/late-audio";
  ASSERT_EQ(launch("videotestsrc is-live=true num-buffers=120 ! "
                   "video/x-raw,width=640,height=360,framerate=30/1 ! "
                   "x264enc speed-preset=ultrafast tune=zerolatency key-int-max=30 ! r.video "
                   "audiotestsrc is-live=true num-buffers=120 samplesperbuffer=1600 ! "
                   "audio/x-raw,rate=48000 ! avenc_aac ! "
                   "queue min-threshold-time=600000000 max-size-time=2000000000 ! r.audio "
                   "recordsink name=r segment-duration=1000000000 location=" +
                   location),
            "");
  auto recs = list_recordings(location);
  ASSERT_EQ(recs.size(), 1u);
  const std::string folder = recs[0].folder;
  {
    /* The case this test is about: the second segment's first AAC frame is
     * well before its first video frame (tsdemux's timeline starts about
     * 0.1 s before the latter), not an accident of scheduling. */
    const double video = first_packet_pts(folder + "/seg00001.ts", "v");
    const double audio = first_packet_pts(folder + "/seg00001.ts", "a");
    ASSERT_GT(video - audio, 0.15) << "video " << video << " s, audio " << audio << " s";
  }
  struct Case
  {
    const char *exact;
    double start, video;
  };
  for (const Case c : {Case{"false", 1.0, 2.0}, Case{"false", 2.0, 1.0}, Case{"true", 1.2, 1.8}}) {
    SCOPED_TRACE(std::string("frame-exact=") + c.exact + " from " + std::to_string(c.start));
    const std::string range = " frame-exact=" + std::string(c.exact) +
                              " start=" + std::to_string(std::llround(c.start * 1e9)) +
                              " stop=3000000000 name=r ";
    const std::string mp4 = scratch_dir() + "/late-audio.mp4";
    ASSERT_EQ(launch("replaysrc location=" + folder + range + "mp4mux name=m ! filesink location=" +
                         mp4 + " r.video ! h264parse ! m. r.audio ! aacparse ! m.",
                     nullptr, 30),
              "");
    const std::string ts = scratch_dir() + "/late-audio.ts";
    ASSERT_EQ(launch("replaysrc location=" + folder + range +
                         "r.video ! queue ! mpegtsmux name=m ! filesink location=" + ts +
                         " r.audio ! queue ! m.",
                     nullptr, 30),
              "");
    for (const std::string &out : {mp4, ts}) {
      SCOPED_TRACE(out);
      EXPECT_NEAR(duration_of(out), c.video, 0.1);
      const double video = start_time_of(out, "v"), audio = start_time_of(out, "a");
      EXPECT_GE(audio, video - 0.0001);
      EXPECT_LE(audio, video + 1.0 / kFps);
    }
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

namespace {

/* Frames the x264enc inside replaysrc put out (none when it made none). */
struct Reencoded
{
  std::atomic<int> encoders{0};
  std::atomic<int> frames{0};
};

void on_deep_element(GstBin *, GstBin *, GstElement *element, gpointer data)
{
  auto *r = static_cast<Reencoded *>(data);
  GstElementFactory *f = gst_element_get_factory(element);
  if (!f || g_strcmp0(gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(f)), "x264enc") != 0)
    return;
  ++r->encoders;
  g_autoptr(GstPad) src = gst_element_get_static_pad(element, "src");
  gst_pad_add_probe(
      src, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad *, GstPadProbeInfo *, gpointer d) -> GstPadProbeReturn {
        ++static_cast<Reencoded *>(d)->frames;
        return GST_PAD_PROBE_OK;
      },
      r, nullptr);
}

/* Cuts [START, STOP) s frame-exact into OUT the way the daemon's highlight
 * does (h264parse and aacparse into MUXER). */
std::string cut_exact(double start, double stop, const std::string &out, Reencoded &reencoded,
                      const std::string &muxer = "mp4mux", const std::string &from = recording())
{
  const std::string desc = "replaysrc frame-exact=true location=" + from +
                           " start=" + std::to_string(std::llround(start * 1e9)) +
                           " stop=" + std::to_string(std::llround(stop * 1e9)) + " name=r " +
                           muxer + " name=m ! filesink location=" + out +
                           " r.video ! queue ! h264parse ! m. r.audio ! queue ! aacparse ! m.";
  return launch(desc, [&](GstElement *pipeline) {
    g_signal_connect(pipeline, "deep-element-added", G_CALLBACK(on_deep_element), &reencoded);
  });
}

} // namespace

TEST(ReplaySrc, FrameExactRangesBeginAtStart)
{
  ASSERT_FALSE(recording().empty());
  struct Range
  {
    double start, stop;
    double next_keyframe; /* where the untouched frames resume */
    const char *what;
  };
  const Range ranges[] = {
      {2.5, 3.7, 3.0, "inside a GOP"},
      {3.4, 6.2, 4.0, "resuming at a segment boundary (4 s)"},
      {7.9, 9.5, 8.0, "the last frames of a segment's last GOP"},
      {5.2, 5.6, 6.0, "ending inside the re-encoded GOP"},
      {2.51, 3.0, 3.0, "between two frames"},
  };
  int i = 0;
  for (const auto &r : ranges) {
    SCOPED_TRACE(std::string(r.what) + ": " + std::to_string(r.start) + ".." +
                 std::to_string(r.stop));
    const std::string out = scratch_dir() + "/exact" + std::to_string(i++) + ".mp4";
    Reencoded reencoded;
    ASSERT_EQ(cut_exact(r.start, r.stop, out, reencoded), "");
    /* The frames are the recording's from the first at or after start to
     * the last before stop, each once, in order. */
    const long first = std::lround(std::ceil(r.start * kFps - 1e-6));
    const long end = std::lround(std::ceil(r.stop * kFps - 1e-6));
    const auto numbers = frame_numbers(out);
    ASSERT_EQ(numbers.size(), static_cast<size_t>(end - first));
    for (size_t n = 0; n < numbers.size(); ++n)
      ASSERT_EQ(numbers[n], first + static_cast<long>(n)) << "frame " << n;
    /* Only the GOP start falls in was encoded again. */
    const long resume = std::lround(r.next_keyframe * kFps);
    EXPECT_EQ(reencoded.encoders, 1);
    EXPECT_EQ(reencoded.frames, std::min(resume, end) - first);
    /* The file's timeline begins at start: the first frame is where it
     * should be, the duration is the range's, audio begins with video. */
    const double frame = 1.0 / kFps, aac_frame = 1024.0 / 48000;
    const double video = start_time_of(out, "v");
    EXPECT_NEAR(video, static_cast<double>(first) / kFps - r.start, frame / 2);
    EXPECT_NEAR(duration_of(out), r.stop - r.start, frame);
    EXPECT_NEAR(start_time_of(out, "a"), video, aac_frame + 0.001);
    /* It decodes without an error (the untouched frames use the source's
     * parameter sets, the head its own). */
    auto decode = run_process({"ffmpeg", "-v", "error", "-i", out, "-f", "null", "-"});
    EXPECT_TRUE(decode.ok() && decode.err.empty()) << decode.err;
  }
}

TEST(ReplaySrc, FrameExactIntoMpegTs)
{
  ASSERT_FALSE(recording().empty());
  const std::string out = scratch_dir() + "/exact.ts";
  Reencoded reencoded;
  ASSERT_EQ(cut_exact(4.5, 6.5, out, reencoded, "mpegtsmux"), "");
  const auto numbers = frame_numbers(out);
  ASSERT_EQ(numbers.size(), 60u);
  EXPECT_EQ(numbers.front(), 135);
  EXPECT_EQ(numbers.back(), 194);
  EXPECT_EQ(reencoded.frames, 15);
  EXPECT_NEAR(duration_of(out), 2.0, 1.0 / kFps);
  EXPECT_NEAR(start_time_of(out, "a"), start_time_of(out, "v"), 1024.0 / 48000 + 0.001);
}

TEST(ReplaySrc, FrameExactFromAKeyframeEncodesNothing)
{
  ASSERT_FALSE(recording().empty());
  const std::string exact = scratch_dir() + "/exact-key.mp4";
  Reencoded reencoded;
  ASSERT_EQ(cut_exact(5.0, 7.0, exact, reencoded), "");
  EXPECT_EQ(reencoded.encoders, 0);
  EXPECT_EQ(reencoded.frames, 0);
  const auto numbers = frame_numbers(exact);
  ASSERT_EQ(numbers.size(), 60u);
  EXPECT_EQ(numbers.front(), 150);
  EXPECT_EQ(numbers.back(), 209);
  EXPECT_NEAR(duration_of(exact), 2.0, 1.0 / kFps);
  /* The same frames as the keyframe-aligned cut, bit for bit. */
  const std::string aligned = scratch_dir() + "/aligned-key.mp4";
  ASSERT_EQ(launch("replaysrc location=" + recording() +
                   " start=5000000000 stop=7000000000 name=r mp4mux name=m ! filesink location=" +
                   aligned + " r.video ! queue ! h264parse ! m. r.audio ! queue ! aacparse ! m."),
            "");
  auto md5 = [](const std::string &path) {
    auto r = run_process(
        {"ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-c", "copy", "-f", "framemd5", "-"});
    EXPECT_TRUE(r.ok()) << r.err;
    return r.out;
  };
  EXPECT_EQ(md5(exact), md5(aligned));
}

TEST(ReplaySrc, FrameExactIsAProperty)
{
  g_autoptr(GstElement) src = gst_element_factory_make("replaysrc", nullptr);
  ASSERT_TRUE(src);
  gboolean exact = TRUE;
  g_object_get(src, "frame-exact", &exact, nullptr);
  EXPECT_FALSE(exact);
}

TEST(ReplaySrc, FrameExactNamesAMissingEncoder)
{
  ASSERT_FALSE(recording().empty());
  /* A registry with the plugins a keyframe-aligned replay needs, and
   * avdec_h264, but no x264enc. */
  const std::string plugins = scratch_dir() + "/no-x264";
  g_mkdir_with_parents(plugins.c_str(), 0755);
  const char *system = g_getenv("GST_PLUGIN_SYSTEM_PATH_1_0");
  ASSERT_TRUE(system);
  for (const char *name : {"libgstcoreelements.so", "libgstmpegtsdemux.so",
                           "libgstvideoparsersbad.so", "libgstaudioparsers.so", "libgstlibav.so"}) {
    const std::string from = std::string(system) + "/" + name, to = plugins + "/" + name;
    ASSERT_EQ(symlink(from.c_str(), to.c_str()), 0) << from;
  }
  const std::string registry = scratch_dir() + "/no-x264.registry";
  auto r = run_process({"env", "GST_PLUGIN_SYSTEM_PATH_1_0=" + plugins,
                        "GST_REGISTRY_1_0=" + registry, "gst-launch-1.0", "replaysrc",
                        "frame-exact=true", "start=2500000000", "location=" + recording(), "name=r",
                        "r.video", "!", "fakesink", "r.audio", "!", "fakesink"});
  EXPECT_FALSE(r.ok());
  EXPECT_NE((r.out + r.err).find("needs the x264enc element (gstreamer1.0-plugins-ugly)"),
            std::string::npos)
      << r.out << r.err;
}

TEST(ReplaySrc, FrameExactReencodesAGopLongerThanTheQueuesDownstream)
{
  /* 3 s GOPs: the head (3.1 s to 6 s) is longer than the 1 s the queue
   * before the muxer holds, and the muxer takes video only with audio. */
  const std::string rec = make_recording("recordings-long-gop", 270, 90);
  ASSERT_FALSE(rec.empty());
  const std::string out = scratch_dir() + "/exact-long-gop.mp4";
  Reencoded reencoded;
  ASSERT_EQ(cut_exact(3.1, 7.0, out, reencoded, "mp4mux", rec), "");
  EXPECT_EQ(reencoded.frames, 180 - 93);
  const auto numbers = frame_numbers(out);
  ASSERT_EQ(numbers.size(), 210u - 93);
  EXPECT_EQ(numbers.front(), 93);
  EXPECT_EQ(numbers.back(), 209);
  EXPECT_NEAR(duration_of(out), 3.9, 1.0 / kFps);
}

namespace {

/* Links replaysrc's pads, each time it adds them, to the queues named
 * "to-video" and "to-audio" in PIPELINE: a replaysrc started again after
 * READY gives new pads, as decodebin does. */
void on_replay_pad(GstElement *, GstPad *pad, gpointer pipeline)
{
  g_autofree gchar *name = gst_pad_get_name(pad);
  g_autofree gchar *queue_name = g_strconcat("to-", name, nullptr);
  g_autoptr(GstElement) queue = gst_bin_get_by_name(GST_BIN(pipeline), queue_name);
  if (!queue)
    return;
  g_autoptr(GstPad) sink = gst_element_get_static_pad(queue, "sink");
  EXPECT_EQ(gst_pad_link(pad, sink), GST_PAD_LINK_OK) << name;
}

/* How many of replaysrc's own children FACTORY made. */
int children_of(GstElement *bin, const char *factory)
{
  int n = 0;
  GST_OBJECT_LOCK(bin);
  for (GList *l = GST_BIN(bin)->children; l; l = l->next) {
    GstElementFactory *f = gst_element_get_factory(GST_ELEMENT(l->data));
    if (f && g_str_equal(gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(f)), factory))
      ++n;
  }
  GST_OBJECT_UNLOCK(bin);
  return n;
}

} // namespace

TEST(ReplaySrc, PlaysAgainAfterReady)
{
  /* One pipeline, three runs, back to READY between them with another
   * range each time: keyframe-aligned, frame-exact (a head re-encoded),
   * keyframe-aligned again. Each run gives its own range's frames, and the
   * bin holds one run's branches, not all of them. */
  ASSERT_FALSE(recording().empty());
  g_autoptr(GError) err = nullptr;
  GstElement *pipeline =
      gst_parse_launch(("replaysrc name=r location=" + recording() +
                        " queue name=to-video ! fakesink name=vsink queue name=to-audio ! fakesink")
                           .c_str(),
                       &err);
  ASSERT_TRUE(pipeline && !err);
  g_autoptr(GstElement) replay = gst_bin_get_by_name(GST_BIN(pipeline), "r");
  g_signal_connect(replay, "pad-added", G_CALLBACK(on_replay_pad), pipeline);
  std::atomic<int> frames{0};
  {
    g_autoptr(GstElement) sink = gst_bin_get_by_name(GST_BIN(pipeline), "vsink");
    g_autoptr(GstPad) pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad *, GstPadProbeInfo *, gpointer data) -> GstPadProbeReturn {
          ++*static_cast<std::atomic<int> *>(data);
          return GST_PAD_PROBE_OK;
        },
        &frames, nullptr);
  }
  struct Run
  {
    double start, stop;
    bool exact;
    int frames; /* the range's video frames */
    int encoders, demuxers, parsers;
  } runs[] = {
      /* The keyframe at 2 s (frame 60) to the last frame before 3.95 s (118). */
      {2.0, 3.95, false, 59, 0, 1, 1},
      /* Frame 75 to 110; the head (75-89) re-encoded: a second tsdemux,
       * two more h264parse. */
      {2.5, 3.7, true, 36, 1, 2, 3},
      /* The keyframe at 9 s (frame 270) to the end (359). */
      {9.5, -1, false, 90, 0, 1, 1},
  };
  for (const auto &run : runs) {
    SCOPED_TRACE(std::to_string(run.start) + ".." + std::to_string(run.stop) +
                 (run.exact ? " frame-exact" : ""));
    g_object_set(replay, "start", static_cast<gint64>(std::llround(run.start * 1e9)), "stop",
                 static_cast<gint64>(run.stop < 0 ? -1 : std::llround(run.stop * 1e9)),
                 "frame-exact", run.exact, nullptr);
    frames = 0;
    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    ASSERT_EQ(wait_for_end(pipeline), "");
    EXPECT_EQ(frames, run.frames);
    EXPECT_EQ(children_of(replay, "x264enc"), run.encoders);
    EXPECT_EQ(children_of(replay, "tsdemux"), run.demuxers);
    EXPECT_EQ(children_of(replay, "h264parse"), run.parsers);
    EXPECT_EQ(children_of(replay, "aacparse"), 1);
    EXPECT_EQ(children_of(replay, "multiqueue"), 1);
    EXPECT_EQ(GST_ELEMENT(replay)->numsrcpads, 2);
    EXPECT_EQ(gst_element_set_state(pipeline, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
    /* READY takes the run's pads and branches out. */
    EXPECT_EQ(GST_ELEMENT(replay)->numsrcpads, 0);
    EXPECT_EQ(children_of(replay, "h264parse"), 0);
    EXPECT_EQ(children_of(replay, "capsfilter"), 0);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
}

namespace {

/* The 12 s recording encoded as FFmpeg's libx264 does by default, which is
 * what FFmpeg publishers send (OBS sends 2 B-frames): up to 3 B-frames in a
 * row, B-pyramid, adaptive placement. */
constexpr int kMaxBFrames = 3;

const std::string &bframes_recording()
{
  static const std::string folder =
      make_recording("recordings-bframes", 360, 30, "bframes=3 b-pyramid=true b-adapt=true");
  return folder;
}

/* The recording in FOLDER as one MPEG-TS file (its segments one after the
 * other: one timeline). */
std::string concatenated(const std::string &folder, const std::string &out)
{
  std::string error;
  auto m = read_manifest(folder + "/" + kManifestName, error);
  EXPECT_TRUE(m) << error;
  std::string bytes;
  for (const auto &seg : m ? m->segments : std::vector<Segment>{}) {
    g_autofree gchar *data = nullptr;
    gsize size = 0;
    EXPECT_TRUE(g_file_get_contents((folder + "/" + seg.uri).c_str(), &data, &size, nullptr));
    bytes.append(data ? data : "", size);
  }
  EXPECT_TRUE(
      g_file_set_contents(out.c_str(), bytes.data(), static_cast<gssize>(bytes.size()), nullptr));
  return out;
}

struct Packet
{
  double pts, dts;
};

/* The video packets of PATH in file (decode) order. */
std::vector<Packet> video_packets(const std::string &path)
{
  auto r = run_process({"ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                        "packet=pts_time,dts_time", "-of", "csv=p=0", path});
  EXPECT_TRUE(r.ok()) << r.err;
  std::vector<Packet> out;
  g_auto(GStrv) lines = g_strsplit(r.out.c_str(), "\n", -1);
  for (gchar **line = lines; *line; ++line) {
    g_auto(GStrv) fields = g_strsplit(*line, ",", -1);
    if (g_strv_length(fields) < 2 || !*fields[0] || !*fields[1])
      continue;
    out.push_back({g_ascii_strtod(fields[0], nullptr), g_ascii_strtod(fields[1], nullptr)});
  }
  return out;
}

/* That every packet decodes after the one before it (DTS only goes up) and
 * no later than it shows; false (and why, as a test failure) if not. */
bool decode_times_go_up(const std::vector<Packet> &packets)
{
  for (size_t i = 0; i < packets.size(); ++i) {
    EXPECT_LE(packets[i].dts, packets[i].pts + 1e-6) << "packet " << i;
    if (i > 0 && packets[i].dts <= packets[i - 1].dts) {
      ADD_FAILURE() << "packet " << i << " decodes at " << packets[i].dts
                    << " s, not after the one before it (" << packets[i - 1].dts << " s)";
      return false;
    }
  }
  return !packets.empty();
}

/* Each decoded video frame of PATH in display order: the number stamped into
 * it and the MD5 of its pixels. */
struct Decoded
{
  long number;
  std::string md5;
};

std::vector<Decoded> decoded_frames(const std::string &path)
{
  const auto numbers = frame_numbers(path);
  auto r = run_process({"ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-fps_mode",
                        "passthrough", "-f", "framemd5", "-"});
  EXPECT_TRUE(r.ok()) << r.err;
  std::vector<std::string> md5s;
  g_auto(GStrv) lines = g_strsplit(r.out.c_str(), "\n", -1);
  for (gchar **line = lines; *line; ++line) {
    if (!**line || **line == '#')
      continue;
    const gchar *last = strrchr(*line, ',');
    g_autofree gchar *md5 = g_strdup(last ? last + 1 : *line);
    md5s.push_back(g_strstrip(md5));
  }
  EXPECT_EQ(numbers.size(), md5s.size()) << path;
  std::vector<Decoded> out;
  for (size_t i = 0; i < std::min(numbers.size(), md5s.size()); ++i)
    out.push_back({numbers[i], md5s[i]});
  return out;
}

/* The MD5 of each of the B-frame recording's decoded frames, by number. */
std::map<long, std::string> bframes_md5s()
{
  std::map<long, std::string> out;
  for (const auto &f :
       decoded_frames(concatenated(bframes_recording(), scratch_dir() + "/bframes-all.ts")))
    out[f.number] = f.md5;
  return out;
}

struct BRange
{
  double start, stop; /* s; stop < 0: the end */
};

} // namespace

TEST(ReplaySrc, RecordsBFramesInDecodeOrder)
{
  /* The recording keeps the encoder's decode order and times: every
   * packet decodes after the one before it, from the first (whose DTS is
   * before the recording's first PTS, and before x264enc's segment start)
   * across every segment cut, and the B-frames are there. */
  ASSERT_FALSE(bframes_recording().empty());
  const auto packets =
      video_packets(concatenated(bframes_recording(), scratch_dir() + "/bframes-whole.ts"));
  ASSERT_EQ(packets.size(), 360u);
  EXPECT_TRUE(decode_times_go_up(packets));
  /* B-frames: shown before a frame decoded earlier. */
  size_t bframes = 0;
  double latest = -1;
  for (const auto &p : packets) {
    bframes += p.pts < latest;
    latest = std::max(latest, p.pts);
  }
  EXPECT_GT(bframes, 120u) << "x264enc made too few B-frames for this test";
  EXPECT_LT(packets[0].dts, packets[0].pts);
}

TEST(ReplaySrc, KeyframeAlignedWithBFrames)
{
  /* Ranges of the B-frame recording into mp4mux straight on the pads and
   * into mpegtsmux: decode times only go up, and every frame is the
   * recording's, bit for bit (a B-frame left without the frame it refers
   * to would decode to other pixels), from the keyframe at or before start
   * to stop, or up to the B-frames in a row before it. */
  ASSERT_FALSE(bframes_recording().empty());
  auto source = bframes_md5s();
  ASSERT_EQ(source.size(), 360u);
  /* To a keyframe, to inside a GOP across a segment cut (4 s), to the end. */
  const BRange ranges[] = {{2.0, 6.0}, {0.0, 3.5}, {2.5, 5.3}, {9.5, -1}};
  int i = 0;
  for (const auto &r : ranges) {
    for (const bool mp4 : {true, false}) {
      SCOPED_TRACE(std::to_string(r.start) + ".." + std::to_string(r.stop) +
                   (mp4 ? " mp4mux" : " mpegtsmux"));
      const std::string out =
          scratch_dir() + "/bframes-range" + std::to_string(i++) + (mp4 ? ".mp4" : ".ts");
      std::string props = "start=" + std::to_string(std::llround(r.start * 1e9));
      if (r.stop >= 0)
        props += " stop=" + std::to_string(std::llround(r.stop * 1e9));
      const std::string sink = " ! filesink location=" + out;
      ASSERT_EQ(
          launch("replaysrc location=" + bframes_recording() + " " + props + " name=r " +
                     (mp4 ? "mp4mux name=m" + sink +
                                " r.video ! h264parse ! m. r.audio ! aacparse ! m."
                          : "r.video ! queue ! mpegtsmux name=m" + sink + " r.audio ! queue ! m."),
                 nullptr, 60),
          "");
      EXPECT_TRUE(decode_times_go_up(video_packets(out)));
      const auto frames = decoded_frames(out);
      ASSERT_FALSE(frames.empty());
      const long start = std::lround(r.start * kFps);
      const long end = r.stop < 0 ? 360 : std::lround(r.stop * kFps);
      EXPECT_LE(frames.front().number, start);
      EXPECT_GT(frames.front().number, start - 30);
      EXPECT_LT(frames.back().number, end);
      EXPECT_GE(frames.back().number, end - 1 - kMaxBFrames);
      for (size_t n = 0; n < frames.size(); ++n) {
        ASSERT_EQ(frames[n].number, frames.front().number + static_cast<long>(n)) << "frame " << n;
        EXPECT_EQ(frames[n].md5, source[frames[n].number]) << "frame " << frames[n].number;
      }
    }
  }
}

TEST(ReplaySrc, FrameExactWithBFrames)
{
  /* Frame-exact ranges of the B-frame recording: the re-encoded head (no
   * B-frames) decodes the source's reorder delay before it shows, so the
   * untouched rest, decoding that much early too, follows it with decode
   * times that only go up; the frames are the range's, each once, the rest
   * the recording's bit for bit. */
  ASSERT_FALSE(bframes_recording().empty());
  auto source = bframes_md5s();
  ASSERT_EQ(source.size(), 360u);
  /* To a keyframe, to inside a GOP, ending inside the re-encoded GOP. */
  const BRange ranges[] = {{2.5, 6.0}, {4.5, 7.4}, {1.2, 1.8}};
  int i = 0;
  for (const auto &r : ranges) {
    for (const char *muxer : {"mp4mux", "mpegtsmux"}) {
      SCOPED_TRACE(std::to_string(r.start) + ".." + std::to_string(r.stop) + " " + muxer);
      const std::string out = scratch_dir() + "/bframes-exact" + std::to_string(i++) +
                              (g_str_equal(muxer, "mp4mux") ? ".mp4" : ".ts");
      Reencoded reencoded;
      ASSERT_EQ(cut_exact(r.start, r.stop, out, reencoded, muxer, bframes_recording()), "");
      EXPECT_EQ(reencoded.encoders, 1);
      EXPECT_TRUE(decode_times_go_up(video_packets(out)));
      const auto frames = decoded_frames(out);
      ASSERT_FALSE(frames.empty());
      const long first = std::lround(std::ceil(r.start * kFps - 1e-6));
      const long end = std::lround(std::ceil(r.stop * kFps - 1e-6));
      EXPECT_EQ(frames.front().number, first);
      EXPECT_LT(frames.back().number, end);
      EXPECT_GE(frames.back().number, end - 1 - kMaxBFrames);
      for (size_t n = 0; n < frames.size(); ++n) {
        ASSERT_EQ(frames[n].number, first + static_cast<long>(n)) << "frame " << n;
        if (static_cast<int>(n) >= reencoded.frames) {
          EXPECT_EQ(frames[n].md5, source[frames[n].number]) << "frame " << frames[n].number;
        }
      }
      auto decode = run_process({"ffmpeg", "-v", "error", "-i", out, "-f", "null", "-"});
      EXPECT_TRUE(decode.ok() && decode.err.empty()) << decode.err;
    }
  }
}
