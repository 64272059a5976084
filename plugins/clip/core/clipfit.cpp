/* Sugarcast — the output format of a clip. See clipfit.h. */
#include "clipfit.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace sugarcast::clip {

namespace {

/* Down to even: 4:2:0 needs even sides, and rounding up could enlarge. */
int even(double v)
{
  return std::max(2, static_cast<int>(std::floor(v / 2 + 1e-6)) * 2);
}

} // namespace

VideoShape fit(const VideoShape &in, const FitLimits &limits)
{
  VideoShape out;
  const double par = in.par_n > 0 && in.par_d > 0 ? static_cast<double>(in.par_n) / in.par_d : 1.0;
  const double width = in.width * par; /* as displayed, in square pixels */
  const double height = in.height;
  const double shorter = std::min(width, height);
  const double scale = limits.max_short_side > 0 && shorter > limits.max_short_side
                           ? limits.max_short_side / shorter
                           : 1.0;
  out.width = even(width * scale);
  out.height = even(height * scale);

  const bool constant = in.fps_n > 0 && (in.fps_d == 1 || in.fps_d == 1001);
  if (!constant || limits.max_framerate <= 0) {
    out.fps_n = limits.max_framerate > 0 ? limits.max_framerate : 30;
    out.fps_d = 1;
    if (constant) {
      out.fps_n = in.fps_n;
      out.fps_d = in.fps_d;
    }
    return out;
  }
  /* Smallest whole divisor k with fps / k <= max_framerate. */
  const long long max = limits.max_framerate;
  long long k = (in.fps_n + max * in.fps_d - 1) / (max * in.fps_d);
  k = std::max(1LL, k);
  long long n = in.fps_n, d = static_cast<long long>(in.fps_d) * k;
  const long long g = std::gcd(n, d);
  out.fps_n = static_cast<int>(n / g);
  out.fps_d = static_cast<int>(d / g);
  return out;
}

bool unchanged(const VideoShape &in, const VideoShape &out)
{
  const bool square = in.par_n <= 0 || in.par_d <= 0 || in.par_n == in.par_d;
  return square && in.width == out.width && in.height == out.height && in.fps_n > 0 &&
         static_cast<long long>(in.fps_n) * out.fps_d ==
             static_cast<long long>(out.fps_n) * in.fps_d;
}

} // namespace sugarcast::clip
