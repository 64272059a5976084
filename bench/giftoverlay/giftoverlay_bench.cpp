/* bench/giftoverlay: per-frame cost of giftoverlay against stock cairooverlay
 * drawing the same banners, in one run.
 *
 *   giftoverlay-bench [FRAMES]   (default 300 frames of 1080p30 per case)
 *
 * For 0, 1, 5 and 20 gifts on screen: `videotestsrc ! giftoverlay ! fakesink`
 * on I420, and `videotestsrc ! cairooverlay ! fakesink` on BGRx (cairooverlay
 * draws only on RGB) with a draw callback painting the same banners the way
 * an application must with cairooverlay: every frame, sprites from cached
 * surfaces and text from cached Pango layouts. The cost of a frame is the
 * time between the element's sink pad receiving it and its source pad
 * pushing it (pad probes, steady clock), on a pipeline that runs as fast as
 * it can (no clock sync). Prints mean and p99 in milliseconds and the ratio.
 */
#include <gst/gst.h>
#include <gst/video/video.h>
#include <pango/pangocairo.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Probe
{
  std::map<GstBuffer *, Clock::time_point> entered;
  std::vector<double> costs_ms;
};

GstPadProbeReturn on_sink(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *probe = static_cast<Probe *>(data);
  probe->entered[GST_PAD_PROBE_INFO_BUFFER(info)] = Clock::now();
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn on_src(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  auto *probe = static_cast<Probe *>(data);
  const auto now = Clock::now();
  /* In place: the buffer out is the buffer in (or its writable copy, made
   * inside the element: then take the only one waiting). */
  auto found = probe->entered.find(GST_PAD_PROBE_INFO_BUFFER(info));
  if (found == probe->entered.end() && probe->entered.size() == 1)
    found = probe->entered.begin();
  if (found != probe->entered.end()) {
    probe->costs_ms.push_back(
        std::chrono::duration<double, std::milli>(now - found->second).count());
    probe->entered.erase(found);
  }
  return GST_PAD_PROBE_OK;
}

struct Banner
{
  std::string user, gift;
};

std::vector<Banner> banners(int n)
{
  const char *gifts[] = {"rose", "heart", "rocket", "castle"};
  const char *users[] = {"小明", "さくら", "민준", "Alice", "Bob"};
  std::vector<Banner> out;
  for (int i = 0; i < n; ++i)
    out.push_back({std::string(users[i % 5]) + std::to_string(i), gifts[i % 4]});
  return out;
}

/* The peer: what an application draws in cairooverlay's draw signal. */
struct CairoPeer
{
  std::vector<Banner> list;
  std::map<std::string, cairo_surface_t *> sprites;
  std::vector<PangoLayout *> users, gifts;
  PangoFontMap *font_map = nullptr;
  PangoContext *context = nullptr;
  std::string assets;
};

void peer_draw(GstElement *, cairo_t *cr, guint64, guint64, gpointer data)
{
  auto *peer = static_cast<CairoPeer *>(data);
  const int h = 92, gap = 18, x = 38, bottom = 1080 - 173;
  if (peer->users.empty()) {
    pango_cairo_update_context(cr, peer->context);
    for (const Banner &b : peer->list) {
      for (auto *vec : {&peer->users, &peer->gifts}) {
        PangoLayout *layout = pango_layout_new(peer->context);
        PangoFontDescription *desc = pango_font_description_from_string("Sans Bold");
        pango_font_description_set_absolute_size(desc,
                                                 (vec == &peer->users ? 28 : 22) * PANGO_SCALE);
        pango_layout_set_font_description(layout, desc);
        pango_font_description_free(desc);
        pango_layout_set_text(
            layout, vec == &peer->users ? b.user.c_str() : ("sent " + b.gift).c_str(), -1);
        vec->push_back(layout);
      }
      if (!peer->sprites.count(b.gift))
        peer->sprites[b.gift] =
            cairo_image_surface_create_from_png((peer->assets + "/" + b.gift + ".png").c_str());
    }
  }
  for (size_t i = 0; i < peer->list.size(); ++i) {
    const int y = std::max(0, bottom - h - static_cast<int>(i) * (h + gap));
    cairo_save(cr);
    cairo_new_sub_path(cr);
    cairo_arc(cr, x + 300 - h / 2.0, y + h / 2.0, h / 2.0, -G_PI / 2, G_PI / 2);
    cairo_arc(cr, x + h / 2.0, y + h / 2.0, h / 2.0, G_PI / 2, 3 * G_PI / 2);
    cairo_close_path(cr);
    cairo_set_source_rgba(cr, 0.08, 0.06, 0.14, 0.72);
    cairo_fill(cr);
    cairo_rectangle(cr, x, y, h, h);
    cairo_clip(cr);
    cairo_translate(cr, x, y);
    cairo_scale(cr, h / 128.0, h / 128.0);
    cairo_set_source_surface(cr, peer->sprites[peer->list[i].gift], 0, 0);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_move_to(cr, x + h + 6, y + 10);
    pango_cairo_show_layout(cr, peer->users[i]);
    cairo_set_source_rgb(cr, 1, 0.84, 0.35);
    cairo_move_to(cr, x + h + 6, y + 48);
    pango_cairo_show_layout(cr, peer->gifts[i]);
  }
}

struct Result
{
  double mean = 0, p99 = 0;
};

Result summarise(std::vector<double> costs)
{
  Result r;
  if (costs.empty())
    return r;
  for (double c : costs)
    r.mean += c;
  r.mean /= costs.size();
  std::sort(costs.begin(), costs.end());
  r.p99 = costs[std::min(costs.size() - 1, static_cast<size_t>(costs.size() * 0.99))];
  return r;
}

Result run(const std::string &description, const char *name, int gifts, int frames, CairoPeer *peer)
{
  g_autoptr(GError) error = nullptr;
  const std::string launch = "videotestsrc num-buffers=" + std::to_string(frames) +
                             " pattern=smpte ! " + description + " ! fakesink sync=false";
  GstElement *pipeline = gst_parse_launch(launch.c_str(), &error);
  if (!pipeline) {
    std::fprintf(stderr, "giftoverlay-bench: %s\n", error->message);
    std::exit(1);
  }
  GstElement *element = gst_bin_get_by_name(GST_BIN(pipeline), name);
  if (peer)
    g_signal_connect(element, "draw", G_CALLBACK(peer_draw), peer);
  else
    for (const Banner &b : banners(gifts)) {
      const std::string json =
          "{\"gift\":\"" + b.gift + "\",\"user\":\"" + b.user + "\",\"count\":1}";
      gboolean ok = FALSE;
      g_signal_emit_by_name(element, "push-gift", json.c_str(), &ok);
    }
  Probe probe;
  GstPad *sink = gst_element_get_static_pad(element, "sink");
  GstPad *src = gst_element_get_static_pad(element, "src");
  gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_BUFFER, on_sink, &probe, nullptr);
  gst_pad_add_probe(src, GST_PAD_PROBE_TYPE_BUFFER, on_src, &probe, nullptr);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus(pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered(
      bus, 300 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  if (!msg || GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    std::fprintf(stderr, "giftoverlay-bench: %s did not finish\n", launch.c_str());
    std::exit(1);
  }
  gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(src);
  gst_object_unref(element);
  gst_object_unref(pipeline);
  return summarise(probe.costs_ms);
}

} // namespace

int main(int argc, char **argv)
{
  gst_init(&argc, &argv);
  const int frames = argc > 1 ? std::max(30, std::atoi(argv[1])) : 300;
  const char *assets = g_getenv("SUGARCAST_GIFT_ASSETS");
  std::printf("1080p30, %d frames per case; ms per frame in the element\n", frames);
  std::printf("%-6s %-22s %-22s %s\n", "gifts", "giftoverlay (I420)", "cairooverlay (BGRx)",
              "ratio (mean, p99)");
  for (int gifts : {0, 1, 5, 20}) {
    const Result ours =
        run("video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 ! giftoverlay name=o "
            "max-concurrent=32 duration=60000000000",
            "o", gifts, frames, nullptr);
    CairoPeer peer;
    peer.list = banners(gifts);
    peer.assets = assets ? assets : "plugins/gift/assets";
    peer.font_map = pango_cairo_font_map_new();
    peer.context = pango_font_map_create_context(peer.font_map);
    const Result theirs =
        run("video/x-raw,format=BGRx,width=1920,height=1080,framerate=30/1 ! cairooverlay name=o",
            "o", gifts, frames, &peer);
    for (PangoLayout *l : peer.users)
      g_object_unref(l);
    for (PangoLayout *l : peer.gifts)
      g_object_unref(l);
    for (auto &[name, s] : peer.sprites)
      cairo_surface_destroy(s);
    g_object_unref(peer.context);
    g_object_unref(peer.font_map);
    std::printf("%-6d %7.3f mean %7.3f p99  %7.3f mean %7.3f p99  %6.1fx %6.1fx\n", gifts,
                ours.mean, ours.p99, theirs.mean, theirs.p99,
                ours.mean > 0 ? theirs.mean / ours.mean : 0,
                ours.p99 > 0 ? theirs.p99 / ours.p99 : 0);
  }
  return 0;
}
