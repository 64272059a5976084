/* Sugarcast — the clip plugin: elements for uploaded short videos. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "gstclipfit.h"
#include "gstclipvalidate.h"

static gboolean plugin_init(GstPlugin *plugin)
{
  gboolean ok = GST_ELEMENT_REGISTER(clipvalidate, plugin);
  ok &= GST_ELEMENT_REGISTER(clipfit, plugin);
  return ok;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, sugarcastclip,
                  "Sugarcast elements for uploaded clips", plugin_init, VERSION, GST_LICENSE,
                  GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
