/* Sugarcast — comparing secrets (stream keys, tokens, signatures) in
 * constant time. One copy for the plugins and the daemon: the RTMP
 * element's key check and auth-url signatures, the daemon's admin token and
 * JWT signatures.
 *
 * Both sides are reduced to an HMAC-SHA256 under a fixed key first and the
 * digests compared byte by byte without an early exit, so the time taken
 * tells neither where the first difference is nor how long the secret is.
 * (GLib only; no GStreamer.) */
#pragma once

#include <glib.h>

#include <string_view>

namespace sugarcast {

inline bool constant_time_equal(std::string_view a, std::string_view b)
{
  static const guchar key[] = "sugarcast-compare";
  auto digest = [](std::string_view s, guint8(&out)[32]) {
    GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, key, sizeof key);
    g_hmac_update(h, reinterpret_cast<const guchar *>(s.data()), static_cast<gssize>(s.size()));
    gsize size = sizeof out;
    g_hmac_get_digest(h, out, &size);
    g_hmac_unref(h);
  };
  guint8 da[32], db[32];
  digest(a, da);
  digest(b, db);
  guint8 diff = 0;
  for (size_t i = 0; i < sizeof da; ++i)
    diff |= da[i] ^ db[i];
  return diff == 0;
}

} // namespace sugarcast
