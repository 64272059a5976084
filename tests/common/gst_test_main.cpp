/* The main() of every Sugarcast gtest binary.
 *
 * - a fresh GStreamer registry per run, so a stale build is never loaded
 *   (tests/meson.build points GST_PLUGIN_PATH_1_0 at our build folder and
 *   GST_PLUGIN_SYSTEM_PATH_1_0 at the system plugins);
 * - GLib warnings and criticals, from any thread and any library, fail the
 *   test that is running unless an ExpectLog says they are expected.
 */
#include "testenv.h"

#include <glib.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace sugarcast::test {
bool log_line_expected(const std::string &message);
}

namespace {

std::string registry_dir;

GLogWriterOutput fail_on_warnings(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                                  gpointer)
{
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) {
    std::string domain = "(none)", message;
    for (gsize i = 0; i < n_fields; ++i) {
      if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0)
        domain = static_cast<const char *>(fields[i].value);
      else if (g_strcmp0(fields[i].key, "MESSAGE") == 0)
        message = static_cast<const char *>(fields[i].value);
    }
    if (!sugarcast::test::log_line_expected(message))
      ADD_FAILURE() << "GLib " << ((level & G_LOG_LEVEL_CRITICAL) ? "critical" : "warning")
                    << " from " << domain << ": " << message;
  }
  /* Debug lines only with G_MESSAGES_DEBUG, as GLib's default writer does
   * (libsoup logs every WebSocket frame). */
  const char *log_domain = nullptr;
  for (gsize i = 0; i < n_fields; ++i)
    if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0)
      log_domain = static_cast<const char *>(fields[i].value);
  if (g_log_writer_default_would_drop(level, log_domain))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_standard_streams(level, fields, n_fields, nullptr);
}

} // namespace

int main(int argc, char **argv)
{
  ::testing::InitGoogleTest(&argc, argv);

  g_autofree gchar *dir = g_dir_make_tmp("sugarcast-registry-XXXXXX", nullptr);
  registry_dir = dir ? dir : "";
  if (!registry_dir.empty()) {
    g_setenv("GST_REGISTRY_1_0", (registry_dir + "/registry.bin").c_str(), TRUE);
    std::atexit([] { std::filesystem::remove_all(registry_dir); });
  }
  g_log_set_writer_func(fail_on_warnings, nullptr, nullptr);
  gst_init(&argc, &argv);

  return RUN_ALL_TESTS();
}
