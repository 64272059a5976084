/* Sugarcast — fast downscaling by 2:1 and 3:2, independent of GStreamer.
 *
 * A ladder's rungs are mostly exact ratios of each other: 1080p to 720p is
 * 3:2, 720p to 480p 3:2 (854 for 853.3 columns), 720p to 360p 2:1. For those
 * an area (box) filter is a fixed pair of weights per output sample, which
 * compilers vectorise; it costs a third of a general resampler. Other ratios
 * use GStreamer's videoscale.
 *
 * An output may be up to one input sample longer than the exact ratio allows
 * (854 columns from 1280 at 3:2): the last input sample is repeated, a
 * stretch of a tenth of a percent nobody sees.
 */
#pragma once

#include <cstdint>
#include <vector>

namespace sugarcast::abr {

enum class Ratio {
  None,      /* not a ratio this scaler does */
  Same,      /* 1:1 */
  Half,      /* 2:1 */
  TwoThirds, /* 3:2 */
};

/* The ratio taking `in` samples to `out`, allowing the output to be at
 * most one input sample longer than exact. */
Ratio fast_ratio(int in, int out);

/* Whether a whole picture (luma and 4:2:0 chroma) can be scaled here: both
 * dimensions have a ratio and it is the same one. */
bool fast_scalable(int in_width, int in_height, int out_width, int out_height);

/* Scales one 8-bit plane. `scratch` is reused between calls. */
void downscale_plane(const uint8_t *src, int src_stride, int src_width, int src_height,
                     uint8_t *dst, int dst_stride, int dst_width, int dst_height,
                     std::vector<uint8_t> &scratch);

} // namespace sugarcast::abr
