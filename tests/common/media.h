/* Sugarcast test support: media files made with ffmpeg, cached in the build
 * folder (build/tests/media) so each is made once across all test runs. */
#pragma once

#include <string>
#include <vector>

namespace sugarcast::test {

struct ClipSpec
{
  double seconds = 16.0;
  std::string video = "h264"; /* h264, vp9, mpeg2, or "" for no video */
  int width = 320;
  int height = 240;
  int fps = 30;
  bool audio = true;             /* AAC in mp4/ts/flv, Opus in webm/mkv */
  std::string container = "mp4"; /* mp4, webm, mkv, ts, flv */
  /* Extra ffmpeg output options, e.g. {"-movflags", "+faststart"}. */
  std::vector<std::string> extra;
};

/* Path of a file matching spec, made on first use. Fails the test (and
 * returns "") when ffmpeg cannot make it. */
std::string make_clip(const ClipSpec &spec);

/* The folder the cache lives in. */
std::string media_dir();

} // namespace sugarcast::test
