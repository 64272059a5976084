/* AMF0: byte vectors in both directions, and malformed input. */
#include "alloc_probe.h"
#include "amf0.h"

#include <gtest/gtest.h>

using namespace sugarcast::rtmp;

namespace {

std::vector<uint8_t> bytes(std::initializer_list<int> list)
{
  std::vector<uint8_t> out;
  for (int b : list)
    out.push_back(static_cast<uint8_t>(b));
  return out;
}

std::optional<std::vector<AmfValue>> decode(const std::vector<uint8_t> &data, std::string *error)
{
  AmfReader reader(data.data(), data.size());
  auto values = reader.read_all();
  if (error)
    *error = reader.error();
  return values;
}

} // namespace

TEST(Amf0, DecodesTheConnectCommandFfmpegSends)
{
  /* "connect", 1.0, {app: "live", tcUrl: "rtmp://h/live", fpad: false} */
  auto data =
      bytes({0x02, 0x00, 0x07, 'c', 'o',  'n',  'n',  'e',  'c',  't', 0x00, 0x3f, 0xf0, 0,
             0,    0,    0,    0,   0,    0x03, 0x00, 0x03, 'a',  'p', 'p',  0x02, 0x00, 0x04,
             'l',  'i',  'v',  'e', 0x00, 0x05, 't',  'c',  'U',  'r', 'l',  0x02, 0x00, 0x0d,
             'r',  't',  'm',  'p', ':',  '/',  '/',  'h',  '/',  'l', 'i',  'v',  'e',  0x00,
             0x04, 'f',  'p',  'a', 'd',  0x01, 0x00, 0x00, 0x00, 0x09});
  std::string error;
  auto values = decode(data, &error);
  ASSERT_TRUE(values) << error;
  ASSERT_EQ(values->size(), 3u);
  EXPECT_EQ((*values)[0].as_string(), "connect");
  EXPECT_EQ((*values)[1].as_number(), 1.0);
  ASSERT_TRUE((*values)[2].is_object());
  EXPECT_EQ((*values)[2].get_string("app"), "live");
  EXPECT_EQ((*values)[2].get_string("tcUrl"), "rtmp://h/live");
  ASSERT_NE((*values)[2].get("fpad"), nullptr);
  EXPECT_EQ((*values)[2].get("fpad")->type(), AmfType::Boolean);
  EXPECT_FALSE((*values)[2].get("fpad")->as_bool());
}

TEST(Amf0, EncodesTheStatusAnswerByteForByte)
{
  auto out = amf_encode_all({AmfValue::string("onStatus"), AmfValue::number(0), AmfValue::null(),
                             AmfValue::object({{"level", AmfValue::string("status")}})});
  auto expected =
      bytes({0x02, 0x00, 0x08, 'o',  'n', 'S', 't',  'a',  't',  'u',  's',  0x00, 0,   0,
             0,    0,    0,    0,    0,   0,   0x05, 0x03, 0x00, 0x05, 'l',  'e',  'v', 'e',
             'l',  0x02, 0x00, 0x06, 's', 't', 'a',  't',  'u',  's',  0x00, 0x00, 0x09});
  EXPECT_EQ(out, expected);
}

TEST(Amf0, RoundTripsEveryTypePublishersUse)
{
  std::vector<AmfValue> values = {
      AmfValue::string("@setDataFrame"), AmfValue::string("onMetaData"),
      AmfValue::ecma_array(
          {{"width", AmfValue::number(1920)},
           {"stereo", AmfValue::boolean(true)},
           {"encoder", AmfValue::string("obs-output module")},
           {"nested", AmfValue::object({{"x", AmfValue::null()}})},
           {"list", AmfValue::strict_array({AmfValue::number(1), AmfValue::undefined()})}}),
      AmfValue::string(std::string(70000, 'x')), /* becomes a long string */
  };
  auto data = amf_encode_all(values);
  std::string error;
  auto decoded = decode(data, &error);
  ASSERT_TRUE(decoded) << error;
  ASSERT_EQ(decoded->size(), values.size());
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ((*decoded)[i].debug_string(), values[i].debug_string());
  EXPECT_EQ((*decoded)[3].type(), AmfType::LongString);
  EXPECT_EQ((*decoded)[2].type(), AmfType::EcmaArray);
  EXPECT_EQ((*decoded)[2].get("width")->as_number(), 1920);
}

TEST(Amf0, EcmaArrayCountIsAHintTheEndMarkerDecides)
{
  /* Count says 5, one property follows, then the end marker. */
  auto data = bytes({0x08, 0, 0, 0, 5, 0x00, 0x01, 'a', 0x01, 0x01, 0x00, 0x00, 0x09});
  auto values = decode(data, nullptr);
  ASSERT_TRUE(values);
  EXPECT_EQ((*values)[0].properties().size(), 1u);
}

TEST(Amf0, DateAndTypedObjectAreRead)
{
  auto data = bytes({0x0b, 0x42, 0x78, 0,   0,    0,    0,   0,    0,    0x00, 0x00,
                     0x10, 0x00, 0x01, 'C', 0x00, 0x01, 'k', 0x05, 0x00, 0x00, 0x09});
  std::string error;
  auto values = decode(data, &error);
  ASSERT_TRUE(values) << error;
  ASSERT_EQ(values->size(), 2u);
  EXPECT_GT((*values)[0].as_number(), 0);
  EXPECT_TRUE((*values)[1].is_object());
  EXPECT_NE((*values)[1].get("k"), nullptr);
}

TEST(Amf0, TruncatedInputIsAnErrorInsideEveryValue)
{
  auto data = amf_encode_all({AmfValue::string("publish"), AmfValue::number(5),
                              AmfValue::object({{"k", AmfValue::string("value")}})});
  for (size_t cut = 1; cut < data.size(); ++cut) {
    std::vector<uint8_t> part(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(cut));
    std::string error;
    auto values = decode(part, &error);
    if (cut == 10 || cut == 19) { /* between two values: the whole ones are read */
      ASSERT_TRUE(values) << error;
      EXPECT_EQ(values->size(), cut == 10 ? 1u : 2u);
      continue;
    }
    EXPECT_FALSE(values) << "cut at " << cut;
    EXPECT_NE(error.find("AMF0"), std::string::npos) << error;
  }
}

TEST(Amf0, StringLongerThanTheMessageIsRefusedWithoutAllocating)
{
  auto data = bytes({0x0c, 0x7f, 0xff, 0xff, 0xff, 'a'});
  std::string error;
  EXPECT_FALSE(decode(data, &error));
  EXPECT_NE(error.find("string of 2147483647 bytes but only 1 left"), std::string::npos) << error;
}

TEST(Amf0, StrictArrayCountLargerThanTheInputIsRefused)
{
  auto data = bytes({0x0a, 0xff, 0xff, 0xff, 0xff, 0x05});
  std::string error;
  EXPECT_FALSE(decode(data, &error));
  EXPECT_NE(error.find("strict array"), std::string::npos) << error;
}

TEST(Amf0, StrictArrayCountDoesNotSizeAnAllocation)
{
  /* A strict array claiming 16,000,000 values, followed by 16 MB of nulls
   * (so the count passes "one byte per value"): reserving the count took
   * 1.6 GB. Now it is refused at the value limit, and nothing near the
   * claim is allocated. */
  std::vector<uint8_t> data = bytes({0x0a, 0x00, 0xf4, 0x24, 0x00});
  data.resize(data.size() + 16000000, 0x05);
  sugarcast::test::largest_allocation = 0;
  std::string error;
  EXPECT_FALSE(decode(data, &error));
  EXPECT_NE(error.find("strict array of 16000000 values exceeds the limit of 65536"),
            std::string::npos)
      << error;
  EXPECT_LT(sugarcast::test::largest_allocation.load(), 1u << 20);

  /* Within the limit, the array holds what was sent. */
  std::vector<uint8_t> ok = bytes({0x0a, 0x00, 0x00, 0x01, 0x00});
  ok.resize(ok.size() + 256, 0x05);
  auto values = decode(ok, nullptr);
  ASSERT_TRUE(values);
  ASSERT_EQ(values->size(), 1u);
  EXPECT_EQ((*values)[0].items().size(), 256u);
}

TEST(Amf0, DeepNestingIsRefused)
{
  std::vector<uint8_t> data;
  for (int i = 0; i < 100; ++i) {
    data.push_back(0x03);
    data.push_back(0x00);
    data.push_back(0x01);
    data.push_back('a');
  }
  data.push_back(0x05);
  std::string error;
  EXPECT_FALSE(decode(data, &error));
  EXPECT_NE(error.find("nesting deeper than 32"), std::string::npos) << error;
}

TEST(Amf0, TooManyValuesAreRefused)
{
  std::vector<uint8_t> data(70000, 0x05); /* 70,000 nulls */
  std::string error;
  EXPECT_FALSE(decode(data, &error));
  EXPECT_NE(error.find("more than 65536 values"), std::string::npos) << error;
}

TEST(Amf0, UnknownMarkerAndAmf3AreRefusedWithTheirOffset)
{
  std::string error;
  EXPECT_FALSE(decode(bytes({0x05, 0x11, 0x00}), &error));
  EXPECT_EQ(error, "AMF0: unknown type marker 0x11 at byte 1");
  EXPECT_FALSE(decode(bytes({0x09}), &error));
  EXPECT_NE(error.find("object end marker outside an object"), std::string::npos);
}
