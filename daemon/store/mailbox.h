/* sugarcastd — the one way to run code later on a main context: callbacks
 * delivered in order, batched into one idle dispatch.
 *
 * The store answers through a Mailbox, so a callback never runs before the
 * method that asked returns, never runs inside the backend's own I/O
 * handling (a callback may call the store again, or destroy it), and runs
 * in the order the answers were posted. The chat service hands what its
 * fan-out threads receive to the main context through one too.
 *
 * post() may be called from any thread. What is still queued when the
 * Mailbox goes away is run then (Leftovers::Run: the store, whose callers
 * wait for an answer) or dropped (Leftovers::Drop: the chat service, whose
 * closures point into the object being destroyed). It lives here, beside
 * the store, because the store is the lowest library that needs it; it
 * knows nothing of the store. */
#pragma once

#include <glib.h>

#include <functional>
#include <memory>

namespace sugarcast {

class Mailbox
{
public:
  enum class Leftovers { Run, Drop };

  /* Delivers on `context` (the thread-default context when null). */
  explicit Mailbox(GMainContext *context = nullptr, Leftovers leftovers = Leftovers::Run);
  ~Mailbox();
  Mailbox(const Mailbox &) = delete;
  Mailbox &operator=(const Mailbox &) = delete;

  /* Runs `fn` from the main context after the current call returns. After
   * drain_now() it runs at once instead: the owner is going away. */
  void post(std::function<void()> fn);
  /* On the main context: runs everything queued, now, and from then on
   * runs posts at once. */
  void drain_now();

  GMainContext *context() const;

private:
  struct State;
  static gboolean deliver(gpointer data);
  std::shared_ptr<State> state_;
  Leftovers leftovers_;
};

namespace store {
using sugarcast::Mailbox;
}

} // namespace sugarcast
