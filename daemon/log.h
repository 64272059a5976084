/* sugarcastd — logging: one line per event on stderr, "LEVEL module: text",
 * filtered by the configured level. Use GLib's g_message/g_warning/... with
 * G_LOG_DOMAIN set per module ("sugarcastd-http", ...); g_info and g_debug
 * are shown when log_level says so. */
#pragma once

#include <string>

namespace sugarcast {

/* "error", "warning", "info" or "debug". */
void install_log_writer(const std::string &level);

} // namespace sugarcast
