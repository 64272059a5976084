/* sugarcast-rtmp-token: prints a stream name with a signed expiring token,
 * for rtmpserversrc's auth-secret. The token is bound to the application
 * (the path part before the stream key: "live" in rtmp://host/live).
 *
 *   sugarcast-rtmp-token SECRET APP STREAM VALID-SECONDS
 *   → STREAM?exp=1735689600&sig=3f1c...   (publish to rtmp://host/APP/ that)
 *
 * All four arguments are required, so a call in the older form
 * (SECRET STREAM [SECONDS], whose tokens were not bound to the application)
 * fails with the usage instead of signing the wrong string.
 */
#include "core/auth.h"

#include <glib.h>

#include <cstdio>
#include <string>

int main(int argc, char **argv)
{
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s SECRET APP STREAM VALID-SECONDS\n", argv[0]);
    return 2;
  }
  gchar *end = nullptr;
  const gint64 seconds = g_ascii_strtoll(argv[4], &end, 10);
  if (!end || *end || seconds <= 0) {
    std::fprintf(stderr, "%s: VALID-SECONDS must be a positive number, not '%s'\n", argv[0],
                 argv[4]);
    return 2;
  }
  if (!*argv[2] || !*argv[3]) {
    std::fprintf(stderr, "%s: APP and STREAM must not be empty\n", argv[0]);
    return 2;
  }
  const gint64 expires = g_get_real_time() / G_USEC_PER_SEC + seconds;
  std::printf("%s?exp=%lld&sig=%s\n", argv[3], static_cast<long long>(expires),
              sugarcast::rtmp::sign_stream(argv[1], argv[2], argv[3], expires).c_str());
  return 0;
}
