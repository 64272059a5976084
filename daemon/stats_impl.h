/* sugarcastd — the statistics service's private state, shared by its
 * parts: stats.cpp (sampling: the ingest meters on the pipelines, the
 * viewer counts, a point per stream every stats.interval, the shows'
 * totals, the gauges, and the daemon's wiring), stats_rest.cpp (the
 * routes: channels, schedules, a stream's statistics) and
 * stats_thumbnail.cpp (a JPEG from the newest segment, one decode at a
 * time). Apart because each can be read and changed without the others;
 * the routes only read what sampling keeps. Main context only, except
 * IngestMeter (its pad probes run on streaming threads, under its lock). */
#pragma once

#include "stats.h"

#include "clock.h"
#include "rest.h"

#include <gst/gst.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#define LOG_DOMAIN "sugarcastd-stats"

namespace sugarcast {

/* Ingest health, from pad probes on the pipeline's streaming threads. */
struct IngestMeter
{
  std::mutex lock;
  uint64_t bytes = 0;  /* out of rtmpserversrc (FLV: video, audio, metadata) */
  uint64_t frames = 0; /* video access units out of h264parse */
  int width = 0;
  int height = 0;
  double caps_fps = 0;
  GstClockTime last_keyframe = GST_CLOCK_TIME_NONE;
  double keyframe_interval = 0; /* seconds between the last two keyframes */
  GstClockTime last_dts = GST_CLOCK_TIME_NONE;
  double mean_frame_ns = 0; /* of the deltas that were not gaps */
  uint64_t dropped = 0;     /* frames missing from the publisher's timestamps */
  uint64_t late = 0;        /* frames that arrived > 1 s behind the stream's best pace */
  bool have_offset = false;
  int64_t best_offset_us = 0; /* min over frames of (arrival - timestamp) */

  /* Taken at each point: counts since the previous one. */
  uint64_t bytes_told = 0;
  uint64_t frames_told = 0;
  int64_t told_at_us = 0;
  double bitrate = 0;
  double fps = 0;

  void video(GstBuffer *buffer);
  void caps(GstCaps *caps);
  /* Bitrate and fps since the previous call. */
  void take_rates();
};

/* A stream live on this daemon. */
struct LiveStream
{
  std::string id;
  std::shared_ptr<IngestMeter> ingest;
  int64_t viewers = 0;
  ViewerTracker::Count last;
  /* Since the previous point. */
  int64_t messages = 0;
  int64_t gifts = 0;
  int64_t coins = 0;
  /* The show so far. */
  ShowStats show;
  int64_t points = 0;
  double viewer_sum = 0;
  /* client -> (HLS identities, chat connections) seen this show */
  std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>> unique;
  size_t unique_entries = 0;
  bool unique_full = false;
  int64_t last_point_mono = 0;
};

struct Thumbnail
{
  std::string jpeg;
  int64_t made_at = 0; /* monotonic ms */
  std::vector<std::function<void(const std::string &jpeg, const std::string &error)>> waiting;
  bool decoding = false;
};

struct StatsService::Impl
{
  const Config &config;
  HttpServer &http;
  Store &store;
  StreamManager &streams;
  chat::ChatService &chat;
  Metrics &metrics;
  ViewerTracker tracker;
  std::map<std::string, std::unique_ptr<LiveStream>> live;
  std::map<std::string, Thumbnail> thumbnails;
  std::deque<std::string> thumbnail_queue; /* streams waiting for the decoder */
  bool decoder_busy = false;
  guint timer = 0;
  int64_t total_viewers = 0;

  Impl(const Config &c, HttpServer &h, Store &s, StreamManager &st, chat::ChatService &ch,
       Metrics &m);

  /* stats.cpp: sampling. */
  LiveStream &stream(const std::string &id);
  /* Per-stream series, made when a stream goes live here (its LiveStream is
   * made) and removed when it ends (remove_gauges). */
  void add_gauges(const std::string &id);
  void count_now();
  void tick();
  void save_show(LiveStream &s);

  /* stats_rest.cpp: the routes but the thumbnail's. */
  void channels(HttpRequest &r);
  void set_schedule_member(JsonObject *o, const ScheduleRecord *s);
  JsonObject *channel(SoupServerMessage *msg, const std::string &id, const std::string &title,
                      const char *state, int64_t started_at, int64_t viewers,
                      const ScheduleRecord *schedule);
  void channels_with(const std::shared_ptr<Deferred> &reply,
                     const std::vector<ScheduleRecord> &schedules);
  int64_t viewers_of(const std::string &id) const;
  void put_schedule(HttpRequest &r);
  void delete_schedule(HttpRequest &r);
  /* A query time in Unix ms; false (400 sent) when it is not one. */
  static bool time_param(HttpRequest &r, const char *name, int64_t fallback, int64_t &out);
  void stats(HttpRequest &r);
  void respond_stats(const std::shared_ptr<Deferred> &reply, const std::string &id, int64_t from,
                     const std::vector<StatsPoint> &points, const std::vector<ShowStats> &shows);

  /* stats_thumbnail.cpp: thumbnails. */
  void thumbnail(HttpRequest &r);
  void finish_thumbnail(const std::string &id, std::string jpeg, const std::string &error);
  struct Decode;
  void next_decode();
  static void end_decode(Decode *d, const std::string &error);
};

} // namespace sugarcast
