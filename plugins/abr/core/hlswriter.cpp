/* Sugarcast — multi-variant HLS writing. See hlswriter.h. */
#include "hlswriter.h"

#include "fmp4.h"

#include <glib.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <deque>
#include <optional>

#include <sys/stat.h>
#include <unistd.h>

namespace sugarcast::abr {

namespace {

constexpr int64_t kSecond = 1000000000;
/* Timestamps in the files are running time plus this, so B-frame decode
 * times before the first frame stay positive. */
constexpr int64_t kTimeOffset = 10 * kSecond;
/* How long, in wall-clock time, a segment of a live stream waits for audio
 * to reach its end. Streams that are not live wait as long as it takes. */
constexpr int64_t kAudioWaitUs = 1000000;
/* Audio kept waiting for a rendition's video, at most. Separate sources in
 * a pipeline that is not live run audio far ahead of video (nothing slows
 * it down); audio is small, so it is kept rather than held back. */
constexpr int64_t kAudioBacklog = 600 * kSecond;
/* Matching cut times of different renditions. */
constexpr int64_t kCutTolerance = 5 * 1000000;

int64_t to_timescale(int64_t rt, int64_t scale)
{
  const int64_t t = rt + kTimeOffset;
  const int64_t s = t >= 0 ? t / kSecond : (t - kSecond + 1) / kSecond;
  const int64_t rem = t - s * kSecond;
  return s * scale + rem * scale / kSecond;
}

std::string sequence_name(const std::string &base, uint64_t sequence, const char *ext)
{
  char buf[32];
  std::snprintf(buf, sizeof buf, "-%05" PRIu64, sequence);
  return base + buf + ext;
}

bool make_folder(const std::string &path, std::string &error)
{
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty())
      continue;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      error = std::strerror(errno);
      return false;
    }
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    error = "not a folder";
    return false;
  }
  return true;
}

} // namespace

bool write_file_atomically(const std::string &path, const void *data, size_t size,
                           std::string &error)
{
  /* GLib writes a temporary file beside PATH and renames it into place;
   * CONSISTENT without DURABLE skips the fsync, which a live segment that is
   * replaced within seconds does not need. */
  GError *err = nullptr;
  if (!g_file_set_contents_full(path.c_str(), static_cast<const gchar *>(data),
                                static_cast<gssize>(size), G_FILE_SET_CONTENTS_CONSISTENT, 0644,
                                &err)) {
    error = err ? err->message : "cannot write " + path;
    g_clear_error(&err);
    return false;
  }
  return true;
}

namespace {

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

struct PendingRange
{
  DateRange range;
};

} // namespace

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

  bool write(const std::string &uri, const std::string &what, const void *data, size_t size)
  {
    std::string error;
    if (write_file_atomically(path(uri), data, size, error))
      return true;
    return fail("Could not write " + what + " " + path(uri) + ": " + error,
                "write_file_atomically failed for " + path(uri));
  }

  /* ---- time ---- */

  void anchor(int gen, int64_t rt)
  {
    if (anchors.count(gen))
      return;
    int64_t wall = hooks.now_us ? hooks.now_us() : 0;
    const int64_t now = hooks.running_time_now ? hooks.running_time_now() : kUnknown;
    if (now != kUnknown && now >= rt && now - rt < 30 * kSecond)
      wall -= (now - rt) / 1000;
    if (last_pdt_end_us >= 0 && wall < last_pdt_end_us)
      wall = last_pdt_end_us;
    anchors[gen] = {rt, wall};
  }

  int64_t wall_of(int gen, int64_t rt)
  {
    auto it = anchors.find(gen);
    if (it == anchors.end())
      return -1;
    return it->second.second + (rt - it->second.first) / 1000;
  }

  int64_t running_of(int gen, int64_t wall_us)
  {
    auto it = anchors.find(gen);
    if (it == anchors.end())
      return kUnknown;
    return it->second.first + (wall_us - it->second.second) * 1000;
  }

  /* ---- the cut plan ---- */

  int64_t next_planned(int gen, int64_t after)
  {
    auto it = plan.find(gen);
    if (it == plan.end())
      return kUnknown;
    for (int64_t t : it->second)
      if (t > after + kCutTolerance)
        return t;
    return kUnknown;
  }

  void note_cut(int gen, int64_t t)
  {
    auto &cuts = plan[gen];
    for (int64_t c : cuts)
      if (c > t - kCutTolerance && c < t + kCutTolerance)
        return;
    cuts.insert(std::upper_bound(cuts.begin(), cuts.end(), t), t);
    /* Nobody looks this far back. */
    if (cuts.size() > 512)
      cuts.erase(cuts.begin(), cuts.begin() + 256);
    if (audio_group &&
        (group_last_cut == kUnknown || t > group_last_cut + kCutTolerance ||
         gen != (group_cuts.empty() ? audio_group->generation : group_cuts.back().first))) {
      group_cuts.emplace_back(gen, t);
      group_last_cut = t;
    }
  }

  /* Which generation a segment starting at `start` belongs to, for a pad
   * that has seen restarts up to `pad_generation`. */
  int generation_for(int current, int pad_generation, int64_t start)
  {
    int gen = current;
    for (int g = current + 1; g <= generation; ++g) {
      auto it = generation_start.find(g);
      const bool reached = it != generation_start.end() && it->second != kUnknown &&
                           start >= it->second - kCutTolerance;
      if (pad_generation >= g || reached)
        gen = g;
    }
    return gen;
  }

  /* ---- writing segments ---- */

  Container container_for(const Video &v) const
  {
    if (v.format.codec == VideoCodec::VP9)
      return Container::Fmp4;
    if (settings.audio_mode == AudioMode::Muxed && audio_present &&
        audio_format.codec == AudioCodec::Opus)
      return Container::Fmp4;
    return settings.container;
  }

  bool muxed_audio() const { return audio_present && settings.audio_mode == AudioMode::Muxed; }

  std::vector<Mp4Track> tracks_for(const Rendition &r, const Video *v)
  {
    std::vector<Mp4Track> tracks;
    if (v) {
      Mp4Track t;
      t.id = 1;
      t.timescale = 90000;
      t.width = v->width;
      t.height = v->height;
      if (v->format.codec == VideoCodec::H264) {
        t.codec = Mp4Codec::H264;
        t.avcc = build_avcc(v->avc);
      } else {
        t.codec = Mp4Codec::VP9;
        t.vp9 = v->vp9;
      }
      tracks.push_back(t);
    }
    if ((r.audio_only || muxed_audio()) && have_audio_format) {
      Mp4Track t;
      t.id = v ? 2 : 1;
      if (audio_format.codec == AudioCodec::AAC) {
        t.codec = Mp4Codec::AAC;
        t.aac = audio_format.aac;
        t.channels = audio_format.aac.channels;
        t.sample_rate = audio_format.aac.sample_rate;
      } else {
        t.codec = Mp4Codec::Opus;
        t.opus = audio_format.opus;
        t.channels = audio_format.opus.channels;
        t.sample_rate = 48000;
      }
      t.timescale = static_cast<uint32_t>(t.sample_rate);
      t.bitrate = static_cast<uint32_t>(audio_format.declared_bitrate);
      tracks.push_back(t);
    }
    return tracks;
  }

  Bytes mux_ts(Rendition &r, const Segment &seg, bool with_video, bool with_audio)
  {
    if (!r.ts)
      r.ts = std::make_unique<TsWriter>(with_video, with_audio);
    Bytes out;
    size_t estimate = 4096;
    for (const auto &s : seg.video)
      estimate += s.data->size() * 189 / 184 + 376;
    for (const auto &s : seg.audio)
      estimate += s.data->size() * 189 / 184 + 376;
    out.reserve(estimate);
    r.ts->write_tables(out);
    size_t vi = 0, ai = 0;
    while (vi < seg.video.size() || ai < seg.audio.size()) {
      bool take_video = vi < seg.video.size();
      if (take_video && ai < seg.audio.size()) {
        const MediaSample &v = seg.video[vi];
        const int64_t vdts = v.dts != kUnknown ? v.dts : v.pts;
        take_video = vdts <= seg.audio[ai].pts;
      }
      if (take_video) {
        const MediaSample &v = seg.video[vi++];
        const int64_t dts = v.dts != kUnknown ? v.dts : v.pts;
        r.ts->write_video(out, *v.data, to_timescale(v.pts, kTsClock), to_timescale(dts, kTsClock),
                          v.keyframe);
      } else {
        const MediaSample &a = seg.audio[ai++];
        Bytes adts = adts_header(audio_format.aac, a.data->size());
        adts.insert(adts.end(), a.data->begin(), a.data->end());
        r.ts->write_audio(out, adts, to_timescale(a.pts, kTsClock));
      }
    }
    return out;
  }

  Bytes mux_fmp4(Rendition &r, const Segment &seg, const std::vector<Mp4Track> &tracks)
  {
    std::vector<Mp4Run> runs;
    for (const auto &t : tracks) {
      Mp4Run run;
      run.track = &t;
      const std::vector<MediaSample> &samples = t.video() ? seg.video : seg.audio;
      if (samples.empty())
        continue;
      const int64_t scale = t.timescale;
      auto decode = [&](const MediaSample &s) { return s.dts != kUnknown ? s.dts : s.pts; };
      run.base_decode_time = static_cast<uint64_t>(to_timescale(decode(samples[0]), scale));
      for (size_t i = 0; i < samples.size(); ++i) {
        const MediaSample &s = samples[i];
        const int64_t here = to_timescale(decode(s), scale);
        int64_t next;
        if (i + 1 < samples.size())
          next = to_timescale(decode(samples[i + 1]), scale);
        else if (t.video() && seg.next_dts != kUnknown)
          next = to_timescale(seg.next_dts, scale);
        else
          next = to_timescale(decode(s) + (s.duration != kUnknown ? s.duration : 0), scale);
        Mp4Sample m;
        m.data = s.data.get();
        m.duration = static_cast<uint32_t>(std::max<int64_t>(0, next - here));
        m.cts_offset = static_cast<int32_t>(to_timescale(s.pts, scale) - here);
        m.keyframe = t.video() ? s.keyframe : true;
        run.samples.push_back(m);
      }
      runs.push_back(std::move(run));
    }
    return mp4_media_segment(r.fragment_sequence++, runs);
  }

  std::vector<std::string> daterange_tags(Rendition &r, const Segment &seg, bool last)
  {
    std::vector<std::string> tags;
    for (size_t i = 0; i < dateranges.size(); ++i) {
      if (r.dateranges.count(i))
        continue;
      const DateRange &d = dateranges[i];
      int64_t start = d.start;
      if (start == kUnknown && d.start_us >= 0)
        start = running_of(seg.generation, d.start_us);
      if (start == kUnknown || (!last && start >= seg.end))
        continue;
      DateRangeTag tag;
      tag.id = d.id;
      tag.klass = d.klass;
      tag.start_us = d.start_us >= 0 ? d.start_us : wall_of(seg.generation, start);
      tag.duration = d.duration;
      tag.attributes = d.attributes;
      tags.push_back(render_daterange(tag));
      r.dateranges.insert(i);
    }
    return tags;
  }

  void retire(Rendition &r, std::vector<PlaylistSegment> removed)
  {
    const unsigned keep = std::max(1u, settings.playlist_length);
    for (auto &rt : r.retired)
      if (rt.countdown > 0)
        --rt.countdown;
    for (auto &s : removed)
      r.retired.push_back({s.uri, keep});
    while (!r.retired.empty() && r.retired.front().countdown == 0) {
      std::remove(path(r.retired.front().uri).c_str());
      r.retired.pop_front();
    }
    /* Init segments nobody refers to any more. */
    if (r.init_files.size() > 1) {
      std::set<std::string> used = {r.init_uri};
      for (const auto &s : r.playlist.segments())
        used.insert(s.map_uri);
      for (auto it = r.init_files.begin(); it != r.init_files.end();) {
        if (!used.count(*it)) {
          std::remove(path(*it).c_str());
          it = r.init_files.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  bool write_playlist(Rendition &r)
  {
    const std::string text = r.playlist.render(r.ended);
    return write(r.name + ".m3u8", "playlist", text.data(), text.size());
  }

  /* Writes a finished segment and lists it. */
  bool finalize(Rendition &r, Video *v, Segment seg, bool last)
  {
    const bool with_video = v != nullptr;
    const bool with_audio = r.audio_only || muxed_audio();
    if ((with_video && seg.video.empty()) || (!with_video && seg.audio.empty()))
      return true;
    if (seg.end == kUnknown || seg.end <= seg.start)
      seg.end = seg.start + 1;

    Bytes bytes;
    std::string ext;
    std::vector<Mp4Track> tracks;
    if (r.container == Container::MpegTs) {
      bytes = mux_ts(r, seg, with_video, with_audio && have_audio_format);
      ext = ".ts";
    } else {
      tracks = tracks_for(r, v);
      if (r.init_serial != r.format_serial || r.init_uri.empty()) {
        const Bytes init = mp4_init_segment(tracks);
        const std::string uri = r.name + "-init-" + std::to_string(r.format_serial + 1) + ".mp4";
        if (!write(uri, "init segment", init.data(), init.size()))
          return false;
        r.init_uri = uri;
        r.init_serial = r.format_serial;
        r.init_files.insert(uri);
      }
      bytes = mux_fmp4(r, seg, tracks);
      ext = ".m4s";
    }

    PlaylistSegment ps;
    ps.sequence = r.next_sequence++;
    ps.uri = sequence_name(r.name, ps.sequence, ext.c_str());
    ps.duration = seg.end - seg.start;
    ps.discontinuity = seg.discontinuity;
    ps.map_uri = r.container == Container::Fmp4 ? r.init_uri : std::string();
    ps.bytes = bytes.size();
    if (settings.program_date_time)
      ps.pdt_us = wall_of(seg.generation, seg.start);
    ps.tags = daterange_tags(r, seg, last);
    if (!write(ps.uri, "segment", bytes.data(), bytes.size()))
      return false;

    const double bps = static_cast<double>(bytes.size()) * 8.0 * kSecond / ps.duration;
    r.peak_bps_any = std::max(r.peak_bps_any, bps);
    if (ps.duration * 2 >= static_cast<int64_t>(settings.target_duration) * kSecond)
      r.peak_bps = std::max(r.peak_bps, bps);
    r.total_bytes += bytes.size();
    r.total_duration += ps.duration;
    if (ps.pdt_us >= 0)
      last_pdt_end_us = std::max(last_pdt_end_us, ps.pdt_us + ps.duration / 1000);

    SegmentReport report;
    report.rendition = r.name;
    report.path = path(ps.uri);
    report.playlist = path(r.name + ".m3u8");
    report.sequence = ps.sequence;
    report.start = seg.start;
    report.duration = ps.duration;
    report.discontinuity = ps.discontinuity;

    retire(r, r.playlist.add(std::move(ps)));
    if (last)
      r.ended = true;
    if (!write_playlist(r))
      return false;
    report.listed_us = hooks.now_us ? hooks.now_us() : 0;
    if (hooks.segment)
      hooks.segment(report);
    return write_master(false);
  }

  /* ---- video ---- */

  Segment open_segment(Rendition &r, int pad_generation, int64_t start, bool forced_discontinuity)
  {
    Segment seg;
    seg.start = start;
    const int gen = generation_for(r.generation, pad_generation, start);
    seg.discontinuity = forced_discontinuity || (r.opened_any && gen != r.generation);
    seg.generation = gen;
    r.generation = gen;
    r.opened_any = true;
    anchor(gen, start);
    return seg;
  }

  void start_video_segment(Video &v, int64_t k)
  {
    if (v.format_change)
      v.r.format_serial++;
    v.r.current = open_segment(v.r, v.pad_generation, k, v.format_change);
    v.force_cut = false;
    v.format_change = false;
    note_cut(v.r.generation, k);
    /* Audio from before the first segment has nowhere to go; later, the
     * segments being closed still want theirs. */
    if (v.r.closing.empty())
      while (!v.pending_audio.empty() && v.pending_audio.front().pts < k - kCutTolerance)
        v.pending_audio.pop_front();
  }

  bool due(Video &v, int64_t k)
  {
    const Segment &seg = *v.r.current;
    if (v.force_cut || v.format_change)
      return true;
    const int64_t planned = next_planned(seg.generation, seg.start);
    if (planned != kUnknown)
      return k + kCutTolerance >= planned;
    /* Nobody has cut here yet: cut when waiting for the next keyframe would
     * make the segment longer than the target, as HLS rounds durations. */
    const int64_t gop = v.gop != kUnknown && v.gop > 0 ? v.gop : k - seg.start;
    const int64_t limit = static_cast<int64_t>(settings.target_duration) * kSecond + kSecond / 2;
    return k - seg.start + gop >= limit;
  }

  bool on_keyframe(Video &v, const MediaSample &s)
  {
    const int64_t k = s.pts;
    if (v.last_keyframe != kUnknown && k > v.last_keyframe)
      v.gop = k - v.last_keyframe;
    v.last_keyframe = k;
    if (!v.r.current) {
      start_video_segment(v, k);
      return true;
    }
    if (k <= v.r.current->start || !due(v, k))
      return true;
    Segment done = std::move(*v.r.current);
    done.end = k;
    done.closed_us = hooks.now_us ? hooks.now_us() : 0;
    done.next_dts = s.dts != kUnknown ? s.dts : s.pts;
    v.r.closing.push_back(std::move(done));
    start_video_segment(v, k);
    return true;
  }

  /* The frame just added ends its GOP: the next keyframe comes at `k`. When
   * a cut is due there, close the segment now rather than when that keyframe
   * has been captured, decoded and encoded (a frame or more later); the
   * keyframe then opens the next one. */
  bool close_at_gop_end(Video &v, int64_t k, int64_t next_dts)
  {
    if (!v.r.current || k <= v.r.current->start + kCutTolerance || !due(v, k))
      return true;
    Segment done = std::move(*v.r.current);
    v.r.current.reset();
    done.end = k;
    done.closed_us = hooks.now_us ? hooks.now_us() : 0;
    done.next_dts = next_dts;
    /* The cut enters the shared plan when the keyframe comes: the stream may
     * end before it does, and then there is no cut at `k`. */
    v.r.closing.push_back(std::move(done));
    return true;
  }

  /* Moves the audio before `end` into the segment. */
  void take_audio(std::deque<MediaSample> &pending, Segment &seg)
  {
    while (!pending.empty() && pending.front().pts < seg.end) {
      if (pending.front().pts >= seg.start - kCutTolerance)
        seg.audio.push_back(std::move(pending.front()));
      pending.pop_front();
    }
  }

  bool drain(Video &v)
  {
    while (!v.r.closing.empty()) {
      Segment &seg = v.r.closing.front();
      if (muxed_audio() && !audio_ended) {
        const bool audio_there = audio_end != kUnknown && audio_end >= seg.end;
        const bool gave_up = live && hooks.now_us && hooks.now_us() - seg.closed_us > kAudioWaitUs;
        if (!audio_there && !gave_up)
          break;
      }
      if (muxed_audio())
        take_audio(v.pending_audio, seg);
      Segment s = std::move(seg);
      v.r.closing.pop_front();
      const bool last = v.ended && v.r.closing.empty() && !v.r.current;
      if (!finalize(v.r, &v, std::move(s), last))
        return false;
    }
    if (v.ended && v.r.closing.empty() && !v.r.ended) {
      v.r.ended = true;
      if (v.r.opened_any && !write_playlist(v.r))
        return false;
    }
    return true;
  }

  /* ---- audio group ---- */

  bool drain_group()
  {
    Rendition *g = audio_group.get();
    if (!g)
      return true;
    while (true) {
      if (!g->current) {
        if (group_cuts.empty())
          break;
        auto [gen, t] = group_cuts.front();
        group_cuts.pop_front();
        g->current = open_segment(*g, audio_pad_generation, t, false);
        while (!group_pending.empty() && group_pending.front().pts < t - kCutTolerance)
          group_pending.pop_front();
        continue;
      }
      if (group_cuts.empty())
        break;
      auto [gen, t] = group_cuts.front();
      if (t <= g->current->start) {
        group_cuts.pop_front();
        continue;
      }
      if (!audio_ended && (audio_end == kUnknown || audio_end < t))
        break;
      group_cuts.pop_front();
      Segment seg = std::move(*g->current);
      seg.end = t;
      take_audio(group_pending, seg);
      g->current = open_segment(*g, audio_pad_generation, t, false);
      if (!finalize(*g, nullptr, std::move(seg), false))
        return false;
    }
    return true;
  }

  /* ---- master ---- */

  bool write_master(bool final)
  {
    if (master_final)
      return true;
    std::vector<Video *> started;
    for (auto &v : videos)
      if (v->started)
        started.push_back(v.get());
    if (started.empty())
      return true;
    bool all_listed = true, any_long = false;
    for (Video *v : started) {
      all_listed &= !v->r.playlist.segments().empty() || v->r.next_sequence > 0;
      any_long |= v->r.next_sequence >= 3;
    }
    if (audio_group && audio_group->next_sequence == 0 && !final)
      all_listed = false;
    if (!all_listed && !any_long && !final)
      return true;

    const Rendition *group =
        audio_group && audio_group->next_sequence > 0 ? audio_group.get() : nullptr;
    std::vector<MasterVariant> variants;
    std::vector<uint64_t> bandwidths;
    bool any_fmp4 = group && group->container == Container::Fmp4;
    for (Video *v : started) {
      if (v->r.next_sequence == 0)
        continue;
      MasterVariant m;
      m.uri = v->r.name + ".m3u8";
      double peak = v->r.peak_bps > 0 ? v->r.peak_bps : v->r.peak_bps_any;
      double average = v->r.total_duration > 0
                           ? static_cast<double>(v->r.total_bytes) * 8.0 * kSecond /
                                 static_cast<double>(v->r.total_duration)
                           : 0;
      if (group) {
        peak += group->peak_bps > 0 ? group->peak_bps : group->peak_bps_any;
        if (group->total_duration > 0)
          average += static_cast<double>(group->total_bytes) * 8.0 * kSecond /
                     static_cast<double>(group->total_duration);
      }
      if (!final && v->format.declared_bitrate > 0) {
        /* Until the stream has ended the encoder's own limit, with the
         * container's overhead, is the honest peak. */
        double declared = static_cast<double>(v->format.declared_bitrate) * 1.1;
        if (audio_present)
          declared += audio_format.declared_bitrate > 0
                          ? static_cast<double>(audio_format.declared_bitrate) * 1.1
                          : 0;
        peak = std::max(peak, declared);
      }
      m.bandwidth = static_cast<uint64_t>(peak + 0.5);
      m.average_bandwidth = static_cast<uint64_t>(average + 0.5);
      m.width = v->width;
      m.height = v->height;
      if (v->format.fps_n > 0 && v->format.fps_d > 0)
        m.frame_rate = static_cast<double>(v->format.fps_n) / v->format.fps_d;
      else if (v->frames > 1 && v->end_time != kUnknown && v->end_time > v->first_pts)
        m.frame_rate = static_cast<double>(v->frames) * kSecond /
                       static_cast<double>(v->end_time - v->first_pts);
      m.codecs = v->codec_string;
      if (audio_present && !audio_codec_string.empty())
        m.codecs += (m.codecs.empty() ? "" : ",") + audio_codec_string;
      if (group)
        m.audio_group = "audio";
      any_fmp4 |= v->r.container == Container::Fmp4;
      variants.push_back(m);
      bandwidths.push_back(m.bandwidth);
    }
    if (variants.empty())
      return true;
    std::vector<MasterAudio> audio;
    if (group)
      audio.push_back({"audio", "audio", group->name + ".m3u8", true});
    const std::string text = render_master(variants, audio, any_fmp4 ? 6 : 3);

    /* Rewrite when it matters: new variants, a higher peak, the end. */
    bool rewrite = final || master_text.empty() || bandwidths.size() != master_bandwidths.size();
    for (size_t i = 0; !rewrite && i < bandwidths.size(); ++i)
      rewrite = bandwidths[i] > master_bandwidths[i];
    if (!rewrite || text == master_text)
      return true;
    if (!write(settings.master_name, "master playlist", text.data(), text.size()))
      return false;
    master_text = text;
    master_bandwidths = bandwidths;
    master_final = final;
    if (hooks.master)
      hooks.master(path(settings.master_name), variants.size());
    return true;
  }

  bool all_ended() const
  {
    for (const auto &v : videos)
      if (!v->ended)
        return false;
    return !audio_present || audio_ended;
  }

  bool maybe_finish()
  {
    if (done || !all_ended())
      return true;
    for (auto &v : videos) {
      if (!drain(*v))
        return false;
    }
    if (audio_group) {
      if (!drain_group())
        return false;
      Rendition &g = *audio_group;
      if (g.current) {
        Segment seg = std::move(*g.current);
        g.current.reset();
        seg.end = audio_end != kUnknown ? audio_end : seg.start + 1;
        take_audio(group_pending, seg);
        if (!finalize(g, nullptr, std::move(seg), true))
          return false;
      }
      if (!g.ended) {
        g.ended = true;
        if (g.opened_any && !write_playlist(g))
          return false;
      }
    }
    done = true;
    return write_master(true);
  }
};

HlsWriter::HlsWriter(HlsSettings settings, Hooks hooks)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(hooks)))
{}

HlsWriter::~HlsWriter() = default;

bool HlsWriter::start(std::string &error)
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  if (impl_->settings.folder.empty())
    impl_->settings.folder = ".";
  std::string why;
  if (!make_folder(impl_->settings.folder, why)) {
    error = "Could not create the HLS folder " + impl_->settings.folder + ": " + why;
    return false;
  }
  return true;
}

int HlsWriter::add_video(const std::string &name)
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  impl_->videos.push_back(std::make_unique<Video>(name, impl_->settings));
  /* A rendition that joins after a restart starts in that generation. */
  Video &v = *impl_->videos.back();
  v.pad_generation = impl_->generation;
  v.r.generation = impl_->generation;
  return static_cast<int>(impl_->videos.size() - 1);
}

void HlsWriter::add_audio()
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  impl_->audio_present = true;
  impl_->audio_pad_generation = impl_->generation;
  if (impl_->settings.audio_mode == AudioMode::Group && !impl_->audio_group) {
    impl_->audio_group = std::make_unique<Rendition>("audio", impl_->settings);
    impl_->audio_group->audio_only = true;
  }
}

bool HlsWriter::set_video_format(int id, const VideoFormat &format, std::string &error)
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  Video *found = impl_->video(id);
  if (!found) {
    error = "no video rendition " + std::to_string(id);
    return false;
  }
  Video &v = *found;
  if (v.have_format) {
    const bool changed = format.codec != v.format.codec || format.width != v.format.width ||
                         format.height != v.format.height ||
                         (!format.avc.empty() && (format.avc.sps != v.avc.sps));
    if (changed)
      v.format_change = true;
    if (format.codec != v.format.codec)
      v.r.ts.reset();
  }
  v.format = format;
  v.have_format = true;
  if (!format.avc.empty())
    v.avc = format.avc;
  if (format.width > 0) {
    v.width = format.width;
    v.height = format.height;
  }
  if (!format.codecs.empty())
    v.codec_string = format.codecs; /* from the caps (gst_codec_utils_caps_get_mime_codec) */
  else if (format.codec == VideoCodec::H264 && !v.avc.sps.empty())
    v.codec_string = avc_codec_string(v.avc.sps[0]);
  v.r.container = impl_->container_for(v);
  return true;
}

bool HlsWriter::set_audio_format(const AudioFormat &format, std::string &)
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  Impl &d = *impl_;
  if (d.have_audio_format) {
    const bool changed =
        format.codec != d.audio_format.codec || (format.have_config && d.audio_format.have_config &&
                                                 format.aac.asc != d.audio_format.aac.asc);
    if (changed) {
      for (auto &v : d.videos)
        v->format_change = true;
      if (d.audio_group)
        d.audio_group->format_serial++;
    }
  }
  d.audio_format = format;
  d.have_audio_format = format.codec == AudioCodec::Opus || format.have_config;
  if (!format.codecs.empty())
    d.audio_codec_string = format.codecs; /* from the caps */
  else if (format.codec == AudioCodec::AAC && format.have_config)
    d.audio_codec_string = aac_codec_string(format.aac);
  else if (format.codec == AudioCodec::Opus)
    d.audio_codec_string = "opus";
  for (auto &v : d.videos)
    if (v->have_format)
      v->r.container = d.container_for(*v);
  if (d.audio_group)
    d.audio_group->container =
        format.codec == AudioCodec::Opus ? Container::Fmp4 : d.settings.container;
  return true;
}

bool HlsWriter::push_video(int id, MediaSample sample)
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  Impl &d = *impl_;
  if (d.failed || !d.video(id))
    return false;
  Video &v = *d.video(id);
  if (!v.have_format || sample.pts == kUnknown || v.ended)
    return true;

  bool keyframe = false;
  std::shared_ptr<const Bytes> payload;
  if (v.format.codec == VideoCodec::H264) {
    const Bytes &in = *sample.data;
    auto nals = v.format.length_prefixed ? split_avc(in.data(), in.size(), v.avc.length_size)
                                         : split_annexb(in.data(), in.size());
    if (nals.empty())
      return true;
    keyframe = has_idr(nals);
    if (keyframe) {
      AvcConfig found;
      found.length_size = v.avc.length_size;
      collect_parameter_sets(nals, found);
      if (!found.sps.empty() && !found.pps.empty()) {
        if (!v.avc.empty() && found.sps != v.avc.sps && v.r.opened_any)
          v.format_change = true;
        v.avc.sps = found.sps;
        v.avc.pps = found.pps;
      }
      if (!v.avc.sps.empty()) {
        if (v.format.codecs.empty())
          v.codec_string = avc_codec_string(v.avc.sps[0]);
        if (auto info = parse_sps(v.avc.sps[0])) {
          v.width = info->width;
          v.height = info->height;
        }
      }
      if (v.avc.empty()) {
        d.warn(v.r.name + ": a keyframe without SPS/PPS and none in the caps; waiting for one");
        return true;
      }
    }
    if (v.r.container == Container::MpegTs) {
      /* h264parse config-interval=-1 already put AUD, SPS and PPS where
       * MPEG-TS wants them: the access unit goes in as it is. */
      if (v.format.length_prefixed) {
        d.fail(v.r.name + ": MPEG-TS takes H.264 in Annex B (byte-stream)",
               "length-prefixed H.264 reached the MPEG-TS writer; hlsabrsink's h264parse "
               "should have made it byte-stream");
        return false;
      }
      payload = sample.data;
    } else {
      payload = std::make_shared<const Bytes>(to_avc_sample(nals));
    }
  } else {
    auto info = parse_vp9_frame(sample.data->data(), sample.data->size());
    keyframe = info && info->keyframe;
    if (keyframe) {
      if (v.have_vp9 && v.r.opened_any &&
          (info->width != v.vp9.width || info->height != v.vp9.height ||
           info->profile != v.vp9.profile || info->bit_depth != v.vp9.bit_depth))
        v.format_change = true;
      v.vp9 = *info;
      v.have_vp9 = true;
      v.width = info->width;
      v.height = info->height;
      v.codec_string = vp9_codec_string(
          *info, vp9_level(info->width, info->height,
                           v.format.fps_n > 0 && v.format.fps_d > 0
                               ? static_cast<double>(v.format.fps_n) / v.format.fps_d
                               : 30.0));
    }
    payload = sample.data;
  }

  /* A jump in time is a restart the sender did not announce. */
  if (v.last_pts != kUnknown) {
    const int64_t limit = std::max<int64_t>(
        5 * kSecond, 3 * static_cast<int64_t>(d.settings.target_duration) * kSecond);
    if (sample.pts < v.last_pts - kSecond || sample.pts > v.last_pts + limit) {
      d.warn(v.r.name + ": timestamps jumped; starting a new segment with a discontinuity");
      if (v.pad_generation == d.generation) {
        d.generation++;
        d.generation_start[d.generation] = sample.pts;
      }
      v.pad_generation = d.generation;
      v.force_cut = true;
    }
  }

  MediaSample s = sample;
  s.data = payload;
  s.keyframe = keyframe;
  if (keyframe && !d.on_keyframe(v, s))
    return false;
  v.last_pts = s.pts;
  const int64_t end = s.pts + (s.duration != kUnknown ? s.duration : 0);
  if (v.end_time == kUnknown || end > v.end_time)
    v.end_time = end;
  if (!v.r.current)
    return true; /* nothing before the first keyframe */
  if (!v.started) {
    v.started = true;
    v.first_pts = s.pts;
  }
  v.frames++;
  const int64_t gop_end = s.gop_end;
  const int64_t next_dts = s.duration != kUnknown && s.duration > 0
                               ? (s.dts != kUnknown ? s.dts : s.pts) + s.duration
                               : gop_end;
  v.r.current->video.push_back(std::move(s));
  if (gop_end != kUnknown && !d.close_at_gop_end(v, gop_end, next_dts))
    return false;
  return d.drain(v);
}

bool HlsWriter::push_audio(MediaSample sample)
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  Impl &d = *impl_;
  if (d.failed)
    return false;
  if (sample.pts == kUnknown || d.audio_ended)
    return true;
  if (d.audio_format.codec == AudioCodec::AAC) {
    /* Raw frames (hlsabrsink's aacparse turns ADTS into raw, with codec_data). */
    if (!d.audio_format.have_config)
      return true;
    if (sample.duration == kUnknown && d.audio_format.aac.sample_rate > 0)
      sample.duration = 1024 * kSecond / d.audio_format.aac.sample_rate;
  }
  const int64_t end = sample.pts + (sample.duration != kUnknown ? sample.duration : 0);
  if (d.audio_end == kUnknown || end > d.audio_end)
    d.audio_end = end;

  if (d.settings.audio_mode == AudioMode::Group) {
    d.group_pending.push_back(sample);
    while (d.group_pending.size() > 1 &&
           d.group_pending.back().pts - d.group_pending.front().pts > kAudioBacklog)
      d.group_pending.pop_front();
    return d.drain_group();
  }
  for (auto &v : d.videos) {
    /* Even before its caps (audio often gets here first) and after its
     * video ended, while segments still wait for audio. */
    if (v->ended && v->r.closing.empty())
      continue;
    v->pending_audio.push_back(sample);
    while (v->pending_audio.size() > 1 &&
           v->pending_audio.back().pts - v->pending_audio.front().pts > kAudioBacklog)
      v->pending_audio.pop_front();
    if (!d.drain(*v))
      return false;
  }
  return true;
}

bool HlsWriter::end_video(int id)
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  Impl &d = *impl_;
  if (!d.video(id))
    return false;
  Video &v = *d.video(id);
  if (v.ended)
    return !d.failed;
  v.ended = true;
  if (v.r.current) {
    Segment seg = std::move(*v.r.current);
    v.r.current.reset();
    seg.end = v.end_time;
    seg.closed_us = d.hooks.now_us ? d.hooks.now_us() : 0;
    v.r.closing.push_back(std::move(seg));
  }
  if (!d.failed && !d.drain(v))
    return false;
  return !d.failed && d.maybe_finish();
}

bool HlsWriter::end_audio()
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  Impl &d = *impl_;
  d.audio_ended = true;
  if (d.failed)
    return false;
  for (auto &v : d.videos)
    if (!d.drain(*v))
      return false;
  if (!d.drain_group())
    return false;
  return d.maybe_finish();
}

void HlsWriter::restart(int pad)
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  Impl &d = *impl_;
  if (pad != kAudioPad && !d.video(pad))
    return;
  int &pad_generation = pad == kAudioPad ? d.audio_pad_generation : d.video(pad)->pad_generation;
  if (pad_generation == d.generation) {
    d.generation++;
    int64_t position = kUnknown;
    if (pad == kAudioPad)
      position = d.audio_end;
    else
      position = d.video(pad)->end_time;
    d.generation_start[d.generation] = position;
  }
  pad_generation = d.generation;
  if (pad != kAudioPad)
    d.video(pad)->force_cut = true;
}

void HlsWriter::set_live(bool live)
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  impl_->live = live;
}

void HlsWriter::add_daterange(DateRange range)
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  /* A sugarcast-daterange travels through abrladder on every rung, so the
   * same range arrives once per variant pad: its ID makes it one. */
  for (const DateRange &known : impl_->dateranges)
    if (known.id == range.id)
      return;
  impl_->dateranges.push_back(std::move(range));
}

bool HlsWriter::finished() const
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  return impl_->done;
}

int64_t HlsWriter::latest_running_time() const
{
  std::lock_guard<std::mutex> guard(impl_->lock);
  int64_t latest = impl_->audio_end;
  for (const auto &v : impl_->videos)
    if (v->end_time != kUnknown && (latest == kUnknown || v->end_time > latest))
      latest = v->end_time;
  return latest;
}

} // namespace sugarcast::abr
