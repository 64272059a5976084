/* sugarcastd — logging. See log.h. */
#include "log.h"

#include <glib.h>

#include <atomic>
#include <cstdio>

namespace sugarcast {

namespace {

std::atomic<int> threshold{G_LOG_LEVEL_INFO};

int severity(GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return G_LOG_LEVEL_ERROR;
  if (level & G_LOG_LEVEL_CRITICAL)
    return G_LOG_LEVEL_CRITICAL;
  if (level & G_LOG_LEVEL_WARNING)
    return G_LOG_LEVEL_WARNING;
  if (level & G_LOG_LEVEL_MESSAGE)
    return G_LOG_LEVEL_MESSAGE;
  if (level & G_LOG_LEVEL_INFO)
    return G_LOG_LEVEL_INFO;
  return G_LOG_LEVEL_DEBUG;
}

const char *level_name(int s)
{
  switch (s) {
  case G_LOG_LEVEL_ERROR:
    return "error";
  case G_LOG_LEVEL_CRITICAL:
    return "critical";
  case G_LOG_LEVEL_WARNING:
    return "warning";
  case G_LOG_LEVEL_MESSAGE:
  case G_LOG_LEVEL_INFO:
    return "info";
  default:
    return "debug";
  }
}

void append_hex(std::string &out, unsigned char byte)
{
  static const char digits[] = "0123456789abcdef";
  out += "\\x";
  out += digits[byte >> 4];
  out += digits[byte & 15];
}

GLogWriterOutput write_line(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer)
{
  const int s = severity(level);
  /* GLib's levels grow as severity falls: ERROR=4 ... DEBUG=128. */
  if (s > threshold.load())
    return G_LOG_WRITER_HANDLED;
  const char *domain = "sugarcastd", *message = "";
  for (gsize i = 0; i < n; ++i) {
    if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].value)
      domain = static_cast<const char *>(fields[i].value);
    else if (g_strcmp0(fields[i].key, "MESSAGE") == 0 && fields[i].value)
      message = static_cast<const char *>(fields[i].value);
  }
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree gchar *stamp = g_date_time_format(now, "%H:%M:%S.%f");
  const std::string text = escape_log_text(message);
  std::fprintf(stderr, "%.12s %-7s %s: %s\n", stamp, level_name(s), domain, text.c_str());
  return G_LOG_WRITER_HANDLED;
}

} // namespace

std::string escape_log_text(std::string_view text)
{
  std::string out;
  out.reserve(text.size());
  const char *p = text.data();
  const char *end = p + text.size();
  while (p < end) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c >= 0x80) {
      /* A whole UTF-8 character passes; a byte that starts none is escaped. */
      const gunichar u = g_utf8_get_char_validated(p, end - p);
      if (u != static_cast<gunichar>(-1) && u != static_cast<gunichar>(-2) && u >= 0xa0) {
        const char *next = g_utf8_next_char(p);
        out.append(p, static_cast<size_t>(next - p));
        p = next;
        continue;
      }
      append_hex(out, c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      append_hex(out, c);
    } else {
      out += static_cast<char>(c);
    }
    ++p;
  }
  return out;
}

void install_log_writer(const std::string &level)
{
  if (level == "error")
    threshold = G_LOG_LEVEL_CRITICAL;
  else if (level == "warning")
    threshold = G_LOG_LEVEL_WARNING;
  else if (level == "debug")
    threshold = G_LOG_LEVEL_DEBUG;
  else
    threshold = G_LOG_LEVEL_INFO;
  static bool installed = false;
  if (!installed) {
    installed = true;
    g_log_set_writer_func(write_line, nullptr, nullptr);
  }
}

} // namespace sugarcast
