/* sugarcastd — recordings of shows: what the live description's recordsink
 * left on disk (recordings.dir/STREAM_ID/FOLDER/manifest.json, see
 * docs/recordings.md), listed, replayed as VOD HLS through the media path,
 * switched while live, cut into highlights, and replayed with their chat.
 *
 *   GET  /api/recordings?stream=&before=&limit=   public, newest first
 *   GET  /api/streams/{id}/recordings             public, the same for one stream
 *   GET  /api/recordings/{id}                     public, one (with "segments")
 *   GET  /api/recordings/{id}/chat                public: messages and gifts, with offsets
 *   POST /api/streams/{id}/recording              {"recording": bool}, may_manage_stream
 *   POST /api/recordings/{id}/clips               {"in", "out"} seconds, may_manage_stream
 *   GET  /recordings/STREAM_ID/FOLDER/index.m3u8  the VOD playlist (and its segments)
 *
 * A recording's id is STREAM_ID-FOLDER ("k3x9q2mfa7-20261202T140908Z"). The
 * manifests on disk are the truth; nothing about recordings is in the store.
 * At start (before the HTTP port listens, so before /healthz answers) every
 * recording a crash left in state "recording" is repaired and becomes
 * "interrupted". */
#pragma once

#include "clips.h"
#include "config.h"
#include "http.h"
#include "store.h"
#include "streams.h"

#include <memory>
#include <string>

namespace sugarcast {

class RecordingService
{
public:
  RecordingService(const Config &config, HttpServer &http, Store &store, StreamManager &streams,
                   ClipService &clips);
  ~RecordingService();
  RecordingService(const RecordingService &) = delete;
  RecordingService &operator=(const RecordingService &) = delete;

  /* Creates the folder, repairs what a crash left unfinished, applies the
   * overall retention. False with `error` when the folder cannot be made. */
  bool start(std::string &error);
  /* Whether a new show of STREAM_ID records: recordings.enabled unless the
   * stream was switched (POST .../recording while idle). */
  bool record_by_default(const std::string &stream_id) const;
  /* A show ended: the overall retention runs. */
  void show_ended(const std::string &stream_id);
  /* Waits for highlight cuts under way, then calls done. */
  void shutdown(std::function<void()> done);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace sugarcast
