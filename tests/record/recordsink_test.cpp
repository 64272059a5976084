/* Sugarcast — recordsink with real encoders (x264enc, avenc_aac), read back
 * with ffprobe: toggling while playing, a target that cannot be written, and
 * kill -9 of a recording gst-launch-1.0 followed by repair. */
#include "manifest.h"
#include "retention.h"

#include "testenv.h"

#include <gst/gst.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <sys/mount.h>
#include <sys/stat.h>

#include <cstring>

#include <atomic>
#include <cmath>

using namespace sugarcast::record;
using namespace sugarcast::test;

namespace {

struct RunResult
{
  bool eos = false;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  std::vector<std::string> finished; /* recordsink-recording-finished locations */
  std::vector<std::string> repaired;
};

/* Runs DESC to EOS (or an error, or 120 s), calling `each_video` for every
 * buffer leaving the element named "venc". */
RunResult run(const std::string &desc,
              const std::function<void(GstElement *pipeline, GstClockTime pts)> &each_video = {})
{
  RunResult out;
  g_autoptr(GError) err = nullptr;
  GstElement *pipeline = gst_parse_launch(desc.c_str(), &err);
  EXPECT_TRUE(pipeline && !err) << (err ? err->message : "") << " in " << desc;
  if (!pipeline || err) {
    if (pipeline)
      gst_object_unref(pipeline);
    out.errors.push_back(err ? err->message : "no pipeline");
    return out;
  }
  struct ProbeData
  {
    GstElement *pipeline;
    const std::function<void(GstElement *, GstClockTime)> *fn;
  } data{pipeline, &each_video};
  if (each_video) {
    g_autoptr(GstElement) venc = gst_bin_get_by_name(GST_BIN(pipeline), "venc");
    g_autoptr(GstPad) pad = gst_element_get_static_pad(venc, "src");
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad *, GstPadProbeInfo *info, gpointer user) -> GstPadProbeReturn {
          auto *d = static_cast<ProbeData *>(user);
          (*d->fn)(d->pipeline, GST_BUFFER_PTS(GST_PAD_PROBE_INFO_BUFFER(info)));
          return GST_PAD_PROBE_OK;
        },
        &data, nullptr);
  }
  EXPECT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
  const gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < deadline) {
    g_autoptr(GstMessage) msg =
        gst_bus_timed_pop(bus, static_cast<GstClockTime>(deadline - g_get_monotonic_time()) * 1000);
    if (!msg)
      break;
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
      out.eos = true;
      break;
    }
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR ||
        GST_MESSAGE_TYPE(msg) == GST_MESSAGE_WARNING) {
      g_autoptr(GError) e = nullptr;
      g_autofree gchar *debug = nullptr;
      if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
        gst_message_parse_error(msg, &e, &debug);
        out.errors.push_back(e->message);
        break;
      }
      gst_message_parse_warning(msg, &e, &debug);
      out.warnings.push_back(e->message);
    }
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ELEMENT) {
      const GstStructure *s = gst_message_get_structure(msg);
      if (gst_structure_has_name(s, "recordsink-recording-finished"))
        out.finished.push_back(gst_structure_get_string(s, "location"));
      if (gst_structure_has_name(s, "recordsink-repaired"))
        out.repaired.push_back(gst_structure_get_string(s, "location"));
    }
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  /* Messages posted while stopping (the last recording finalised). */
  while (GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
    const GstStructure *s = gst_message_get_structure(msg);
    if (gst_structure_has_name(s, "recordsink-recording-finished"))
      out.finished.push_back(gst_structure_get_string(s, "location"));
    gst_message_unref(msg);
  }
  gst_object_unref(pipeline);
  return out;
}

struct Probe
{
  bool ok = false;
  double duration = -1;
  double video_start = -1;
  double audio_start = -1;
  std::string error;
};

Probe ffprobe(const std::string &path)
{
  Probe p;
  auto r = run_process({"ffprobe", "-v", "error", "-show_entries",
                        "format=duration:stream=codec_type,start_time", "-of", "json", path});
  p.error = r.err;
  if (!r.ok())
    return p;
  g_autoptr(JsonParser) parser = json_parser_new();
  if (!json_parser_load_from_data(parser, r.out.c_str(), -1, nullptr))
    return p;
  JsonObject *root = json_node_get_object(json_parser_get_root(parser));
  JsonObject *format = json_object_get_object_member(root, "format");
  if (format && json_object_has_member(format, "duration"))
    p.duration = g_ascii_strtod(json_object_get_string_member(format, "duration"), nullptr);
  JsonArray *streams = json_object_get_array_member(root, "streams");
  for (guint i = 0; streams && i < json_array_get_length(streams); ++i) {
    JsonObject *s = json_array_get_object_element(streams, i);
    const std::string type = json_object_get_string_member_with_default(s, "codec_type", "");
    const double start =
        g_ascii_strtod(json_object_get_string_member_with_default(s, "start_time", "-1"), nullptr);
    (type == "video" ? p.video_start : p.audio_start) = start;
  }
  p.ok = p.duration > 0 && p.video_start >= 0;
  return p;
}

std::string fresh(const std::string &name)
{
  const std::string dir = scratch_dir() + "/" + name;
  g_mkdir_with_parents(dir.c_str(), 0755);
  return dir;
}

/* 720p at 30 fps, a keyframe every second, and AAC at 48 kHz. */
std::string av_source(int seconds, bool live = false)
{
  const std::string l = live ? " is-live=true" : "";
  return "videotestsrc" + l + " num-buffers=" + std::to_string(seconds * 30) +
         " ! video/x-raw,width=1280,height=720,framerate=30/1 ! x264enc name=venc "
         "speed-preset=ultrafast key-int-max=30 bframes=0 threads=2 ! r.video "
         "audiotestsrc" +
         l + " num-buffers=" + std::to_string(seconds * 30) +
         " samplesperbuffer=1600 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! r.audio ";
}

} // namespace

TEST(RecordSink, TogglingMakesOneRecordingPerSpan)
{
  const std::string location = fresh("toggle");
  /* 18 s; off at 6 s, on again at 10.5 s (the keyframe at 11 s). x264enc
   * offsets its PTS by 1000 hours: times count from its first frame. */
  GstClockTime first = GST_CLOCK_TIME_NONE;
  auto result = run(av_source(18) + "recordsink name=r location=" + location,
                    [&first](GstElement *pipeline, GstClockTime pts) {
                      g_autoptr(GstElement) r = gst_bin_get_by_name(GST_BIN(pipeline), "r");
                      if (!GST_CLOCK_TIME_IS_VALID(first))
                        first = pts;
                      pts -= first;
                      if (pts >= 6 * GST_SECOND && pts < 10 * GST_SECOND)
                        g_object_set(r, "recording", FALSE, nullptr);
                      else if (pts >= 10500 * GST_MSECOND)
                        g_object_set(r, "recording", TRUE, nullptr);
                    });
  ASSERT_TRUE(result.errors.empty()) << result.errors[0];
  ASSERT_TRUE(result.eos);
  EXPECT_TRUE(result.warnings.empty()) << result.warnings[0];
  ASSERT_EQ(result.finished.size(), 2u);

  auto recordings = list_recordings(location);
  ASSERT_EQ(recordings.size(), 2u);
  const double expected[] = {6.0, 7.5};
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(recordings[i].folder);
    EXPECT_EQ(recordings[i].state, "complete");
    std::string error;
    auto m = read_manifest(recordings[i].folder + "/manifest.json", error);
    ASSERT_TRUE(m) << error;
    EXPECT_NEAR(m->duration() / 1e9, expected[i], 1.0); /* one GOP */
    for (const auto &seg : m->segments) {
      const Probe sp = ffprobe(recordings[i].folder + "/" + seg.uri);
      EXPECT_TRUE(sp.ok) << seg.uri << ": " << sp.error;
    }
    const Probe p = ffprobe(recordings[i].folder + "/index.m3u8");
    ASSERT_TRUE(p.ok) << p.error;
    EXPECT_NEAR(p.duration, expected[i], 1.0);
    ASSERT_GE(p.audio_start, 0);
    /* Audio and video start within one frame of each other. */
    EXPECT_LE(std::fabs(p.audio_start - p.video_start), 1.0 / 30 + 0.001)
        << "video " << p.video_start << " audio " << p.audio_start;
  }
}

TEST(RecordSink, UnwritableTargetLeavesTheLiveBranchFlowing)
{
  const std::string dir = fresh("unwritable");
  const std::string file = dir + "/a-file";
  ASSERT_TRUE(g_file_set_contents(file.c_str(), "x", 1, nullptr));
  auto result = run("videotestsrc num-buffers=90 ! video/x-raw,width=640,height=360 ! "
                    "x264enc speed-preset=ultrafast key-int-max=30 ! tee name=t ! queue ! "
                    "fakesink name=live t. ! queue ! recordsink name=r location=" +
                    file + "/recordings");
  EXPECT_TRUE(result.eos);
  EXPECT_TRUE(result.errors.empty());
  ASSERT_FALSE(result.warnings.empty());
  EXPECT_NE(result.warnings[0].find(file), std::string::npos) << result.warnings[0];
}

TEST(RecordSink, FullDiskMarksTheRecordingAndLeavesTheLiveBranchFlowing)
{
  const std::string dir = fresh("full");
  if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=400k") != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here: " << std::strerror(errno);
  std::atomic<int> live_buffers{0};
  {
    auto result = run("videotestsrc num-buffers=150 ! video/x-raw,width=1280,height=720 ! "
                      "x264enc speed-preset=ultrafast key-int-max=30 ! tee name=t ! queue ! "
                      "fakesink name=live t. ! queue ! recordsink name=r location=" +
                      dir);
    EXPECT_TRUE(result.eos);
    EXPECT_TRUE(result.errors.empty());
    ASSERT_FALSE(result.warnings.empty());
    EXPECT_NE(result.warnings[0].find("No space left"), std::string::npos) << result.warnings[0];
    auto recordings = list_recordings(dir);
    ASSERT_EQ(recordings.size(), 1u);
    std::string error;
    auto m = read_manifest(recordings[0].folder + "/manifest.json", error);
    ASSERT_TRUE(m) << error;
    for (const auto &seg : m->segments)
      EXPECT_TRUE(ffprobe(recordings[0].folder + "/" + seg.uri).ok) << seg.uri;
  }
  umount2(dir.c_str(), MNT_DETACH);
}

TEST(RecordSink, KilledMidRecordingRepairsToAPlayableRecording)
{
  /* Kill -9 at three moments: inside the first segment, just after the
   * first segment closed, deep in the third. */
  struct Moment
  {
    std::string file;
    size_t min_size;
  };
  const Moment moments[] = {{"seg00000.ts", 1}, {"seg00001.ts", 1}, {"seg00002.ts", 200000}};
  int run_index = 0;
  for (const auto &moment : moments) {
    SCOPED_TRACE(moment.file);
    const std::string location = fresh("kill" + std::to_string(run_index++));
    Background pipeline({"gst-launch-1.0",
                         "-q",
                         "videotestsrc",
                         "is-live=true",
                         "!",
                         "video/x-raw,width=640,height=360,framerate=30/1",
                         "!",
                         "x264enc",
                         "speed-preset=ultrafast",
                         "tune=zerolatency",
                         "key-int-max=30",
                         "!",
                         "r.video",
                         "audiotestsrc",
                         "is-live=true",
                         "!",
                         "avenc_aac",
                         "!",
                         "r.audio",
                         "recordsink",
                         "name=r",
                         "segment-duration=2000000000",
                         "location=" + location});
    std::string seg;
    ASSERT_TRUE(eventually(
        [&] {
          auto dirs = std::vector<std::string>();
          g_autoptr(GDir) d = g_dir_open(location.c_str(), 0, nullptr);
          while (const gchar *n = d ? g_dir_read_name(d) : nullptr)
            dirs.push_back(location + "/" + n);
          if (dirs.size() != 1)
            return false;
          seg = dirs[0] + "/" + moment.file;
          struct stat st
          {
          };
          return stat(seg.c_str(), &st) == 0 && static_cast<size_t>(st.st_size) >= moment.min_size;
        },
        std::chrono::seconds(30)));
    pipeline.kill(9);
    pipeline.wait(std::chrono::seconds(10));

    auto recordings = list_recordings(location);
    ASSERT_EQ(recordings.size(), 1u);
    EXPECT_EQ(recordings[0].state, "recording");
    const std::string folder = recordings[0].folder;
    std::string error;
    auto before = read_manifest(folder + "/manifest.json", error);
    ASSERT_TRUE(before) << error;
    /* Every segment the manifest listed plays as it is. */
    for (const auto &s : before->segments)
      EXPECT_TRUE(ffprobe(folder + "/" + s.uri).ok) << s.uri;

    auto r = run_process({built_program("plugins/record/sugarcast-record"), "repair", folder});
    ASSERT_TRUE(r.ok()) << r.err;
    auto after = read_manifest(folder + "/manifest.json", error);
    ASSERT_TRUE(after) << error;
    EXPECT_EQ(after->state, State::Interrupted);
    ASSERT_GE(after->segments.size(), before->segments.size());
    for (const auto &s : after->segments) {
      const Probe p = ffprobe(folder + "/" + s.uri);
      EXPECT_TRUE(p.ok) << s.uri << ": " << p.error;
    }
    const Probe whole = ffprobe(folder + "/index.m3u8");
    ASSERT_TRUE(whole.ok) << whole.error;
    EXPECT_NE(read_file(folder + "/index.m3u8").find("#EXT-X-ENDLIST"), std::string::npos);
    EXPECT_NEAR(whole.duration, after->duration() / 1e9, 0.5);
  }
}

TEST(RecordSink, RepairsALeftoverRecordingAtStart)
{
  const std::string location = fresh("leftover");
  {
    Background pipeline({"gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "!",
                         "video/x-raw,width=640,height=360,framerate=30/1", "!", "x264enc",
                         "speed-preset=ultrafast", "tune=zerolatency", "key-int-max=30", "!",
                         "recordsink", "location=" + location});
    ASSERT_TRUE(eventually([&] {
      auto recs = list_recordings(location);
      return recs.size() == 1 &&
             g_file_test((recs[0].folder + "/seg00000.ts").c_str(), G_FILE_TEST_EXISTS);
    }));
    pipeline.kill(9);
    pipeline.wait(std::chrono::seconds(10));
  }
  auto result = run("videotestsrc num-buffers=30 ! x264enc speed-preset=ultrafast ! "
                    "recordsink recording=false location=" +
                    location);
  EXPECT_TRUE(result.eos);
  ASSERT_EQ(result.repaired.size(), 1u);
  auto recordings = list_recordings(location);
  ASSERT_EQ(recordings.size(), 1u);
  EXPECT_EQ(recordings[0].state, "interrupted");
}

TEST(RecordSink, RetentionRunsAtEachRecordingStartAndFromTheTool)
{
  const std::string location = fresh("retention");
  const std::string one_second = "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240 ! "
                                 "x264enc speed-preset=ultrafast key-int-max=30 ! ";
  auto first = run(one_second + "recordsink location=" + location);
  ASSERT_TRUE(first.eos);
  ASSERT_EQ(first.finished.size(), 1u);
  /* The next recording starts with at most 1 byte allowed: the first goes. */
  auto second = run(one_second + "recordsink max-size=1 location=" + location);
  ASSERT_TRUE(second.eos);
  ASSERT_EQ(second.finished.size(), 1u);
  auto recordings = list_recordings(location);
  ASSERT_EQ(recordings.size(), 1u);
  EXPECT_EQ(recordings[0].folder, second.finished[0]);

  auto bad = run_process({built_program("plugins/record/sugarcast-record"), "retention", location,
                          "--max-size", "-5"});
  EXPECT_EQ(bad.exit_status, 2);
  EXPECT_NE(bad.err.find("--max-size"), std::string::npos) << bad.err;
  auto r = run_process({built_program("plugins/record/sugarcast-record"), "retention",
                        scratch_dir(), "--max-size", "1"});
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_NE(r.out.find("removed " + second.finished[0]), std::string::npos) << r.out;
  EXPECT_TRUE(list_recordings(location).empty());
}
