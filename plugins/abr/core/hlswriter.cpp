/* Sugarcast — multi-variant HLS writing: HlsWriter's public calls (see
 * hlswriter.h). Each takes the lock, checks its input, reads from the
 * bitstream what the writer must know (keyframes, parameter sets, picture
 * size, CODECS, jumps in time) and hands the rest to HlsWriter::Impl
 * (hlswriter-impl.h): the cut plan in hlswriter-cuts.cpp, segment muxing in
 * hlswriter-mux.cpp, the playlist set in hlswriter-playlists.cpp. */
#include "hlswriter.h"

#include "hlswriter-impl.h"

#include <glib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

namespace sugarcast::abr {

namespace {

/* Audio kept waiting for a rendition's video, at most. Separate sources in
 * a pipeline that is not live run audio far ahead of video (nothing slows
 * it down); audio is small, so it is kept rather than held back. */
constexpr int64_t kAudioBacklog = 600 * kSecond;

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

bool HlsWriter::Impl::write(const std::string &uri, const std::string &what, const void *data,
                            size_t size)
{
  std::string error;
  if (write_file_atomically(path(uri), data, size, error))
    return true;
  return fail("Could not write " + what + " " + path(uri) + ": " + error,
              "write_file_atomically failed for " + path(uri));
}

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
