/* Sugarcast — sprites and banners for giftoverlay (see render.h). */
#include "render.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

namespace sugarcast::gift {

namespace {

struct SurfaceDeleter
{
  void operator()(cairo_surface_t *s) const { cairo_surface_destroy(s); }
};
struct CairoDeleter
{
  void operator()(cairo_t *cr) const { cairo_destroy(cr); }
};
using Surface = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using Cairo = std::unique_ptr<cairo_t, CairoDeleter>;

Image image_from(cairo_surface_t *surface)
{
  cairo_surface_flush(surface);
  Image image;
  image.width = cairo_image_surface_get_width(surface);
  image.height = cairo_image_surface_get_height(surface);
  image.stride = image.width * 4;
  image.pixels.resize(static_cast<std::size_t>(image.stride) * image.height);
  const int stride = cairo_image_surface_get_stride(surface);
  const unsigned char *data = cairo_image_surface_get_data(surface);
  for (int y = 0; y < image.height; ++y)
    std::memcpy(image.pixels.data() + static_cast<std::size_t>(y) * image.stride,
                data + static_cast<std::size_t>(y) * stride, image.stride);
  return image;
}

void rounded_rectangle(cairo_t *cr, double x, double y, double w, double h, double r)
{
  cairo_new_sub_path(cr);
  cairo_arc(cr, x + w - r, y + r, r, -M_PI / 2, 0);
  cairo_arc(cr, x + w - r, y + h - r, r, 0, M_PI / 2);
  cairo_arc(cr, x + r, y + h - r, r, M_PI / 2, M_PI);
  cairo_arc(cr, x + r, y + r, r, M_PI, 3 * M_PI / 2);
  cairo_close_path(cr);
}

} // namespace

bool load_sprite(const std::string &path, int size, std::vector<Image> &frames, std::string &error)
{
  frames.clear();
  if (size < 1 || size > kMaxSpriteHeight) {
    error = "sprite size " + std::to_string(size) + " out of range";
    return false;
  }
  Surface source(cairo_image_surface_create_from_png(path.c_str()));
  const cairo_status_t status = cairo_surface_status(source.get());
  if (status != CAIRO_STATUS_SUCCESS) {
    error = "cannot read " + path + ": " + cairo_status_to_string(status);
    return false;
  }
  const int width = cairo_image_surface_get_width(source.get());
  const int height = cairo_image_surface_get_height(source.get());
  if (height < 1 || height > kMaxSpriteHeight || width < height || width % height != 0 ||
      width / height > kMaxSpriteFrames) {
    error = path + " is " + std::to_string(width) + "x" + std::to_string(height) +
            ": a sprite is a strip of 1 to " + std::to_string(kMaxSpriteFrames) +
            " square frames side by side, at most " + std::to_string(kMaxSpriteHeight) +
            " pixels high";
    return false;
  }
  const int count = width / height;
  const double scale = static_cast<double>(size) / height;
  for (int i = 0; i < count; ++i) {
    Surface frame(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, size, size));
    Cairo cr(cairo_create(frame.get()));
    cairo_scale(cr.get(), scale, scale);
    cairo_rectangle(cr.get(), 0, 0, height, height);
    cairo_clip(cr.get());
    cairo_set_source_surface(cr.get(), source.get(), -static_cast<double>(i) * height, 0);
    cairo_pattern_set_filter(cairo_get_source(cr.get()), CAIRO_FILTER_GOOD);
    cairo_paint(cr.get());
    frames.push_back(image_from(frame.get()));
  }
  return true;
}

BannerRenderer::BannerRenderer()
{
  font_map_ = pango_cairo_font_map_new();
  context_ = pango_font_map_create_context(font_map_);
  /* Grey antialiasing without hinting: the same pixels on every machine
   * with the same fonts, and no colour fringes on chroma-subsampled video. */
  cairo_font_options_t *options = cairo_font_options_create();
  cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY);
  cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE);
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
  pango_cairo_context_set_font_options(context_, options);
  cairo_font_options_destroy(options);
}

BannerRenderer::~BannerRenderer()
{
  g_clear_object(&context_);
  g_clear_object(&font_map_);
}

Image BannerRenderer::render(const BannerText &text, const BannerStyle &style)
{
  const int h = std::max(16, style.height);
  const double pad = std::round(h * 0.14);
  const double sprite = style.with_sprite ? h : 0;

  auto layout_for = [&](const std::string &markup_text, double size, bool bold) {
    PangoLayout *layout = pango_layout_new(context_);
    PangoFontDescription *desc = pango_font_description_from_string(style.font.c_str());
    pango_font_description_set_absolute_size(desc, size * PANGO_SCALE);
    pango_font_description_set_weight(desc, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_layout_set_font_description(layout, desc);
    pango_font_description_free(desc);
    pango_layout_set_text(layout, markup_text.c_str(), -1);
    pango_layout_set_single_paragraph_mode(layout, TRUE);
    pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
    return layout;
  };

  PangoLayout *user = layout_for(text.user, h * 0.30, true);
  PangoLayout *gift = layout_for("sent " + text.gift_name, h * 0.24, false);
  PangoLayout *count =
      text.count > 1 ? layout_for("\u00d7" + std::to_string(text.count), h * 0.46, true) : nullptr;

  int count_w = 0, count_h = 0;
  if (count)
    pango_layout_get_pixel_size(count, &count_w, &count_h);
  const double fixed = sprite + pad * (sprite > 0 ? 1 : 2) + pad + (count ? count_w + pad : 0);
  const int text_max = std::max(8, static_cast<int>(style.max_width - fixed));
  pango_layout_set_width(user, text_max * PANGO_SCALE);
  pango_layout_set_width(gift, text_max * PANGO_SCALE);
  int user_w, user_h, gift_w, gift_h;
  pango_layout_get_pixel_size(user, &user_w, &user_h);
  pango_layout_get_pixel_size(gift, &gift_w, &gift_h);
  const int width =
      std::min(style.max_width, static_cast<int>(std::ceil(fixed + std::max(user_w, gift_w))));

  Surface surface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, std::max(width, 1), h));
  Cairo cr(cairo_create(surface.get()));
  pango_cairo_update_context(cr.get(), context_);

  rounded_rectangle(cr.get(), 0.5, 0.5, width - 1.0, h - 1.0, h * 0.5);
  cairo_set_source_rgba(cr.get(), 0.08, 0.06, 0.14, 0.72);
  cairo_fill_preserve(cr.get());
  cairo_set_line_width(cr.get(), 1.0);
  cairo_set_source_rgba(cr.get(), 1.0, 0.84, 0.35, 0.85);
  cairo_stroke(cr.get());

  const double text_x = sprite > 0 ? sprite + pad * 0.5 : pad * 1.5;
  const double top = (h - user_h - gift_h) / 2.0;
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_move_to(cr.get(), text_x, top);
  pango_cairo_show_layout(cr.get(), user);
  cairo_set_source_rgb(cr.get(), 1.0, 0.84, 0.35);
  cairo_move_to(cr.get(), text_x, top + user_h);
  pango_cairo_show_layout(cr.get(), gift);
  if (count) {
    cairo_set_source_rgb(cr.get(), 1.0, 0.84, 0.35);
    cairo_move_to(cr.get(), width - pad - count_w, (h - count_h) / 2.0);
    pango_cairo_show_layout(cr.get(), count);
    g_object_unref(count);
  }
  g_object_unref(user);
  g_object_unref(gift);
  return image_from(surface.get());
}

} // namespace sugarcast::gift
