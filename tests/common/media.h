/* Sugarcast test support: media files made with ffmpeg, cached in the build
 * folder (build/tests/media) so each is made once across all test runs. */
#pragma once

#include <string>
#include <vector>

namespace sugarcast::test {

struct ClipSpec
{
  double seconds = 16.0;
  std::string video = "h264"; /* h264, hevc, vp9, mpeg2, or "" for no video */
  int width = 320;
  int height = 240;
  int fps = 30;
  bool audio = true;             /* AAC in mp4/ts/flv, Opus in webm/mkv */
  std::string container = "mp4"; /* mp4, mov, webm, mkv, ts, flv */
  /* A display rotation in the video track's matrix (mp4/mov): 90 means a
   * player turns the stored picture 90° clockwise, as a phone held upright
   * records it. See set_display_rotation(). */
  int rotation = 0;
  /* Extra ffmpeg output options, e.g. {"-movflags", "+faststart"}. */
  std::vector<std::string> extra;
};

/* Path of a file matching spec, made on first use. Fails the test (and
 * returns "") when ffmpeg cannot make it. */
std::string make_clip(const ClipSpec &spec);

/* Writes a display rotation into the 3x3 matrix of the first video track's
 * `tkhd` box of the MP4/MOV at `path`, as phones do: `clockwise` is 0, 90,
 * 180 or 270, the turn a player applies to show the stored pixels upright.
 * (ffmpeg 5.1 ignores -metadata:s:v rotate=, and GStreamer's muxers write
 * no matrix.) False, with a test failure, when the file has no such box. */
bool set_display_rotation(const std::string &path, int clockwise);

/* What ffprobe reads from a file or URL: the first video stream (its size as
 * stored, its display rotation), the codecs of all streams, the duration. */
struct MediaProbe
{
  bool ok = false;
  std::string error;         /* ffprobe's complaint when !ok */
  std::string video_codec;   /* "" without video */
  std::string audio_codec;   /* "" without audio */
  int width = 0, height = 0; /* as stored */
  int rotation = 0;          /* display matrix, degrees (ffprobe's sign) */
  double fps = 0;            /* average frame rate */
  std::string r_frame_rate;  /* ffprobe's r_frame_rate, e.g. "30/1" */
  double duration = 0;       /* the container's, seconds */
  int frames = 0;            /* video frames counted by decoding (-count_frames) */
  std::string pix_fmt;
};
MediaProbe probe_media(const std::string &path_or_url, bool count_frames = false);

/* The folder the cache lives in. */
std::string media_dir();

} // namespace sugarcast::test
