/* Sugarcast test support: waiting for the store's callbacks. See store_await.h. */
#include "store_await.h"

#include <glib.h>

namespace sugarcast::test {

bool run_until(const std::function<bool()> &done, std::chrono::milliseconds timeout)
{
  GMainContext *context = g_main_context_ref_thread_default();
  bool timed_out = false;
  GSource *timer = g_timeout_source_new(guint(timeout.count()));
  g_source_set_callback(
      timer,
      [](gpointer flag) {
        *static_cast<bool *>(flag) = true;
        return G_SOURCE_REMOVE;
      },
      &timed_out, nullptr);
  g_source_attach(timer, context);
  /* Wakes the loop now and then, so that a condition that polls (calls the
   * store itself) is asked again even when nothing else happens. */
  GSource *poll = g_timeout_source_new(10);
  g_source_set_callback(
      poll, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, nullptr);
  g_source_attach(poll, context);
  bool satisfied = false;
  while (!(satisfied = done()) && !timed_out)
    g_main_context_iteration(context, TRUE);
  for (GSource *source : {timer, poll}) {
    g_source_destroy(source);
    g_source_unref(source);
  }
  g_main_context_unref(context);
  return satisfied;
}

void run_for(std::chrono::milliseconds duration)
{
  run_until([] { return false; }, duration);
}

} // namespace sugarcast::test
