/* A fixture for the lint suite: the same registrations as unguarded.cpp,
 * guarded; tests/check-nothrow.sh reports none of them. Not built. */
#include "guard.h"

void wire(GstElementClass *klass, GstPad *pad, SoupServer *server, gpointer self)
{
  klass->change_state = SUGARCAST_GUARD(change_state);
  gst_pad_set_chain_function(pad, SUGARCAST_GUARD(chain));
  g_signal_connect(pad, "linked", G_CALLBACK(SUGARCAST_GUARD(on_linked)), self);
  g_timeout_add(100, SUGARCAST_GUARD(+[](gpointer) -> gboolean { return G_SOURCE_REMOVE; }), self);
  soup_server_add_handler(server, "/x", SUGARCAST_GUARD(on_request), self, nullptr);
}
