/* sugarcastd — worker threads that each run one epoll loop: the one way the
 * daemon serves sockets off the GLib main loop. The media fast path
 * (fastpath.h) and the chat fan-out (chat/fanout.h) are built on it.
 *
 * Why threads of their own, and why epoll rather than a GMainContext each:
 * a GLib main loop polls with poll(), walking every source on every
 * iteration (1-2 µs per connection per wake-up here, milliseconds at 10,000
 * sockets), while an epoll set costs per ready descriptor; and one thread
 * cannot write a chat message to 10,000 sockets, nor serve HLS to a few
 * thousand players, while also running the API (docs/benchmarks.md, "chat
 * fan-out" and "sugarcastd — HLS serving"). What each user gains beyond
 * that is in its own header.
 *
 * A WorkerLoop is one thread and its epoll set. Its owner, the Body,
 * watches descriptors with a tag of its choosing and is handed each event
 * with that tag; it says before every wait how long the loop may sleep, is
 * told when the loop was woken (commands posted to an Inbox), and after
 * every turn. request_stop(), from any thread, ends the loop when its turn
 * is over; quit(), on the loop's own thread, ends it at once, before the
 * rest of the turn. Either way Body::stopped() then runs on the thread.
 *
 * A WorkerPool holds N workers (each owning a WorkerLoop) and stops and
 * joins them together; how work is dealt out among them is the user's. */
#pragma once

#include "unique_fd.h"

#include <sys/epoll.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sugarcast {

class WorkerLoop
{
public:
  class Body
  {
  public:
    /* Before every wait: how long it may last in ms, -1 until an event. */
    virtual int timeout_ms() = 0;
    /* What epoll reported for a descriptor watched with TAG. */
    virtual void on_io(void *tag, uint32_t events) = 0;
    /* wake() was called (an Inbox got its first command): take the commands. */
    virtual void woken() = 0;
    /* After the events of one wait were handled. */
    virtual void turn_done() = 0;
    /* On the thread, once the loop has ended: let go of what it holds. */
    virtual void stopped() = 0;

  protected:
    ~Body() = default;
  };

  /* MAX_EVENTS: how many events one wait takes at most. */
  WorkerLoop(Body &body, int max_events);
  ~WorkerLoop(); /* stop(); the owner should have stopped it while its Body was whole */
  WorkerLoop(const WorkerLoop &) = delete;
  WorkerLoop &operator=(const WorkerLoop &) = delete;

  /* Makes the epoll set and the wake-up descriptor; start() does it when
   * not done yet. Descriptors can be watched from then on. */
  bool open(std::string &error);
  /* Starts the thread, named THREAD_NAME (15 characters at most show). */
  bool start(const std::string &thread_name, std::string &error);
  /* From any thread: the loop ends once its current turn is over. */
  void request_stop();
  /* Waits for the thread to end (after request_stop() or quit()). */
  void join();
  void stop()
  {
    request_stop();
    join();
  }
  /* On the loop's thread: ends the loop now, without the rest of the turn. */
  void quit() { quit_ = true; }
  /* From any thread: Body::woken() runs soon on the loop's thread. */
  void wake();

  /* EVENTS as for epoll_ctl(2); TAG is given back to Body::on_io. */
  bool watch(int fd, uint32_t events, void *tag);
  bool rewatch(int fd, uint32_t events, void *tag);
  void unwatch(int fd);

private:
  void run();

  Body &body_;
  int max_events_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::string name_;
  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  bool quit_ = false;
  char wake_tag_ = 0;
};

/* Commands for one loop's thread, posted from any thread, taken in order
 * by Body::woken(). The loop is woken by the first command after a take. */
template <class Command>
class Inbox
{
public:
  explicit Inbox(WorkerLoop &loop) : loop_(loop) {}

  void post(Command command)
  {
    bool first;
    {
      std::lock_guard<std::mutex> guard(lock_);
      first = commands_.empty();
      commands_.push_back(std::move(command));
    }
    if (first)
      loop_.wake();
  }

  /* On the loop's thread: everything posted until now. */
  std::vector<Command> take()
  {
    std::vector<Command> taken;
    std::lock_guard<std::mutex> guard(lock_);
    taken.swap(commands_);
    return taken;
  }

private:
  WorkerLoop &loop_;
  std::mutex lock_;
  std::vector<Command> commands_;
};

/* N workers of type W, each with `WorkerLoop &loop()` and
 * `bool start(std::string &error)` (which starts its loop). */
template <class W>
class WorkerPool
{
public:
  WorkerPool() = default;
  ~WorkerPool() { stop(); }
  WorkerPool(const WorkerPool &) = delete;
  WorkerPool &operator=(const WorkerPool &) = delete;

  /* Makes max(1, THREADS) workers with MAKE(index), opens every loop, then
   * starts them in order (so a worker may post to any other from its first
   * turn); when one fails, those started are stopped again. */
  bool start(int threads, const std::function<std::unique_ptr<W>(int)> &make, std::string &error)
  {
    for (int i = 0; i < std::max(1, threads); ++i)
      workers_.push_back(make(i));
    for (auto &w : workers_) {
      if (!w->loop().open(error))
        return false;
    }
    for (auto &w : workers_) {
      if (!w->start(error)) {
        stop();
        return false;
      }
    }
    return true;
  }
  /* Asks every loop to stop, then joins them all. The workers remain. */
  void stop()
  {
    for (auto &w : workers_)
      w->loop().request_stop();
    join();
  }
  /* Joins every loop (each ended by request_stop() or quit()). */
  void join()
  {
    for (auto &w : workers_)
      w->loop().join();
  }
  void clear()
  {
    stop();
    workers_.clear();
  }

  size_t size() const { return workers_.size(); }
  W &operator[](size_t i) const { return *workers_[i]; }
  auto begin() const { return workers_.begin(); }
  auto end() const { return workers_.end(); }

private:
  std::vector<std::unique_ptr<W>> workers_;
};

} // namespace sugarcast
