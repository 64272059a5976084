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

  /* Timed metadata for a live stream's playlists (a gift, say): written by
   * its hlsabrsink as an EXT-X-DATERANGE at the stream's current time, with
   * `attributes` as X- attributes (may be nullptr). False when the stream is
   * not live here or its description has no hlsabrsink. */
  bool add_daterange(const std::string &stream_id, const std::string &id, const std::string &cls,
                     GstClockTime duration, const GstStructure *attributes);

  /* Stops accepting publishers, ends every stream with EOS (outputs are
   * finalised), records the sessions' end, then calls done(true); done(false)
   * when some pipeline would not stop within the deadline (15 s). */
  void shutdown(std::function<void(bool clean)> done);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace sugarcast
