/* Sugarcast — blending giftoverlay's images (see blend.h). */
#include "blend.h"

#include <algorithm>
#include <cmath>

namespace sugarcast::gift {

namespace {

inline std::uint8_t div255(unsigned x)
{
  return static_cast<std::uint8_t>((x + 128 + ((x + 128) >> 8)) >> 8);
}

inline std::uint8_t clamp8(double v)
{
  return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}

/* dst = src + dst * (255 - a) / 255, src premultiplied; with a global alpha
 * g both are scaled by g first. */
inline void blend_row(std::uint8_t *dst, const std::uint8_t *src, const std::uint8_t *a, int n,
                      int step, int g)
{
  if (g >= 255) {
    for (int i = 0; i < n; ++i)
      dst[i * step] = static_cast<std::uint8_t>(src[i] + div255(dst[i * step] * (255u - a[i])));
  } else {
    for (int i = 0; i < n; ++i) {
      const unsigned ag = div255(a[i] * static_cast<unsigned>(g));
      dst[i * step] = static_cast<std::uint8_t>(div255(src[i] * static_cast<unsigned>(g)) +
                                                div255(dst[i * step] * (255u - ag)));
    }
  }
}

} // namespace

PreparedImage prepare_image(const Image &image, PixelFormat format, const ColorMatrix &m)
{
  PreparedImage out;
  out.width = image.width;
  out.height = image.height;
  const std::size_t n = static_cast<std::size_t>(image.width) * image.height;
  if (format == PixelFormat::BGRA) {
    /* cairo's ARGB32 is premultiplied BGRA in memory on little-endian:
     * kept as four planes (y = B, u = G, v = R, ca = A) for blend_row. */
    out.y.resize(n);
    out.u.resize(n);
    out.v.resize(n);
    out.ca.resize(n);
    out.a.resize(n);
    for (int r = 0; r < image.height; ++r)
      for (int c = 0; c < image.width; ++c) {
        const std::uint8_t *p = image.pixels.data() + static_cast<std::size_t>(r) * image.stride +
                                static_cast<std::size_t>(c) * 4;
        const std::size_t i = static_cast<std::size_t>(r) * image.width + c;
        out.y[i] = p[0];
        out.u[i] = p[1];
        out.v[i] = p[2];
        out.ca[i] = p[3];
        out.a[i] = p[3];
      }
    return out;
  }
  const double kg = 1.0 - m.kr - m.kb;
  const double y_scale = m.full_range ? 255.0 : 219.0, y_off = m.full_range ? 0.0 : 16.0;
  const double c_scale = m.full_range ? 255.0 : 224.0;
  const int cw = (image.width + 1) / 2, ch = (image.height + 1) / 2;
  out.y.resize(n);
  out.a.resize(n);
  out.u.assign(static_cast<std::size_t>(cw) * ch, 0);
  out.v.assign(static_cast<std::size_t>(cw) * ch, 0);
  out.ca.assign(static_cast<std::size_t>(cw) * ch, 0);
  std::vector<double> usum(out.u.size()), vsum(out.u.size()), asum(out.u.size());
  for (int r = 0; r < image.height; ++r)
    for (int c = 0; c < image.width; ++c) {
      const std::uint8_t *p = image.pixels.data() + static_cast<std::size_t>(r) * image.stride +
                              static_cast<std::size_t>(c) * 4;
      const double a = p[3] / 255.0;
      const std::size_t i = static_cast<std::size_t>(r) * image.width + c;
      out.a[i] = p[3];
      /* Premultiplied RGB in 0..1: Y' = Y * a, so the offset is scaled too. */
      const double R = p[2] / 255.0, G = p[1] / 255.0, B = p[0] / 255.0;
      const double luma = m.kr * R + kg * G + m.kb * B; // premultiplied
      out.y[i] = clamp8(y_off * a + y_scale * luma);
      const double cb = (B - luma) / (2 * (1 - m.kb)), cr = (R - luma) / (2 * (1 - m.kr));
      const std::size_t ci = static_cast<std::size_t>(r / 2) * cw + c / 2;
      usum[ci] += 128.0 * a + c_scale * cb;
      vsum[ci] += 128.0 * a + c_scale * cr;
      asum[ci] += p[3];
    }
  for (int r = 0; r < ch; ++r)
    for (int c = 0; c < cw; ++c) {
      const int count = (std::min(2, image.height - 2 * r)) * (std::min(2, image.width - 2 * c));
      const std::size_t ci = static_cast<std::size_t>(r) * cw + c;
      out.u[ci] = clamp8(usum[ci] / count);
      out.v[ci] = clamp8(vsum[ci] / count);
      out.ca[ci] = clamp8(asum[ci] / count);
    }
  return out;
}

void blend_image(const PreparedImage &image, const FrameView &frame, int x, int y, int alpha)
{
  if (alpha <= 0)
    return;
  const int x0 = std::max(0, x), y0 = std::max(0, y);
  const int x1 = std::min(frame.width, x + image.width),
            y1 = std::min(frame.height, y + image.height);
  if (x0 >= x1 || y0 >= y1)
    return;
  const int n = x1 - x0;
  if (frame.format == PixelFormat::BGRA) {
    for (int r = y0; r < y1; ++r) {
      const std::size_t i = static_cast<std::size_t>(r - y) * image.width + (x0 - x);
      std::uint8_t *d = frame.data[0] + static_cast<std::size_t>(r) * frame.stride[0] + x0 * 4;
      const std::uint8_t *planes[4] = {image.y.data(), image.u.data(), image.v.data(),
                                       image.ca.data()};
      for (int k = 0; k < 4; ++k)
        blend_row(d + k, planes[k] + i, image.a.data() + i, n, 4, alpha);
    }
    return;
  }
  for (int r = y0; r < y1; ++r) {
    const std::size_t i = static_cast<std::size_t>(r - y) * image.width + (x0 - x);
    blend_row(frame.data[0] + static_cast<std::size_t>(r) * frame.stride[0] + x0,
              image.y.data() + i, image.a.data() + i, n, 1, alpha);
  }
  const int cw = (image.width + 1) / 2;
  const int cx0 = x0 / 2, cy0 = y0 / 2;
  const int cx1 = std::min((frame.width + 1) / 2, (x1 + 1) / 2);
  const int cy1 = std::min((frame.height + 1) / 2, (y1 + 1) / 2);
  const int cn = cx1 - cx0;
  for (int r = cy0; r < cy1; ++r) {
    const std::size_t i = static_cast<std::size_t>(r - y / 2) * cw + (cx0 - x / 2);
    if (frame.format == PixelFormat::I420) {
      blend_row(frame.data[1] + static_cast<std::size_t>(r) * frame.stride[1] + cx0,
                image.u.data() + i, image.ca.data() + i, cn, 1, alpha);
      blend_row(frame.data[2] + static_cast<std::size_t>(r) * frame.stride[2] + cx0,
                image.v.data() + i, image.ca.data() + i, cn, 1, alpha);
    } else {
      std::uint8_t *uv = frame.data[1] + static_cast<std::size_t>(r) * frame.stride[1] + cx0 * 2;
      blend_row(uv, image.u.data() + i, image.ca.data() + i, cn, 2, alpha);
      blend_row(uv + 1, image.v.data() + i, image.ca.data() + i, cn, 2, alpha);
    }
  }
}

} // namespace sugarcast::gift
