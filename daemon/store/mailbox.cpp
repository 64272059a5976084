/* sugarcastd — callbacks delivered later on a main context. See mailbox.h. */
#include "mailbox.h"
#include "guard.h"

#include <deque>
#include <mutex>

namespace sugarcast {

struct Mailbox::State
{
  GMainContext *context = nullptr;
  std::mutex lock; /* guards everything below */
  std::deque<std::function<void()>> queue;
  GSource *source = nullptr; /* owned by the context while attached */
  bool immediate = false;    /* drain_now() was called: posts run at once */
  bool alive = true;         /* false once a Leftovers::Drop mailbox is gone */
};

gboolean Mailbox::deliver(gpointer data)
{
  /* A copy: a callback may destroy the Mailbox, and with it the source. */
  std::shared_ptr<Mailbox::State> state = *static_cast<std::shared_ptr<Mailbox::State> *>(data);
  std::unique_lock<std::mutex> guard(state->lock);
  /* Only what was queued when we started: callbacks that post more (a
   * caller looping on the store) do not starve the rest of the loop. */
  size_t due = state->queue.size();
  while (due-- > 0 && !state->queue.empty() && !state->immediate && state->alive) {
    std::function<void()> fn = std::move(state->queue.front());
    state->queue.pop_front();
    guard.unlock();
    fn();
    fn = nullptr; /* its captures go before the lock is taken again */
    guard.lock();
  }
  if (!state->queue.empty() && !state->immediate && state->alive)
    return G_SOURCE_CONTINUE;
  state->source = nullptr;
  return G_SOURCE_REMOVE;
}

Mailbox::Mailbox(GMainContext *context, Leftovers leftovers)
    : state_(std::make_shared<State>()), leftovers_(leftovers)
{
  state_->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
}

Mailbox::~Mailbox()
{
  if (leftovers_ == Leftovers::Run) {
    drain_now();
  } else {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard<std::mutex> guard(state_->lock);
      state_->alive = false;
      dropped.swap(state_->queue);
      if (state_->source) {
        g_source_destroy(state_->source);
        state_->source = nullptr;
      }
    }
  }
  g_main_context_unref(state_->context);
}

void Mailbox::post(std::function<void()> fn)
{
  State &s = *state_;
  std::unique_lock<std::mutex> guard(s.lock);
  if (!s.alive)
    return;
  if (s.immediate) {
    guard.unlock();
    fn();
    return;
  }
  s.queue.push_back(std::move(fn));
  if (s.source)
    return;
  s.source = g_idle_source_new();
  g_source_set_priority(s.source, G_PRIORITY_DEFAULT);
  g_source_set_static_name(s.source, "sugarcast-mailbox");
  g_source_set_callback(s.source, SUGARCAST_GUARD(deliver), new std::shared_ptr<State>(state_),
                        [](gpointer p) { delete static_cast<std::shared_ptr<State> *>(p); });
  g_source_attach(s.source, s.context);
  g_source_unref(s.source);
}

void Mailbox::drain_now()
{
  State &s = *state_;
  std::unique_lock<std::mutex> guard(s.lock);
  s.immediate = true;
  if (s.source) {
    g_source_destroy(s.source);
    s.source = nullptr;
  }
  while (!s.queue.empty()) {
    std::function<void()> fn = std::move(s.queue.front());
    s.queue.pop_front();
    guard.unlock();
    fn();
    fn = nullptr;
    guard.lock();
  }
}

GMainContext *Mailbox::context() const
{
  return state_->context;
}

} // namespace sugarcast
