/* Sugarcast — draws the default gift sprites (rose, heart, rocket, castle).
 *
 *   gift-sprites OUTPUT_FOLDER
 *
 * Each sprite is the asset format giftoverlay reads (docs/elements/
 * giftoverlay.md): NAME.png, a horizontal strip of kFrames square frames of
 * kSize pixels, premultiplied by cairo, transparent around the drawing.
 * The PNGs in plugins/gift/assets/ are this program's output, committed so a
 * build needs no extra step; tests/gift checks they still match it.
 */
#include <cairo.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

namespace {

constexpr int kFrames = 8;
constexpr int kSize = 128;

using Draw = std::function<void(cairo_t *, double phase)>; // phase in [0, 1)

void heart_path(cairo_t *cr, double cx, double cy, double s)
{
  cairo_move_to(cr, cx, cy + 0.35 * s);
  cairo_curve_to(cr, cx - 0.55 * s, cy - 0.05 * s, cx - 0.35 * s, cy - 0.55 * s, cx, cy - 0.22 * s);
  cairo_curve_to(cr, cx + 0.35 * s, cy - 0.55 * s, cx + 0.55 * s, cy - 0.05 * s, cx, cy + 0.35 * s);
  cairo_close_path(cr);
}

void draw_heart(cairo_t *cr, double phase)
{
  const double beat = 1.0 + 0.08 * std::sin(phase * 2 * M_PI);
  const double s = 100 * beat;
  cairo_pattern_t *fill = cairo_pattern_create_radial(52, 44, 4, 64, 64, s * 0.6);
  cairo_pattern_add_color_stop_rgb(fill, 0, 1.0, 0.55, 0.65);
  cairo_pattern_add_color_stop_rgb(fill, 1, 0.85, 0.05, 0.25);
  heart_path(cr, 64, 66, s);
  cairo_set_source(cr, fill);
  cairo_fill_preserve(cr);
  cairo_pattern_destroy(fill);
  cairo_set_source_rgba(cr, 0.45, 0.0, 0.1, 0.9);
  cairo_set_line_width(cr, 3);
  cairo_stroke(cr);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.7);
  cairo_arc(cr, 46, 46, 6 * beat, 0, 2 * M_PI);
  cairo_fill(cr);
}

void draw_rose(cairo_t *cr, double phase)
{
  cairo_save(cr);
  cairo_translate(cr, 64, 120);
  cairo_rotate(cr, 0.08 * std::sin(phase * 2 * M_PI));
  cairo_set_source_rgb(cr, 0.15, 0.55, 0.2);
  cairo_set_line_width(cr, 6);
  cairo_move_to(cr, 0, 0);
  cairo_curve_to(cr, -6, -30, 6, -50, 0, -72);
  cairo_stroke(cr);
  cairo_move_to(cr, 0, -30);
  cairo_curve_to(cr, 18, -44, 32, -34, 30, -26);
  cairo_curve_to(cr, 18, -22, 8, -24, 0, -30);
  cairo_fill(cr);
  for (int i = 0; i < 5; ++i) {
    const double a = i * 2 * M_PI / 5 + phase * 0.4;
    cairo_set_source_rgb(cr, 0.78 - i * 0.06, 0.05, 0.15);
    cairo_arc(cr, 14 * std::cos(a), -86 + 12 * std::sin(a), 20 - i * 1.5, 0, 2 * M_PI);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0.55, 0.0, 0.1);
  cairo_set_line_width(cr, 3);
  cairo_arc(cr, 0, -86, 10, 0, 1.6 * M_PI);
  cairo_stroke(cr);
  cairo_restore(cr);
}

void draw_rocket(cairo_t *cr, double phase)
{
  const double bob = 4 * std::sin(phase * 2 * M_PI);
  cairo_save(cr);
  cairo_translate(cr, 64, 60 + bob);
  cairo_rotate(cr, M_PI / 4);
  /* flame */
  const double flicker = 0.75 + 0.25 * std::sin(phase * 6 * M_PI);
  cairo_pattern_t *flame = cairo_pattern_create_linear(0, 30, 0, 30 + 34 * flicker);
  cairo_pattern_add_color_stop_rgba(flame, 0, 1.0, 0.9, 0.3, 1);
  cairo_pattern_add_color_stop_rgba(flame, 1, 1.0, 0.3, 0.0, 0);
  cairo_move_to(cr, -12, 30);
  cairo_curve_to(cr, -10, 45, 0, 30 + 34 * flicker, 0, 30 + 34 * flicker);
  cairo_curve_to(cr, 0, 30 + 34 * flicker, 10, 45, 12, 30);
  cairo_close_path(cr);
  cairo_set_source(cr, flame);
  cairo_fill(cr);
  cairo_pattern_destroy(flame);
  /* fins */
  cairo_set_source_rgb(cr, 0.85, 0.15, 0.15);
  cairo_move_to(cr, -14, 10);
  cairo_line_to(cr, -28, 34);
  cairo_line_to(cr, -12, 30);
  cairo_close_path(cr);
  cairo_move_to(cr, 14, 10);
  cairo_line_to(cr, 28, 34);
  cairo_line_to(cr, 12, 30);
  cairo_close_path(cr);
  cairo_fill(cr);
  /* body */
  cairo_move_to(cr, 0, -50);
  cairo_curve_to(cr, 22, -30, 16, 20, 12, 32);
  cairo_line_to(cr, -12, 32);
  cairo_curve_to(cr, -16, 20, -22, -30, 0, -50);
  cairo_close_path(cr);
  cairo_set_source_rgb(cr, 0.92, 0.93, 0.97);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.35, 0.38, 0.5);
  cairo_set_line_width(cr, 2.5);
  cairo_stroke(cr);
  /* window */
  cairo_arc(cr, 0, -14, 8, 0, 2 * M_PI);
  cairo_set_source_rgb(cr, 0.25, 0.6, 0.95);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.35, 0.38, 0.5);
  cairo_stroke(cr);
  cairo_restore(cr);
}

void draw_castle(cairo_t *cr, double phase)
{
  cairo_set_source_rgb(cr, 0.62, 0.58, 0.72);
  cairo_rectangle(cr, 22, 58, 84, 60);
  cairo_fill(cr);
  for (int tower = 0; tower < 2; ++tower) {
    const double x = tower == 0 ? 12 : 92;
    cairo_set_source_rgb(cr, 0.55, 0.5, 0.66);
    cairo_rectangle(cr, x, 40, 24, 78);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.35, 0.2, 0.55);
    cairo_move_to(cr, x - 4, 40);
    cairo_line_to(cr, x + 12, 14);
    cairo_line_to(cr, x + 28, 40);
    cairo_close_path(cr);
    cairo_fill(cr);
    /* a flag waving */
    const double wave = 4 * std::sin(phase * 2 * M_PI + tower);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 1.5);
    cairo_move_to(cr, x + 12, 14);
    cairo_line_to(cr, x + 12, 2);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 1.0, 0.8, 0.2);
    cairo_move_to(cr, x + 12, 2);
    cairo_curve_to(cr, x + 18, 2 + wave, x + 22, 6 - wave, x + 26, 5);
    cairo_line_to(cr, x + 12, 9);
    cairo_close_path(cr);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0.55, 0.5, 0.66);
  for (int i = 0; i < 4; ++i)
    cairo_rectangle(cr, 36 + i * 16, 50, 9, 9);
  cairo_fill(cr);
  cairo_set_source_rgb(cr, 0.3, 0.18, 0.1);
  cairo_move_to(cr, 52, 118);
  cairo_line_to(cr, 52, 92);
  cairo_arc(cr, 64, 92, 12, M_PI, 0);
  cairo_line_to(cr, 76, 118);
  cairo_close_path(cr);
  cairo_fill(cr);
  /* sparkles turning round the keep */
  for (int i = 0; i < 3; ++i) {
    const double a = (phase + i / 3.0) * 2 * M_PI;
    const double x = 64 + 46 * std::cos(a), y = 70 + 22 * std::sin(a);
    cairo_set_source_rgba(cr, 1.0, 0.95, 0.5, 0.9);
    cairo_arc(cr, x, y, 3.5, 0, 2 * M_PI);
    cairo_fill(cr);
  }
}

bool write_strip(const std::string &path, const Draw &draw)
{
  cairo_surface_t *strip = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, kSize * kFrames, kSize);
  cairo_t *cr = cairo_create(strip);
  for (int i = 0; i < kFrames; ++i) {
    cairo_save(cr);
    cairo_rectangle(cr, i * kSize, 0, kSize, kSize);
    cairo_clip(cr);
    cairo_translate(cr, i * kSize, 0);
    draw(cr, static_cast<double>(i) / kFrames);
    cairo_restore(cr);
  }
  cairo_destroy(cr);
  const cairo_status_t status = cairo_surface_write_to_png(strip, path.c_str());
  cairo_surface_destroy(strip);
  if (status != CAIRO_STATUS_SUCCESS) {
    std::fprintf(stderr, "gift-sprites: cannot write %s: %s\n", path.c_str(),
                 cairo_status_to_string(status));
    return false;
  }
  return true;
}

} // namespace

int main(int argc, char **argv)
{
  if (argc != 2) {
    std::fprintf(stderr, "usage: gift-sprites OUTPUT_FOLDER\n");
    return 2;
  }
  const std::string folder = argv[1];
  const struct
  {
    const char *name;
    Draw draw;
  } sprites[] = {
      {"rose", draw_rose}, {"heart", draw_heart}, {"rocket", draw_rocket}, {"castle", draw_castle}};
  for (const auto &sprite : sprites)
    if (!write_strip(folder + "/" + sprite.name + ".png", sprite.draw))
      return 1;
  return 0;
}
