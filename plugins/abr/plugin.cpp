/* Sugarcast — the abr plugin: adaptive-bitrate ladders and multi-variant HLS. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "gstabrladder.h"
#include "gsthlsabrsink.h"

static gboolean plugin_init(GstPlugin *plugin)
{
  gboolean ok = GST_ELEMENT_REGISTER(abrladder, plugin);
  ok &= GST_ELEMENT_REGISTER(hlsabrsink, plugin);
  return ok;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, sugarcastabr,
                  "Sugarcast adaptive bitrate: ABR ladders and multi-variant HLS", plugin_init,
                  VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
