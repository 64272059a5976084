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
  std::fprintf(stderr, "%.12s %-7s %s: %s\n", stamp, level_name(s), domain, message);
  return G_LOG_WRITER_HANDLED;
}

} // namespace

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
