/* sugarcastd chat — hands work from the fan-out threads to the main context.
 *
 * post() may be called from any thread; the closures run on the context
 * given at construction, in order, batched into one idle dispatch. After
 * the MainQueue is destroyed, closures still queued are dropped, never run.
 */
#pragma once

#include "guard.h"

#include <glib.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace sugarcast::chat {

class MainQueue
{
public:
  explicit MainQueue(GMainContext *context) : state_(std::make_shared<State>())
  {
    state_->context = g_main_context_ref(context);
  }
  ~MainQueue()
  {
    std::lock_guard<std::mutex> guard(state_->lock);
    state_->alive = false;
    state_->items.clear();
  }
  MainQueue(const MainQueue &) = delete;
  MainQueue &operator=(const MainQueue &) = delete;

  void post(std::function<void()> fn)
  {
    std::lock_guard<std::mutex> guard(state_->lock);
    if (!state_->alive)
      return;
    state_->items.push_back(std::move(fn));
    if (state_->scheduled)
      return;
    state_->scheduled = true;
    GSource *source = g_idle_source_new();
    g_source_set_priority(source, G_PRIORITY_DEFAULT);
    g_source_set_callback(source, SUGARCAST_GUARD(dispatch), new std::shared_ptr<State>(state_),
                          [](gpointer p) { delete static_cast<std::shared_ptr<State> *>(p); });
    g_source_attach(source, state_->context);
    g_source_unref(source);
  }

private:
  struct State
  {
    ~State() { g_main_context_unref(context); }
    std::mutex lock;
    std::vector<std::function<void()>> items;
    bool scheduled = false;
    bool alive = true;
    GMainContext *context = nullptr;
  };

  static gboolean dispatch(gpointer data)
  {
    auto &state = *static_cast<std::shared_ptr<State> *>(data);
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> guard(state->lock);
      batch.swap(state->items);
      state->scheduled = false;
    }
    for (auto &fn : batch) {
      {
        std::lock_guard<std::mutex> guard(state->lock);
        if (!state->alive)
          break;
      }
      fn();
    }
    return G_SOURCE_REMOVE;
  }

  std::shared_ptr<State> state_;
};

} // namespace sugarcast::chat
