/* sugarcastd — live statistics, channels, schedules and thumbnails.
 *
 * Offers (docs/api.md, "Statistics, channels, schedules"):
 *   GET    /api/channels                   public: live streams, then scheduled ones
 *   GET    /api/streams/{id}/thumbnail.jpg public while live: a frame of the newest segment
 *   PUT    /api/streams/{id}/schedule      {"title","starts_at"}: the next show (stream manager)
 *   DELETE /api/streams/{id}/schedule      (stream manager)
 *   GET    /api/streams/{id}/stats         ?from=&to= (Unix ms): points, shows, live values
 *                                          (stream manager)
 *   /metrics                               sugarcast_stream_viewers{stream}, ..._ingest_*
 *
 * Every stats.interval seconds each stream live on this daemon gets a point
 * in the store (viewers.h for who counts as a viewer; chat messages, gifts
 * and coins since the last point; ingest bitrate and frame rate) and its
 * show's totals are saved again. Ingest health comes from pad probes on the
 * live pipeline (ingest_meter in stats.cpp): bytes out of rtmpserversrc,
 * video buffers out of h264parse.
 *
 * Thumbnails: the newest segment of the rung nearest 480 px wide is decoded
 * (appsrc ! decodebin ! videoscale ! jpegenc, its first frame: segments
 * start on a keyframe) to a 480 px wide JPEG, cached kThumbnailTtlMs per
 * stream; one decode runs at a time, requests meanwhile wait for it.
 *
 * Main context only, except the probes and the playlist observer. */
#pragma once

#include "chat/chat_service.h"
#include "config.h"
#include "http.h"
#include "metrics.h"
#include "store.h"
#include "streams.h"
#include "viewers.h"

#include <gst/gst.h>

#include <memory>
#include <string>

namespace sugarcast {

class StatsService
{
public:
  static constexpr int64_t kThumbnailTtlMs = 5000;
  static constexpr int kThumbnailWidth = 480;

  StatsService(const Config &config, HttpServer &http, Store &store, StreamManager &streams,
               chat::ChatService &chat, Metrics &metrics);
  ~StatsService();
  StatsService(const StatsService &) = delete;
  StatsService &operator=(const StatsService &) = delete;

  /* Adds the routes and starts the timer. After the store is open. */
  bool start(std::string &error);
  /* Stops the timer and saves the live shows' totals, then `done`. */
  void shutdown(std::function<void()> done);

  /* For MediaFiles::set_playlist_observer (any thread). */
  ViewerTracker &viewers();
  /* Wiring from the daemon (main context). */
  void pipeline_built(const std::string &stream_id, GstElement *pipeline);
  void live_changed(const std::string &stream_id, bool live);
  void gift(const std::string &stream_id, int count, int64_t coins);
  void chat_message(const std::string &stream_id);

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace sugarcast
