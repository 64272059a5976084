/* sugarcastd — logging: one line per event on stderr, "LEVEL module: text",
 * filtered by the configured level. Use GLib's g_message/g_warning/... with
 * G_LOG_DOMAIN set per module ("sugarcastd-http", ...); g_info and g_debug
 * are shown when log_level says so. */
#pragma once

#include <string>
#include <string_view>

namespace sugarcast {

/* TEXT as one printable line: control characters (a newline included),
 * backslashes and bytes that are not UTF-8 become escapes (\n, \x1b, \\), so that text from outside
 * (a stream title, a user name, a path) can neither forge log lines nor send terminal sequences.
 * Every line the writer prints goes through it. */
std::string escape_log_text(std::string_view text);

/* "error", "warning", "info" or "debug". */
void install_log_writer(const std::string &level);

} // namespace sugarcast
