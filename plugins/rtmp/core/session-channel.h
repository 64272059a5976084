/* Sugarcast RTMP — the queue between a publisher's connection and its
 * consumer, and the SugarcastRtmpSession that holds it. Private to the
 * server's files (connection.cpp fills it, rtmpsession.cpp reads it). */
#pragma once

#include "rtmpserver.h"

#include <glib-object.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace sugarcast::rtmp {

/* The queue between a publisher's connection and its consumer. */
struct SessionChannel
{
  PublishInfo info;
  size_t max_bytes = 0;

  std::mutex lock;
  std::deque<Message> queue;
  size_t queued_bytes = 0;
  bool ended = false;
  bool reading_paused = false;
  std::string end_reason;

  std::mutex notify_lock;
  std::function<void()> notify;

  /* Set by the connection once; safe to call from any thread. */
  std::function<void()> resume_reading;
  std::function<void()> request_close;

  /* Returns true when the producer should stop reading for now. */
  bool push(Message &&m)
  {
    bool pause = false;
    {
      std::lock_guard<std::mutex> guard(lock);
      if (ended)
        return false;
      queued_bytes += m.payload.size();
      queue.push_back(std::move(m));
      if (queued_bytes > max_bytes) {
        reading_paused = true;
        pause = true;
      }
    }
    call_notify();
    return pause;
  }

  PopResult pop(Message &out)
  {
    bool resume = false;
    {
      std::lock_guard<std::mutex> guard(lock);
      if (queue.empty())
        return ended ? PopResult::Ended : PopResult::Empty;
      out = std::move(queue.front());
      queue.pop_front();
      queued_bytes -= out.payload.size();
      if (reading_paused && queued_bytes <= max_bytes / 2) {
        reading_paused = false;
        resume = true;
      }
    }
    if (resume && resume_reading)
      resume_reading();
    return PopResult::Message;
  }

  void end(const std::string &reason)
  {
    {
      std::lock_guard<std::mutex> guard(lock);
      if (ended)
        return;
      ended = true;
      end_reason = reason;
    }
    call_notify();
  }

  void call_notify()
  {
    std::lock_guard<std::mutex> guard(notify_lock);
    if (notify)
      notify();
  }
};

} // namespace sugarcast::rtmp

struct _SugarcastRtmpSession
{
  GObject parent;
  std::shared_ptr<sugarcast::rtmp::SessionChannel> *channel;
};
