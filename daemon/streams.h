/* sugarcastd — live streams: the RTMP listener, publish authentication
 * against the store, one pipeline per live stream, the reconnect grace
 * period, and a clean end.
 *
 * States, announced on the control WebSocket as {"type": "stream", "state"}:
 *   idle → live → (encoder drops: still live, "reconnecting" for the grace
 *   period; a publish with the same key continues the same pipeline and HLS
 *   playlists) → ending (EOS through the pipeline) → ended.
 * One stream's failure never touches another's: each has its own pipeline,
 * and errors end only that stream.
 *
 * Everything runs on the daemon's main context. */
#pragma once

#include "config.h"
#include "eventsink.h"
#include "metrics.h"
#include "pipelines.h"
#include "store.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sugarcast {

/* What the REST API shows of a live stream. */
struct LiveInfo
{
  std::string id;
  std::string title;
  std::string state; /* live, reconnecting, ending */
  int64_t started_at = 0;
  int64_t session_id = 0;
  std::string client_address;
  std::string encoder;
  int reconnects = 0;
};

class StreamManager
{
public:
  /* EVENTS gets "stream" and "publish_refused" events (the daemon passes
   * them to the control WebSocket). */
  StreamManager(const Config &config, Store &store, const PipelineCatalog &pipelines,
                EventSink events, Metrics &metrics);
  ~StreamManager();
  StreamManager(const StreamManager &) = delete;
  StreamManager &operator=(const StreamManager &) = delete;

  /* Checks the description and starts the RTMP listener(s). */
  bool start(std::string &error);
  int rtmp_port() const;
  int rtmps_port() const;

  std::optional<LiveInfo> live(const std::string &stream_id) const;
  std::vector<LiveInfo> live_streams() const;

  /* Ends a live stream now (key revoked, stream deleted): the publisher is
   * disconnected and the pipeline finishes its outputs. */
  void stop(const std::string &stream_id, const std::string &reason);

  /* Called with (stream id, true) when a stream goes live and (id, false)
   * when it has ended; the chat module announces it to the room. */
  std::function<void(const std::string &, bool)> on_live_changed;
  /* A live stream's encoder went (true: waiting streams.grace_period_ms for
   * it) or came back (false); the end comes through on_live_changed. */
  std::function<void(const std::string &, bool)> on_reconnecting;
  /* Called with (stream id, its pipeline) once the pipeline is built, before
   * it starts: statistics add their pad probes (stats.h). The pipeline lives
   * until the stream has ended. */
  std::function<void(const std::string &, GstElement *)> on_pipeline;

  /* Timed metadata for a live stream's playlists (a gift, say): written by
   * its hlsabrsink as an EXT-X-DATERANGE at the stream's current time, with
   * `attributes` as X- attributes (may be nullptr); its recordsink, when it
   * has one and is recording, writes it into the recording's playlist too.
   * `recording_only`: the recordsink alone (the live playlists have it
   * already, from a giftoverlay's event). False when the stream is not live
   * here or none took it. */
  bool add_daterange(const std::string &stream_id, const std::string &id, const std::string &cls,
                     GstClockTime duration, const GstStructure *attributes,
                     bool recording_only = false);

  /* A gift for a live stream's picture: `event_json` (a gift event, see
   * docs/elements/giftoverlay.md) into the `push-gift` of its description's
   * giftoverlay, which draws it and sends its DATERANGE downstream on the
   * frame it first appears on. NoOverlay when the description has none,
   * Refused when the overlay would not take it (it posts a warning saying
   * why), NotLive when the stream is not live on this daemon. */
  enum class GiftPush { Overlay, NoOverlay, Refused, NotLive };
  GiftPush push_gift(const std::string &stream_id, const std::string &event_json);

  /* What a stream's renditions show, for players: whether the description
   * draws gifts onto the video (it has a giftoverlay), and whether the
   * live stream's first rung (video_0) is the publisher's own stream
   * (abrladder's `source` rung), which shows none. */
  struct Drawing
  {
    bool gifts = false;
    bool source_rung = false;
  };
  Drawing drawing(const std::string &stream_id) const;
  /* Whether a new show of a stream starts recording (its recordsink's
   * `recording`); unset: never. Asked as the stream goes live. */
  std::function<bool(const std::string &stream_id)> record_by_default;
  /* Switches a live stream's recorder (recordsink `recording`); answers
   * whether it was on before, nullopt when the stream is not live here or its
   * description records nothing. recording(): whether it is on now. */
  std::optional<bool> set_recording(const std::string &stream_id, bool on);
  std::optional<bool> recording(const std::string &stream_id) const;

  /* Stops accepting publishers, ends every stream with EOS (outputs are
   * finalised), records the sessions' end, then calls done(true); done(false)
   * when some pipeline would not stop within the deadline (15 s). */
  void shutdown(std::function<void(bool clean)> done);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace sugarcast
