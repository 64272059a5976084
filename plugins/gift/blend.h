/* Sugarcast — blending giftoverlay's images into I420, NV12 and BGRA frames.
 *
 * Why not gst_video_overlay_composition_blend(): upstream's blender is
 * generic — per line of every rectangle it unpacks the frame to AYUV or
 * ARGB, blends, and packs it back — and measured here it cost as much per
 * banner as cairooverlay drawing the banner again (bench/giftoverlay). The
 * overlay's images are fixed between changes, so they are converted once to
 * the frame's own planes (premultiplied Y, U, V at the chroma's resolution,
 * with their alpha) and each frame only does one multiply-add per byte
 * touched, over the rectangles and nothing else.
 */
#pragma once

#include "render.h"

#include <cstdint>
#include <vector>

namespace sugarcast::gift {

enum class PixelFormat { I420, NV12, BGRA };

struct ColorMatrix
{
  double kr = 0.2126, kb = 0.0722; // BT.709
  bool full_range = false;
};

/* An image converted for one frame format. */
struct PreparedImage
{
  int width = 0, height = 0;
  std::vector<std::uint8_t> y, a;     // luma and its alpha (YUV), or premultiplied BGRA
  std::vector<std::uint8_t> u, v, ca; // chroma and its alpha, (w+1)/2 x (h+1)/2
};

PreparedImage prepare_image(const Image &image, PixelFormat format, const ColorMatrix &matrix);

struct FrameView
{
  PixelFormat format;
  int width, height;
  std::uint8_t *data[3];
  int stride[3];
};

/* Blends `image` with its top-left at (x, y) (even for YUV: chroma is
 * shared by 2x2 pixels) and a global `alpha` of 0..255; clipped to the
 * frame. */
void blend_image(const PreparedImage &image, const FrameView &frame, int x, int y, int alpha);

} // namespace sugarcast::gift
