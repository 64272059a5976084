/* Sugarcast — multi-variant HLS writing, independent of GStreamer.
 *
 * HlsWriter receives encoded samples of several video renditions and one
 * audio stream (all in running time) and writes HLS: segments cut at
 * keyframes shared by every rendition, a media playlist per rendition, a
 * multivariant (master) playlist, EXT-X-PROGRAM-DATE-TIME, EXT-X-DATERANGE
 * and EXT-X-DISCONTINUITY. Every file is written to a temporary name and
 * renamed into place.
 *
 * Cutting: a rendition closes its segment at a keyframe. The first rendition
 * to reach a keyframe where a cut is due (the segment would otherwise grow
 * past the target duration, as HLS rounds it) records that cut in a plan
 * shared by all; the others cut at the same running time when they reach it.
 * With renditions that share their keyframes (abrladder), segment N of every
 * rendition covers the same time.
 *
 * Input, as hlsabrsink's parsers make it: H.264 access units with AUD, SPS
 * and PPS before every IDR (h264parse config-interval=-1), Annex B for an
 * MPEG-TS rendition, length-prefixed for fMP4; AAC raw with its
 * AudioSpecificConfig; VP9 frames; Opus packets.
 *
 * Audio, muxed into each rendition (default) or as an audio group, is held
 * until the segment it belongs to is cut; a segment is written once the
 * audio has reached its end (in a live stream, at most a second later).
 *
 * Thread-safe: every call may come from another streaming thread.
 */
#pragma once

#include "bitstream.h"
#include "keygrid.h"
#include "mpegts.h"
#include "playlist.h"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace sugarcast::abr {

enum class Container { MpegTs, Fmp4 };
enum class AudioMode { Muxed, Group };
enum class VideoCodec { H264, VP9 };
enum class AudioCodec { AAC, Opus };

struct HlsSettings
{
  std::string folder = ".";
  int target_duration = 2; /* seconds */
  unsigned playlist_length = 6;
  PlaylistType type = PlaylistType::Live;
  Container container = Container::MpegTs; /* for H.264; VP9 always uses fMP4 */
  AudioMode audio_mode = AudioMode::Muxed;
  bool program_date_time = true;
  std::string master_name = "master.m3u8";
  /* EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES while a playlist is live. */
  bool can_block_reload = false;
};

struct VideoFormat
{
  VideoCodec codec = VideoCodec::H264;
  bool length_prefixed = false; /* H.264 "avc"/"avc3" rather than Annex B */
  AvcConfig avc;                /* from codec_data, when given */
  int width = 0;
  int height = 0;
  int fps_n = 0; /* 0 = unknown or variable */
  int fps_d = 1;
  uint64_t declared_bitrate = 0; /* bits/s, from tags; 0 = unknown */
  /* RFC 6381 name from the caps when upstream gives a full one; empty: the
   * writer names it from the SPS or the VP9 frame header. */
  std::string codecs;
};

struct AudioFormat
{
  AudioCodec codec = AudioCodec::AAC;
  bool have_config = false;
  AacConfig aac; /* from codec_data: AAC arrives raw */
  OpusConfig opus;
  uint64_t declared_bitrate = 0;
  std::string codecs; /* as in VideoFormat */
};

struct MediaSample
{
  std::shared_ptr<const Bytes> data;
  int64_t pts = kUnknown; /* running time, nanoseconds */
  int64_t dts = kUnknown;
  int64_t duration = kUnknown;
  bool keyframe = false;
  /* Video: the running time of the next keyframe when the sender knows this
   * frame ends its GOP (abrladder's mark); the segment may close here. */
  int64_t gop_end = kUnknown;
};

struct DateRange
{
  std::string id;
  std::string klass;
  int64_t start = kUnknown; /* running time; or... */
  int64_t start_us = -1;    /* ...wall clock, microseconds since the epoch */
  int64_t duration = -1;    /* nanoseconds; -1 = open */
  std::vector<DateRangeAttribute> attributes;
};

struct SegmentReport
{
  std::string rendition; /* "video_0", "audio" */
  std::string path;      /* the segment file */
  std::string playlist;  /* the media playlist listing it */
  uint64_t sequence = 0;
  int64_t start = 0; /* running time */
  int64_t duration = 0;
  bool discontinuity = false;
  int64_t listed_us = 0; /* wall clock when the playlist was renamed into place */
};

class HlsWriter
{
public:
  struct Hooks
  {
    /* A failure that stops the stream: what a person reads, what a developer reads. */
    std::function<void(const std::string &, const std::string &)> error;
    std::function<void(const std::string &)> warning;
    std::function<void(const SegmentReport &)> segment;
    std::function<void(const std::string &path, size_t variants)> master;
    std::function<int64_t()> now_us;           /* wall clock */
    std::function<int64_t()> running_time_now; /* pipeline running time, or kUnknown */
  };

  static constexpr int kAudioPad = -1;

  HlsWriter(HlsSettings settings, Hooks hooks);
  ~HlsWriter();
  HlsWriter(const HlsWriter &) = delete;
  HlsWriter &operator=(const HlsWriter &) = delete;

  /* Creates the folder; false (with `error` set) when it cannot. */
  bool start(std::string &error);

  /* A video rendition named `name` (its playlist is NAME.m3u8); returns its id. */
  int add_video(const std::string &name);
  /* An audio input exists: segments will wait for it. */
  void add_audio();

  /* false with `error` set for a format the writer cannot carry. */
  bool set_video_format(int id, const VideoFormat &format, std::string &error);
  bool set_audio_format(const AudioFormat &format, std::string &error);

  /* false when writing failed (already reported through hooks.error). */
  bool push_video(int id, MediaSample sample);
  bool push_audio(MediaSample sample);
  /* End of stream on one input. */
  bool end_video(int id);
  bool end_audio();

  /* The input restarted on this pad (a video id or kAudioPad): every
   * rendition's next segment from that point on carries EXT-X-DISCONTINUITY. */
  void restart(int pad);
  /* A live stream does not wait more than a second of wall-clock time for
   * late audio before writing a segment without it. */
  void set_live(bool live);
  /* Timed metadata for every rendition; a second range with a known ID is
   * the same one (it arrives on every variant pad) and is ignored. */
  void add_daterange(DateRange range);

  /* Every input has ended and the final playlists are written. */
  bool finished() const;
  /* The latest running time seen on any input, or kUnknown. */
  int64_t latest_running_time() const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

/* Writes `data` to `path` through a temporary file and a rename; false with
 * `error` set on failure. */
bool write_file_atomically(const std::string &path, const void *data, size_t size,
                           std::string &error);

} // namespace sugarcast::abr
