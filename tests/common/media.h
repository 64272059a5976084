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

/* Frame `index` (from 0) of the first video stream of `file` (the last one
 * when it has fewer), decoded by ffmpeg as width x height RGB24 (3 bytes a
 * pixel, rows top down). The frames are counted first: a segment's clock
 * and its frame count disagree by a frame at its end, and ffmpeg's select
 * then gives nothing at all. Fails the test (and returns what it got) when
 * the frame is not of that size. */
std::string decode_rgb_frame(const std::string &file, int index, int width, int height);

/* A rectangle of pixels, [x0, x1) x [y0, y1). */
struct Rect
{
  int x0, y0, x1, y1;
};

/* The middle of the first banner's sprite, where giftoverlay puts it on a
 * frame of this size (plugins/gift/gstgiftoverlay.cpp, Layout): the lowest
 * row, 8.5 % of the height high, 2 % of the width in, its bottom at 84 %. */
Rect gift_banner_centre(int width, int height);

/* Mean absolute difference per channel of two RGB24 frames `width` pixels
 * wide inside `r`; -1 when they differ in size or are too small. */
double mean_difference(const std::string &a, const std::string &b, int width, int height, Rect r);

/* The folder the cache lives in. */
std::string media_dir();

} // namespace sugarcast::test
