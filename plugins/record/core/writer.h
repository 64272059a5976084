/* Sugarcast — writing one recording (one on/off span) to disk, independent of
 * GStreamer.
 *
 * Samples arrive already encoded (H.264 access units in Annex B, AAC frames
 * with ADTS headers, times in nanoseconds on any common clock) and are muxed
 * with the MPEG-TS writer hlsabrsink uses (plugins/abr/core/mpegts.h): every
 * segment starts at a keyframe with PAT and PMT, so each file plays on its
 * own. Muxed bytes are handed to the kernel in pieces of at most
 * `piece` of media (write(2) at whole-frame boundaries), so a killed process
 * loses at most the piece not yet written; `sync` says when the file is also
 * fsynced, which is what a power cut needs. Each closed segment is added to
 * manifest.json and index.m3u8 (atomic replacement).
 *
 * Not thread-safe: the caller serialises calls.
 */
#pragma once

#include "manifest.h"

#include <functional>
#include <memory>
#include <string>

namespace sugarcast::record {

/* When the writer calls fdatasync(2). */
enum class Sync {
  None,    /* never: survives a crashed process, not a power cut */
  Segment, /* at every segment close, and the manifest with it */
  Piece,   /* after every piece, and the manifest at every segment close */
};

struct WriterSettings
{
  std::string folder;                  /* created; must not exist yet or be empty */
  int64_t segment_target = 4000000000; /* ns: cut at the first keyframe after this */
  int64_t piece = 1000000000;          /* ns of media buffered before a write */
  Sync sync = Sync::Segment;
  bool video = true;
  bool audio = true;
};

class Writer
{
public:
  struct Hooks
  {
    /* The first failure: what a person reads, what a developer reads. */
    std::function<void(const std::string &, const std::string &)> failed;
    std::function<void(const std::string &path)> segment_opened;
    std::function<void(const Segment &, const std::string &path)> segment_closed;
  };

  Writer(WriterSettings settings, Hooks hooks);
  ~Writer();
  Writer(const Writer &) = delete;
  Writer &operator=(const Writer &) = delete;

  /* Creates the folder and the first manifest (state recording). */
  bool open(int64_t started_us, std::string &error);

  /* The first video sample must be a keyframe. */
  void video(const uint8_t *data, size_t size, int64_t pts, int64_t dts, int64_t duration,
             bool keyframe);
  void audio(const uint8_t *data, size_t size, int64_t pts, int64_t duration);

  /* Timed metadata for the playlist; written with the next manifest. */
  void add_daterange(abr::DateRangeTag range);

  /* Media was lost before it reached the writer (a full queue). */
  void mark_incomplete(const std::string &reason);

  /* Closes the last segment and writes the final manifest and VOD playlist
   * (complete, or incomplete after a loss). Idempotent. */
  bool finish(int64_t ended_us);

  bool failed() const;
  const Manifest &manifest() const;
  const std::string &folder() const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace sugarcast::record
