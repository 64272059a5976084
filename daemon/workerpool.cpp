/* sugarcastd — worker threads with an epoll loop each. See workerpool.h. */
#include "workerpool.h"

#include <glib.h>

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#define G_LOG_DOMAIN_NAME "sugarcastd"

namespace sugarcast {

WorkerLoop::WorkerLoop(Body &body, int max_events) : body_(body), max_events_(max_events) {}

WorkerLoop::~WorkerLoop()
{
  stop();
}

bool WorkerLoop::open(std::string &error)
{
  if (epoll_)
    return true;
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  wake_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!epoll_ || !wake_ || !watch(wake_.get(), EPOLLIN, &wake_tag_)) {
    error = g_strerror(errno);
    epoll_.reset();
    wake_.reset();
    return false;
  }
  return true;
}

bool WorkerLoop::start(const std::string &thread_name, std::string &error)
{
  if (!open(error))
    return false;
  name_ = thread_name;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
    run();
  });
  return true;
}

void WorkerLoop::request_stop()
{
  stop_requested_.store(true, std::memory_order_release);
  if (wake_)
    wake();
}

void WorkerLoop::join()
{
  if (thread_.joinable())
    thread_.join();
}

void WorkerLoop::wake()
{
  const uint64_t one = 1;
  if (write(wake_.get(), &one, sizeof one) < 0 && errno != EAGAIN)
    g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_WARNING, "waking %s: %s", name_.c_str(),
          g_strerror(errno));
}

bool WorkerLoop::watch(int fd, uint32_t events, void *tag)
{
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = tag;
  return epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool WorkerLoop::rewatch(int fd, uint32_t events, void *tag)
{
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = tag;
  return epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

void WorkerLoop::unwatch(int fd)
{
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void WorkerLoop::run()
{
  auto events = std::make_unique<epoll_event[]>(static_cast<size_t>(max_events_));
  while (!stop_requested_.load(std::memory_order_acquire)) {
    const int n = epoll_wait(epoll_.get(), events.get(), max_events_, body_.timeout_ms());
    if (n < 0 && errno != EINTR) {
      g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_CRITICAL, "%s: epoll_wait: %s", name_.c_str(),
            g_strerror(errno));
      break;
    }
    for (int i = 0; i < n && !quit_; ++i) {
      if (events[i].data.ptr == &wake_tag_) {
        uint64_t count;
        if (read(wake_.get(), &count, sizeof count) < 0 && errno != EAGAIN)
          g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_WARNING, "%s: %s", name_.c_str(), g_strerror(errno));
        body_.woken();
        continue;
      }
      body_.on_io(events[i].data.ptr, events[i].events);
    }
    if (quit_)
      break;
    body_.turn_done();
  }
  body_.stopped();
}

} // namespace sugarcast
