/* Sugarcast — HlsWriter's segment muxing (see hlswriter.h and
 * hlswriter-impl.h).
 *
 * Owns turning a closed segment into a file: which container a rendition
 * uses, its fMP4 tracks and init segment, muxing the samples into MPEG-TS
 * (mpegts.h) or fMP4 (fmp4.h) with timestamps in the container's clock, and
 * writing the segment. finalize() then lists it through the playlist set
 * (hlswriter-playlists.cpp). */
#include "hlswriter-impl.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace sugarcast::abr {

namespace {

/* Timestamps in the files are running time plus this, so B-frame decode
 * times before the first frame stay positive. */
constexpr int64_t kTimeOffset = 10 * kSecond;

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

} // namespace

Container HlsWriter::Impl::container_for(const Video &v) const
{
  if (v.format.codec == VideoCodec::VP9)
    return Container::Fmp4;
  if (settings.audio_mode == AudioMode::Muxed && audio_present &&
      audio_format.codec == AudioCodec::Opus)
    return Container::Fmp4;
  return settings.container;
}

std::vector<Mp4Track> HlsWriter::Impl::tracks_for(const Rendition &r, const Video *v)
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

Bytes HlsWriter::Impl::mux_ts(Rendition &r, const Segment &seg, bool with_video, bool with_audio)
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

Bytes HlsWriter::Impl::mux_fmp4(Rendition &r, const Segment &seg,
                                const std::vector<Mp4Track> &tracks)
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

/* Writes a finished segment and lists it. */
bool HlsWriter::Impl::finalize(Rendition &r, Video *v, Segment seg, bool last)
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

} // namespace sugarcast::abr
