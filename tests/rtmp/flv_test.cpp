/* FLV tags and the timeline that joins publishers into one stream. */
#include "flv.h"

#include "amf0.h"

#include <gtest/gtest.h>

using namespace sugarcast::rtmp;

TEST(Flv, HeaderAndTagBytes)
{
  EXPECT_EQ(flv_header(kFlvHasAudio | kFlvHasVideo),
            (std::vector<uint8_t>{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}));
  const uint8_t body[] = {0x17, 0x01, 0xaa};
  std::vector<uint8_t> tag(sizeof body + kFlvTagOverhead);
  write_flv_tag(tag.data(), kVideo, 0x12345678, body, sizeof body);
  EXPECT_EQ(tag, (std::vector<uint8_t>{9, 0, 0, 3, 0x34, 0x56, 0x78, 0x12, 0, 0, 0, 0x17, 0x01,
                                       0xaa, 0, 0, 0, 14}));
}

TEST(Flv, FlagsFromMetadata)
{
  auto meta = [](std::vector<AmfValue::Property> props) {
    return amf_encode_all({AmfValue::string("onMetaData"), AmfValue::ecma_array(props)});
  };
  EXPECT_EQ(flv_flags_from_metadata(meta({{"videocodecid", AmfValue::number(7)}})), kFlvHasVideo);
  EXPECT_EQ(flv_flags_from_metadata(meta(
                {{"audiocodecid", AmfValue::number(10)}, {"videocodecid", AmfValue::number(7)}})),
            kFlvHasVideo | kFlvHasAudio);
  EXPECT_EQ(flv_flags_from_metadata(meta({})), 0);
  EXPECT_EQ(flv_flags_from_metadata({0x02, 0x00}), 0);
}

TEST(Flv, SequenceHeadersAndKeyframes)
{
  Message avc{.type = kVideo, .payload = {0x17, 0x00, 0, 0, 0}};
  Message key{.type = kVideo, .payload = {0x17, 0x01, 0, 0, 0}};
  Message inter{.type = kVideo, .payload = {0x27, 0x01, 0, 0, 0}};
  Message aac{.type = kAudio, .payload = {0xaf, 0x00, 0x12, 0x10}};
  Message raw{.type = kAudio, .payload = {0xaf, 0x01, 0x12}};
  EXPECT_TRUE(is_sequence_header(avc));
  EXPECT_TRUE(is_sequence_header(aac));
  EXPECT_FALSE(is_sequence_header(key));
  EXPECT_FALSE(is_sequence_header(raw));
  EXPECT_TRUE(is_video_keyframe(key));
  EXPECT_FALSE(is_video_keyframe(inter));
}

TEST(Flv, FirstPublisherKeepsItsTimestamps)
{
  FlvTimeline t;
  EXPECT_EQ(t.map(1000), 1000u);
  EXPECT_EQ(t.map(990), 990u) << "audio slightly before video stays as the publisher sent it";
  EXPECT_EQ(t.map(1033), 1033u);
}

TEST(Flv, NextPublisherContinuesAfterTheLastTag)
{
  FlvTimeline t;
  for (uint32_t ts = 0; ts <= 5000; ts += 40)
    t.map(ts);
  EXPECT_EQ(t.last(), 5000u);
  t.restart();
  EXPECT_EQ(t.map(0), 5001u); /* the new publisher starts at zero */
  EXPECT_EQ(t.map(0), 5001u); /* its audio at zero too */
  EXPECT_EQ(t.map(40), 5041u);
  t.restart();
  EXPECT_EQ(t.map(90000), 5042u); /* a publisher whose clock starts late */
  EXPECT_EQ(t.map(89990), 5042u) << "never before the first tag of this publisher";
  EXPECT_EQ(t.map(90100), 5142u);
}

TEST(Flv, TimelineSurvivesTheThirtyTwoBitWrap)
{
  FlvTimeline t;
  t.map(0xfffffff0u);
  EXPECT_EQ(t.map(0xfffffff0u + 0x20), 0x10u);
  t.restart();
  EXPECT_EQ(t.map(7), 0x11u);
}
