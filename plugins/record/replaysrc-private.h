/* Sugarcast — what replaysrc's files share: its state (ReplayPrivate), the
 * byte reader inside it and the functions one file gives the others.
 * Private to gstreplaysrc.cpp (the element: properties, state changes,
 * pads, live pacing), replaysrc-reader.cpp (the byte reader),
 * replaysrc-aligned.cpp (keyframe-aligned ranges and the audio gate),
 * replaysrc-exact.cpp (a frame-exact cut's timeline) and replaysrc-head.cpp
 * (the re-encoded head GOP). */
#pragma once

#include "gstreplaysrc.h"

#include "range.h"

#include <gst/base/gstbasesrc.h>

#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN(replay_src_debug);
#define GST_CAT_DEFAULT replay_src_debug

/* PTS from two demuxers and the manifest's nanoseconds differ by the 90 kHz
 * rounding: a frame this close to a time counts as at it. */
constexpr GstClockTime kSlack = GST_MSECOND;

/* An AAC frame this far past the range's end from its first video frame is
 * not of the range: its timestamp wrapped (2^33 ticks of 90 kHz) or is
 * otherwise implausible. */
constexpr gint64 kPlausible = GST_SECOND;

/* ---- the byte reader: the segments of a range as one stream ---- */

#define SUGARCAST_TYPE_REPLAY_READER (sugarcast_replay_reader_get_type())
G_DECLARE_FINAL_TYPE(SugarcastReplayReader, sugarcast_replay_reader, SUGARCAST, REPLAY_READER,
                     GstBaseSrc)

struct ReaderPrivate
{
  std::mutex lock;
  std::vector<sugarcast::record::Chunk> chunks;
  uint64_t size = 0;
  int fd = -1;
  size_t fd_chunk = SIZE_MAX;
};

struct _SugarcastReplayReader
{
  GstBaseSrc parent;
  ReaderPrivate *priv;
};

/* replaysrc-reader.cpp: what READER (stopped) reads next start: CHUNKS, one
 * after the other. Returns their size in bytes. */
uint64_t reader_set_chunks(GstElement *reader, std::vector<sugarcast::record::Chunk> chunks);

/* ---- replaysrc ---- */

struct ReplayPrivate
{
  std::mutex lock;
  std::string location;
  gint64 start = 0;
  gint64 stop = -1;
  bool live = false;
  GstElement *reader = nullptr;
  GstElement *demux = nullptr;
  /* Between tsdemux and everything else: each stream leaves the demuxer on
   * a thread of its own, so a downstream that blocks one branch until the
   * other has data (a muxer prerolling) cannot stall the demuxer. */
  GstElement *streams = nullptr;
  bool have_video = false;
  bool have_audio = false;
  /* Frames at or after this much from the range's first keyframe are
   * dropped (the bytes end at the keyframe after stop); -1 = none. */
  gint64 trim = -1;
  /* A video frame at or after trim has passed (decode order): the video
   * that follows it is dropped too, until the next segment. */
  bool video_ended = false;
  /* How long the range is from its first keyframe (to stop, or to the
   * recording's end): an AAC frame further than this past the first video
   * frame has a wrapped or otherwise implausible timestamp. */
  gint64 span = 0;
  GstClockTime base = GST_CLOCK_TIME_NONE; /* PTS of the first video frame */

  bool frame_exact = false;
  /* This run's frame-exact cut (replay_prepare plans it). Times are ns from
   * the recording's start; k0 is the keyframe at or before start, k1 the
   * next one, where the untouched stream resumes (-1: none). */
  bool exact = false;
  bool reencode = false; /* start is inside a GOP: the head is re-encoded */
  gint64 cut_start = 0;
  gint64 cut_stop = -1;
  gint64 k0 = 0;
  gint64 k1 = -1;
  /* k0's PTS as the main and the head demuxers give it: the two timelines
   * are mapped to the manifest's through them. */
  GstClockTime main_base = GST_CLOCK_TIME_NONE;
  GstClockTime head_base = GST_CLOCK_TIME_NONE;
  /* Audio waits here (the multiqueue's audio output) until the first video
   * frame has set the range's base (base, or main_base when frame-exact):
   * tsdemux gives out the AAC frames muxed before the range's first
   * keyframe first, and they are cut against that base. */
  GstPad *audio_gate = nullptr;
  gulong audio_gate_probe = 0;
  bool gate_open = false;
  /* Re-encoding: the caps the head is encoded to, concat's pad for the rest,
   * and what the video ghost pad shows. */
  GstElement *encoded_caps = nullptr;
  GstPad *concat_rest = nullptr;
  GstElement *video_out = nullptr;
  /* The source's SPS and PPS (Annex B), put before the head's own so that a
   * downstream avcC carries both. */
  std::vector<uint8_t> source_parameter_sets;
};

struct _SugarcastReplaySrc
{
  GstBin parent;
  ReplayPrivate *priv;
};

/* Which part of a frame-exact cut a probe serves. */
enum class Part {
  Head,  /* decoded head frames, before the encoder: drops those before start */
  Rest,  /* the untouched video from k1 on */
  Audio, /* AAC: drops frames wholly before start */
};

/* gstreplaysrc.cpp: each branch's end, paced by the clock when live, as a ghost pad */
GstElement *add_clocksync(SugarcastReplaySrc *self, GstElement *last);
void add_ghost(SugarcastReplaySrc *self, GstElement *last, bool video);

/* replaysrc-aligned.cpp: keyframe-aligned branches; the audio gate (lock held to open it) */
void open_audio_gate(ReplayPrivate *p);
void gate_audio(ReplayPrivate *p, GstPad *src);
GstPadProbeReturn drop_untimed_audio(gpointer element);
bool link_aligned(SugarcastReplaySrc *self, GstPad *src, bool video, bool live);

/* replaysrc-exact.cpp: frame-exact branches and the probes that retime them */
void add_retimer(GstPad *pad, SugarcastReplaySrc *self, Part part);
bool link_exact(SugarcastReplaySrc *self, GstPad *src, bool video, bool live, bool reencode);

/* replaysrc-head.cpp: the re-encoded head GOP */
bool build_head(SugarcastReplaySrc *self, std::vector<sugarcast::record::Chunk> chunks,
                gint64 start);
