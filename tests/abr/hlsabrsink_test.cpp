/* hlsabrsink in real pipelines: videotestsrc and audiotestsrc through
 * abrladder (x264, vp9) into HLS, read back with ffprobe and ffmpeg. */
#include "daterange.h"
#include "gopend.h"
#include "hlscheck.h"
#include "media.h"
#include "playlist.h"
#include "streamrestart.h"
#include "testenv.h"

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/pbutils/missing-plugins.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

using namespace sugarcast::test;
namespace fs = std::filesystem;

namespace {

std::string fresh_folder(const std::string &name)
{
  const std::string dir = scratch_dir() + "/" + name;
  fs::remove_all(dir);
  return dir;
}

MediaPlaylist media(const std::string &folder, const std::string &name)
{
  return parse_media_playlist(read_file(folder + "/" + name + ".m3u8"));
}

/* The first video packet of a segment (joined with its init segment for fMP4). */
Packet first_video_packet(const std::string &folder, const HlsSegment &s)
{
  std::string path = folder + "/" + s.uri;
  if (!s.map.empty())
    path = join_fmp4(folder + "/" + s.map, path);
  for (const auto &p : probe_packets(path))
    if (p.type == "video")
      return p;
  ADD_FAILURE() << "no video packet in " << s.uri;
  return {};
}

/* Every segment carries the audio of its own time, give or take two AAC
 * frames at its ends. */
void expect_audio_in_every_segment(const std::string &folder, const std::string &rendition)
{
  auto p = media(folder, rendition);
  ASSERT_FALSE(p.segments.empty()) << rendition;
  for (const auto &s : p.segments) {
    std::string path = folder + "/" + s.uri;
    if (!s.map.empty())
      path = join_fmp4(folder + "/" + s.map, path);
    int frames = 0;
    for (const auto &packet : probe_packets(path))
      frames += packet.type == "audio";
    EXPECT_NEAR(frames * 1024.0 / 48000, s.duration, 2 * 1024.0 / 48000) << s.uri;
  }
}

std::string ladder_pads(int rungs)
{
  std::string out;
  for (int i = 0; i < rungs; ++i)
    out += " l.src_" + std::to_string(i) + " ! queue ! hls.video_" + std::to_string(i);
  return out;
}

const char *kAudio = " audiotestsrc num-buffers=%d samplesperbuffer=1024 ! "
                     "audio/x-raw,rate=48000,channels=2 ! avenc_aac ! queue ! hls.audio";

std::string audio(double seconds)
{
  char buf[256];
  std::snprintf(buf, sizeof buf, kAudio, static_cast<int>(std::ceil(seconds * 48000 / 1024)));
  return buf;
}

std::vector<std::string> sorted(std::vector<std::string> v)
{
  std::sort(v.begin(), v.end());
  return v;
}

/* A test picture of `frames` frames at 30 fps through abrladder (with
 * `ladder_options`) into hlsabrsink (with `sink_options`), audio included. */
std::string ladder_pipeline(int frames, const char *size, const std::string &ladder_options,
                            int rungs, const std::string &folder, const std::string &sink_options)
{
  return "videotestsrc num-buffers=" + std::to_string(frames) + " pattern=ball ! video/x-raw," +
         size + ",framerate=30/1 ! identity name=frames ! abrladder name=l preset=ultrafast " +
         ladder_options + ladder_pads(rungs) + audio(frames / 30.0) +
         " hlsabrsink name=hls location=" + folder + " " + sink_options;
}

/* ffmpeg opens the master playlist and decodes every stream without a word. */
void expect_ffmpeg_plays(const std::string &master)
{
  auto r = run_process(
      {"ffmpeg", "-v", "error", "-nostdin", "-i", master, "-map", "0", "-f", "null", "-"});
  EXPECT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.err, "");
}

} // namespace

/* ---- the 12 s 1080p30 four-rung ladder ----------------------------------- */

class Ladder1080p : public ::testing::Test
{
protected:
  static void SetUpTestSuite()
  {
    folder = fresh_folder("ladder1080p");
    fs::create_directories(folder);
    PlaylistWatcher watcher(folder);
    const std::string description =
        "videotestsrc num-buffers=360 pattern=smpte horizontal-speed=6 ! "
        "video/x-raw,width=1920,height=1080,framerate=30/1 ! identity name=frames ! "
        "abrladder name=l preset=ultrafast" +
        ladder_pads(4) + audio(12) + " hlsabrsink name=hls location=" + folder +
        " target-duration=2 playlist-type=event";
    bool emitted = false;
    run_pipeline(
        description, run, std::chrono::seconds(240),
        [](GstElement *pipeline) {
          /* A gift at 6.67 s, travelling with the video through abrladder. */
          GstStructure *attrs = gst_structure_new("attributes", "X-GIFT", G_TYPE_STRING, "rose",
                                                  "X-COUNT", G_TYPE_INT, 10, nullptr);
          inject_event_before(pipeline, "frames", 200,
                              sugarcast_daterange_event_new("gift-event", "com.sugarcast.gift",
                                                            GST_CLOCK_TIME_NONE, 3 * GST_SECOND,
                                                            attrs));
          gst_structure_free(attrs);
        },
        [&emitted](GstElement *pipeline, const GstStructure *s) {
          /* And one through the action signal, for 5 s, once writing started. */
          if (emitted || !gst_structure_has_name(s, "hlsabrsink-segment"))
            return;
          emitted = true;
          GstElement *hls = gst_bin_get_by_name(GST_BIN(pipeline), "hls");
          gboolean ok = FALSE;
          g_signal_emit_by_name(hls, "add-daterange", "gift-signal", "com.sugarcast.gift",
                                static_cast<guint64>(5 * GST_SECOND),
                                static_cast<guint64>(GST_CLOCK_TIME_NONE), nullptr, &ok);
          EXPECT_TRUE(ok);
          gst_object_unref(hls);
        });
    watcher.stop();
    watch_reads = watcher.reads();
    watch_problems = watcher.problems();
  }

  static void TearDownTestSuite() { run = PipelineRun(); }

  void SetUp() override
  {
    ASSERT_TRUE(run.error.empty()) << run.error;
    ASSERT_TRUE(run.eos);
  }

  static inline std::string folder;
  static inline PipelineRun run;
  static inline int watch_reads = 0;
  static inline std::vector<std::string> watch_problems;
};

TEST_F(Ladder1080p, MasterPlaylistListsEveryVariantWithItsAttributes)
{
  auto master = parse_master_playlist(read_file(folder + "/master.m3u8"));
  ASSERT_TRUE(master.valid) << master.problem;
  ASSERT_EQ(master.variants.size(), 4u);
  const char *resolutions[] = {"1920x1080", "1280x720", "854x480", "640x360"};
  const std::regex codecs("avc1\\.[0-9a-f]{6},mp4a\\.40\\.2");
  uint64_t previous = UINT64_MAX;
  for (size_t i = 0; i < 4; ++i) {
    auto &a = master.variants[i].attributes;
    EXPECT_EQ(master.variants[i].uri, "video_" + std::to_string(i) + ".m3u8");
    EXPECT_EQ(a["RESOLUTION"], resolutions[i]);
    EXPECT_EQ(a["FRAME-RATE"], "30.000");
    EXPECT_TRUE(std::regex_match(a["CODECS"], codecs)) << a["CODECS"];
    const uint64_t bandwidth = std::stoull(a["BANDWIDTH"]);
    const uint64_t average = std::stoull(a["AVERAGE-BANDWIDTH"]);
    EXPECT_LT(bandwidth, previous) << "variants in falling bandwidth";
    previous = bandwidth;

    /* Honest: the peak is at least every segment's rate; the average is the
     * files' total over the playlist's duration. */
    auto p = media(folder, "video_" + std::to_string(i));
    double total_bits = 0, total_seconds = 0;
    for (const auto &s : p.segments) {
      const double bits = static_cast<double>(fs::file_size(folder + "/" + s.uri)) * 8;
      total_bits += bits;
      total_seconds += s.duration;
      if (s.duration >= 1.0) {
        EXPECT_GE(bandwidth, bits / s.duration) << s.uri;
      }
    }
    EXPECT_NEAR(static_cast<double>(average), total_bits / total_seconds,
                total_bits / total_seconds * 0.01);
  }
  /* The level in CODECS is the SPS's: 1080p30 needs level 4 or more. */
  const std::string top = master.variants[0].attributes["CODECS"];
  EXPECT_GE(std::stoi(top.substr(9, 2), nullptr, 16), 40) << top;
}

TEST_F(Ladder1080p, FfprobeFindsAudioAndVideoInEveryVariant)
{
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(sorted(probe_codecs(folder + "/video_" + std::to_string(i) + ".m3u8")),
              (std::vector<std::string>{"aac", "h264"}))
        << "video_" << i;
  }
}

TEST_F(Ladder1080p, EverySegmentCarriesTheAudioOfItsTime)
{
  for (int i = 0; i < 4; ++i)
    expect_audio_in_every_segment(folder, "video_" + std::to_string(i));
}

TEST_F(Ladder1080p, EverySegmentStartsWithAKeyframe)
{
  for (int i = 0; i < 4; ++i) {
    auto p = media(folder, "video_" + std::to_string(i));
    ASSERT_TRUE(p.valid) << p.problem;
    for (const auto &s : p.segments)
      EXPECT_TRUE(first_video_packet(folder, s).keyframe) << s.uri;
  }
}

TEST_F(Ladder1080p, SegmentCountsAndBoundariesAgreeAcrossVariants)
{
  auto reference = media(folder, "video_0");
  ASSERT_TRUE(reference.valid) << reference.problem;
  ASSERT_EQ(reference.segments.size(), 6u) << "12 s in 2 s segments";
  std::vector<double> starts;
  for (const auto &s : reference.segments)
    starts.push_back(first_video_packet(folder, s).pts);
  for (int i = 1; i < 4; ++i) {
    auto p = media(folder, "video_" + std::to_string(i));
    ASSERT_EQ(p.segments.size(), reference.segments.size()) << "video_" << i;
    for (size_t n = 0; n < p.segments.size(); ++n) {
      EXPECT_DOUBLE_EQ(p.segments[n].duration, reference.segments[n].duration);
      EXPECT_EQ(p.segments[n].pdt, reference.segments[n].pdt);
      EXPECT_NEAR(first_video_packet(folder, p.segments[n]).pts, starts[n], 1e-4)
          << p.segments[n].uri;
    }
  }
}

TEST_F(Ladder1080p, TargetDurationIsHonouredAndTheEventPlaylistEnds)
{
  for (int i = 0; i < 4; ++i) {
    auto p = media(folder, "video_" + std::to_string(i));
    EXPECT_EQ(p.target_duration, 2);
    EXPECT_EQ(p.type, "EVENT");
    EXPECT_TRUE(p.endlist);
    for (const auto &s : p.segments) {
      EXPECT_LE(std::lround(s.duration), 2) << s.uri;
      EXPECT_FALSE(s.pdt.empty()) << s.uri << " has no EXT-X-PROGRAM-DATE-TIME";
    }
  }
}

TEST_F(Ladder1080p, DateRangesLandInEveryVariantAtTheirTime)
{
  for (int i = 0; i < 4; ++i) {
    auto p = media(folder, "video_" + std::to_string(i));
    std::map<std::string, std::pair<size_t, std::map<std::string, std::string>>> found;
    for (size_t n = 0; n < p.segments.size(); ++n)
      for (const auto &d : p.segments[n].dateranges) {
        auto a = parse_attributes(d);
        found[a["ID"]] = {n, a};
      }
    ASSERT_EQ(found.size(), 2u) << "video_" << i;
    /* The event was before frame 200 (6.67 s): the segment from 6 s. */
    auto &[event_segment, event] = found["gift-event"];
    EXPECT_EQ(event_segment, 3u);
    EXPECT_EQ(event["CLASS"], "com.sugarcast.gift");
    EXPECT_EQ(event["X-GIFT"], "rose");
    EXPECT_EQ(event["X-COUNT"], "10");
    EXPECT_EQ(event["DURATION"], "3.000");
    /* The signal's start, 5 s, is in the segment from 4 s. */
    auto &[signal_segment, signal] = found["gift-signal"];
    EXPECT_EQ(signal_segment, 2u);
    /* START-DATE agrees with the segment's PROGRAM-DATE-TIME: 1 s after it. */
    const int64_t pdt = sugarcast::abr::parse_date(p.segments[2].pdt);
    const int64_t start = sugarcast::abr::parse_date(signal["START-DATE"]);
    EXPECT_EQ(start - pdt, 1000000) << signal["START-DATE"] << " vs " << p.segments[2].pdt;
  }
}

TEST_F(Ladder1080p, FfmpegReadsEveryVariantFromTheMasterPlaylist)
{
  auto codecs = probe_codecs(folder + "/master.m3u8");
  EXPECT_EQ(std::count(codecs.begin(), codecs.end(), "h264"), 4);
  EXPECT_EQ(std::count(codecs.begin(), codecs.end(), "aac"), 4);
  expect_ffmpeg_plays(folder + "/master.m3u8");
}

TEST_F(Ladder1080p, PlaylistsAlwaysParseWhileBeingWritten)
{
  EXPECT_GT(watch_reads, 20) << "the watcher hardly read anything";
  EXPECT_TRUE(watch_problems.empty()) << watch_problems.front();
}

/* ---- smaller pipelines, one behaviour each ------------------------------- */

TEST(HlsAbrSink, Vp9VariantsPlayFromFragmentedMp4)
{
  const std::string folder = fresh_folder("vp9");
  PipelineRun run;
  run_pipeline(ladder_pipeline(120, "width=640,height=360", "codec=vp9 ladder=360p:600,240p:300", 2,
                               folder, "playlist-type=vod"),
               run);
  ASSERT_TRUE(run.error.empty()) << run.error;
  auto master = parse_master_playlist(read_file(folder + "/master.m3u8"));
  ASSERT_EQ(master.variants.size(), 2u);
  EXPECT_EQ(master.variants[0].attributes["CODECS"], "vp09.00.21.08,mp4a.40.2");
  for (int i = 0; i < 2; ++i) {
    const std::string name = "video_" + std::to_string(i);
    auto p = media(folder, name);
    ASSERT_TRUE(p.valid) << p.problem;
    EXPECT_EQ(p.version, 6);
    EXPECT_EQ(p.type, "VOD");
    ASSERT_EQ(p.segments.size(), 2u);
    for (const auto &s : p.segments) {
      EXPECT_EQ(s.map, name + "-init-1.mp4");
      EXPECT_TRUE(first_video_packet(folder, s).keyframe) << s.uri;
    }
    EXPECT_EQ(sorted(probe_codecs(folder + "/" + name + ".m3u8")),
              (std::vector<std::string>{"aac", "vp9"}));
    expect_audio_in_every_segment(folder, name);
  }
  expect_ffmpeg_plays(folder + "/master.m3u8");
}

TEST(HlsAbrSink, H264GoesIntoFragmentedMp4WhenAsked)
{
  const std::string folder = fresh_folder("h264fmp4");
  PipelineRun run;
  run_pipeline(ladder_pipeline(90, "width=640,height=360", "ladder=360p:600,180p:200", 2, folder,
                               "playlist-type=vod segment-format=fmp4 target-duration=1"),
               run);
  ASSERT_TRUE(run.error.empty()) << run.error;
  auto p = media(folder, "video_1");
  ASSERT_EQ(p.segments.size(), 3u);
  EXPECT_EQ(p.segments[0].map, "video_1-init-1.mp4");
  EXPECT_EQ(fs::path(p.segments[0].uri).extension(), ".m4s");
  EXPECT_EQ(sorted(probe_codecs(folder + "/video_1.m3u8")),
            (std::vector<std::string>{"aac", "h264"}));
  expect_audio_in_every_segment(folder, "video_1");
  expect_ffmpeg_plays(folder + "/master.m3u8");
}

TEST(HlsAbrSink, ARestartEventStartsADiscontinuityInEveryVariant)
{
  const std::string folder = fresh_folder("restart");
  PipelineRun run;
  run_pipeline(ladder_pipeline(180, "width=426,height=240", "ladder=240p:400,120p:150", 2, folder,
                               "playlist-type=event"),
               run, std::chrono::seconds(120), [](GstElement *pipeline) {
                 /* The publisher reconnects before frame 100 (3.33 s). */
                 inject_event_before(pipeline, "frames", 100,
                                     sugarcast_stream_restart_event_new("live", "key"));
               });
  ASSERT_TRUE(run.error.empty()) << run.error;
  std::vector<size_t> where;
  for (int i = 0; i < 2; ++i) {
    auto p = media(folder, "video_" + std::to_string(i));
    ASSERT_TRUE(p.valid) << p.problem;
    std::vector<size_t> discontinuities;
    for (size_t n = 0; n < p.segments.size(); ++n)
      if (p.segments[n].discontinuity)
        discontinuities.push_back(n);
    ASSERT_EQ(discontinuities.size(), 1u) << "video_" << i;
    where.push_back(discontinuities[0]);
    /* The new segment starts at the restart, with a keyframe. */
    const Packet first = first_video_packet(folder, p.segments[discontinuities[0]]);
    EXPECT_TRUE(first.keyframe);
    const Packet stream_start = first_video_packet(folder, p.segments[0]);
    EXPECT_NEAR(first.pts - stream_start.pts, 100.0 / 30, 1e-3);
  }
  EXPECT_EQ(where[0], where[1]);
  for (const auto *m : run.messages("hlsabrsink-segment")) {
    gboolean discontinuity = FALSE;
    guint64 sequence = 0;
    gst_structure_get_boolean(m, "discontinuity", &discontinuity);
    gst_structure_get_uint64(m, "sequence", &sequence);
    EXPECT_EQ(static_cast<bool>(discontinuity), sequence == where[0]);
  }
  expect_ffmpeg_plays(folder + "/master.m3u8");
}

TEST(HlsAbrSink, LiveWindowSlidesAndDeletesOldSegments)
{
  const std::string folder = fresh_folder("live");
  fs::create_directories(folder);
  PlaylistWatcher watcher(folder);
  PipelineRun run;
  run_pipeline(ladder_pipeline(300, "width=320,height=180", "ladder=180p:300", 1, folder,
                               "target-duration=1 playlist-length=3"),
               run);
  watcher.stop();
  ASSERT_TRUE(run.error.empty()) << run.error;
  auto p = media(folder, "video_0");
  ASSERT_TRUE(p.valid) << p.problem;
  EXPECT_EQ(p.type, "");
  EXPECT_TRUE(p.endlist);
  EXPECT_EQ(p.segments.size(), 3u);
  EXPECT_EQ(p.media_sequence, 7);
  EXPECT_EQ(p.segments.back().uri, "video_0-00009.ts");
  /* Segments that left the window stay for another window, then go. */
  int on_disk = 0;
  for (const auto &e : fs::directory_iterator(folder))
    on_disk += e.path().extension() == ".ts";
  EXPECT_EQ(on_disk, 6);
  EXPECT_FALSE(fs::exists(folder + "/video_0-00000.ts"));
  EXPECT_TRUE(watcher.problems().empty()) << watcher.problems().front();
  EXPECT_GT(watcher.reads(), 5);
}

TEST(HlsAbrSink, AudioCanBeItsOwnRendition)
{
  const std::string folder = fresh_folder("group");
  PipelineRun run;
  run_pipeline(ladder_pipeline(120, "width=426,height=240", "ladder=240p:400,120p:150", 2, folder,
                               "playlist-type=vod audio-mode=group"),
               run);
  ASSERT_TRUE(run.error.empty()) << run.error;
  auto master = parse_master_playlist(read_file(folder + "/master.m3u8"));
  ASSERT_EQ(master.media.size(), 1u);
  EXPECT_EQ(master.media[0]["TYPE"], "AUDIO");
  EXPECT_EQ(master.media[0]["URI"], "audio.m3u8");
  for (auto &v : master.variants) {
    EXPECT_EQ(v.attributes["AUDIO"], "audio");
    EXPECT_NE(v.attributes["CODECS"].find("mp4a.40.2"), std::string::npos);
  }
  EXPECT_EQ(probe_codecs(folder + "/video_0.m3u8"), (std::vector<std::string>{"h264"}));
  EXPECT_EQ(probe_codecs(folder + "/audio.m3u8"), (std::vector<std::string>{"aac"}));
  auto video = media(folder, "video_0");
  auto sound = media(folder, "audio");
  ASSERT_EQ(sound.segments.size(), video.segments.size());
  for (size_t n = 0; n < video.segments.size(); ++n) {
    EXPECT_EQ(sound.segments[n].pdt, video.segments[n].pdt);
    EXPECT_NEAR(sound.segments[n].duration, video.segments[n].duration, 0.05);
  }
  expect_audio_in_every_segment(folder, "audio");
  expect_ffmpeg_plays(folder + "/master.m3u8");
}

/* `count` frames of 320x240 30 fps H.264 (byte-stream, whole access units),
 * a keyframe every 30, stamped at frame times from 0. */
std::vector<GstBuffer *> encoded_frames(int count, GstCaps **caps)
{
  GstHarness *enc =
      gst_harness_new_parse("x264enc speed-preset=ultrafast tune=zerolatency key-int-max=30 "
                            "option-string=scenecut=0 ! capsfilter caps=video/x-h264,"
                            "stream-format=byte-stream,alignment=au");
  gst_harness_set_src_caps_str(enc, "video/x-raw,format=I420,width=320,height=240,framerate=30/1");
  for (int i = 0; i < count; ++i) {
    GstBuffer *raw = gst_harness_create_buffer(enc, 320 * 240 * 3 / 2);
    gst_buffer_memset(raw, 0, static_cast<guint8>(i * 7), 320 * 240 * 3 / 2);
    GST_BUFFER_PTS(raw) = gst_util_uint64_scale(static_cast<guint64>(i), GST_SECOND, 30);
    GST_BUFFER_DURATION(raw) = GST_SECOND / 30;
    EXPECT_EQ(gst_harness_push(enc, raw), GST_FLOW_OK);
  }
  gst_harness_push_event(enc, gst_event_new_eos());
  std::vector<GstBuffer *> out;
  while (GstBuffer *b = gst_harness_try_pull(enc)) {
    b = gst_buffer_make_writable(b);
    const auto n = static_cast<guint64>(out.size());
    GST_BUFFER_PTS(b) = GST_BUFFER_DTS(b) = gst_util_uint64_scale(n, GST_SECOND, 30);
    GST_BUFFER_DURATION(b) = GST_SECOND / 30;
    out.push_back(b);
  }
  *caps = gst_pad_get_current_caps(enc->sinkpad);
  gst_harness_teardown(enc);
  return out;
}

TEST(HlsAbrSink, ASegmentIsListedOnTheLastFrameOfItsGopWhenTheFrameSaysSo)
{
  /* abrladder marks the last frame of every GOP (a GstReferenceTimestampMeta
   * SUGARCAST_GOP_END_META_CAPS, gopend.h, holding the next keyframe's running
   * time): the segment can be listed then, a frame before the next keyframe
   * exists. Without the mark, it is listed when that keyframe arrives. */
  GstCaps *caps = nullptr;
  std::vector<GstBuffer *> frames = encoded_frames(61, &caps);
  ASSERT_EQ(frames.size(), 61u);
  for (int k : {0, 30, 60})
    ASSERT_FALSE(GST_BUFFER_FLAG_IS_SET(frames[k], GST_BUFFER_FLAG_DELTA_UNIT)) << k;
  GstCaps *mark = gst_caps_new_empty_simple(SUGARCAST_GOP_END_META_CAPS);
  gst_buffer_add_reference_timestamp_meta(frames[59], mark, GST_BUFFER_PTS(frames[60]),
                                          GST_CLOCK_TIME_NONE);
  gst_caps_unref(mark);

  const std::string folder = fresh_folder("gop-end");
  GstElement *sink = gst_element_factory_make("hlsabrsink", nullptr);
  ASSERT_NE(sink, nullptr);
  g_object_set(sink, "location", folder.c_str(), "target-duration", 1u, nullptr);
  GstHarness *h = gst_harness_new_with_element(sink, "video_0", nullptr);
  gst_harness_set_src_caps(h, caps); /* takes the caps */
  auto listed = [&] {
    const std::string text = read_file(folder + "/video_0.m3u8");
    size_t n = 0;
    for (size_t at = text.find("#EXTINF"); at != std::string::npos;
         at = text.find("#EXTINF", at + 1))
      ++n;
    return n;
  };
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(gst_harness_push(h, frames[i]), GST_FLOW_OK);
  EXPECT_EQ(listed(), 0u) << "no mark on frame 29: the segment waits for keyframe 30";
  ASSERT_EQ(gst_harness_push(h, frames[30]), GST_FLOW_OK);
  EXPECT_EQ(listed(), 1u);
  for (int i = 31; i < 60; ++i)
    ASSERT_EQ(gst_harness_push(h, frames[i]), GST_FLOW_OK);
  EXPECT_EQ(listed(), 2u) << "frame 59 carries the mark: its segment is listed before keyframe 60";
  const MediaPlaylist playlist = parse_media_playlist(read_file(folder + "/video_0.m3u8"));
  ASSERT_EQ(playlist.segments.size(), 2u);
  EXPECT_NEAR(playlist.segments[1].duration, 1.0, 0.001);
  ASSERT_EQ(gst_harness_push(h, frames[60]), GST_FLOW_OK);
  EXPECT_TRUE(gst_harness_push_event(h, gst_event_new_eos()));
  EXPECT_EQ(listed(), 3u);
  const std::string text = read_file(folder + "/video_0.m3u8");
  EXPECT_NE(text.find("#EXT-X-ENDLIST"), std::string::npos) << text;
  gst_harness_teardown(h);
  gst_object_unref(sink);
}

TEST(HlsAbrSink, AnUnwritableFolderFailsNamingIt)
{
  const std::string file = scratch_dir() + "/a-file";
  std::ofstream(file) << "not a folder";
  PipelineRun run;
  run_pipeline("videotestsrc num-buffers=10 ! x264enc ! hlsabrsink location=" + file + "/hls", run,
               std::chrono::seconds(30));
  EXPECT_EQ(run.error.substr(0, run.error.find(" (")),
            "Could not create the HLS folder " + file + "/hls: Not a directory");
}

TEST(HlsAbrSink, ThePublishersStreamIsTheTopVariantAndTheLadderFollowsIt)
{
  /* An RTMP-like push: FLV with H.264 (a keyframe every 1.5 s) and AAC. */
  const std::string flv =
      make_clip({.seconds = 6,
                 .width = 320,
                 .height = 240,
                 .container = "flv",
                 .extra = {"-g", "45", "-keyint_min", "45", "-sc_threshold", "0"}});
  ASSERT_FALSE(flv.empty());
  const std::string folder = fresh_folder("passthrough");
  PipelineRun run;
  run_pipeline("filesrc location=" + flv +
                   " ! flvdemux name=d d.video ! queue ! h264parse ! tee name=t "
                   "t. ! queue ! avdec_h264 ! queue ! l.sink "
                   "t. ! queue ! l.passthrough_sink "
                   "abrladder name=l preset=ultrafast ladder=source,180p:200,120p:120" +
                   ladder_pads(3) +
                   " d.audio ! queue ! aacparse ! hls.audio hlsabrsink name=hls location=" +
                   folder + " playlist-type=vod",
               run);
  ASSERT_TRUE(run.error.empty()) << run.error;
  auto master = parse_master_playlist(read_file(folder + "/master.m3u8"));
  ASSERT_EQ(master.variants.size(), 3u);
  EXPECT_EQ(master.variants[0].attributes["RESOLUTION"], "320x240");
  EXPECT_EQ(master.variants[1].attributes["RESOLUTION"], "240x180");
  auto reference = media(folder, "video_0");
  ASSERT_EQ(reference.segments.size(), 4u) << "6 s cut at the publisher's 1.5 s keyframes";
  for (int i = 0; i < 3; ++i) {
    auto p = media(folder, "video_" + std::to_string(i));
    ASSERT_EQ(p.segments.size(), reference.segments.size());
    for (size_t n = 0; n < p.segments.size(); ++n) {
      EXPECT_NEAR(p.segments[n].duration, 1.5, 1e-3);
      const Packet first = first_video_packet(folder, p.segments[n]);
      EXPECT_TRUE(first.keyframe) << p.segments[n].uri;
      EXPECT_NEAR(first.pts, first_video_packet(folder, reference.segments[n]).pts, 1e-4);
    }
    expect_audio_in_every_segment(folder, "video_" + std::to_string(i));
  }
  expect_ffmpeg_plays(folder + "/master.m3u8");
}

TEST(HlsAbrSink, AMissingParserIsReportedAsAMissingElement)
{
  /* H.264 goes through h264parse inside the bin. Without it (taken out of
   * this process's registry), the bin posts a missing-element message an
   * application can act on, and an error naming the element. */
  GstRegistry *registry = gst_registry_get();
  GstPluginFeature *parser = gst_registry_lookup_feature(registry, "h264parse");
  ASSERT_NE(parser, nullptr);
  gst_registry_remove_feature(registry, parser);

  GstElement *sink = gst_element_factory_make("hlsabrsink", nullptr);
  ASSERT_NE(sink, nullptr);
  const std::string folder = fresh_folder("missing-parser");
  g_object_set(sink, "location", folder.c_str(), nullptr);
  GstBus *bus = gst_bus_new();
  gst_element_set_bus(sink, bus);
  GstHarness *h = gst_harness_new_with_element(sink, "video_0", nullptr);
  gst_harness_set_src_caps_str(h, "video/x-h264, stream-format=byte-stream, alignment=au");

  bool missing = false, error = false;
  while (GstMessage *m = gst_bus_pop(bus)) {
    if (gst_is_missing_plugin_message(m)) {
      gchar *detail = gst_missing_plugin_message_get_installer_detail(m);
      missing = detail && std::string(detail).find("h264parse") != std::string::npos;
      g_free(detail);
    }
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
      GError *e = nullptr;
      gst_message_parse_error(m, &e, nullptr);
      error = std::string(e->message).find("h264parse") != std::string::npos;
      g_clear_error(&e);
    }
    gst_message_unref(m);
  }
  gst_registry_add_feature(registry, parser); /* takes the reference back */
  EXPECT_TRUE(missing);
  EXPECT_TRUE(error);
  gst_harness_teardown(h);
  gst_element_set_bus(sink, nullptr);
  gst_object_unref(bus);
  gst_object_unref(sink);
}

TEST(HlsAbrSink, AnUnlinkedPadDoesNotHoldBackTheEnd)
{
  const std::string folder = fresh_folder("unlinked");
  PipelineRun run;
  run_pipeline("videotestsrc num-buffers=60 ! video/x-raw,width=320,height=180,framerate=30/1 ! "
               "x264enc key-int-max=30 speed-preset=ultrafast ! hlsabrsink name=hls location=" +
                   folder + " playlist-type=vod",
               run, std::chrono::seconds(60), [](GstElement *pipeline) {
                 GstElement *hls = gst_bin_get_by_name(GST_BIN(pipeline), "hls");
                 GstPad *idle = gst_element_request_pad_simple(hls, "video_%u");
                 EXPECT_NE(idle, nullptr);
                 gst_object_unref(idle);
                 gst_object_unref(hls);
               });
  ASSERT_TRUE(run.error.empty()) << run.error;
  EXPECT_TRUE(run.eos);
  auto p = media(folder, "video_0");
  EXPECT_TRUE(p.endlist);
  EXPECT_EQ(parse_master_playlist(read_file(folder + "/master.m3u8")).variants.size(), 1u);
}

TEST(HlsAbrSink, OpusAudioMakesTheVariantsFragmentedMp4)
{
  const std::string folder = fresh_folder("opus");
  PipelineRun run;
  run_pipeline("videotestsrc num-buffers=60 ! video/x-raw,width=320,height=180,framerate=30/1 ! "
               "x264enc key-int-max=30 speed-preset=ultrafast ! hls.video_0 "
               "audiotestsrc num-buffers=100 samplesperbuffer=960 ! audio/x-raw,rate=48000 ! "
               "opusenc ! hls.audio hlsabrsink name=hls location=" +
                   folder + " playlist-type=vod target-duration=1",
               run);
  ASSERT_TRUE(run.error.empty()) << run.error;
  auto p = media(folder, "video_0");
  ASSERT_EQ(p.segments.size(), 2u);
  EXPECT_EQ(p.segments[0].map, "video_0-init-1.mp4");
  EXPECT_EQ(sorted(probe_codecs(folder + "/video_0.m3u8")),
            (std::vector<std::string>{"h264", "opus"}));
  auto master = parse_master_playlist(read_file(folder + "/master.m3u8"));
  ASSERT_EQ(master.variants.size(), 1u);
  EXPECT_NE(master.variants[0].attributes["CODECS"].find(",opus"), std::string::npos);
  expect_ffmpeg_plays(folder + "/master.m3u8");
}
