/* Sugarcast — fast downscaling by 2:1 and 3:2. See downscale.h.
 *
 * Built with -O3 (see meson.build): the row loops below are written so the
 * compiler vectorises them; target_clones adds an AVX2 version chosen at
 * run time.
 */
#include "downscale.h"

#include <algorithm>
#include <cstring>

namespace sugarcast::abr {

namespace {

using u8 = uint8_t;
using u16 = uint16_t;

/* Area weights of 3:2 in 8-bit fixed point: 2/3 and 1/3. */
constexpr u16 kNear = 171;
constexpr u16 kFar = 85;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SUGARCAST_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SUGARCAST_CLONES
#endif

SUGARCAST_CLONES
void rows_half(const u8 *__restrict a, const u8 *__restrict b, u8 *__restrict out, int width)
{
  for (int x = 0; x < width; ++x)
    out[x] = static_cast<u8>((static_cast<u16>(a[x]) + b[x] + 1) >> 1);
}

SUGARCAST_CLONES
void rows_two_thirds(const u8 *__restrict a, const u8 *__restrict b, const u8 *__restrict c,
                     u8 *__restrict first, u8 *__restrict second, int width)
{
  for (int x = 0; x < width; ++x) {
    first[x] = static_cast<u8>((kNear * a[x] + kFar * b[x] + 128) >> 8);
    second[x] = static_cast<u8>((kFar * b[x] + kNear * c[x] + 128) >> 8);
  }
}

SUGARCAST_CLONES
void columns_half(const u8 *__restrict in, u8 *__restrict out, int count)
{
  for (int x = 0; x < count; ++x)
    out[x] = static_cast<u8>((static_cast<u16>(in[2 * x]) + in[2 * x + 1] + 1) >> 1);
}

SUGARCAST_CLONES
void columns_two_thirds(const u8 *__restrict in, u8 *__restrict out, int groups)
{
  for (int k = 0; k < groups; ++k) {
    const u8 *p = in + 3 * k;
    out[2 * k] = static_cast<u8>((kNear * p[0] + kFar * p[1] + 128) >> 8);
    out[2 * k + 1] = static_cast<u8>((kFar * p[1] + kNear * p[2] + 128) >> 8);
  }
}

/* Output sample `i` of a row or column scaled by `ratio`, reading `in` of
 * `n` samples with the last one repeated past the end. */
u8 one_sample(Ratio ratio, int i, int n, auto &&in)
{
  auto at = [&](int k) { return static_cast<u16>(in(std::min(k, n - 1))); };
  switch (ratio) {
  case Ratio::Half:
    return static_cast<u8>((at(2 * i) + at(2 * i + 1) + 1) >> 1);
  case Ratio::TwoThirds: {
    const int base = 3 * (i / 2);
    return i % 2 == 0 ? static_cast<u8>((kNear * at(base) + kFar * at(base + 1) + 128) >> 8)
                      : static_cast<u8>((kFar * at(base + 1) + kNear * at(base + 2) + 128) >> 8);
  }
  default:
    return static_cast<u8>(at(i));
  }
}

void scale_row(Ratio ratio, const u8 *in, int in_width, u8 *out, int out_width)
{
  int done = 0;
  if (ratio == Ratio::Half) {
    done = std::min(out_width, in_width / 2);
    columns_half(in, out, done);
  } else if (ratio == Ratio::TwoThirds) {
    const int groups = std::min(out_width / 2, in_width / 3);
    columns_two_thirds(in, out, groups);
    done = 2 * groups;
  } else {
    done = std::min(out_width, in_width);
    std::memcpy(out, in, static_cast<size_t>(done));
  }
  for (int x = done; x < out_width; ++x)
    out[x] = one_sample(ratio, x, in_width, [&](int k) { return in[k]; });
}

} // namespace

Ratio fast_ratio(int in, int out)
{
  if (in <= 0 || out <= 0)
    return Ratio::None;
  if (in == out)
    return Ratio::Same;
  if (2 * out >= in - 1 && 2 * out <= in + 1)
    return Ratio::Half;
  if (3 * out >= 2 * in - 3 && 3 * out <= 2 * in + 3)
    return Ratio::TwoThirds;
  return Ratio::None;
}

bool fast_scalable(int in_width, int in_height, int out_width, int out_height)
{
  const Ratio r = fast_ratio(in_width, out_width);
  if (r != Ratio::Half && r != Ratio::TwoThirds)
    return false;
  return fast_ratio(in_height, out_height) == r &&
         fast_ratio((in_width + 1) / 2, (out_width + 1) / 2) == r &&
         fast_ratio((in_height + 1) / 2, (out_height + 1) / 2) == r;
}

void downscale_plane(const uint8_t *src, int src_stride, int src_width, int src_height,
                     uint8_t *dst, int dst_stride, int dst_width, int dst_height,
                     std::vector<uint8_t> &scratch)
{
  const Ratio rx = fast_ratio(src_width, dst_width);
  const Ratio ry = fast_ratio(src_height, dst_height);
  /* Vertical first, on whole rows (the cheap direction), into one row of
   * scratch per output row, then each row horizontally into place. */
  scratch.resize(static_cast<size_t>(src_width) * 2);
  u8 *first = scratch.data();
  u8 *second = first + src_width;
  auto row = [&](int y) {
    return src + static_cast<size_t>(std::min(y, src_height - 1)) * src_stride;
  };
  auto out_row = [&](int y) { return dst + static_cast<size_t>(y) * dst_stride; };
  auto emit = [&](const u8 *line, int y) { scale_row(rx, line, src_width, out_row(y), dst_width); };

  if (ry == Ratio::TwoThirds) {
    for (int y = 0; y < dst_height; y += 2) {
      const int base = 3 * (y / 2);
      rows_two_thirds(row(base), row(base + 1), row(base + 2), first, second, src_width);
      emit(first, y);
      if (y + 1 < dst_height)
        emit(second, y + 1);
    }
  } else if (ry == Ratio::Half) {
    for (int y = 0; y < dst_height; ++y) {
      rows_half(row(2 * y), row(2 * y + 1), first, src_width);
      emit(first, y);
    }
  } else {
    for (int y = 0; y < dst_height; ++y)
      emit(row(y), y);
  }
}

} // namespace sugarcast::abr
