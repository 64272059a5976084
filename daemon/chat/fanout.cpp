/* sugarcastd chat — the fan-out engine. See fanout.h. */
#include "fanout.h"

#include "../clock.h"
#include "../workerpool.h"

#include <glib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <unordered_map>

namespace sugarcast::chat {

FramePtr make_text_frame(std::string_view text)
{
  return std::make_shared<const std::string>(ws_encode_frame(WsOpcode::Text, text));
}

FramePtr make_close_frame(uint16_t code, std::string_view reason)
{
  return std::make_shared<const std::string>(ws_encode_close(code, reason));
}

namespace {

struct Room;

/* Bytes one connection may have read per turn of its worker's loop. */
constexpr size_t kReadPerTurn = 256 * 1024;

/* What waits to be written: one frame, or several broadcast together. */
struct Queued
{
  FramePtr bytes;
  uint32_t frames = 1;
};
static_assert(sizeof(Queued) <= 24, "kQueuedEntryCost counts 24-byte queue slots");

struct Conn
{
  ConnId id = 0;
  int fd = -1;
  Room *room = nullptr;
  uint32_t slot = 0;
  std::vector<Queued> queue;
  size_t head_offset = 0;           /* bytes of queue.front() already written */
  size_t queued = 0;                /* bytes in queue not yet written */
  std::unique_ptr<WsParser> parser; /* only while a frame is half read */
  int64_t deadline = 0;
  int64_t heard = 0; /* monotonic ms of the last bytes from the peer */
  std::string close_reason;
  uint16_t close_code = 0;
  bool dirty = false;
  bool blocked = false;     /* the kernel refused more: wait for EPOLLOUT */
  bool close_sent = false;  /* our close frame is queued: nothing after it */
  bool peer_closed = false; /* the peer's close frame arrived */
  bool input_stopped = false;
  bool watching_output = false;
  bool pinged = false; /* an idle ping is out, unanswered */
  bool dead = false;
};

struct Room
{
  std::string name;
  std::vector<Conn *> members;
};

struct Command
{
  enum Kind { Add, Broadcast, Send, Close, CloseAll, Quit } kind;
  ConnId id = 0;
  int fd = -1;
  std::string room;
  std::vector<FramePtr> frames;
  FramePtr frame;
  uint16_t code = 0;
  std::string text; /* Add: input already read; Close: the reason */
  std::function<void()> done;
  int64_t posted_us = 0; /* Broadcast: when Fanout::broadcast was called */
};

} // namespace

struct Fanout::Worker final : WorkerLoop::Body
{
  Worker(int index, const FanoutLimits &l, const FanoutHandlers &h)
      : limits(l), handlers(h), index(index)
  {}

  /* Fanout::~Fanout posts Quit and joins: what was posted before it runs. */
  ~Worker() { loop_.stop(); }

  bool start(std::string &error)
  {
    return loop_.start("chat-fanout-" + std::to_string(index), error);
  }
  WorkerLoop &loop() { return loop_; }
  void post(Command &&cmd) { inbox.post(std::move(cmd)); }

  /* WorkerLoop::Body */
  int timeout_ms() override
  {
    const bool timed = !closing.empty() || close_all_pending;
    int timeout = !unread.empty() ? 0 : timed ? 100 : -1;
    if (limits.idle_ping_ms > 0) {
      const int64_t due = std::max<int64_t>(0, next_idle_sweep - monotonic_ms());
      timeout = static_cast<int>(timeout < 0 ? due : std::min<int64_t>(timeout, due));
    }
    return timeout;
  }

  void woken() override
  {
    work_started_us = g_get_monotonic_time();
    if (!run_commands())
      loop_.quit(); /* stopped() drops everything */
  }

  void on_io(void *tag, uint32_t ev) override
  {
    auto *c = static_cast<Conn *>(tag);
    if (c->dead)
      return;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      read_input(c);
    if (!c->dead && (ev & EPOLLOUT)) {
      c->blocked = false;
      want_output(c, false);
      if (!c->queue.empty())
        mark_dirty(c);
    }
  }

  void turn_done() override
  {
    if (!unread.empty()) {
      std::vector<ConnId> again;
      again.swap(unread);
      for (ConnId id : again)
        if (auto it = conns.find(id); it != conns.end() && !it->second->dead)
          read_input(it->second);
    }
    if (limits.idle_ping_ms > 0 && monotonic_ms() >= next_idle_sweep)
      ping_idle();
    flush_dirty();
    if (oldest_broadcast_us != 0)
      account_fanout();
    sweep();
    for (Conn *c : graveyard)
      delete c;
    graveyard.clear();
  }

  void stopped() override { drop_everything(); }

  bool run_commands()
  {
    for (Command &cmd : inbox.take()) {
      if (cmd.kind != Command::Broadcast)
        deliver_broadcasts();
      switch (cmd.kind) {
      case Command::Quit:
        return false;
      case Command::Add:
        add(cmd);
        break;
      case Command::Broadcast: {
        if (oldest_broadcast_us == 0 || cmd.posted_us < oldest_broadcast_us)
          oldest_broadcast_us = cmd.posted_us;
        ++broadcasts_pending;
        auto it = rooms.find(cmd.room);
        if (it == rooms.end())
          break;
        Pending *p = nullptr;
        for (Pending &q : pending)
          if (q.room == &it->second)
            p = &q;
        if (!p)
          p = &pending.emplace_back(Pending{&it->second, {}});
        p->frames.push_back(std::move(cmd.frame));
        break;
      }
      case Command::Send:
        if (auto it = conns.find(cmd.id); it != conns.end())
          enqueue(it->second, cmd.frame);
        break;
      case Command::Close:
        if (auto it = conns.find(cmd.id); it != conns.end())
          start_close(it->second, cmd.code, cmd.text);
        break;
      case Command::CloseAll:
        close_all_pending = true;
        close_all_code = cmd.code;
        close_all_reason = cmd.text;
        close_all_deadline = monotonic_ms() + limits.close_timeout_ms;
        close_all_done = std::move(cmd.done);
        for (auto &[id, c] : conns)
          start_close(c, cmd.code, cmd.text);
        break;
      }
    }
    deliver_broadcasts();
    return true;
  }

  /* The broadcasts of one wake-up: what each room got goes to each member
   * in one send(), straight from the shared bytes (no copy, no reference
   * count touched); only a socket that cannot take it all queues the rest. */
  void deliver_broadcasts()
  {
    for (Pending &p : pending) {
      FramePtr bytes;
      if (p.frames.size() == 1) {
        bytes = std::move(p.frames.front());
      } else {
        size_t size = 0;
        for (const FramePtr &f : p.frames)
          size += f->size();
        auto joined = std::make_shared<std::string>();
        joined->reserve(size);
        for (const FramePtr &f : p.frames)
          joined->append(*f);
        bytes = std::move(joined);
      }
      const auto frames = static_cast<uint32_t>(p.frames.size());
      uint64_t written = 0, complete = 0;
      /* destroy() may reorder members: walk a copy when one dies. */
      std::vector<Conn *> &members = p.room->members;
      for (size_t i = 0; i < members.size(); ++i) {
        Conn *c = members[i];
        const size_t before = members.size();
        const ssize_t w = deliver(c, bytes, frames);
        if (w > 0)
          written += static_cast<uint64_t>(w);
        if (static_cast<size_t>(w) == bytes->size())
          complete += frames;
        if (members.size() < before)
          --i; /* c left; the last member took its slot */
      }
      frames_sent.fetch_add(complete, std::memory_order_relaxed);
      bytes_sent.fetch_add(written, std::memory_order_relaxed);
    }
    pending.clear();
  }

  /* Bytes written at once (-1: none). */
  ssize_t deliver(Conn *c, const FramePtr &bytes, uint32_t frames)
  {
    if (c->dead || c->close_sent)
      return -1;
    if (!c->queue.empty() || c->blocked) {
      enqueue(c, bytes, false, frames);
      return -1;
    }
    ssize_t w;
    do
      w = ::send(c->fd, bytes->data(), bytes->size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      destroy(c, close_code::abnormal, std::string("write: ") + g_strerror(errno));
      return -1;
    }
    if (static_cast<size_t>(w) == bytes->size())
      return w;
    /* The kernel took part or nothing: the rest waits for EPOLLOUT. */
    enqueue(c, bytes, false, frames);
    c->head_offset = w > 0 ? static_cast<size_t>(w) : 0;
    c->queued -= c->head_offset;
    queued_total.fetch_sub(c->head_offset, std::memory_order_relaxed);
    c->blocked = true;
    want_output(c, true);
    return w;
  }

  /* How long the broadcasts just handled waited for this worker, and how
   * long it then took to write them to every member's socket (or queue). */
  void account_fanout()
  {
    const int64_t now = g_get_monotonic_time();
    const auto waited =
        static_cast<uint64_t>(std::max<int64_t>(0, work_started_us - oldest_broadcast_us));
    const auto worked = static_cast<uint64_t>(std::max<int64_t>(0, now - work_started_us));
    fanouts.fetch_add(broadcasts_pending, std::memory_order_relaxed);
    fanout_wait_us.fetch_add(waited, std::memory_order_relaxed);
    fanout_work_us.fetch_add(worked, std::memory_order_relaxed);
    if (worked + waited > fanout_max_us.load(std::memory_order_relaxed))
      fanout_max_us.store(worked + waited, std::memory_order_relaxed);
    oldest_broadcast_us = 0;
    broadcasts_pending = 0;
  }

  void add(Command &cmd)
  {
    const int flags = fcntl(cmd.fd, F_GETFL);
    fcntl(cmd.fd, F_SETFL, flags | O_NONBLOCK);
    int one = 1;
    setsockopt(cmd.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto *c = new Conn;
    c->id = cmd.id;
    c->fd = cmd.fd;
    c->heard = monotonic_ms();
    /* EPOLLOUT only while blocked (want_output): an edge for every ACK of
     * every delivery would wake the worker 100,000 times a second. */
    if (!loop_.watch(cmd.fd, EPOLLIN | EPOLLRDHUP | EPOLLET, c)) {
      const std::string why = std::string("epoll_ctl: ") + g_strerror(errno);
      ::close(cmd.fd);
      delete c;
      handlers.on_closed(cmd.id, close_code::internal_error, why);
      return;
    }
    Room &room = rooms[cmd.room];
    if (room.name.empty())
      room.name = cmd.room;
    c->room = &room;
    c->slot = static_cast<uint32_t>(room.members.size());
    room.members.push_back(c);
    conns.emplace(c->id, c);
    n_conns.fetch_add(1, std::memory_order_relaxed);
    for (FramePtr &f : cmd.frames)
      enqueue(c, std::move(f));
    if (!cmd.text.empty())
      take_input(c, cmd.text.data(), cmd.text.size());
    if (close_all_pending)
      start_close(c, close_all_code, close_all_reason);
  }

  void mark_dirty(Conn *c)
  {
    if (!c->dirty) {
      c->dirty = true;
      dirty.push_back(c);
    }
  }

  /* What the queue costs in memory, as the limit counts it. */
  static size_t queue_cost(const Conn *c) { return c->queued + c->queue.size() * kQueuedEntryCost; }

  void enqueue(Conn *c, FramePtr frame, bool control_after_close = false, uint32_t frames = 1)
  {
    if (c->dead || (c->close_sent && !control_after_close))
      return;
    c->queued += frame->size();
    queued_total.fetch_add(frame->size(), std::memory_order_relaxed);
    c->queue.push_back({std::move(frame), frames});
    if (c->blocked && !c->close_sent && queue_cost(c) > limits.send_queue_bytes) {
      slow_close(c);
      return;
    }
    mark_dirty(c);
  }

  void drop_queue_after_head(Conn *c)
  {
    size_t keep = 0;
    if (c->head_offset > 0 && !c->queue.empty())
      keep = 1;
    size_t dropped = 0;
    for (size_t i = keep; i < c->queue.size(); ++i)
      dropped += c->queue[i].bytes->size();
    c->queue.resize(keep);
    c->queued -= dropped;
    queued_total.fetch_sub(dropped, std::memory_order_relaxed);
  }

  void slow_close(Conn *c)
  {
    slow_closed.fetch_add(1, std::memory_order_relaxed);
    const std::string reason = "send queue full: the client stopped reading (" +
                               std::to_string(queue_cost(c)) + " bytes waiting, limit " +
                               std::to_string(limits.send_queue_bytes) + ")";
    drop_queue_after_head(c);
    start_close(c, close_code::send_queue_full, reason);
  }

  void start_close(Conn *c, uint16_t code, const std::string &reason)
  {
    if (c->dead || c->close_sent)
      return;
    /* Closing first: the close frame never counts against the limit. */
    c->close_sent = true;
    enqueue(c, make_close_frame(code, reason), true);
    c->close_code = code;
    c->close_reason = reason;
    c->deadline = monotonic_ms() + limits.close_timeout_ms;
    closing.push_back(c);
    mark_dirty(c);
  }

  void read_input(Conn *c)
  {
    static thread_local char buffer[65536];
    size_t taken = 0;
    while (!c->dead) {
      if (taken >= kReadPerTurn) {
        /* Edge-triggered: the rest is read on the next turn, after the
         * other connections had theirs (a client sending without pause
         * would otherwise hold this worker). */
        unread.push_back(c->id);
        return;
      }
      const ssize_t r = recv(c->fd, buffer, sizeof buffer, 0);
      if (r > 0) {
        taken += static_cast<size_t>(r);
        c->heard = monotonic_ms();
        c->pinged = false;
        if (!c->input_stopped)
          take_input(c, buffer, static_cast<size_t>(r));
        /* Replies (pongs, errors) go out as they are made, so the queue
         * limit sees a client that never reads what it asks for. */
        if (!c->dead && !c->queue.empty())
          flush(c);
        continue;
      }
      if (r == 0) {
        if (c->close_sent)
          destroy(c, c->close_code, c->close_reason);
        else
          destroy(c, close_code::abnormal, "the connection dropped without a close frame");
        return;
      }
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        destroy(c, close_code::abnormal, std::string("read: ") + g_strerror(errno));
      return;
    }
  }

  void take_input(Conn *c, const char *data, size_t size)
  {
    if (!c->parser)
      c->parser = std::make_unique<WsParser>(limits.max_message_bytes, true);
    const uint16_t code =
        c->parser->feed(data, size, [this, c](const WsEvent &e) { on_event(c, e); });
    if (code != 0 && !c->input_stopped) {
      c->input_stopped = true;
      if (handlers.on_refused)
        if (FramePtr reply = handlers.on_refused(c->id, Refusal::Framing, c->parser->error()))
          enqueue(c, std::move(reply));
      start_close(c, code, c->parser->error());
    }
    if (c->parser && c->parser->idle() && code == 0)
      c->parser.reset();
  }

  void on_event(Conn *c, const WsEvent &e)
  {
    if (c->input_stopped || c->dead)
      return;
    FramePtr reply;
    switch (e.kind) {
    case WsEvent::Text:
      messages_in.fetch_add(1, std::memory_order_relaxed);
      if (!c->close_sent)
        reply = handlers.on_text(c->id, e.payload);
      break;
    case WsEvent::Binary:
      reply = handlers.on_refused(c->id, Refusal::Binary, "");
      break;
    case WsEvent::TooBig:
      reply = handlers.on_refused(c->id, Refusal::TooBig, std::to_string(e.size));
      break;
    case WsEvent::BadUtf8:
      reply = handlers.on_refused(c->id, Refusal::BadUtf8, "");
      break;
    case WsEvent::Ping:
      /* Each pong counts at its real cost (kQueuedEntryCost): a client
       * that pings and never reads reaches the limit and is closed. */
      reply = std::make_shared<const std::string>(ws_encode_frame(WsOpcode::Pong, e.payload));
      break;
    case WsEvent::Pong:
      break;
    case WsEvent::Close:
      c->peer_closed = true;
      c->input_stopped = true;
      if (!c->close_sent) {
        const uint16_t echo =
            e.close_code == close_code::no_status ? close_code::normal : e.close_code;
        enqueue(c, make_close_frame(echo, ""), true);
        c->close_sent = true;
        c->close_code = e.close_code;
        c->close_reason = std::string(e.payload);
        c->deadline = monotonic_ms() + limits.close_timeout_ms;
        closing.push_back(c);
      }
      mark_dirty(c);
      break;
    }
    if (reply)
      enqueue(c, std::move(reply));
  }

  void flush_dirty()
  {
    /* flush() may mark nothing new dirty, so one pass is enough. */
    for (size_t i = 0; i < dirty.size(); ++i) {
      Conn *c = dirty[i];
      c->dirty = false;
      if (!c->dead)
        flush(c);
    }
    dirty.clear();
  }

  void flush(Conn *c)
  {
    while (!c->queue.empty() && !c->blocked) {
      iovec iov[64];
      size_t n = 0;
      size_t total = 0;
      for (size_t i = 0; i < c->queue.size() && n < 64; ++i) {
        const std::string &f = *c->queue[i].bytes;
        const size_t offset = i == 0 ? c->head_offset : 0;
        iov[n].iov_base = const_cast<char *>(f.data() + offset);
        iov[n].iov_len = f.size() - offset;
        total += iov[n].iov_len;
        ++n;
      }
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = n;
      const ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          c->blocked = true;
          want_output(c, true);
          break;
        }
        destroy(c, close_code::abnormal, std::string("write: ") + g_strerror(errno));
        return;
      }
      size_t left = static_cast<size_t>(w);
      size_t popped = 0;
      uint64_t frames = 0;
      while (left > 0) {
        const size_t avail = c->queue[popped].bytes->size() - c->head_offset;
        if (left >= avail) {
          left -= avail;
          c->head_offset = 0;
          frames += c->queue[popped].frames;
          ++popped;
        } else {
          c->head_offset += left;
          left = 0;
        }
      }
      c->queue.erase(c->queue.begin(), c->queue.begin() + static_cast<ptrdiff_t>(popped));
      c->queued -= static_cast<size_t>(w);
      queued_total.fetch_sub(static_cast<uint64_t>(w), std::memory_order_relaxed);
      frames_sent.fetch_add(frames, std::memory_order_relaxed);
      bytes_sent.fetch_add(static_cast<uint64_t>(w), std::memory_order_relaxed);
      if (static_cast<size_t>(w) < total) {
        c->blocked = true;
        want_output(c, true);
      }
    }
    if (c->queue.empty()) {
      if (c->queue.capacity() > 8)
        std::vector<Queued>().swap(c->queue);
      if (c->close_sent && c->peer_closed)
        destroy(c, c->close_code, c->close_reason);
    } else if (queue_cost(c) > limits.send_queue_bytes && !c->close_sent) {
      slow_close(c);
      flush(c);
    }
  }

  /* Pings connections silent for idle_ping_ms; closes those that stayed
   * silent as long after their ping (a peer gone without a FIN, or one
   * holding a socket open for nothing). A walk over this worker's
   * connections a few times per interval, no timer per connection. */
  void ping_idle()
  {
    const int64_t now = monotonic_ms();
    next_idle_sweep = now + std::clamp(limits.idle_ping_ms / 4, 50, 1000);
    static const FramePtr ping =
        std::make_shared<const std::string>(ws_encode_frame(WsOpcode::Ping, ""));
    for (auto &[id, c] : conns) {
      if (c->dead || c->close_sent || now - c->heard < limits.idle_ping_ms)
        continue;
      if (!c->pinged) {
        c->pinged = true;
        enqueue(c, ping);
      } else if (now - c->heard >= 2 * static_cast<int64_t>(limits.idle_ping_ms)) {
        start_close(c, close_code::going_away,
                    "idle: no answer to a ping for " + std::to_string(limits.idle_ping_ms) + " ms");
      }
    }
  }

  void want_output(Conn *c, bool on)
  {
    if (c->watching_output == on)
      return;
    c->watching_output = on;
    loop_.rewatch(c->fd, EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0u), c);
  }

  void sweep()
  {
    for (const std::string &name : empty_rooms)
      if (auto it = rooms.find(name); it != rooms.end() && it->second.members.empty())
        rooms.erase(it);
    empty_rooms.clear();
    const int64_t now = monotonic_ms();
    if (!closing.empty()) {
      size_t kept = 0;
      for (Conn *c : closing) {
        if (c->dead)
          continue;
        if (now >= c->deadline || (close_all_pending && now >= close_all_deadline)) {
          destroy(c, c->close_code, c->close_reason);
          continue;
        }
        closing[kept++] = c;
      }
      closing.resize(kept);
    }
    if (close_all_pending && conns.empty()) {
      close_all_pending = false;
      if (close_all_done) {
        auto done = std::move(close_all_done);
        close_all_done = nullptr;
        done();
      }
    }
  }

  void destroy(Conn *c, uint16_t code, const std::string &reason)
  {
    if (c->dead)
      return;
    c->dead = true;
    loop_.unwatch(c->fd);
    ::close(c->fd);
    Room *room = c->room;
    Conn *last = room->members.back();
    room->members[c->slot] = last;
    last->slot = c->slot;
    room->members.pop_back();
    if (room->members.empty())
      empty_rooms.push_back(room->name); /* erased in sweep(): a delivery may be walking it */
    conns.erase(c->id);
    queued_total.fetch_sub(c->queued, std::memory_order_relaxed);
    c->queue.clear();
    c->queued = 0;
    c->parser.reset();
    n_conns.fetch_sub(1, std::memory_order_relaxed);
    graveyard.push_back(c);
    handlers.on_closed(c->id, code, reason);
  }

  void drop_everything()
  {
    for (auto &[id, c] : conns) {
      ::close(c->fd);
      delete c;
    }
    conns.clear();
    rooms.clear();
    for (Conn *c : graveyard)
      delete c;
    graveyard.clear();
  }

  FanoutLimits limits;
  const FanoutHandlers &handlers;
  int index;

  std::unordered_map<ConnId, Conn *> conns;
  std::unordered_map<std::string, Room> rooms;
  struct Pending
  {
    Room *room;
    std::vector<FramePtr> frames;
  };
  std::vector<Pending> pending; /* broadcasts of this wake-up, by room */
  std::vector<std::string> empty_rooms;
  std::vector<Conn *> dirty;
  std::vector<Conn *> closing;
  std::vector<Conn *> graveyard;
  std::vector<ConnId> unread; /* input left for the next turn */
  bool close_all_pending = false;
  uint16_t close_all_code = 0;
  std::string close_all_reason;
  int64_t close_all_deadline = 0;
  std::function<void()> close_all_done;
  int64_t next_idle_sweep = 0;
  int64_t work_started_us = 0;
  int64_t oldest_broadcast_us = 0;
  uint64_t broadcasts_pending = 0;

  std::atomic<uint64_t> n_conns{0};
  std::atomic<uint64_t> frames_sent{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> slow_closed{0};
  std::atomic<uint64_t> queued_total{0};
  std::atomic<uint64_t> messages_in{0};
  std::atomic<uint64_t> fanouts{0};
  std::atomic<uint64_t> fanout_wait_us{0};
  std::atomic<uint64_t> fanout_work_us{0};
  std::atomic<uint64_t> fanout_max_us{0};

  /* Last: the thread stops before anything it uses goes. */
  WorkerLoop loop_{*this, 256};
  Inbox<Command> inbox{loop_};
};

Fanout::Fanout(int threads, FanoutLimits limits, FanoutHandlers handlers)
    : handlers_(std::move(handlers))
{
  std::string error;
  if (!workers_.start(
          threads, [&](int i) { return std::make_unique<Worker>(i, limits, handlers_); }, error))
    g_error("cannot start the chat fan-out threads: %s", error.c_str());
}

Fanout::~Fanout()
{
  /* In order after what was posted before: the last commands still run. */
  for (auto &w : workers_)
    w->post(Command{Command::Quit});
  workers_.join();
}

ConnId Fanout::add(int fd, const std::string &room, std::vector<FramePtr> first, std::string input)
{
  const ConnId id = next_id_.fetch_add(1, std::memory_order_relaxed);
  Command cmd{Command::Add};
  cmd.id = id;
  cmd.fd = fd;
  cmd.room = room;
  cmd.frames = std::move(first);
  cmd.text = std::move(input);
  workers_[id % workers_.size()].post(std::move(cmd));
  return id;
}

void Fanout::broadcast(const std::string &room, FramePtr frame)
{
  for (auto &w : workers_) {
    Command cmd{Command::Broadcast};
    cmd.room = room;
    cmd.frame = frame;
    cmd.posted_us = g_get_monotonic_time();
    w->post(std::move(cmd));
  }
}

void Fanout::send(ConnId conn, FramePtr frame)
{
  Command cmd{Command::Send};
  cmd.id = conn;
  cmd.frame = std::move(frame);
  workers_[conn % workers_.size()].post(std::move(cmd));
}

void Fanout::close(ConnId conn, uint16_t code, const std::string &reason)
{
  Command cmd{Command::Close};
  cmd.id = conn;
  cmd.code = code;
  cmd.text = reason;
  workers_[conn % workers_.size()].post(std::move(cmd));
}

void Fanout::close_all(uint16_t code, const std::string &reason, std::function<void()> done)
{
  auto remaining = std::make_shared<std::atomic<size_t>>(workers_.size());
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  for (auto &w : workers_) {
    Command cmd{Command::CloseAll};
    cmd.code = code;
    cmd.text = reason;
    cmd.done = [remaining, shared_done] {
      if (remaining->fetch_sub(1) == 1 && *shared_done)
        (*shared_done)();
    };
    w->post(std::move(cmd));
  }
}

FanoutStats Fanout::stats() const
{
  FanoutStats s;
  for (const auto &w : workers_) {
    s.connections += w->n_conns.load(std::memory_order_relaxed);
    s.frames_sent += w->frames_sent.load(std::memory_order_relaxed);
    s.bytes_sent += w->bytes_sent.load(std::memory_order_relaxed);
    s.slow_closed += w->slow_closed.load(std::memory_order_relaxed);
    s.queued_bytes += w->queued_total.load(std::memory_order_relaxed);
    s.messages_in += w->messages_in.load(std::memory_order_relaxed);
    s.fanouts += w->fanouts.load(std::memory_order_relaxed);
    s.fanout_wait_us += w->fanout_wait_us.load(std::memory_order_relaxed);
    s.fanout_work_us += w->fanout_work_us.load(std::memory_order_relaxed);
    s.fanout_max_us =
        std::max<uint64_t>(s.fanout_max_us, w->fanout_max_us.load(std::memory_order_relaxed));
  }
  return s;
}

} // namespace sugarcast::chat
