/* Sugarcast — giftoverlay: viewers' gifts animated onto raw video. */
/**
 * SECTION:element-giftoverlay
 *
 * Draws each gift a viewer sends as a banner over the video: the gift's
 * sprite (animated when its PNG is a strip of frames), the sender's and the
 * gift's names drawn with Pango (any script the installed fonts cover, CJK
 * included), and "×N" when the same user repeats the gift within
 * #SugarcastGiftOverlay:combo-window. At most #SugarcastGiftOverlay:max-concurrent banners
 * are on screen; later gifts wait in a bounded queue where repeats merge.
 *
 * Gifts arrive as JSON (see core/giftevent.h and docs/elements/giftoverlay.md)
 * through the #SugarcastGiftOverlay::push-gift action signal, the `gift_sink`
 * request pad (application/x-sugarcast-gift buffers, due at their PTS) or the
 * #SugarcastGiftOverlay:events-file property (JSON lines with an `at` offset).
 *
 * Like upstream's textoverlay, a banner is rasterised once per change; the
 * images are converted once to the frame's planes and each frame only
 * blends them over their rectangles (blend.h says why not with
 * gst_video_overlay_composition_blend), so pixels outside the banners are
 * untouched and a frame with no gift on it passes through as the same
 * buffer. Nothing is attached as meta: the element sits before encoders
 * (abrladder), which cannot blend.
 *
 * Each gift, on the frame it first appears on, goes downstream as a
 * sugarcast-daterange event (plugins/common/daterange.h; CLASS
 * com.sugarcast.gift, X-GIFT, X-USER, X-COUNT (the gift's), X-COMBO (the
 * banner's), X-NAME and the event's `attributes`) that hlsabrsink writes as
 * EXT-X-DATERANGE, and as a `gift-shown` element message.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=150 ! video/x-raw,width=1280,height=720 ! \
 *   giftoverlay events-file=docs/elements/giftoverlay-events.jsonl ! videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "gstgiftoverlay.h"

#include "blend.h"
#include "core/giftevent.h"
#include "core/timeline.h"
#include "daterange.h"
#include "gift.h"
#include "render.h"

#include <gst/video/video.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(sugarcast_gift_overlay_debug);
#define GST_CAT_DEFAULT sugarcast_gift_overlay_debug

using namespace sugarcast::gift;

/* The default assets-dir: the installed sprites, or the source tree's when
 * the plugin runs from its build directory (tests, `meson devenv`). */
static const char *default_assets_dir()
{
  static const char *dir = g_file_test(SUGARCAST_GIFT_ASSETS_INSTALLED, G_FILE_TEST_IS_DIR)
                               ? SUGARCAST_GIFT_ASSETS_INSTALLED
                               : SUGARCAST_GIFT_ASSETS_SOURCE;
  return dir;
}

#define VIDEO_CAPS GST_VIDEO_CAPS_MAKE("{ I420, NV12, BGRA }")

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(VIDEO_CAPS));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(VIDEO_CAPS));
static GstStaticPadTemplate gift_sink_template = GST_STATIC_PAD_TEMPLATE(
    "gift_sink", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS(SUGARCAST_GIFT_CAPS));

enum {
  PROP_0,
  PROP_MAX_CONCURRENT,
  PROP_MAX_QUEUED,
  PROP_DURATION,
  PROP_COMBO_WINDOW,
  PROP_EVENTS_FILE,
  PROP_ASSETS_DIR,
  PROP_FONT_DESC,
  PROP_ACTIVE,
  PROP_QUEUED,
  PROP_DROPPED,
};

enum {
  SIGNAL_PUSH_GIFT,
  LAST_SIGNAL,
};
static guint signals[LAST_SIGNAL];

static constexpr gsize kMaxEventsFileBytes = 4 * 1024 * 1024;
static constexpr guint kMaxEventsFileLines = 4096;
static constexpr std::size_t kMaxSprites = 256;

namespace {

struct Sprite
{
  std::vector<PreparedImage> frames; // empty: no usable asset, draw text only
};

struct RenderedBanner
{
  std::uint64_t revision = 0;
  PreparedImage plate;
  int x = 0, resting_y = 0; // where it stays during the hold phase
  const Sprite *sprite = nullptr;
};

/* One image to blend into the frame. */
struct Placement
{
  const PreparedImage *image;
  int x, y, alpha;
};

/* Where banners go on a frame of this size: rows stacked upwards from above
 * the lower fifth, on the left, sized to the frame so every rendition of the
 * ladder shows the same picture. */
struct Layout
{
  int banner_height = 0, x = 0, bottom = 0, gap = 0, max_width = 0;

  explicit Layout(const GstVideoInfo *info = nullptr)
  {
    if (!info)
      return;
    const int w = GST_VIDEO_INFO_WIDTH(info), h = GST_VIDEO_INFO_HEIGHT(info);
    banner_height = std::clamp(static_cast<int>(std::lround(h * 0.085)), 16, std::max(16, h));
    banner_height = std::min(banner_height, h);
    x = static_cast<int>(std::lround(w * 0.02));
    gap = banner_height / 5;
    bottom = h - static_cast<int>(std::lround(h * 0.16));
    max_width = std::max(1, std::min(w - 2 * x, static_cast<int>(std::lround(w * 0.6))));
  }

  /* Rows stacked up from `bottom` that stay inside the frame (8 at any
   * size: everything scales with the height). */
  unsigned rows() const
  {
    if (banner_height <= 0 || bottom < banner_height)
      return 1;
    return static_cast<unsigned>((bottom - banner_height) / (banner_height + gap)) + 1;
  }
};

} // namespace

struct SugarcastGiftOverlayPrivate
{
  /* Guards the settings and the timeline: push-gift and the gift pad come
   * from other threads than the video. */
  std::mutex lock;
  TimelineConfig config;
  Timeline timeline;
  std::string events_file;
  std::string assets_dir = default_assets_dir();
  std::string font = "Sans";
  bool assets_changed = false;

  /* The video's streaming thread only. */
  GstVideoInfo info;
  bool have_info = false;
  Layout layout;
  std::unique_ptr<BannerRenderer> renderer;
  std::map<std::string, std::unique_ptr<Sprite>> sprites;
  std::map<std::uint64_t, RenderedBanner> banners;
  PixelFormat format = PixelFormat::I420;
  ColorMatrix matrix;
  std::vector<Placement> placements; // this frame's, valid until the next frame

  GstPad *gift_pad = nullptr;
};

struct _SugarcastGiftOverlay
{
  GstVideoFilter parent;
  SugarcastGiftOverlayPrivate *priv;
};

G_DEFINE_TYPE(SugarcastGiftOverlay, sugarcast_gift_overlay, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE(giftoverlay, "giftoverlay", GST_RANK_NONE, SUGARCAST_TYPE_GIFT_OVERLAY);

/* ---- gifts in ------------------------------------------------------------ */

static gboolean accept_gift(SugarcastGiftOverlay *self, const char *json, gsize length,
                            gint64 at_ns, const char *origin)
{
  GiftEvent event;
  std::string error;
  if (!json || !parse_gift_event(std::string_view(json, length), event, error)) {
    GST_ELEMENT_WARNING(self, STREAM, FORMAT, ("Ignored a gift from %s", origin),
                        ("%s", json ? error.c_str() : "no event"));
    return FALSE;
  }
  event.at_ns = at_ns;
  std::lock_guard guard(self->priv->lock);
  if (!self->priv->timeline.push(std::move(event))) {
    GST_WARNING_OBJECT(self, "dropped a gift from %s: %u gifts already wait for a frame", origin,
                       self->priv->config.max_pending);
    return FALSE;
  }
  return TRUE;
}

static gboolean sugarcast_gift_overlay_push_gift(SugarcastGiftOverlay *self, const gchar *json)
{
  return accept_gift(self, json, json ? strlen(json) : 0, -1, "push-gift");
}

static GstFlowReturn sugarcast_gift_overlay_gift_chain(GstPad *pad, GstObject *parent,
                                                       GstBuffer *buffer)
{
  auto *self = SUGARCAST_GIFT_OVERLAY(parent);
  gint64 at = -1;
  if (GST_BUFFER_PTS_IS_VALID(buffer)) {
    if (GstEvent *event = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0)) {
      const GstSegment *segment;
      gst_event_parse_segment(event, &segment);
      const guint64 rt =
          gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
      if (GST_CLOCK_TIME_IS_VALID(rt))
        at = static_cast<gint64>(rt);
      gst_event_unref(event);
    }
  }
  GstMapInfo map;
  if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    accept_gift(self, reinterpret_cast<const char *>(map.data), map.size, at, "gift_sink");
    gst_buffer_unmap(buffer, &map);
  }
  gst_buffer_unref(buffer);
  return GST_FLOW_OK;
}

static gboolean sugarcast_gift_overlay_gift_event(GstPad *, GstObject *, GstEvent *event)
{
  /* The gift stream ends or flushes on its own; the video decides. */
  gst_event_unref(event);
  return TRUE;
}

static GstPad *sugarcast_gift_overlay_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                                      const gchar *, const GstCaps *)
{
  auto *self = SUGARCAST_GIFT_OVERLAY(element);
  GST_OBJECT_LOCK(self);
  if (self->priv->gift_pad) {
    GST_OBJECT_UNLOCK(self);
    GST_WARNING_OBJECT(self, "giftoverlay has one gift_sink pad, already requested");
    return nullptr;
  }
  GstPad *pad = gst_pad_new_from_template(templ, "gift_sink");
  self->priv->gift_pad = pad;
  GST_OBJECT_UNLOCK(self);
  gst_pad_set_chain_function(pad, SUGARCAST_GUARD(sugarcast_gift_overlay_gift_chain));
  gst_pad_set_event_function(pad, SUGARCAST_GUARD(sugarcast_gift_overlay_gift_event));
  gst_element_add_pad(element, pad);
  return pad;
}

static void sugarcast_gift_overlay_release_pad(GstElement *element, GstPad *pad)
{
  auto *self = SUGARCAST_GIFT_OVERLAY(element);
  GST_OBJECT_LOCK(self);
  if (self->priv->gift_pad == pad)
    self->priv->gift_pad = nullptr;
  GST_OBJECT_UNLOCK(self);
  gst_element_remove_pad(element, pad);
}

/* Reads the events file: JSON lines, each a gift with its `at` offset. A bad
 * line is skipped with a warning naming it; an unreadable file is an error. */
static gboolean load_events_file(SugarcastGiftOverlay *self, const std::string &path)
{
  g_autofree gchar *contents = nullptr;
  gsize length = 0;
  g_autoptr(GError) error = nullptr;
  g_autoptr(GMappedFile) file = g_mapped_file_new(path.c_str(), FALSE, &error);
  if (file && g_mapped_file_get_length(file) > kMaxEventsFileBytes) {
    GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Gift events file %s is too large", path.c_str()),
                      ("%" G_GSIZE_FORMAT " bytes, at most %" G_GSIZE_FORMAT,
                       g_mapped_file_get_length(file), kMaxEventsFileBytes));
    return FALSE;
  }
  if (!file || !g_file_get_contents(path.c_str(), &contents, &length, &error)) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                      ("Could not read gift events file %s", path.c_str()),
                      ("%s", error ? error->message : "unknown error"));
    return FALSE;
  }
  std::string_view text(contents, length);
  guint line_number = 0, loaded = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    if (line.empty() || line.front() == '#')
      continue;
    if (loaded >= kMaxEventsFileLines) {
      GST_ELEMENT_WARNING(self, RESOURCE, READ, ("Gift events file %s is too long", path.c_str()),
                          ("only its first %u events are used", kMaxEventsFileLines));
      break;
    }
    GiftEvent event;
    std::string why;
    if (!parse_gift_event(line, event, why)) {
      GST_ELEMENT_WARNING(self, STREAM, FORMAT,
                          ("Skipped line %u of gift events file %s", line_number, path.c_str()),
                          ("%s", why.c_str()));
      continue;
    }
    if (event.at_ns < 0)
      event.at_ns = 0;
    std::lock_guard guard(self->priv->lock);
    self->priv->timeline.push(std::move(event));
    ++loaded;
  }
  GST_INFO_OBJECT(self, "%u gifts from %s", loaded, path.c_str());
  return TRUE;
}

/* ---- drawing -------------------------------------------------------------- */

static const Sprite *sprite_for(SugarcastGiftOverlay *self, const std::string &name,
                                const std::string &assets_dir)
{
  auto *priv = self->priv;
  auto found = priv->sprites.find(name);
  if (found != priv->sprites.end())
    return found->second.get();
  /* Names come from outside: remember a bounded number of them (the
   * missing ones go first), the rest are drawn text-only without a look. */
  static const Sprite no_sprite;
  if (priv->sprites.size() >= kMaxSprites) {
    std::set<const Sprite *> shown;
    for (const auto &[serial, banner] : priv->banners)
      shown.insert(banner.sprite);
    std::erase_if(priv->sprites, [&](const auto &item) {
      return item.second->frames.empty() && !shown.count(item.second.get());
    });
  }
  if (priv->sprites.size() >= kMaxSprites)
    return &no_sprite;
  auto sprite = std::make_unique<Sprite>();
  std::vector<Image> frames;
  std::string error;
  if (assets_dir.empty()) {
    error = "no assets-dir is set";
  } else {
    g_autofree gchar *path = g_build_filename(assets_dir.c_str(), (name + ".png").c_str(), nullptr);
    if (load_sprite(path, priv->layout.banner_height, frames, error))
      for (const Image &frame : frames)
        sprite->frames.push_back(prepare_image(frame, priv->format, priv->matrix));
  }
  if (sprite->frames.empty())
    GST_ELEMENT_WARNING(
        self, RESOURCE, NOT_FOUND,
        ("No sprite for gift animation '%s': its banners show text only", name.c_str()),
        ("%s", error.c_str()));
  return priv->sprites.emplace(name, std::move(sprite)).first->second.get();
}

struct BannerSnapshot
{
  Banner banner;
  BannerView view;
};

/* Places the banners on this frame; rasterises only banners that are new or
 * whose count changed. */
static void update_placements(SugarcastGiftOverlay *self,
                              const std::vector<BannerSnapshot> &banners, std::uint64_t now,
                              const std::string &assets_dir, const std::string &font)
{
  auto *priv = self->priv;
  const Layout &layout = priv->layout;
  auto even = [](int v) { return v & ~1; }; // chroma covers 2x2 pixels

  std::set<std::uint64_t> live;
  priv->placements.clear();
  for (const BannerSnapshot &snap : banners) {
    const Banner &banner = snap.banner;
    live.insert(banner.serial);
    RenderedBanner &rendered = priv->banners[banner.serial];
    if (rendered.plate.width == 0 || rendered.revision != banner.revision) {
      const std::string &animation =
          banner.first.animation.empty() ? banner.first.gift : banner.first.animation;
      rendered.sprite = sprite_for(self, animation, assets_dir);
      BannerStyle style;
      style.height = layout.banner_height;
      style.max_width = layout.max_width;
      style.with_sprite = !rendered.sprite->frames.empty();
      style.font = font;
      BannerText text{banner.first.user,
                      banner.first.name.empty() ? banner.first.gift : banner.first.name,
                      banner.count};
      rendered.plate =
          prepare_image(priv->renderer->render(text, style), priv->format, priv->matrix);
      rendered.revision = banner.revision;
    }
    double alpha = 1.0, lift = 0.0;
    if (snap.view.phase == Phase::Enter) {
      /* Visible from its first frame on: that frame is the gift's time. */
      alpha = 0.3 + 0.7 * snap.view.progress;
      lift = (1.0 - snap.view.progress) * layout.banner_height * 0.5;
    } else if (snap.view.phase == Phase::Leave) {
      alpha = 1.0 - snap.view.progress;
    }
    const int max_y = std::max(0, GST_VIDEO_INFO_HEIGHT(&priv->info) - rendered.plate.height);
    const int resting = layout.bottom - layout.banner_height -
                        static_cast<int>(banner.slot) * (layout.banner_height + layout.gap);
    rendered.x = even(layout.x);
    rendered.resting_y = even(std::clamp(resting, 0, max_y));
    const int y = even(std::clamp(resting + static_cast<int>(std::lround(lift)), 0, max_y));
    const int alpha255 = static_cast<int>(std::lround(std::clamp(alpha, 0.0, 1.0) * 255));
    if (alpha255 == 0)
      continue;
    priv->placements.push_back({&rendered.plate, rendered.x, y, alpha255});
    if (!rendered.sprite->frames.empty()) {
      const double seconds = static_cast<double>(now - banner.shown_at) / GST_SECOND;
      const std::size_t frame =
          static_cast<std::uint64_t>(seconds * kSpriteFps) % rendered.sprite->frames.size();
      priv->placements.push_back({&rendered.sprite->frames[frame], rendered.x, y, alpha255});
    }
  }
  std::erase_if(priv->banners, [&](const auto &item) { return !live.count(item.first); });
}

static void announce(SugarcastGiftOverlay *self, const Shown &shown, std::uint64_t duration)
{
  int x = 0, y = 0, width = 0, height = 0;
  if (auto found = self->priv->banners.find(shown.serial); found != self->priv->banners.end()) {
    x = found->second.x;
    y = found->second.resting_y;
    width = found->second.plate.width;
    height = found->second.plate.height;
  }
  /* The event's own attributes first, so ours win over the same names:
   * X-COUNT is this gift's count, as in the ledger; X-COMBO the banner's. */
  g_autoptr(GstStructure) attributes = gst_structure_new_empty("attributes");
  for (const GiftAttribute &attr : shown.event.attributes) {
    if (attr.is_integer)
      gst_structure_set(attributes, attr.name.c_str(), G_TYPE_INT64, attr.integer, nullptr);
    else
      gst_structure_set(attributes, attr.name.c_str(), G_TYPE_STRING, attr.text.c_str(), nullptr);
  }
  gst_structure_set(attributes, "X-GIFT", G_TYPE_STRING, shown.event.gift.c_str(), "X-USER",
                    G_TYPE_STRING, shown.event.user.c_str(), "X-COUNT", G_TYPE_UINT64,
                    static_cast<guint64>(shown.event.count), nullptr);
  if (shown.drawn)
    gst_structure_set(attributes, "X-COMBO", G_TYPE_UINT64, shown.count, nullptr);
  if (!shown.event.name.empty())
    gst_structure_set(attributes, "X-NAME", G_TYPE_STRING, shown.event.name.c_str(), nullptr);
  GstEvent *event =
      sugarcast_daterange_event_new(shown.event.id.c_str(), SUGARCAST_GIFT_DATERANGE_CLASS,
                                    shown.running_time, duration, attributes);
  gst_pad_push_event(GST_BASE_TRANSFORM_SRC_PAD(self), event);
  if (!shown.drawn)
    return; // dropped from a full queue: timed metadata only

  GstStructure *s = gst_structure_new(
      SUGARCAST_GIFT_SHOWN_MESSAGE, "id", G_TYPE_STRING, shown.event.id.c_str(), "gift",
      G_TYPE_STRING, shown.event.gift.c_str(), "user", G_TYPE_STRING, shown.event.user.c_str(),
      "count", G_TYPE_UINT64, shown.count, "combo", G_TYPE_BOOLEAN, shown.combo, "running-time",
      G_TYPE_UINT64, shown.running_time, "x", G_TYPE_INT, x, "y", G_TYPE_INT, y, "width",
      G_TYPE_INT, width, "height", G_TYPE_INT, height, nullptr);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

/* ---- GstBaseTransform / GstVideoFilter ----------------------------------- */

static void sugarcast_gift_overlay_before_transform(GstBaseTransform *trans, GstBuffer *buffer)
{
  auto *self = SUGARCAST_GIFT_OVERLAY(trans);
  auto *priv = self->priv;
  if (!priv->have_info)
    return;
  const GstClockTime rt =
      gst_segment_to_running_time(&trans->segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
  if (!GST_CLOCK_TIME_IS_VALID(rt))
    return; // keep the last frame's picture

  std::vector<Shown> shown;
  std::vector<BannerSnapshot> banners;
  std::string assets_dir, font;
  std::uint64_t duration;
  {
    std::lock_guard guard(priv->lock);
    shown = priv->timeline.advance(rt);
    for (const Banner &banner : priv->timeline.active())
      banners.push_back({banner, priv->timeline.view(banner, rt)});
    if (priv->assets_changed) {
      priv->sprites.clear();
      priv->banners.clear();
      priv->assets_changed = false;
    }
    assets_dir = priv->assets_dir;
    font = priv->font;
    duration = priv->config.duration_ns;
  }
  update_placements(self, banners, rt, assets_dir, font);
  for (const Shown &s : shown)
    announce(self, s, duration);
  gst_base_transform_set_passthrough(trans, priv->placements.empty());
}

static GstFlowReturn sugarcast_gift_overlay_transform_frame_ip(GstVideoFilter *filter,
                                                               GstVideoFrame *frame)
{
  auto *priv = SUGARCAST_GIFT_OVERLAY(filter)->priv;
  FrameView view{priv->format, GST_VIDEO_FRAME_WIDTH(frame), GST_VIDEO_FRAME_HEIGHT(frame)};
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(frame) && p < 3; ++p) {
    view.data[p] = static_cast<std::uint8_t *>(GST_VIDEO_FRAME_PLANE_DATA(frame, p));
    view.stride[p] = GST_VIDEO_FRAME_PLANE_STRIDE(frame, p);
  }
  for (const Placement &placement : priv->placements)
    blend_image(*placement.image, view, placement.x, placement.y, placement.alpha);
  return GST_FLOW_OK;
}

/* Sprites and banners are sized for the caps: drop them with the caps. */
static void forget_drawings(SugarcastGiftOverlayPrivate *priv)
{
  priv->sprites.clear();
  priv->banners.clear();
  priv->placements.clear();
}

static gboolean sugarcast_gift_overlay_set_info(GstVideoFilter *filter, GstCaps *,
                                                GstVideoInfo *in_info, GstCaps *, GstVideoInfo *)
{
  auto *priv = SUGARCAST_GIFT_OVERLAY(filter)->priv;
  priv->info = *in_info;
  priv->have_info = true;
  priv->layout = Layout(in_info);
  {
    /* More banners than rows fit wait in the queue: none is drawn off the
     * top of the frame or over another. */
    std::lock_guard guard(priv->lock);
    priv->config.max_rows = priv->layout.rows();
    priv->timeline.set_config(priv->config);
  }
  switch (GST_VIDEO_INFO_FORMAT(in_info)) {
  case GST_VIDEO_FORMAT_NV12:
    priv->format = PixelFormat::NV12;
    break;
  case GST_VIDEO_FORMAT_BGRA:
    priv->format = PixelFormat::BGRA;
    break;
  default:
    priv->format = PixelFormat::I420;
    break;
  }
  gdouble kr = 0.2126, kb = 0.0722;
  if (!gst_video_color_matrix_get_Kr_Kb(in_info->colorimetry.matrix, &kr, &kb))
    kr = 0.2126, kb = 0.0722;
  priv->matrix = {kr, kb, in_info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255};
  forget_drawings(priv);
  if (!priv->renderer)
    priv->renderer = std::make_unique<BannerRenderer>();
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(filter), TRUE);
  return TRUE;
}

static gboolean sugarcast_gift_overlay_start(GstBaseTransform *trans)
{
  auto *self = SUGARCAST_GIFT_OVERLAY(trans);
  std::string path;
  {
    /* Gifts pushed before the start stay: stop() clears the timeline. */
    std::lock_guard guard(self->priv->lock);
    path = self->priv->events_file;
  }
  return path.empty() || load_events_file(self, path);
}

static gboolean sugarcast_gift_overlay_stop(GstBaseTransform *trans)
{
  auto *priv = SUGARCAST_GIFT_OVERLAY(trans)->priv;
  {
    std::lock_guard guard(priv->lock);
    priv->timeline.clear();
  }
  priv->have_info = false;
  forget_drawings(priv);
  return TRUE;
}

/* ---- GObject -------------------------------------------------------------- */

static void sugarcast_gift_overlay_set_property(GObject *object, guint prop_id, const GValue *value,
                                                GParamSpec *pspec)
{
  auto *priv = SUGARCAST_GIFT_OVERLAY(object)->priv;
  std::lock_guard guard(priv->lock);
  switch (prop_id) {
  case PROP_MAX_CONCURRENT:
    priv->config.max_concurrent = g_value_get_uint(value);
    break;
  case PROP_MAX_QUEUED:
    priv->config.max_queued = g_value_get_uint(value);
    break;
  case PROP_DURATION:
    priv->config.duration_ns = g_value_get_uint64(value);
    break;
  case PROP_COMBO_WINDOW:
    priv->config.combo_window_ns = g_value_get_uint64(value);
    break;
  case PROP_EVENTS_FILE:
    priv->events_file = g_value_get_string(value) ? g_value_get_string(value) : "";
    break;
  case PROP_ASSETS_DIR:
    priv->assets_dir = g_value_get_string(value) ? g_value_get_string(value) : "";
    priv->assets_changed = true;
    break;
  case PROP_FONT_DESC:
    priv->font = g_value_get_string(value) && *g_value_get_string(value) ? g_value_get_string(value)
                                                                         : "Sans";
    priv->assets_changed = true;
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    return;
  }
  priv->timeline.set_config(priv->config);
}

static void sugarcast_gift_overlay_get_property(GObject *object, guint prop_id, GValue *value,
                                                GParamSpec *pspec)
{
  auto *priv = SUGARCAST_GIFT_OVERLAY(object)->priv;
  std::lock_guard guard(priv->lock);
  switch (prop_id) {
  case PROP_MAX_CONCURRENT:
    g_value_set_uint(value, priv->config.max_concurrent);
    break;
  case PROP_MAX_QUEUED:
    g_value_set_uint(value, priv->config.max_queued);
    break;
  case PROP_DURATION:
    g_value_set_uint64(value, priv->config.duration_ns);
    break;
  case PROP_COMBO_WINDOW:
    g_value_set_uint64(value, priv->config.combo_window_ns);
    break;
  case PROP_EVENTS_FILE:
    g_value_set_string(value, priv->events_file.c_str());
    break;
  case PROP_ASSETS_DIR:
    g_value_set_string(value, priv->assets_dir.c_str());
    break;
  case PROP_FONT_DESC:
    g_value_set_string(value, priv->font.c_str());
    break;
  case PROP_ACTIVE:
    g_value_set_uint(value, static_cast<guint>(priv->timeline.active().size()));
    break;
  case PROP_QUEUED:
    g_value_set_uint(value, static_cast<guint>(priv->timeline.queued()));
    break;
  case PROP_DROPPED:
    g_value_set_uint64(value, priv->timeline.dropped());
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_gift_overlay_finalize(GObject *object)
{
  delete SUGARCAST_GIFT_OVERLAY(object)->priv;
  G_OBJECT_CLASS(sugarcast_gift_overlay_parent_class)->finalize(object);
}

static void sugarcast_gift_overlay_class_init(SugarcastGiftOverlayClass *klass)
{
  auto *gobject_class = G_OBJECT_CLASS(klass);
  auto *element_class = GST_ELEMENT_CLASS(klass);
  auto *trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  auto *filter_class = GST_VIDEO_FILTER_CLASS(klass);
  const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_PLAYING);
  const auto ready_flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                    GST_PARAM_MUTABLE_READY);
  const auto read_only = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  const TimelineConfig defaults;

  gobject_class->set_property = SUGARCAST_GUARD(sugarcast_gift_overlay_set_property);
  gobject_class->get_property = SUGARCAST_GUARD(sugarcast_gift_overlay_get_property);
  gobject_class->finalize = SUGARCAST_GUARD(sugarcast_gift_overlay_finalize);

  g_object_class_install_property(
      gobject_class, PROP_MAX_CONCURRENT,
      g_param_spec_uint("max-concurrent", "Maximum concurrent banners",
                        "Banners on screen at once; later gifts wait in the queue", 1, 32,
                        defaults.max_concurrent, flags));
  g_object_class_install_property(
      gobject_class, PROP_MAX_QUEUED,
      g_param_spec_uint("max-queued", "Maximum queued banners",
                        "Banners waiting for a free row (repeats of a user's gift merge into "
                        "one); a gift that finds the queue full is dropped and counted",
                        0, 1024, defaults.max_queued, flags));
  g_object_class_install_property(
      gobject_class, PROP_DURATION,
      g_param_spec_uint64("duration", "Duration",
                          "Time one gift's banner is on screen, enter and leave included, in "
                          "nanoseconds",
                          1 * GST_SECOND, 60 * GST_SECOND, defaults.duration_ns, flags));
  g_object_class_install_property(
      gobject_class, PROP_COMBO_WINDOW,
      g_param_spec_uint64("combo-window", "Combo window",
                          "The same user's same gift within this many nanoseconds of their "
                          "previous one raises the banner's count instead of adding a banner",
                          0, 60 * GST_SECOND, defaults.combo_window_ns, flags));
  g_object_class_install_property(
      gobject_class, PROP_EVENTS_FILE,
      g_param_spec_string("events-file", "Events file",
                          "JSON lines, one gift each with an 'at' offset in seconds of running "
                          "time, read when the element starts (for previews)",
                          nullptr, ready_flags));
  g_object_class_install_property(
      gobject_class, PROP_ASSETS_DIR,
      g_param_spec_string("assets-dir", "Assets folder",
                          "Folder of sprites, ANIMATION.png each: a strip of square frames",
                          default_assets_dir(), flags));
  g_object_class_install_property(
      gobject_class, PROP_FONT_DESC,
      g_param_spec_string("font-desc", "Font description",
                          "Pango font family of the banners' text (sizes follow the video)", "Sans",
                          flags));
  g_object_class_install_property(gobject_class, PROP_ACTIVE,
                                  g_param_spec_uint("active", "Active banners",
                                                    "Banners on the last frame", 0, G_MAXUINT, 0,
                                                    read_only));
  g_object_class_install_property(gobject_class, PROP_QUEUED,
                                  g_param_spec_uint("queued", "Queued banners",
                                                    "Banners waiting for a free row", 0, G_MAXUINT,
                                                    0, read_only));
  g_object_class_install_property(
      gobject_class, PROP_DROPPED,
      g_param_spec_uint64("dropped", "Dropped gifts",
                          "Gifts dropped because the queue was full since the element started", 0,
                          G_MAXUINT64, 0, read_only));

  /**
   * SugarcastGiftOverlay::push-gift:
   * @giftoverlay: the element
   * @json: one gift event as JSON
   *
   * Shows a gift from the next frame on (or merges it into a combo or the
   * queue). Returns FALSE, and posts a warning naming what was wrong, when
   * the event is refused.
   */
  signals[SIGNAL_PUSH_GIFT] =
      g_signal_new_class_handler("push-gift", G_TYPE_FROM_CLASS(klass),
                                 static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                                 G_CALLBACK(SUGARCAST_GUARD(sugarcast_gift_overlay_push_gift)),
                                 nullptr, nullptr, nullptr, G_TYPE_BOOLEAN, 1, G_TYPE_STRING);

  element_class->request_new_pad = SUGARCAST_GUARD(sugarcast_gift_overlay_request_new_pad);
  element_class->release_pad = SUGARCAST_GUARD(sugarcast_gift_overlay_release_pad);
  trans_class->before_transform = SUGARCAST_GUARD(sugarcast_gift_overlay_before_transform);
  /* No gift on a frame: the same buffer goes out, not even mapped. */
  trans_class->transform_ip_on_passthrough = FALSE;
  trans_class->start = SUGARCAST_GUARD(sugarcast_gift_overlay_start);
  trans_class->stop = SUGARCAST_GUARD(sugarcast_gift_overlay_stop);
  filter_class->set_info = SUGARCAST_GUARD(sugarcast_gift_overlay_set_info);
  filter_class->transform_frame_ip = SUGARCAST_GUARD(sugarcast_gift_overlay_transform_frame_ip);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_add_static_pad_template(element_class, &gift_sink_template);
  gst_element_class_set_static_metadata(
      element_class, "Gift overlay", "Filter/Editor/Video",
      "Animates viewers' gifts onto raw video: sprites, sender and gift names, combos",
      "Sugarcast developers");

  GST_DEBUG_CATEGORY_INIT(sugarcast_gift_overlay_debug, "giftoverlay", 0, "Sugarcast gift overlay");
}

static void sugarcast_gift_overlay_init(SugarcastGiftOverlay *self)
{
  self->priv = new SugarcastGiftOverlayPrivate();
  self->priv->timeline.set_config(self->priv->config);
  gst_base_transform_set_in_place(GST_BASE_TRANSFORM(self), TRUE);
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), TRUE);
}
