/* Sugarcast — HlsWriter's cut plan (see hlswriter.h and hlswriter-impl.h).
 *
 * Owns where segments start and end: the time anchors that map running time
 * to wall-clock time (EXT-X-PROGRAM-DATE-TIME) per generation, the cut plan
 * every rendition shares, generations after a restart, opening and closing
 * each rendition's segment at keyframes and GOP ends, holding a closed
 * segment until its audio has arrived, the audio group's cuts, and the end of
 * the stream. A segment ready to be written goes to finalize()
 * (hlswriter-mux.cpp). */
#include "hlswriter-impl.h"

#include <algorithm>

namespace sugarcast::abr {

namespace {

/* How long, in wall-clock time, a segment of a live stream waits for audio
 * to reach its end. Streams that are not live wait as long as it takes. */
constexpr int64_t kAudioWaitUs = 1000000;
/* Matching cut times of different renditions. */
constexpr int64_t kCutTolerance = 5 * 1000000;

} // namespace

/* ---- time ---- */

void HlsWriter::Impl::anchor(int gen, int64_t rt)
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

int64_t HlsWriter::Impl::wall_of(int gen, int64_t rt)
{
  auto it = anchors.find(gen);
  if (it == anchors.end())
    return -1;
  return it->second.second + (rt - it->second.first) / 1000;
}

int64_t HlsWriter::Impl::running_of(int gen, int64_t wall_us)
{
  auto it = anchors.find(gen);
  if (it == anchors.end())
    return kUnknown;
  return it->second.first + (wall_us - it->second.second) * 1000;
}

/* ---- the cut plan ---- */

int64_t HlsWriter::Impl::next_planned(int gen, int64_t after)
{
  auto it = plan.find(gen);
  if (it == plan.end())
    return kUnknown;
  for (int64_t t : it->second)
    if (t > after + kCutTolerance)
      return t;
  return kUnknown;
}

void HlsWriter::Impl::note_cut(int gen, int64_t t)
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
int HlsWriter::Impl::generation_for(int current, int pad_generation, int64_t start)
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

/* ---- video ---- */

Segment HlsWriter::Impl::open_segment(Rendition &r, int pad_generation, int64_t start,
                                      bool forced_discontinuity)
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

void HlsWriter::Impl::start_video_segment(Video &v, int64_t k)
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

bool HlsWriter::Impl::due(Video &v, int64_t k)
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

bool HlsWriter::Impl::on_keyframe(Video &v, const MediaSample &s)
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
bool HlsWriter::Impl::close_at_gop_end(Video &v, int64_t k, int64_t next_dts)
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
void HlsWriter::Impl::take_audio(std::deque<MediaSample> &pending, Segment &seg)
{
  while (!pending.empty() && pending.front().pts < seg.end) {
    if (pending.front().pts >= seg.start - kCutTolerance)
      seg.audio.push_back(std::move(pending.front()));
    pending.pop_front();
  }
}

bool HlsWriter::Impl::drain(Video &v)
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

bool HlsWriter::Impl::drain_group()
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

/* ---- the end ---- */

bool HlsWriter::Impl::all_ended() const
{
  for (const auto &v : videos)
    if (!v->ended)
      return false;
  return !audio_present || audio_ended;
}

bool HlsWriter::Impl::maybe_finish()
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

} // namespace sugarcast::abr
