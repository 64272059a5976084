/* sugarcast-rtmp-token: prints a stream name with a signed expiring token,
 * for rtmpserversrc's auth-secret.
 *
 *   sugarcast-rtmp-token SECRET STREAM [SECONDS]   (default: valid for 3600 s)
 *   → STREAM?exp=1735689600&sig=3f1c...
 */
#include "auth.h"

#include <glib.h>

#include <cstdio>
#include <string>

int main(int argc, char **argv)
{
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s SECRET STREAM [VALID-SECONDS]\n", argv[0]);
    return 2;
  }
  gint64 seconds = 3600;
  if (argc == 4) {
    gchar *end = nullptr;
    seconds = g_ascii_strtoll(argv[3], &end, 10);
    if (!end || *end || seconds <= 0) {
      std::fprintf(stderr, "%s: VALID-SECONDS must be a positive number, not '%s'\n", argv[0],
                   argv[3]);
      return 2;
    }
  }
  const gint64 expires = g_get_real_time() / G_USEC_PER_SEC + seconds;
  std::printf("%s?exp=%lld&sig=%s\n", argv[2], static_cast<long long>(expires),
              sugarcast::rtmp::sign_stream(argv[1], argv[2], expires).c_str());
  return 0;
}
