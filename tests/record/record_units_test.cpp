/* Sugarcast — the record plugin's plain C++ core: manifest, playlist, segment
 * writer, repair of torn segments and retention. */
#include "manifest.h"
#include "repair.h"
#include "retention.h"
#include "writer.h"

#include "fake_media.h"
#include "testenv.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

using namespace sugarcast::record;
using sugarcast::test::read_file;
using sugarcast::test::scratch_dir;
using namespace sugarcast::test::fake;

TEST(RecordManifest, RoundTripsThroughJson)
{
  Manifest m;
  m.state = State::Incomplete;
  m.started_us = 1700000000123456;
  m.ended_us = 1700000100000000;
  m.reason = "disk full";
  m.segments.push_back({"seg00000.ts", 0, 4000000000, 1234, {{0, 0}, {2000000000, 600}}});
  m.segments.push_back({"seg00001.ts", 4000000000, 1500000000, 99, {{4000000000, 0}}});
  std::string error;
  auto back = parse_manifest(to_json(m), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->state, State::Incomplete);
  EXPECT_EQ(back->started_us, m.started_us);
  EXPECT_EQ(back->reason, "disk full");
  ASSERT_EQ(back->segments.size(), 2u);
  EXPECT_EQ(back->segments[1].start, 4000000000);
  EXPECT_EQ(back->segments[0].keyframes[1].offset, 600u);
  EXPECT_EQ(back->duration(), 5500000000);
  EXPECT_EQ(back->bytes(), 1333u);
}

TEST(RecordManifest, RefusesWhatItCannotTrust)
{
  std::string error;
  EXPECT_FALSE(parse_manifest("[]", error));
  EXPECT_FALSE(parse_manifest("{\"version\":2}", error));
  EXPECT_NE(error.find("version"), std::string::npos);
  EXPECT_FALSE(
      parse_manifest("{\"version\":1,\"state\":\"odd\",\"started_us\":0,\"segments\":[]}", error));
  EXPECT_NE(error.find("odd"), std::string::npos);
  EXPECT_FALSE(parse_manifest("{\"version\":1,\"state\":\"complete\",\"started_us\":0,"
                              "\"segments\":[{\"uri\":\"../../etc/passwd\",\"start_ns\":0,"
                              "\"duration_ns\":1,\"bytes\":1}]}",
                              error));
  EXPECT_NE(error.find("segments[0].uri"), std::string::npos);
  EXPECT_FALSE(parse_manifest(std::string(100, '[') + std::string(100, ']'), error));
  EXPECT_FALSE(segment_index("seg1.ts"));
  EXPECT_EQ(*segment_index(segment_name(42)), 42u);
}

TEST(RecordManifest, PlaylistIsVodOnceFinal)
{
  Manifest m;
  m.started_us = 1700000000000000;
  m.segments.push_back({"seg00000.ts", 0, 4000000000, 10, {}});
  m.segments.push_back({"seg00001.ts", 4000000000, 4500000000, 10, {}});
  const std::string live = render_playlist(m);
  EXPECT_EQ(live.find("#EXT-X-ENDLIST"), std::string::npos);
  m.state = State::Complete;
  const std::string vod = render_playlist(m);
  EXPECT_NE(vod.find("#EXT-X-PLAYLIST-TYPE:VOD"), std::string::npos);
  EXPECT_NE(vod.find("#EXT-X-ENDLIST"), std::string::npos);
  EXPECT_NE(vod.find("#EXT-X-TARGETDURATION:5"), std::string::npos);
  EXPECT_NE(vod.find("seg00001.ts"), std::string::npos);
  EXPECT_NE(vod.find("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:24"), std::string::npos);
}

TEST(RecordManifest, DateRangesRoundTripAndSitBeforeTheirSegment)
{
  Manifest m;
  m.state = State::Complete;
  m.started_us = 1700000000000000;
  m.segments.push_back({"seg00000.ts", 0, 4000000000, 10, {}});
  m.segments.push_back({"seg00001.ts", 4000000000, 4000000000, 10, {}});
  sugarcast::abr::DateRangeTag gift;
  gift.id = "gift-7";
  gift.klass = "com.sugarcast.gift";
  gift.start_us = m.started_us + 5500000; /* 5.5 s in: the second segment */
  gift.duration = 3000000000;
  gift.attributes = {{"X-GIFT", "rose", true}, {"X-COUNT", "3", false}};
  m.dateranges.push_back(gift);
  std::string error;
  auto back = parse_manifest(to_json(m), error);
  ASSERT_TRUE(back) << error;
  ASSERT_EQ(back->dateranges.size(), 1u);
  EXPECT_EQ(back->dateranges[0].id, "gift-7");
  EXPECT_EQ(back->dateranges[0].start_us, gift.start_us);
  EXPECT_EQ(back->dateranges[0].duration, 3000000000);
  ASSERT_EQ(back->dateranges[0].attributes.size(), 2u);
  EXPECT_FALSE(back->dateranges[0].attributes[1].quoted);

  const std::string text = render_playlist(*back);
  const size_t tag = text.find("#EXT-X-DATERANGE:ID=\"gift-7\"");
  ASSERT_NE(tag, std::string::npos) << text;
  EXPECT_NE(text.find("X-GIFT=\"rose\""), std::string::npos) << text;
  EXPECT_NE(text.find("X-COUNT=3"), std::string::npos) << text;
  EXPECT_LT(text.find("seg00000.ts"), tag) << text;
  EXPECT_LT(tag, text.find("seg00001.ts")) << text;

  /* A manifest written before dateranges existed still reads. */
  EXPECT_TRUE(parse_manifest(
      "{\"version\":1,\"state\":\"complete\",\"started_us\":0,\"segments\":[]}", error));
  EXPECT_FALSE(parse_manifest("{\"version\":1,\"state\":\"complete\",\"started_us\":0,"
                              "\"segments\":[],\"dateranges\":[{\"id\":\"\",\"start_us\":1}]}",
                              error));
  EXPECT_NE(error.find("dateranges[0]"), std::string::npos) << error;
}

TEST(RecordWriter, CutsSegmentsAtKeyframesAndFinalises)
{
  const std::string folder = fresh("writer") + "/rec";
  auto w = write_media(folder, 10.0);
  EXPECT_TRUE(w->finish(1700000010000000));
  std::string error;
  auto m = read_manifest(folder + "/manifest.json", error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->state, State::Complete);
  /* 4 s target, keyframes every second: 0-4, 4-8, 8-10. */
  ASSERT_EQ(m->segments.size(), 3u);
  EXPECT_EQ(m->segments[0].start, 0);
  EXPECT_NEAR(m->segments[1].start / 1e9, 4.0, 0.04);
  EXPECT_NEAR(m->duration() / 1e9, 10.0, 0.05);
  for (const auto &s : m->segments) {
    const std::string bytes = read_file(folder + "/" + s.uri);
    ASSERT_EQ(bytes.size(), s.bytes);
    EXPECT_EQ(bytes.size() % 188, 0u);
    /* Every segment starts with PAT, and its keyframe offsets are packets. */
    EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 0x47);
    EXPECT_EQ(bytes[1] & 0x1f, 0);
    EXPECT_EQ(bytes[2], 0);
    const TsScan scan = scan_segment(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size());
    EXPECT_EQ(scan.size, s.bytes);
    ASSERT_EQ(scan.keyframes.size(), s.keyframes.size());
    for (size_t k = 0; k < s.keyframes.size(); ++k) {
      EXPECT_EQ(scan.keyframes[k].offset, s.keyframes[k].offset);
      EXPECT_NEAR(scan.keyframes[k].time / 1e6, s.keyframes[k].time / 1e6, 0.1);
    }
  }
  const std::string playlist = read_file(folder + "/index.m3u8");
  EXPECT_NE(playlist.find("#EXT-X-ENDLIST"), std::string::npos);
}

TEST(RecordWriter, WritesInPiecesWhileRecording)
{
  /* After 2.5 s of media with 1 s pieces, the open segment holds at least
   * 1.5 s on disk and the manifest still says recording. */
  const std::string folder = fresh("pieces") + "/rec";
  auto w = write_media(folder, 2.5);
  const std::string first = read_file(folder + "/seg00000.ts");
  const TsScan scan = scan_segment(reinterpret_cast<const uint8_t *>(first.data()), first.size());
  EXPECT_GE(scan.end / 1e9, 1.4);
  std::string error;
  auto m = read_manifest(folder + "/manifest.json", error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->state, State::Recording);
}

TEST(RecordRepair, TruncatesATornSegmentAndFinalises)
{
  const std::string folder = fresh("repair") + "/rec";
  {
    auto w = write_media(folder, 9.5); /* segments 0-4, 4-8 closed; 8-9.5 open */
  }                                    /* the writer dies without finish() */
  const std::string torn = folder + "/seg00002.ts";
  struct stat st
  {
  };
  ASSERT_EQ(stat(torn.c_str(), &st), 0);
  /* A write cut short: half a packet more. */
  {
    std::ofstream f(torn, std::ios::app | std::ios::binary);
    f << std::string(94, '\x47');
  }
  RepairReport report;
  std::string error;
  ASSERT_TRUE(repair_recording(folder, 1700000020000000, report, error)) << error;
  EXPECT_TRUE(report.changed);
  EXPECT_EQ(report.recovered, 1u);
  EXPECT_GE(report.truncated, 94u);
  auto m = read_manifest(folder + "/manifest.json", error);
  ASSERT_TRUE(m) << error;
  EXPECT_EQ(m->state, State::Interrupted);
  ASSERT_EQ(m->segments.size(), 3u);
  /* At most the last piece (1 s) lost. */
  EXPECT_GE(m->duration() / 1e9, 8.4);
  EXPECT_EQ(read_file(torn).size() % 188, 0u);
  EXPECT_NE(read_file(folder + "/index.m3u8").find("#EXT-X-ENDLIST"), std::string::npos);

  /* Running it again changes nothing. */
  ASSERT_TRUE(repair_recording(folder, 1700000030000000, report, error)) << error;
  EXPECT_FALSE(report.changed);
}

TEST(RecordRepair, DropsAFrameCutInTheMiddle)
{
  const std::string folder = fresh("midframe") + "/rec";
  {
    auto w = write_media(folder, 1.0, WriterSettings{.piece = 0});
  }
  const std::string path = folder + "/seg00000.ts";
  const std::string whole = read_file(path);
  const TsScan full = scan_segment(reinterpret_cast<const uint8_t *>(whole.data()), whole.size());
  /* Cut inside the last video frame's packets (its 600-byte body spans 4 packets, 1-2 audio packets
   * follow it). */
  ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(whole.size() - 188 * 5 - 100)), 0);
  RepairReport report;
  std::string error;
  ASSERT_TRUE(repair_recording(folder, 1700000020000000, report, error)) << error;
  const std::string cut = read_file(path);
  const TsScan after = scan_segment(reinterpret_cast<const uint8_t *>(cut.data()), cut.size());
  EXPECT_EQ(after.size, cut.size());
  EXPECT_LT(after.video_frames, full.video_frames);
  EXPECT_GE(after.video_frames + 2, full.video_frames);
}

TEST(RecordRepair, RemovesASegmentWithoutAKeyframe)
{
  const std::string folder = fresh("nokey") + "/rec";
  {
    auto w = write_media(folder, 4.5);
  }
  ASSERT_EQ(truncate((folder + "/seg00001.ts").c_str(), 100), 0);
  RepairReport report;
  std::string error;
  ASSERT_TRUE(repair_recording(folder, 1700000020000000, report, error)) << error;
  EXPECT_EQ(report.removed, 1u);
  EXPECT_FALSE(g_file_test((folder + "/seg00001.ts").c_str(), G_FILE_TEST_EXISTS));
}

namespace {

void fake_recording(const std::string &folder, int64_t started_us, uint64_t bytes, State state)
{
  g_mkdir_with_parents(folder.c_str(), 0755);
  Manifest m;
  m.state = state;
  m.started_us = started_us;
  m.segments.push_back({"seg00000.ts", 0, 4000000000, bytes, {}});
  std::string error;
  ASSERT_TRUE(write_manifest_files(folder, m, false, error)) << error;
  ASSERT_TRUE(g_file_set_contents((folder + "/seg00000.ts").c_str(), "x", 1, nullptr));
}

} // namespace

TEST(RecordRetention, DeletesByAgeThenSizeOldestFirst)
{
  const std::string root = fresh("retention");
  const int64_t day = 86400LL * G_USEC_PER_SEC;
  const int64_t now = 100 * day;
  fake_recording(root + "/a/r1", now - 10 * day, 1000, State::Complete);
  fake_recording(root + "/a/r2", now - 3 * day, 1000, State::Interrupted);
  fake_recording(root + "/b/r3", now - 2 * day, 1000, State::Complete);
  fake_recording(root + "/b/r4", now - 1 * day, 1000, State::Complete);
  fake_recording(root + "/b/live", now - 20 * day, 1000, State::Recording);
  ASSERT_EQ(list_recordings(root).size(), 5u);

  std::vector<std::string> errors;
  auto removed = apply_retention(root, {.max_age_us = 7 * day}, now, errors);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], root + "/a/r1");
  EXPECT_FALSE(g_file_test((root + "/a/r1").c_str(), G_FILE_TEST_EXISTS));

  /* 4000 bytes left (one still recording, never deleted); at most 2500. */
  removed = apply_retention(root, {.max_bytes = 2500}, now, errors);
  ASSERT_EQ(removed.size(), 2u);
  EXPECT_EQ(removed[0], root + "/a/r2");
  EXPECT_EQ(removed[1], root + "/b/r3");
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(g_file_test((root + "/b/live").c_str(), G_FILE_TEST_EXISTS));
  EXPECT_TRUE(g_file_test((root + "/b/r4").c_str(), G_FILE_TEST_EXISTS));

  /* Only one stream's folder. */
  removed = apply_retention(root + "/b", {.max_bytes = 1}, now, errors);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], root + "/b/r4");
}

TEST(RecordRetention, LeavesForeignFilesAlone)
{
  const std::string root = fresh("foreign");
  fake_recording(root + "/r1", 0, 10, State::Complete);
  ASSERT_TRUE(g_file_set_contents((root + "/r1/notes.txt").c_str(), "mine", -1, nullptr));
  std::vector<std::string> errors;
  auto removed = apply_retention(root, {.max_age_us = 1}, 1000000, errors);
  EXPECT_TRUE(removed.empty());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("notes.txt"), std::string::npos);
  EXPECT_TRUE(g_file_test((root + "/r1/notes.txt").c_str(), G_FILE_TEST_EXISTS));
}
