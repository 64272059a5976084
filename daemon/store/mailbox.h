/* sugarcastd store: callbacks delivered later, in order, on one main context.
 *
 * Both backends answer through a Mailbox, so a callback never runs before
 * the method that asked returns, never runs inside the backend's own I/O
 * handling (a callback may call the store again, or destroy it), and runs
 * in the order the answers were posted.
 */
#pragma once

#include <glib.h>

#include <functional>
#include <memory>

namespace sugarcast::store {

class Mailbox
{
public:
  /* Delivers on `context` (the thread-default context when null). */
  explicit Mailbox(GMainContext *context = nullptr);
  /* Runs whatever is still queued, now. */
  ~Mailbox();
  Mailbox(const Mailbox &) = delete;
  Mailbox &operator=(const Mailbox &) = delete;

  /* Runs `fn` from the main context after the current call returns. After
   * drain_now() it runs at once instead: the owner is going away. */
  void post(std::function<void()> fn);
  /* Runs everything queued, now, and from then on runs posts at once. */
  void drain_now();

  GMainContext *context() const;

private:
  struct State;
  static gboolean deliver(gpointer data);
  std::shared_ptr<State> state_;
};

} // namespace sugarcast::store
