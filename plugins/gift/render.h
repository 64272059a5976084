/* Sugarcast — what giftoverlay draws: sprites from PNG and banners with
 * Pango text, as premultiplied ARGB images (cairo's ARGB32, which is
 * GstVideoOverlayComposition's native BGRA on little-endian machines).
 *
 * Everything here runs once per change, never per frame: sprites are loaded
 * and scaled once per output size, a banner is drawn once per count change.
 * The per-frame work is the blend of these images (video-overlay-composition).
 */
#pragma once

#include <pango/pangocairo.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sugarcast::gift {

struct Image
{
  int width = 0, height = 0, stride = 0; // stride in bytes
  std::vector<std::uint8_t> pixels;      // premultiplied ARGB32, native endian
};

/* The asset format: NAME.png in the assets folder, a horizontal strip of
 * square frames (height × height each; the frame count is width / height, a
 * still image has one), played in a loop at kSpriteFps. */
inline constexpr double kSpriteFps = 12.0;
inline constexpr int kMaxSpriteHeight = 1024;
inline constexpr int kMaxSpriteFrames = 64;

/* Loads `path` and scales every frame to size × size. Returns false with a
 * reason in `error` (missing, not a PNG, not a strip of square frames). */
bool load_sprite(const std::string &path, int size, std::vector<Image> &frames, std::string &error);

struct BannerStyle
{
  int height = 64;     // the banner's height in pixels
  int max_width = 640; // the text is ellipsised to fit
  bool with_sprite = true;
  std::string font = "Sans";
};

struct BannerText
{
  std::string user;      // sender's display name
  std::string gift_name; // "Rose"
  std::uint64_t count = 1;
};

/* Pango and cairo for one streaming thread: a private font map, so the
 * element does not share Pango's per-thread default. */
class BannerRenderer
{
public:
  BannerRenderer();
  ~BannerRenderer();
  BannerRenderer(const BannerRenderer &) = delete;
  BannerRenderer &operator=(const BannerRenderer &) = delete;

  /* The banner: a rounded translucent plate, room for the sprite on its
   * left, the sender above the gift's name, and "×N" when N > 1. */
  Image render(const BannerText &text, const BannerStyle &style);

private:
  PangoFontMap *font_map_ = nullptr;
  PangoContext *context_ = nullptr;
};

} // namespace sugarcast::gift
