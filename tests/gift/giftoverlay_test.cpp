/* giftoverlay in a GstHarness: what a viewer sees on the frames, and what
 * goes downstream with them. */
#include "daterange.h"
#include "gift.h"
#include "testenv.h"

#include <cairo.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using sugarcast::test::scratch_dir;

namespace {

constexpr GstClockTime kFrame = GST_SECOND / 30;
/* Frame times as videotestsrc makes them: exact at whole seconds. */
GstClockTime frame_time(int index)
{
  return gst_util_uint64_scale(index, GST_SECOND, 30);
}

struct Rect
{
  int x = 0, y = 0, width = 0, height = 0;
  bool contains(int px, int py) const
  {
    return px >= x && px < x + width && py >= y && py < y + height;
  }
};

struct Overlay
{
  GstHarness *h = nullptr;
  GstBus *bus = nullptr;
  std::string format;
  int width, height;
  GstVideoInfo info;

  Overlay(const std::string &fmt, int w, int hgt, const char *props = nullptr)
      : format(fmt), width(w), height(hgt)
  {
    GstElement *e = gst_element_factory_make("giftoverlay", nullptr);
    if (props) {
      g_auto(GStrv) pairs = g_strsplit(props, " ", -1);
      for (int i = 0; pairs[i]; ++i) {
        g_auto(GStrv) kv = g_strsplit(pairs[i], "=", 2);
        if (kv[0] && kv[1])
          gst_util_set_object_arg(G_OBJECT(e), kv[0], kv[1]);
      }
    }
    /* A bus before the harness starts it: the events file's warnings. */
    bus = gst_bus_new();
    gst_element_set_bus(e, bus);
    h = gst_harness_new_with_element(e, "sink", "src");
    gst_object_unref(e);
    const std::string caps = "video/x-raw,format=" + fmt + ",width=" + std::to_string(w) +
                             ",height=" + std::to_string(hgt) + ",framerate=30/1";
    gst_harness_set_src_caps_str(h, caps.c_str());
    GstCaps *c = gst_caps_from_string(caps.c_str());
    gst_video_info_from_caps(&info, c);
    gst_caps_unref(c);
  }
  ~Overlay()
  {
    for (GstStructure *st : shown_messages())
      gst_structure_free(st);
    gst_element_set_bus(h->element, nullptr);
    gst_object_unref(bus);
    gst_harness_teardown(h);
  }

  GstElement *element() const { return h->element; }

  /* A frame whose every byte depends on its position and index, so a
   * blended pixel always differs from its input. */
  GstBuffer *frame(int index) const
  {
    GstBuffer *b = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr);
    GstMapInfo map;
    gst_buffer_map(b, &map, GST_MAP_WRITE);
    for (gsize i = 0; i < map.size; ++i)
      map.data[i] = static_cast<guint8>((i * 7 + i / 997 + index * 3) & 0xff);
    gst_buffer_unmap(b, &map);
    GST_BUFFER_PTS(b) = frame_time(index);
    GST_BUFFER_DURATION(b) = kFrame;
    return b;
  }

  bool push_gift(const std::string &json)
  {
    gboolean ok = FALSE;
    g_signal_emit_by_name(element(), "push-gift", json.c_str(), &ok);
    return ok;
  }

  /* Pushes frame `index` and returns the output with the input kept aside. */
  std::pair<std::vector<guint8>, std::vector<guint8>> run(int index)
  {
    GstBuffer *in = frame(index);
    std::vector<guint8> input(GST_VIDEO_INFO_SIZE(&info));
    gst_buffer_extract(in, 0, input.data(), input.size());
    EXPECT_EQ(gst_harness_push(h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull(h);
    std::vector<guint8> output(gst_buffer_get_size(out));
    gst_buffer_extract(out, 0, output.data(), output.size());
    gst_buffer_unref(out);
    return {input, output};
  }

  /* gst_bus_pop_filtered() drops what it does not match: take everything
   * and sort it. */
  std::vector<GstStructure *> shown_;
  std::vector<std::string> warnings_;
  void drain()
  {
    while (GstMessage *m = gst_bus_pop(bus)) {
      const GstStructure *s = gst_message_get_structure(m);
      if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ELEMENT && s &&
          gst_structure_has_name(s, SUGARCAST_GIFT_SHOWN_MESSAGE)) {
        shown_.push_back(gst_structure_copy(s));
      } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_WARNING) {
        GError *error = nullptr;
        gchar *debug = nullptr;
        gst_message_parse_warning(m, &error, &debug);
        warnings_.push_back(std::string(error->message) + " | " + (debug ? debug : ""));
        g_error_free(error);
        g_free(debug);
      }
      gst_message_unref(m);
    }
  }
  std::vector<GstStructure *> shown_messages()
  {
    drain();
    return std::exchange(shown_, {});
  }
  std::vector<std::string> warnings()
  {
    drain();
    return std::exchange(warnings_, {});
  }

  /* The pixels of frame bytes (luma / the packed plane) at (x, y) differ? */
  bool pixel_differs(const std::vector<guint8> &a, const std::vector<guint8> &b, int x, int y) const
  {
    for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES(&info); ++p) {
      const int sub_x = p == 0 ? 0 : GST_VIDEO_FORMAT_INFO_W_SUB(info.finfo, p);
      const int sub_y = p == 0 ? 0 : GST_VIDEO_FORMAT_INFO_H_SUB(info.finfo, p);
      const int pstride = GST_VIDEO_INFO_COMP_PSTRIDE(&info, p);
      const gsize offset = GST_VIDEO_INFO_PLANE_OFFSET(&info, p) +
                           static_cast<gsize>(y >> sub_y) * GST_VIDEO_INFO_PLANE_STRIDE(&info, p) +
                           static_cast<gsize>(x >> sub_x) * (pstride ? pstride : 1);
      const int bytes = p == 0 ? std::max(1, pstride) : std::max(1, pstride);
      if (std::memcmp(a.data() + offset, b.data() + offset, bytes) != 0)
        return true;
    }
    return false;
  }
};

std::string gift_json(const std::string &user, const std::string &gift = "rose", int count = 1,
                      const std::string &id = "")
{
  std::string json =
      R"({"gift":")" + gift + R"(","user":")" + user + R"(","count":)" + std::to_string(count);
  if (!id.empty())
    json += R"(,"id":")" + id + "\"";
  return json + "}";
}

Rect rect_of(const GstStructure *s)
{
  Rect r;
  gst_structure_get_int(s, "x", &r.x);
  gst_structure_get_int(s, "y", &r.y);
  gst_structure_get_int(s, "width", &r.width);
  gst_structure_get_int(s, "height", &r.height);
  return r;
}

void free_all(std::vector<GstStructure *> &v)
{
  for (GstStructure *s : v)
    gst_structure_free(s);
  v.clear();
}

} // namespace

class Formats : public ::testing::TestWithParam<const char *>
{
};

TEST_P(Formats, FramesWithoutGiftsPassThroughUnchanged)
{
  Overlay o(GetParam(), 640, 360);
  for (int i = 0; i < 10; ++i) {
    GstBuffer *in = o.frame(i);
    gst_buffer_ref(in);
    ASSERT_EQ(gst_harness_push(o.h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull(o.h);
    EXPECT_EQ(out, in) << "frame " << i << " was copied, not passed through";
    gst_buffer_unref(out);
    gst_buffer_unref(in);
  }
  EXPECT_TRUE(o.shown_messages().empty());
}

TEST_P(Formats, ABannerChangesOnlyItsRectangle)
{
  Overlay o(GetParam(), 1280, 720);
  ASSERT_TRUE(o.push_gift(gift_json("alice", "rose", 1, "g-1")));
  o.run(0);
  auto shown = o.shown_messages();
  ASSERT_EQ(shown.size(), 1u);
  const Rect rect = rect_of(shown[0]);
  free_all(shown);
  EXPECT_GT(rect.width, rect.height);
  EXPECT_GT(rect.height, 30);
  /* In the hold phase (after 0.3 s of entering) the banner rests there. */
  auto [input, output] = o.run(20);
  /* Chroma planes cover 2x2 pixels: allow the rectangle's rim. */
  const Rect rim{rect.x - 1, rect.y - 1, rect.width + 2, rect.height + 2};
  int changed_inside = 0, changed_outside = 0;
  for (int y = 0; y < o.height; ++y)
    for (int x = 0; x < o.width; ++x) {
      const bool differs = o.pixel_differs(input, output, x, y);
      if (rim.contains(x, y))
        changed_inside += differs;
      else
        changed_outside += differs;
    }
  EXPECT_EQ(changed_outside, 0);
  EXPECT_GT(changed_inside, rect.width * rect.height / 2);
}

INSTANTIATE_TEST_SUITE_P(GiftOverlay, Formats, ::testing::Values("I420", "NV12", "BGRA"));

TEST(GiftOverlay, AppearsAtItsTimeAndIsGoneAfterItsDuration)
{
  const std::string events = scratch_dir() + "/timed.jsonl";
  std::ofstream(events) << "# one rose at one second\n"
                        << R"({"at":1.0,"id":"timed-1","gift":"rose","user":"bob"})"
                        << "\n";
  const std::string props = "events-file=" + events + " duration=2000000000";
  Overlay o("I420", 640, 360, props.c_str());
  int first = -1, last = -1;
  for (int i = 0; i < 120; ++i) {
    auto [input, output] = o.run(i);
    if (input != output) {
      if (first < 0)
        first = i;
      last = i;
    }
  }
  EXPECT_EQ(first, 30);     // the frame at 1.0 s
  EXPECT_EQ(last, 30 + 59); // 2 s later it is gone
  auto shown = o.shown_messages();
  ASSERT_EQ(shown.size(), 1u);
  guint64 rt = 0;
  gst_structure_get_uint64(shown[0], "running-time", &rt);
  EXPECT_EQ(rt, frame_time(30));
  free_all(shown);
}

TEST(GiftOverlay, TheDaterangeEventPrecedesTheFirstFrameWithTheGift)
{
  Overlay o("I420", 640, 360);
  o.run(0);
  while (GstEvent *e = gst_harness_try_pull_event(o.h))
    gst_event_unref(e);
  ASSERT_TRUE(o.push_gift(gift_json("小明", "heart", 2, "gift-77")));
  GstBuffer *in = o.frame(1);
  ASSERT_EQ(gst_harness_push(o.h, in), GST_FLOW_OK);
  /* Events come out before the buffer they precede. */
  GstEvent *event = gst_harness_try_pull_event(o.h);
  ASSERT_NE(event, nullptr);
  ASSERT_TRUE(sugarcast_event_is_daterange(event));
  const GstStructure *s = gst_event_get_structure(event);
  EXPECT_STREQ(gst_structure_get_string(s, "id"), "gift-77");
  EXPECT_STREQ(gst_structure_get_string(s, "class"), SUGARCAST_GIFT_DATERANGE_CLASS);
  guint64 start = 0;
  gst_structure_get_uint64(s, "start", &start);
  EXPECT_EQ(start, frame_time(1));
  const GstStructure *attributes = nullptr;
  const GValue *v = gst_structure_get_value(s, "attributes");
  ASSERT_NE(v, nullptr);
  attributes = gst_value_get_structure(v);
  EXPECT_STREQ(gst_structure_get_string(attributes, "X-GIFT"), "heart");
  EXPECT_STREQ(gst_structure_get_string(attributes, "X-USER"), "小明");
  guint64 count = 0;
  gst_structure_get_uint64(attributes, "X-COUNT", &count);
  EXPECT_EQ(count, 2u);
  gst_event_unref(event);
  GstBuffer *out = gst_harness_pull(o.h);
  EXPECT_EQ(GST_BUFFER_PTS(out), frame_time(1));
  gst_buffer_unref(out);
}

TEST(GiftOverlay, TheDaterangeCarriesTheEventsAttributesAndNotOverItsOwn)
{
  Overlay o("I420", 640, 360);
  o.run(0);
  while (GstEvent *e = gst_harness_try_pull_event(o.h))
    gst_event_unref(e);
  ASSERT_TRUE(o.push_gift(R"({"id":"gift-9","gift":"rocket","name":"Rocket","user":"bob",)"
                          R"("count":3,"attributes":{"X-COINS":300,"X-LEDGER-ID":9,)"
                          R"("X-ANIMATION":"rocket","X-USER":"not bob"}})"));
  ASSERT_EQ(gst_harness_push(o.h, o.frame(1)), GST_FLOW_OK);
  GstEvent *event = gst_harness_try_pull_event(o.h);
  ASSERT_NE(event, nullptr);
  ASSERT_TRUE(sugarcast_event_is_daterange(event));
  const GValue *v = gst_structure_get_value(gst_event_get_structure(event), "attributes");
  ASSERT_NE(v, nullptr);
  const GstStructure *attributes = gst_value_get_structure(v);
  gint64 coins = 0, ledger = 0;
  EXPECT_TRUE(gst_structure_get_int64(attributes, "X-COINS", &coins));
  EXPECT_EQ(coins, 300);
  EXPECT_TRUE(gst_structure_get_int64(attributes, "X-LEDGER-ID", &ledger));
  EXPECT_EQ(ledger, 9);
  EXPECT_STREQ(gst_structure_get_string(attributes, "X-ANIMATION"), "rocket");
  EXPECT_STREQ(gst_structure_get_string(attributes, "X-NAME"), "Rocket");
  EXPECT_STREQ(gst_structure_get_string(attributes, "X-USER"), "bob");
  guint64 count = 0, combo = 0;
  gst_structure_get_uint64(attributes, "X-COUNT", &count);
  gst_structure_get_uint64(attributes, "X-COMBO", &combo);
  EXPECT_EQ(count, 3u);
  EXPECT_EQ(combo, 3u);
  gst_event_unref(event);
  GstBuffer *out = gst_harness_pull(o.h);
  EXPECT_EQ(GST_BUFFER_PTS(out), frame_time(1));
  gst_buffer_unref(out);
}

TEST(GiftOverlay, CombosCountUpOnOneBanner)
{
  Overlay o("I420", 1280, 720);
  std::vector<guint64> counts;
  std::vector<guint8> first_banner;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(o.push_gift(gift_json("alice", "rose", i == 3 ? 10 : 1)));
    auto [input, output] = o.run(i * 10);
    if (i == 0)
      first_banner = output;
    else
      EXPECT_NE(output, first_banner);
    auto shown = o.shown_messages();
    ASSERT_EQ(shown.size(), 1u);
    guint64 count = 0;
    gboolean combo = FALSE;
    gst_structure_get_uint64(shown[0], "count", &count);
    gst_structure_get_boolean(shown[0], "combo", &combo);
    EXPECT_EQ(combo, i > 0);
    counts.push_back(count);
    free_all(shown);
    guint active = 0;
    g_object_get(o.element(), "active", &active, nullptr);
    EXPECT_EQ(active, 1u);
  }
  EXPECT_EQ(counts, (std::vector<guint64>{1, 2, 3, 13}));
}

TEST(GiftOverlay, AThousandGiftsInOneSecondKeepFramesFlowing)
{
  Overlay o("I420", 1280, 720, "max-concurrent=5 max-queued=16");
  int pushed = 0;
  for (int i = 0; i < 30; ++i) {
    for (int j = 0; j < 34 && pushed < 1000; ++j, ++pushed)
      o.push_gift(gift_json("user" + std::to_string(pushed % 50), pushed % 2 ? "rose" : "heart"));
    GstBuffer *in = o.frame(i);
    ASSERT_EQ(gst_harness_push(o.h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull(o.h);
    EXPECT_EQ(GST_BUFFER_PTS(out), frame_time(i));
    gst_buffer_unref(out);
    guint active = 0, queued = 0;
    g_object_get(o.element(), "active", &active, "queued", &queued, nullptr);
    EXPECT_LE(active, 5u);
    EXPECT_LE(queued, 16u);
  }
  EXPECT_EQ(pushed, 1000);
  guint64 dropped = 0;
  g_object_get(o.element(), "dropped", &dropped, nullptr);
  /* Repeats merge into combos and queue entries; the rest is dropped. */
  auto shown = o.shown_messages();
  EXPECT_GE(shown.size(), 5u);
  free_all(shown);
  EXPECT_EQ(gst_harness_buffers_received(o.h), 30u);
}

TEST(GiftOverlay, BadGiftsAreRefusedWithAReason)
{
  Overlay o("I420", 640, 360);
  EXPECT_FALSE(o.push_gift("{not json"));
  EXPECT_FALSE(o.push_gift(R"({"gift":"../../etc/passwd","user":"x"})"));
  EXPECT_FALSE(o.push_gift(R"({"gift":"rose"})"));
  auto warnings = o.warnings();
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_NE(warnings[0].find("not JSON"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("'gift' must match"), std::string::npos) << warnings[1];
  EXPECT_NE(warnings[2].find("'user' is required"), std::string::npos) << warnings[2];
  auto [input, output] = o.run(0);
  EXPECT_EQ(input, output);
}

TEST(GiftOverlay, AGiftWithoutASpriteGetsATextOnlyBanner)
{
  Overlay o("I420", 640, 360);
  ASSERT_TRUE(o.push_gift(gift_json("carol", "unicorn")));
  auto [input, output] = o.run(0);
  EXPECT_NE(input, output);
  auto warnings = o.warnings();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("'unicorn'"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("unicorn.png"), std::string::npos) << warnings[0];
  /* Warned once per sprite, not per gift. */
  ASSERT_TRUE(o.push_gift(gift_json("dave", "unicorn")));
  o.run(1);
  EXPECT_TRUE(o.warnings().empty());
}

TEST(GiftOverlay, ACorruptSpriteGetsATextOnlyBanner)
{
  const std::string dir = scratch_dir() + "/corrupt-assets";
  g_mkdir_with_parents(dir.c_str(), 0755);
  std::ofstream(dir + "/rose.png") << "\x89PNG\r\n\x1a\n this is not the rest of a PNG";
  std::ofstream(dir + "/heart.png") << "";
  const std::string props = "assets-dir=" + dir;
  Overlay o("NV12", 640, 360, props.c_str());
  ASSERT_TRUE(o.push_gift(gift_json("erin", "rose")));
  ASSERT_TRUE(o.push_gift(gift_json("erin", "heart")));
  auto [input, output] = o.run(0);
  EXPECT_NE(input, output);
  auto warnings = o.warnings();
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("rose.png"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("heart.png"), std::string::npos) << warnings[1];
  for (int i = 1; i < 5; ++i)
    o.run(i);
}

TEST(GiftOverlay, AnEventsFileSkipsBadLinesAndAMissingFileIsAnError)
{
  const std::string events = scratch_dir() + "/mixed.jsonl";
  std::ofstream(events) << R"({"at":0,"gift":"rose","user":"ok"})"
                        << "\n"
                        << "{broken\n"
                        << R"({"at":0,"gift":"rose","user":"ok","count":-4})"
                        << "\n";
  const std::string props = "events-file=" + events;
  {
    Overlay o("I420", 640, 360, props.c_str());
    o.run(0);
    auto warnings = o.warnings();
    ASSERT_EQ(warnings.size(), 2u);
    EXPECT_NE(warnings[0].find("line 2"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[1].find("line 3"), std::string::npos) << warnings[1];
    auto shown = o.shown_messages();
    EXPECT_EQ(shown.size(), 1u);
    free_all(shown);
  }
  GstElement *e = gst_element_factory_make("giftoverlay", nullptr);
  g_object_set(e, "events-file", "/nonexistent/gifts.jsonl", nullptr);
  EXPECT_EQ(gst_element_set_state(e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  gst_element_set_state(e, GST_STATE_NULL);
  gst_object_unref(e);
}

TEST(GiftOverlay, GiftsFromTheGiftSinkPadAreDueAtTheirTimestamp)
{
  Overlay o("I420", 640, 360);
  GstHarness *gifts = gst_harness_new_with_element(o.element(), "gift_sink", nullptr);
  gst_harness_set_src_caps_str(gifts, SUGARCAST_GIFT_CAPS);
  const std::string json = gift_json("frank", "rocket", 1, "pad-1");
  GstBuffer *b = gst_buffer_new_memdup(json.data(), json.size());
  GST_BUFFER_PTS(b) = frame_time(10);
  ASSERT_EQ(gst_harness_push(gifts, b), GST_FLOW_OK);
  GstBuffer *bad = gst_buffer_new_memdup("nope", 4);
  GST_BUFFER_PTS(bad) = 0;
  ASSERT_EQ(gst_harness_push(gifts, bad), GST_FLOW_OK);
  int first = -1;
  for (int i = 0; i < 15; ++i) {
    auto [input, output] = o.run(i);
    if (first < 0 && input != output)
      first = i;
  }
  EXPECT_EQ(first, 10);
  auto shown = o.shown_messages();
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_STREQ(gst_structure_get_string(shown[0], "id"), "pad-1");
  free_all(shown);
  EXPECT_EQ(o.warnings().size(), 1u);
  gst_harness_teardown(gifts);
}

/* One 640x360 frame with a banner whose sender's name is Chinese, Japanese
 * and Korean, compared with tests/data/giftoverlay-cjk.png within a small
 * tolerance (antialiasing may differ by a level or two between builds of
 * freetype and pixman). SUGARCAST_UPDATE_GOLDEN=1 writes the reference. */
TEST(GiftOverlay, GoldenFrameWithACjkName)
{
  Overlay o("BGRA", 640, 360);
  ASSERT_TRUE(
      o.push_gift(R"({"gift":"rose","name":"Rose","user":"小明・さくら・민준","count":1})"));
  o.run(0);
  ASSERT_TRUE(
      o.push_gift(R"({"gift":"rose","name":"Rose","user":"小明・さくら・민준","count":2})"));
  std::vector<guint8> output;
  for (int i = 1; i <= 24; ++i) {
    GstBuffer *in = gst_buffer_new_allocate(nullptr, 640 * 360 * 4, nullptr);
    GstMapInfo map;
    gst_buffer_map(in, &map, GST_MAP_WRITE);
    for (gsize p = 0; p < map.size; p += 4) {
      const int y = static_cast<int>(p / (640 * 4));
      map.data[p + 0] = static_cast<guint8>(120 + y / 6); // B
      map.data[p + 1] = 60;                               // G
      map.data[p + 2] = 30;                               // R
      map.data[p + 3] = 255;
    }
    gst_buffer_unmap(in, &map);
    GST_BUFFER_PTS(in) = frame_time(i);
    ASSERT_EQ(gst_harness_push(o.h, in), GST_FLOW_OK);
    GstBuffer *out = gst_harness_pull(o.h);
    output.resize(gst_buffer_get_size(out));
    gst_buffer_extract(out, 0, output.data(), output.size());
    gst_buffer_unref(out);
  }
  /* Frame 24: the sprite's frame 0 again (12 fps), the banner at rest. */
  cairo_surface_t *actual =
      cairo_image_surface_create_for_data(output.data(), CAIRO_FORMAT_ARGB32, 640, 360, 640 * 4);
  const std::string reference = sugarcast::test::source_dir() + "/tests/data/giftoverlay-cjk.png";
  if (g_getenv("SUGARCAST_UPDATE_GOLDEN")) {
    ASSERT_EQ(cairo_surface_write_to_png(actual, reference.c_str()), CAIRO_STATUS_SUCCESS);
  }
  cairo_surface_t *expected = cairo_image_surface_create_from_png(reference.c_str());
  ASSERT_EQ(cairo_surface_status(expected), CAIRO_STATUS_SUCCESS) << reference;
  ASSERT_EQ(cairo_image_surface_get_width(expected), 640);
  ASSERT_EQ(cairo_image_surface_get_height(expected), 360);
  const unsigned char *e = cairo_image_surface_get_data(expected);
  const int stride = cairo_image_surface_get_stride(expected);
  long total = 0;
  int far = 0;
  for (int y = 0; y < 360; ++y)
    for (int x = 0; x < 640 * 4; ++x) {
      const int d = std::abs(int(e[y * stride + x]) - int(output[y * 640 * 4 + x]));
      total += d;
      far += d > 48;
    }
  const double mean = static_cast<double>(total) / (640 * 360 * 4);
  EXPECT_LT(mean, 0.5) << "mean difference per channel";
  EXPECT_LT(far, 640 * 360 * 4 / 500) << "channels off by more than 48";
  cairo_surface_destroy(expected);
  cairo_surface_destroy(actual);
}

TEST(GiftOverlay, TinyOddFramesAndManySpriteNamesDoNotBreakIt)
{
  /* 17 pixels high fit one row of banners, 361 eight (all sizes do):
   * max-concurrent=32 shows no more than fit, the rest wait. */
  for (auto [w, h, rows] : {std::tuple{33, 17, 1u}, std::tuple{641, 361, 8u}}) {
    Overlay o("I420", w, h, "max-concurrent=32 duration=1000000000");
    /* One gift a frame, each with its own sprite name: over 40 s, more
     * names than the element remembers (256) reach the screen. */
    std::size_t drawn = 0;
    for (int i = 0; i < 1200; ++i) {
      o.push_gift(gift_json("u" + std::to_string(i), "nosuch" + std::to_string(i)));
      o.run(i);
      guint active = 0;
      g_object_get(o.element(), "active", &active, nullptr);
      EXPECT_LE(active, rows);
      for (GstStructure *shown : o.shown_messages()) {
        ++drawn;
        gint y = -1, height = 0;
        gst_structure_get_int(shown, "y", &y);
        gst_structure_get_int(shown, "height", &height);
        EXPECT_GE(y, 0);
        EXPECT_LE(y + height, h);
        gst_structure_free(shown);
      }
    }
    guint active = 0;
    g_object_get(o.element(), "active", &active, nullptr);
    EXPECT_EQ(active, rows); // the rows stay full: gifts keep coming
    EXPECT_GE(drawn, 40u * rows - rows);
    /* One warning per sprite name drawn (each is missing). */
    EXPECT_EQ(o.warnings().size(), drawn);
  }
}
