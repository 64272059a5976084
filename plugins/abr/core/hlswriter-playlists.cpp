/* Sugarcast — HlsWriter's playlist set (see hlswriter.h and
 * hlswriter-impl.h).
 *
 * Owns what the players read: the EXT-X-DATERANGE tags a segment carries,
 * the media playlist of each rendition, deleting segments and init segments
 * that have left the live window, and the multivariant (master) playlist
 * with its BANDWIDTH, RESOLUTION, CODECS and audio group. */
#include "hlswriter-impl.h"

#include <algorithm>
#include <cstdio>

namespace sugarcast::abr {

std::vector<std::string> HlsWriter::Impl::daterange_tags(Rendition &r, const Segment &seg,
                                                         bool last)
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

void HlsWriter::Impl::retire(Rendition &r, std::vector<PlaylistSegment> removed)
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

bool HlsWriter::Impl::write_playlist(Rendition &r)
{
  const std::string text = r.playlist.render(r.ended);
  return write(r.name + ".m3u8", "playlist", text.data(), text.size());
}

/* ---- master ---- */

bool HlsWriter::Impl::write_master(bool final)
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

} // namespace sugarcast::abr
