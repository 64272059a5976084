/* sugarcastd — uploaded clips: the upload, the `clip` pipeline, progress.
 *
 *   POST /api/clips?filename=NAME   the file as the body (admin); streamed to
 *                                   disk, refused past clips.max_upload_bytes
 *   GET  /api/clips                 newest first (admin)
 *   GET  /api/clips/{id}            state, verdict, progress, output URLs (admin)
 *   GET  /api/clips/{id}/events     server-sent events to the owner or admin:
 *                                   every change until ready/rejected/failed
 *
 * States: queued → validating → transcoding → ready, or rejected (the
 * validator's reason and message) or failed. Progress goes to the control
 * WebSocket as {"type": "clip", ...}. Clips cut short by a shutdown are run
 * again at the next start. A watchdog fails a clip whose pipeline moves no
 * buffer for clips.stall_timeout seconds (reason "stalled"); a queued clip
 * whose record the store cannot hand over is tried again a little later. */
#pragma once

#include "config.h"
#include "events.h"
#include "http.h"
#include "metrics.h"
#include "pipelines.h"
#include "store.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sugarcast {

class ClipService
{
public:
  ClipService(const Config &config, HttpServer &http, Store &store,
              const PipelineCatalog &pipelines, Events &events, Metrics &metrics);
  ~ClipService();
  ClipService(const ClipService &) = delete;
  ClipService &operator=(const ClipService &) = delete;

  /* Checks the description; queues clips a shutdown interrupted. */
  bool start(std::string &error);
  /* Queues a finished video file made elsewhere (a highlight cut from a
   * recording) as a new clip owned by OWNER ("" for the admin), exactly as an
   * upload: moved into the clip's folder, validated and transcoded. FILE must
   * be on the clips folder's file system. GIFT_EVENTS are giftoverlay events
   * (one JSON object each, with `at` in seconds from the file's start; at
   * most kMaxGiftEvents, and kMaxGiftEventBytes together): written as the
   * clip's gifts.jsonl, they are drawn into its pixels (the description's
   * node with `only_if: ${clip.gifts}`); with none the clip is processed
   * exactly as an upload. done(the clip as GET /api/clips/{id} shows it, "")
   * or done(nullptr, why); FILE is left in place on failure. */
  void queue_file(const std::string &file, const std::string &filename, const std::string &owner,
                  const std::vector<std::string> &gift_events,
                  std::function<void(JsonObject *clip, const std::string &error)> done);
  /* giftoverlay's own limits on an events file (docs/elements/giftoverlay.md). */
  static constexpr size_t kMaxGiftEvents = 4096;
  static constexpr size_t kMaxGiftEventBytes = 4 * 1024 * 1024;
  /* Stops running pipelines (their clips run again at the next start). */
  void shutdown(std::function<void()> done);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace sugarcast
