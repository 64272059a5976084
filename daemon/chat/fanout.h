/* sugarcastd chat — the fan-out engine: WebSocket connections after the
 * handshake, spread over worker threads, each with its own epoll loop.
 *
 * Why not libsoup's SoupWebsocketConnection: it frames and validates every
 * message again for every recipient (12–16 µs each here), and a GLib main
 * context polls every source on every wake-up, which costs milliseconds at
 * 10,000 sockets. Here a message is encoded once into one frame that every
 * recipient shares (FramePtr), each worker (a WorkerLoop of ../workerpool.h)
 * owns a share of the sockets in an edge-triggered epoll set, and what is due
 * to a connection leaves in one sendmsg() call.
 *
 * Threads: add/broadcast/send/close may be called from any thread; they
 * queue a command for the owning worker and wake it. The handlers run on
 * worker threads and must not block: the chat service hands what they get
 * to its main context. Every connection added is reported closed exactly
 * once (on_closed), unless the Fanout is destroyed first.
 *
 * Memory: an idle connection costs its struct (~200 bytes) and an index
 * entry; read buffers and send queues are allocated only while in use, and
 * a send queue never holds more than `send_queue_bytes`: a connection whose
 * reader falls that far behind is closed with 4000.
 */
#pragma once

#include "../workerpool.h"
#include "wsframe.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sugarcast::chat {

using ConnId = uint64_t;
/* An encoded frame, shared by every connection it is queued on. */
using FramePtr = std::shared_ptr<const std::string>;

FramePtr make_text_frame(std::string_view text);
FramePtr make_close_frame(uint16_t code, std::string_view reason);

struct FanoutLimits
{
  /* What a send queue may cost: the bytes of its frames plus
   * kQueuedEntryCost for each one (a 2-byte pong costs ~50 times its
   * bytes in allocations, so bytes alone undercount control frames). */
  size_t send_queue_bytes = 256 * 1024;
  size_t max_message_bytes = 64 * 1024;
  int close_timeout_ms = 2000; /* after our close frame, how long we wait for the peer's */
  /* A connection that sent nothing for this long gets a ping; one still
   * silent as long again after it is closed with 1001. 0: never. */
  int idle_ping_ms = 0;
};

/* What one entry in a send queue costs besides its frame's bytes: the
 * queue slot (with the vector's slack) and, for a frame made for this one
 * connection, its shared_ptr control block and string in one allocation
 * with malloc's header. */
inline constexpr size_t kQueuedEntryCost = 2 * 24 + 64;

/* What a connection sent that is not a protocol text message. */
enum class Refusal {
  Binary,  /* a binary message */
  TooBig,  /* longer than max_message_bytes; skipped */
  BadUtf8, /* a text message that is not UTF-8 */
  Framing, /* broken framing: the connection is closed with 1002 after the reply */
};

struct FanoutHandlers
{
  /* A text message. May return a frame to send at once (before anything
   * queued later), e.g. an error reply; nullptr for none. */
  std::function<FramePtr(ConnId, std::string_view text)> on_text;
  /* Something refused; returns the reply to send (nullptr for none). */
  std::function<FramePtr(ConnId, Refusal, std::string_view detail)> on_refused;
  /* The connection is gone: the peer's or our close code and reason, or
   * 1006 when it dropped without one. */
  std::function<void(ConnId, uint16_t code, const std::string &reason)> on_closed;
};

struct FanoutStats
{
  uint64_t connections = 0;
  uint64_t frames_sent = 0;  /* frames fully written */
  uint64_t bytes_sent = 0;   /* bytes written */
  uint64_t slow_closed = 0;  /* connections closed for a full send queue */
  uint64_t queued_bytes = 0; /* bytes waiting in send queues now */
  uint64_t messages_in = 0;  /* text messages received */
  /* Broadcasts handled, summed over workers: how long they waited for a
   * worker, how long writing them to every member took, and the longest
   * wait + write of one worker's batch. */
  uint64_t fanouts = 0;
  uint64_t fanout_wait_us = 0;
  uint64_t fanout_work_us = 0;
  uint64_t fanout_max_us = 0;
};

class Fanout
{
public:
  Fanout(int threads, FanoutLimits limits, FanoutHandlers handlers);
  ~Fanout(); /* stops the workers and drops every connection without a close frame */
  Fanout(const Fanout &) = delete;
  Fanout &operator=(const Fanout &) = delete;

  /* Takes over `fd` (a connected stream socket; made non-blocking here):
   * `first` frames go out before anything else, `room` decides which
   * broadcasts it gets, `input` holds bytes already read from the socket. */
  ConnId add(int fd, const std::string &room, std::vector<FramePtr> first, std::string input = "");
  void broadcast(const std::string &room, FramePtr frame);
  void send(ConnId conn, FramePtr frame);
  /* Sends a close frame after what is queued, then closes. */
  void close(ConnId conn, uint16_t code, const std::string &reason);
  /* close() for every connection; `done` runs (on a worker thread) once
   * all are gone or the close timeout has passed and the rest were cut. */
  void close_all(uint16_t code, const std::string &reason, std::function<void()> done);

  FanoutStats stats() const;

private:
  struct Worker;
  FanoutHandlers handlers_; /* before workers_: they keep a reference */
  WorkerPool<Worker> workers_;
  std::atomic<uint64_t> next_id_{1};
};

} // namespace sugarcast::chat
