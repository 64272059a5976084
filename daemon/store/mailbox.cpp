/* sugarcastd store: callbacks delivered later. See mailbox.h. */
#include "mailbox.h"
#include "guard.h"

#include <deque>

namespace sugarcast::store {

struct Mailbox::State
{
  GMainContext *context = nullptr;
  std::deque<std::function<void()>> queue;
  GSource *source = nullptr; /* owned by the context while attached */
  bool immediate = false;
};

gboolean Mailbox::deliver(gpointer data)
{
  /* A copy: a callback may destroy the Mailbox, and with it the source. */
  std::shared_ptr<Mailbox::State> state = *static_cast<std::shared_ptr<Mailbox::State> *>(data);
  /* Only what was queued when we started: callbacks that post more (a
   * caller looping on the store) do not starve the rest of the loop. */
  size_t due = state->queue.size();
  while (due-- > 0 && !state->queue.empty() && !state->immediate) {
    std::function<void()> fn = std::move(state->queue.front());
    state->queue.pop_front();
    fn();
  }
  if (!state->queue.empty() && !state->immediate)
    return G_SOURCE_CONTINUE;
  state->source = nullptr;
  return G_SOURCE_REMOVE;
}

Mailbox::Mailbox(GMainContext *context) : state_(std::make_shared<State>())
{
  state_->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
}

Mailbox::~Mailbox()
{
  drain_now();
  g_main_context_unref(state_->context);
}

void Mailbox::post(std::function<void()> fn)
{
  State &s = *state_;
  if (s.immediate) {
    fn();
    return;
  }
  s.queue.push_back(std::move(fn));
  if (s.source)
    return;
  s.source = g_idle_source_new();
  g_source_set_priority(s.source, G_PRIORITY_DEFAULT);
  g_source_set_static_name(s.source, "sugarcast-store-mailbox");
  g_source_set_callback(s.source, SUGARCAST_GUARD(deliver), new std::shared_ptr<State>(state_),
                        [](gpointer p) { delete static_cast<std::shared_ptr<State> *>(p); });
  g_source_attach(s.source, s.context);
  g_source_unref(s.source);
}

void Mailbox::drain_now()
{
  State &s = *state_;
  s.immediate = true;
  if (s.source) {
    g_source_destroy(s.source);
    s.source = nullptr;
  }
  while (!s.queue.empty()) {
    std::function<void()> fn = std::move(s.queue.front());
    s.queue.pop_front();
    fn();
  }
}

GMainContext *Mailbox::context() const
{
  return state_->context;
}

} // namespace sugarcast::store
