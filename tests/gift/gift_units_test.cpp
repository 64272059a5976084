/* giftoverlay's plain C++ core: event parsing and the animation timeline,
 * without a pipeline. */
#include "blend.h"
#include "giftevent.h"
#include "testenv.h"
#include "timeline.h"

#include <cairo.h>
#include <glib.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

using namespace sugarcast::gift;

namespace {

constexpr std::uint64_t kMs = 1'000'000;

GiftEvent gift(const std::string &user, const std::string &name = "rose", std::uint32_t count = 1)
{
  GiftEvent event;
  event.gift = name;
  event.user = user;
  event.count = count;
  return event;
}

TimelineConfig config()
{
  TimelineConfig c;
  c.enter_ns = 300 * kMs;
  c.leave_ns = 400 * kMs;
  c.duration_ns = 5000 * kMs;
  c.combo_window_ns = 3000 * kMs;
  c.max_concurrent = 3;
  c.max_queued = 4;
  return c;
}

} // namespace

TEST(GiftEvent, ParsesEveryMember)
{
  GiftEvent e;
  std::string error;
  ASSERT_TRUE(parse_gift_event(R"({"id":"gift-1","gift":"rose","name":"Rose","user":"小明",)"
                               R"("count":3,"animation":"rose-gold","at":1.5,"extra":[1,2]})",
                               e, error))
      << error;
  EXPECT_EQ(e.id, "gift-1");
  EXPECT_EQ(e.gift, "rose");
  EXPECT_EQ(e.name, "Rose");
  EXPECT_EQ(e.user, "小明");
  EXPECT_EQ(e.count, 3u);
  EXPECT_EQ(e.animation, "rose-gold");
  EXPECT_EQ(e.at_ns, 1'500'000'000);
}

TEST(GiftEvent, DefaultsForOptionalMembers)
{
  GiftEvent e;
  std::string error;
  ASSERT_TRUE(parse_gift_event(R"({"gift":"heart","user":"bob"})", e, error)) << error;
  EXPECT_EQ(e.count, 1u);
  EXPECT_TRUE(e.id.empty());
  EXPECT_EQ(e.at_ns, -1);
}

TEST(GiftEvent, RefusalsNameTheMember)
{
  const struct
  {
    const char *json, *expected;
  } cases[] = {
      {"not json", "not JSON"},
      {"[1,2]", "JSON object"},
      {R"({"user":"a"})", "'gift' is required"},
      {R"({"gift":"rose"})", "'user' is required"},
      {R"({"gift":"../etc","user":"a"})", "'gift' must match"},
      {R"({"gift":"Rose","user":"a"})", "'gift' must match"},
      {R"({"gift":"rose","user":"a","animation":"x/y"})", "'animation' must match"},
      {R"({"gift":"rose","user":""})", "'user' must be 1 to 128"},
      {R"({"gift":"rose","user":5})", "'user' must be a string"},
      {R"({"gift":"rose","user":"a","count":0})", "'count' must be an integer"},
      {R"({"gift":"rose","user":"a","count":1.5})", "'count' must be an integer"},
      {R"({"gift":"rose","user":"a","count":100001})", "'count' must be an integer"},
      {R"({"gift":"rose","user":"a","at":-1})", "'at' must be from 0"},
      {R"({"gift":"rose","user":"a","at":"soon"})", "'at' must be a number"},
      {R"({"gift":"rose","user":"a","x":[[[[[1]]]]]})", "nests at most"},
  };
  for (const auto &c : cases) {
    GiftEvent e;
    std::string error;
    EXPECT_FALSE(parse_gift_event(c.json, e, error)) << c.json;
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.json << " -> " << error;
  }
  std::string deep(100000, '[');
  GiftEvent e;
  std::string error;
  EXPECT_FALSE(parse_gift_event(deep, e, error));
  std::string huge = R"({"gift":"rose","user":")" + std::string(5000, 'a') + "\"}";
  EXPECT_FALSE(parse_gift_event(huge, e, error));
  EXPECT_NE(error.find("at most 4096 bytes"), std::string::npos) << error;
  /* A bracket inside a string is not nesting. */
  EXPECT_TRUE(parse_gift_event(R"({"gift":"rose","user":"[[[[[[[[["})", e, error)) << error;
}

TEST(Timeline, EnterHoldLeaveThenGone)
{
  Timeline t(config());
  t.push(gift("alice"));
  EXPECT_TRUE(t.advance(0).size() == 1);
  ASSERT_EQ(t.active().size(), 1u);
  const Banner &b = t.active()[0];
  EXPECT_EQ(t.view(b, 0).phase, Phase::Enter);
  EXPECT_DOUBLE_EQ(t.view(b, 150 * kMs).progress, 0.5);
  EXPECT_EQ(t.view(b, 300 * kMs).phase, Phase::Hold);
  EXPECT_EQ(t.view(b, 4599 * kMs).phase, Phase::Hold);
  EXPECT_EQ(t.view(b, 4600 * kMs).phase, Phase::Leave);
  EXPECT_DOUBLE_EQ(t.view(b, 4800 * kMs).progress, 0.5);
  t.advance(4999 * kMs);
  EXPECT_EQ(t.active().size(), 1u);
  t.advance(5000 * kMs);
  EXPECT_TRUE(t.active().empty());
}

TEST(Timeline, GiftsWaitForTheirTime)
{
  Timeline t(config());
  GiftEvent later = gift("alice");
  later.at_ns = 2000 * kMs;
  later.id = "later";
  t.push(later);
  EXPECT_TRUE(t.advance(1999 * kMs).empty());
  auto shown = t.advance(2000 * kMs);
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0].event.id, "later");
  EXPECT_EQ(shown[0].running_time, 2000 * kMs);
}

TEST(Timeline, CombosRaiseTheExistingBanner)
{
  Timeline t(config());
  t.push(gift("alice"));
  t.advance(0);
  const std::uint64_t serial = t.active()[0].serial;
  t.push(gift("alice", "rose", 4));
  auto shown = t.advance(2000 * kMs);
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_TRUE(shown[0].combo);
  EXPECT_EQ(shown[0].count, 5u);
  ASSERT_EQ(t.active().size(), 1u);
  EXPECT_EQ(t.active()[0].serial, serial);
  EXPECT_EQ(t.active()[0].count, 5u);
  EXPECT_FALSE(shown[0].event.id.empty());
  /* The combo holds the banner longer: past the first gift's 5 s. */
  t.advance(5500 * kMs);
  EXPECT_EQ(t.active().size(), 1u);
  /* Another user, or another gift, is a banner of its own. */
  t.push(gift("bob"));
  t.push(gift("alice", "heart"));
  t.advance(5600 * kMs);
  EXPECT_EQ(t.active().size(), 3u);
}

TEST(Timeline, ComboWindowExpires)
{
  Timeline t(config());
  t.push(gift("alice"));
  t.advance(0);
  t.push(gift("alice"));
  auto shown = t.advance(3001 * kMs);
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_FALSE(shown[0].combo);
  EXPECT_EQ(t.active().size(), 2u);
}

TEST(Timeline, MaxConcurrentQueuesTheRestAndMergesRepeats)
{
  Timeline t(config());
  for (const char *user : {"a", "b", "c", "d", "e"})
    t.push(gift(user));
  t.push(gift("e", "rose", 9)); // merges with e's queued gift
  auto shown = t.advance(0);
  EXPECT_EQ(shown.size(), 3u);
  EXPECT_EQ(t.active().size(), 3u);
  EXPECT_EQ(t.queued(), 2u);
  /* Rows: 0, 1, 2, each used once. */
  unsigned rows = 0;
  for (const Banner &b : t.active())
    rows |= 1u << b.slot;
  EXPECT_EQ(rows, 7u);
  /* When the first three leave, the queued ones come in, at that frame. */
  shown = t.advance(5000 * kMs);
  /* e's merged gift comes out too, on the same banner, for its own
   * timed metadata: every gift gets one. */
  ASSERT_EQ(shown.size(), 3u);
  EXPECT_EQ(shown[0].event.user, "d");
  EXPECT_EQ(shown[1].event.user, "e");
  EXPECT_EQ(shown[1].count, 1u);
  EXPECT_FALSE(shown[1].combo);
  EXPECT_EQ(shown[2].event.user, "e");
  EXPECT_EQ(shown[2].event.count, 9u);
  EXPECT_EQ(shown[2].count, 10u);
  EXPECT_TRUE(shown[2].combo);
  EXPECT_EQ(shown[2].serial, shown[1].serial);
  EXPECT_NE(shown[2].event.id, shown[1].event.id);
  EXPECT_EQ(shown[2].running_time, 5000 * kMs);
  EXPECT_EQ(t.active().back().count, 10u);
}

TEST(Timeline, NoMoreBannersThanRowsFit)
{
  TimelineConfig c = config();
  c.max_concurrent = 5;
  c.max_rows = 2;
  Timeline t(c);
  for (const char *user : {"a", "b", "c"})
    t.push(gift(user));
  EXPECT_EQ(t.advance(0).size(), 2u);
  EXPECT_EQ(t.active().size(), 2u);
  EXPECT_EQ(t.queued(), 1u);
  for (const Banner &b : t.active())
    EXPECT_LT(b.slot, 2u);
}

TEST(GiftEvent, TakesExtraDaterangeAttributes)
{
  GiftEvent e;
  std::string error;
  ASSERT_TRUE(parse_gift_event(
      R"({"gift":"rose","user":"a","attributes":{"X-COINS":300,"x-ledger-id":8812,"X-NOTE":"hi"}})",
      e, error))
      << error;
  ASSERT_EQ(e.attributes.size(), 3u);
  EXPECT_EQ(e.attributes[0].name, "X-COINS");
  EXPECT_TRUE(e.attributes[0].is_integer);
  EXPECT_EQ(e.attributes[0].integer, 300);
  EXPECT_EQ(e.attributes[1].name, "X-LEDGER-ID");
  EXPECT_EQ(e.attributes[2].text, "hi");
  for (const char *bad :
       {R"("attributes":[1])", R"("attributes":{"COINS":1})", R"("attributes":{"X-A B":1})",
        R"("attributes":{"X-A":1.5})", R"("attributes":{"X-A":{"b":1}})"}) {
    const std::string json = std::string(R"({"gift":"rose","user":"a",)") + bad + "}";
    EXPECT_FALSE(parse_gift_event(json, e, error)) << json;
    EXPECT_NE(error.find("attribute"), std::string::npos) << error;
  }
  std::string many = R"({"gift":"rose","user":"a","attributes":{)";
  for (int i = 0; i < 17; ++i)
    many += (i ? "," : "") + ("\"X-A" + std::to_string(i) + "\":1");
  EXPECT_FALSE(parse_gift_event(many + "}}", e, error));
  EXPECT_NE(error.find("at most 16"), std::string::npos) << error;
}

TEST(Timeline, AFloodIsBounded)
{
  TimelineConfig c = config();
  c.max_pending = 100;
  Timeline t(c);
  std::uint64_t now = 0;
  std::size_t shown = 0, dropped_shown = 0;
  for (int frame = 0; frame < 30; ++frame, now += 33 * kMs) {
    for (int i = 0; i < 40; ++i)
      t.push(gift("user" + std::to_string(frame * 40 + i)));
    for (const Shown &s : t.advance(now)) {
      shown += s.drawn;
      dropped_shown += !s.drawn;
    }
    EXPECT_LE(t.active().size(), 3u);
    EXPECT_LE(t.queued(), 4u);
    EXPECT_EQ(t.pending(), 0u);
  }
  EXPECT_EQ(shown, 3u);
  EXPECT_EQ(t.dropped(), 30u * 40 - 3 - 4);
  /* Each dropped gift still comes out once, undrawn, for its DATERANGE. */
  EXPECT_EQ(dropped_shown, t.dropped());
  /* More than max_pending before a frame: the rest are refused. */
  for (int i = 0; i < 150; ++i)
    t.push(gift("late" + std::to_string(i)));
  EXPECT_EQ(t.pending(), 100u);
}

TEST(Timeline, ARowFreedIsReused)
{
  Timeline t(config());
  t.push(gift("a"));
  t.advance(0);
  t.push(gift("b"));
  t.advance(1000 * kMs);
  t.advance(5000 * kMs); // a leaves, b stays in row 1
  ASSERT_EQ(t.active().size(), 1u);
  EXPECT_EQ(t.active()[0].slot, 1u);
  t.push(gift("c"));
  t.advance(5100 * kMs);
  ASSERT_EQ(t.active().size(), 2u);
  EXPECT_EQ(t.active()[1].slot, 0u);
}

/* The committed default sprites are what tools/gift-sprites.cpp draws
 * (compared as decoded pixels: PNG compression may differ between zlibs). */
TEST(GiftSprites, CommittedAssetsMatchTheGenerator)
{
  const std::string out = sugarcast::test::scratch_dir() + "/sprites";
  g_mkdir_with_parents(out.c_str(), 0755);
  auto result = sugarcast::test::run_process(
      {sugarcast::test::built_program("plugins/gift/gift-sprites"), out});
  ASSERT_TRUE(result.ok()) << result.err;
  for (const char *name : {"rose", "heart", "rocket", "castle"}) {
    const std::string committed =
        sugarcast::test::source_dir() + "/plugins/gift/assets/" + name + ".png";
    cairo_surface_t *a = cairo_image_surface_create_from_png(committed.c_str());
    cairo_surface_t *b = cairo_image_surface_create_from_png((out + "/" + name + ".png").c_str());
    ASSERT_EQ(cairo_surface_status(a), CAIRO_STATUS_SUCCESS) << committed;
    ASSERT_EQ(cairo_surface_status(b), CAIRO_STATUS_SUCCESS) << name;
    const int w = cairo_image_surface_get_width(a), h = cairo_image_surface_get_height(a);
    EXPECT_EQ(w, 8 * h) << name << ": 8 square frames";
    ASSERT_EQ(w, cairo_image_surface_get_width(b));
    ASSERT_EQ(h, cairo_image_surface_get_height(b));
    const int stride = cairo_image_surface_get_stride(a);
    EXPECT_EQ(std::memcmp(cairo_image_surface_get_data(a), cairo_image_surface_get_data(b),
                          static_cast<std::size_t>(stride) * h),
              0)
        << name
        << ".png differs from what gift-sprites draws; run it again into plugins/gift/assets";
    cairo_surface_destroy(a);
    cairo_surface_destroy(b);
  }
}

TEST(Blend, OpaqueTransparentAndHalfPixelsInEveryFormat)
{
  /* A 4x2 image: opaque white, transparent, half-transparent white (premultiplied
   * 128,128,128,128), opaque white; twice. */
  Image image;
  image.width = 4;
  image.height = 2;
  image.stride = 16;
  const std::uint8_t px[4][4] = {
      {255, 255, 255, 255}, {0, 0, 0, 0}, {128, 128, 128, 128}, {255, 255, 255, 255}};
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 4; ++c)
      image.pixels.insert(image.pixels.end(), px[c], px[c] + 4);
  const ColorMatrix bt709;
  {
    PreparedImage prepared = prepare_image(image, PixelFormat::I420, bt709);
    std::vector<std::uint8_t> y(8 * 4, 16), u(4 * 2, 128), v(4 * 2, 128);
    FrameView frame{PixelFormat::I420, 8, 4, {y.data(), u.data(), v.data()}, {8, 4, 4}};
    blend_image(prepared, frame, 2, 2, 255);
    EXPECT_EQ(y[2 * 8 + 2], 235); // white on black, limited range
    EXPECT_EQ(y[2 * 8 + 3], 16);  // transparent: untouched
    EXPECT_NEAR(y[2 * 8 + 4], (235 + 16) / 2, 1);
    EXPECT_EQ(y[2 * 8 + 5], 235);
    for (int r = 0; r < 2; ++r) // rows outside untouched
      for (int c = 0; c < 8; ++c)
        EXPECT_EQ(y[r * 8 + c], 16);
    EXPECT_EQ(y[2 * 8 + 1], 16);
    EXPECT_EQ(y[2 * 8 + 6], 16);
    EXPECT_NEAR(u[1 * 4 + 1], 128, 1); // white and grey carry no chroma
    /* Clipped at the frame's edge, and faded by a global alpha. */
    std::fill(y.begin(), y.end(), 16);
    blend_image(prepared, frame, 6, 2, 128);
    EXPECT_NEAR(y[2 * 8 + 6], (235 + 16) / 2, 1);
  }
  {
    PreparedImage prepared = prepare_image(image, PixelFormat::NV12, bt709);
    std::vector<std::uint8_t> y(8 * 4, 16), uv(8 * 2, 128);
    FrameView frame{PixelFormat::NV12, 8, 4, {y.data(), uv.data(), nullptr}, {8, 8, 0}};
    blend_image(prepared, frame, 0, 0, 255);
    EXPECT_EQ(y[0], 235);
    EXPECT_EQ(y[1], 16);
    EXPECT_EQ(y[2 * 8], 16); // below the image
  }
  {
    PreparedImage prepared = prepare_image(image, PixelFormat::BGRA, bt709);
    std::vector<std::uint8_t> bgra(8 * 4 * 4, 0);
    for (std::size_t i = 3; i < bgra.size(); i += 4)
      bgra[i] = 255;
    FrameView frame{PixelFormat::BGRA, 8, 4, {bgra.data(), nullptr, nullptr}, {32, 0, 0}};
    blend_image(prepared, frame, 1, 1, 255);
    const std::uint8_t *p = bgra.data() + 1 * 32 + 1 * 4;
    EXPECT_EQ(p[0], 255);
    EXPECT_EQ(p[3], 255);
    EXPECT_EQ(p[4], 0); // transparent
    EXPECT_NEAR(p[8], 128, 1);
  }
}
