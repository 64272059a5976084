/* Sugarcast — the inside of HlsWriter (hlswriter.h), shared by the files
 * that implement it; nothing else includes this.
 *
 * One HlsWriter::Impl holds the state, under one lock taken by the public
 * calls (hlswriter.cpp). Its work is in three files, along its seams:
 *   hlswriter-cuts.cpp       time anchors, the shared cut plan, opening and
 *                            closing segments, waiting for audio, the end;
 *   hlswriter-mux.cpp        a closed segment muxed into MPEG-TS or fMP4 and
 *                            written, with its init segment;
 *   hlswriter-playlists.cpp  the playlist set: media playlists, DATERANGE,
 *                            deleting what left the window, the master.
 */
#pragma once

#include "fmp4.h"
#include "hlswriter.h"

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

/* Named (not anonymous) because Impl, which every file above sees, holds them. */
namespace sugarcast::abr::hls {

struct Segment
{
  int64_t start = kUnknown;
  int64_t end = kUnknown;
  int64_t next_dts = kUnknown; /* decode time of the sample after the segment */
  int64_t closed_us = 0;       /* wall clock when its end became known */
  int generation = 0;
  bool discontinuity = false;
  std::vector<MediaSample> video;
  std::vector<MediaSample> audio;
};

struct Retired
{
  std::string uri;
  unsigned countdown;
};

/* One media playlist: a video variant or the audio group. */
struct Rendition
{
  std::string name;
  bool audio_only = false;
  Container container = Container::MpegTs;
  MediaPlaylist playlist;
  std::optional<Segment> current;
  std::deque<Segment> closing;
  std::unique_ptr<TsWriter> ts;
  uint32_t fragment_sequence = 1;
  uint64_t next_sequence = 0;
  int format_serial = 0; /* bumped when the init segment must change */
  int init_serial = -1;  /* the serial of the init segment written */
  std::string init_uri;
  std::set<std::string> init_files;
  std::deque<Retired> retired;
  int generation = 0; /* of the latest segment opened */
  bool opened_any = false;
  bool ended = false;
  std::set<size_t> dateranges; /* indices of the date ranges written */
  /* statistics */
  double peak_bps = 0;
  double peak_bps_any = 0; /* including short segments */
  uint64_t total_bytes = 0;
  int64_t total_duration = 0;

  Rendition(std::string n, const HlsSettings &s)
      : name(std::move(n)),
        playlist(s.type, s.target_duration, s.playlist_length, s.can_block_reload)
  {}
};

struct Video
{
  Rendition r;
  bool have_format = false;
  VideoFormat format;
  AvcConfig avc;
  Vp9Info vp9;
  bool have_vp9 = false;
  int width = 0;
  int height = 0;
  std::string codec_string;
  int pad_generation = 0;
  bool force_cut = false;
  bool format_change = false;
  int64_t last_pts = kUnknown;
  int64_t end_time = kUnknown; /* max pts + duration */
  int64_t last_keyframe = kUnknown;
  int64_t gop = kUnknown;
  uint64_t frames = 0;
  int64_t first_pts = kUnknown;
  std::deque<MediaSample> pending_audio;
  bool ended = false;
  bool started = false;

  Video(std::string n, const HlsSettings &s) : r(std::move(n), s) {}
};

} // namespace sugarcast::abr::hls

namespace sugarcast::abr {

constexpr int64_t kSecond = 1000000000;

using hls::Rendition;
using hls::Segment;
using hls::Video;

struct HlsWriter::Impl
{
  HlsSettings settings;
  Hooks hooks;
  mutable std::mutex lock;

  std::vector<std::unique_ptr<Video>> videos;
  /* The rendition with pad id, or nullptr. The ids come from our own element;
   * checked anyway so a wrong one fails the call (it was .at(), whose throw
   * would have crossed a pad function into C). */
  Video *video(int id)
  {
    return id >= 0 && static_cast<size_t>(id) < videos.size()
               ? videos[static_cast<size_t>(id)].get()
               : nullptr;
  }
  bool audio_present = false;
  bool have_audio_format = false;
  AudioFormat audio_format;
  std::string audio_codec_string;
  bool audio_ended = false;
  bool live = false;
  int64_t audio_end = kUnknown; /* max pts + duration */
  int audio_pad_generation = 0;
  std::unique_ptr<Rendition> audio_group;
  std::deque<MediaSample> group_pending;
  std::deque<std::pair<int, int64_t>> group_cuts;
  int64_t group_last_cut = kUnknown;

  int generation = 0;
  std::map<int, int64_t> generation_start;            /* where each restart happened */
  std::map<int, std::vector<int64_t>> plan;           /* generation -> cut times */
  std::map<int, std::pair<int64_t, int64_t>> anchors; /* generation -> (rt, wall us) */
  int64_t last_pdt_end_us = -1;

  std::vector<DateRange> dateranges;

  std::string master_text;
  std::vector<uint64_t> master_bandwidths;
  bool master_final = false;
  bool done = false;
  bool failed = false;

  Impl(HlsSettings s, Hooks h) : settings(std::move(s)), hooks(std::move(h)) {}

  std::string path(const std::string &uri) const { return settings.folder + "/" + uri; }

  bool fail(const std::string &message, const std::string &debug)
  {
    if (!failed && hooks.error)
      hooks.error(message, debug);
    failed = true;
    return false;
  }

  void warn(const std::string &message)
  {
    if (hooks.warning)
      hooks.warning(message);
  }

  /* Writes URI in the folder atomically; false (reported) on failure. */
  bool write(const std::string &uri, const std::string &what, const void *data, size_t size);

  /* ---- time (hlswriter-cuts.cpp) ---- */

  void anchor(int gen, int64_t rt);
  int64_t wall_of(int gen, int64_t rt);
  int64_t running_of(int gen, int64_t wall_us);

  /* ---- the cut plan ---- */

  int64_t next_planned(int gen, int64_t after);
  void note_cut(int gen, int64_t t);
  int generation_for(int current, int pad_generation, int64_t start);

  /* ---- opening and closing segments: video, the audio group, the end ---- */

  Segment open_segment(Rendition &r, int pad_generation, int64_t start, bool forced_discontinuity);
  void start_video_segment(Video &v, int64_t k);
  bool due(Video &v, int64_t k);
  bool on_keyframe(Video &v, const MediaSample &s);
  bool close_at_gop_end(Video &v, int64_t k, int64_t next_dts);
  void take_audio(std::deque<MediaSample> &pending, Segment &seg);
  bool drain(Video &v);
  bool drain_group();
  bool all_ended() const;
  bool maybe_finish();

  /* ---- muxing segments (hlswriter-mux.cpp) ---- */

  Container container_for(const Video &v) const;
  bool muxed_audio() const { return audio_present && settings.audio_mode == AudioMode::Muxed; }
  std::vector<Mp4Track> tracks_for(const Rendition &r, const Video *v);
  Bytes mux_ts(Rendition &r, const Segment &seg, bool with_video, bool with_audio);
  Bytes mux_fmp4(Rendition &r, const Segment &seg, const std::vector<Mp4Track> &tracks);
  bool finalize(Rendition &r, Video *v, Segment seg, bool last);

  /* ---- the playlist set (hlswriter-playlists.cpp) ---- */

  std::vector<std::string> daterange_tags(Rendition &r, const Segment &seg, bool last);
  void retire(Rendition &r, std::vector<PlaylistSegment> removed);
  bool write_playlist(Rendition &r);
  bool write_master(bool final);
};

} // namespace sugarcast::abr
