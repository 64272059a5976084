/* A fixture for the lint suite: tests/check-nothrow.sh must refuse this
 * file (meson test nothrow-refuses-unguarded, should_fail). Not built. */
#include "guard.h"

void wire(GstElementClass *klass, GstPad *pad, SoupServer *server, gpointer self)
{
  klass->change_state = change_state;
  gst_pad_set_chain_function(pad, chain);
  g_signal_connect(pad, "linked", G_CALLBACK(on_linked), self);
  g_timeout_add(
      100, [](gpointer) -> gboolean { return G_SOURCE_REMOVE; }, self);
  soup_server_add_handler(server, "/x", on_request, self, nullptr);
}
