/* sugarcastd — the Sugarcast elements the daemon carries inside it, so a
 * daemon always runs the element code it was built with, installed plugins
 * or not. */
#pragma once

namespace sugarcast {

/* Registers them with GStreamer; call once after gst_init(). */
void register_builtin_elements();

} // namespace sugarcast
