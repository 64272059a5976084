/* Sugarcast — the record plugin: recording live streams and replaying them. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstrecordsink.h"

static gboolean plugin_init(GstPlugin *plugin)
{
  return GST_ELEMENT_REGISTER(recordsink, plugin);
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, sugarcastrecord,
                  "Sugarcast recording and replay", plugin_init, VERSION, GST_LICENSE,
                  GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
