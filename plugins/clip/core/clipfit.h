/* Sugarcast — the output format of a clip: size and frame rate.
 *
 * Plain C++, no GStreamer: what clipfit negotiates, testable alone. */
#pragma once

namespace sugarcast::clip {

struct VideoShape
{
  int width = 0;
  int height = 0;
  int par_n = 1; /* pixel aspect ratio */
  int par_d = 1;
  int fps_n = 0; /* 0/1: variable or unknown */
  int fps_d = 1;
};

struct FitLimits
{
  int max_short_side = 1080; /* the shorter side, in square pixels; never upscaled */
  int max_framerate = 30;    /* whole frames per second */
};

/* The output for an input: square pixels, the shorter side at most
 * max_short_side (the aspect ratio kept, both sides even, nothing enlarged),
 * a constant frame rate:
 * - the input's own when it is at most max_framerate;
 * - above it, the input's divided by the smallest whole number that brings
 *   it under (60 → 30, 50 → 25, 59.94 → 29.97, 120 → 30), so that whole
 *   frames are dropped evenly;
 * - max_framerate for variable or unknown rates, which demuxers declare as
 *   0/1 or as an average whose denominator is neither 1 nor 1001 (a phone's
 *   variable-rate MOV reads as e.g. 1799/60). */
VideoShape fit(const VideoShape &in, const FitLimits &limits);

/* Whether OUT (fit's answer for IN) is IN itself: same size, square pixels,
 * the same declared constant rate. Such input needs neither scaling nor
 * frame-rate conversion. */
bool unchanged(const VideoShape &in, const VideoShape &out);

} // namespace sugarcast::clip
