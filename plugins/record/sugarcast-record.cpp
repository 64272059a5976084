/* Sugarcast — sugarcast-record: repair and retention of recordings from the
 * command line (what recordsink does at start, for operators and scripts).
 *
 *   sugarcast-record repair DIR...          finalise recordings a crash left open
 *   sugarcast-record list ROOT              one line per recording
 *   sugarcast-record retention ROOT [--max-age SECONDS] [--max-size BYTES]
 *
 * DIR is one recording's folder, or a folder of recordings (each one in it
 * still in state "recording" is repaired). Exit status 0 on success, 1 when
 * something could not be done, 2 on bad usage.
 */
#include "repair.h"
#include "retention.h"

#include <glib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace sugarcast::record;

namespace {

int usage()
{
  std::fprintf(stderr, "usage: sugarcast-record repair DIR...\n"
                       "       sugarcast-record list ROOT\n"
                       "       sugarcast-record retention ROOT [--max-age SECONDS] "
                       "[--max-size BYTES]\n");
  return 2;
}

bool parse_count(const char *text, uint64_t &out)
{
  if (!text || !*text || *text == '-')
    return false;
  char *end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno || *end)
    return false;
  out = v;
  return true;
}

int repair(int argc, char **argv)
{
  int status = 0;
  for (int i = 2; i < argc; ++i) {
    std::vector<std::string> folders;
    const std::string dir = argv[i];
    if (g_file_test((dir + "/manifest.json").c_str(), G_FILE_TEST_EXISTS) ||
        !g_file_test(dir.c_str(), G_FILE_TEST_IS_DIR)) {
      folders.push_back(dir);
    } else {
      for (const auto &r : list_recordings(dir))
        if (r.state == "recording")
          folders.push_back(r.folder);
    }
    for (const auto &folder : folders) {
      const auto t0 = std::chrono::steady_clock::now();
      RepairReport report;
      std::string error;
      if (!repair_recording(folder, g_get_real_time(), report, error)) {
        std::fprintf(stderr, "sugarcast-record: cannot repair %s: %s\n", folder.c_str(),
                     error.c_str());
        status = 1;
        continue;
      }
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%s (%.1f s of media, %.1f ms)\n", report.message.c_str(), report.duration / 1e9,
                  ms);
    }
  }
  return status;
}

int list(const char *root)
{
  for (const auto &r : list_recordings(root)) {
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(r.started_us / G_USEC_PER_SEC);
    g_autofree gchar *iso = dt ? g_date_time_format_iso8601(dt) : g_strdup("?");
    std::printf("%s\t%s\t%s\t%llu\n", r.folder.c_str(), iso, r.state.c_str(),
                static_cast<unsigned long long>(r.bytes));
  }
  return 0;
}

int retention(int argc, char **argv)
{
  RetentionPolicy policy;
  for (int i = 3; i < argc; ++i) {
    uint64_t v = 0;
    if (!std::strcmp(argv[i], "--max-age") && i + 1 < argc && parse_count(argv[i + 1], v)) {
      policy.max_age_us = static_cast<int64_t>(v) * G_USEC_PER_SEC;
      ++i;
    } else if (!std::strcmp(argv[i], "--max-size") && i + 1 < argc && parse_count(argv[i + 1], v)) {
      policy.max_bytes = v;
      ++i;
    } else {
      std::fprintf(stderr,
                   "sugarcast-record: %s: expected --max-age SECONDS or --max-size BYTES "
                   "(whole numbers)\n",
                   argv[i]);
      return 2;
    }
  }
  std::vector<std::string> errors;
  for (const auto &gone : apply_retention(argv[2], policy, g_get_real_time(), errors))
    std::printf("removed %s\n", gone.c_str());
  for (const auto &e : errors)
    std::fprintf(stderr, "sugarcast-record: %s\n", e.c_str());
  return errors.empty() ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
  if (argc < 3)
    return usage();
  const std::string cmd = argv[1];
  if (cmd == "repair")
    return repair(argc, argv);
  if (cmd == "list" && argc == 3)
    return list(argv[2]);
  if (cmd == "retention")
    return retention(argc, argv);
  return usage();
}
