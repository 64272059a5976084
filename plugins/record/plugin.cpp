/* Sugarcast — the record plugin: recording live streams and replaying them. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "gstrecordsink.h"
#include "gstreplaysrc.h"

static gboolean plugin_init(GstPlugin *plugin)
{
  gboolean ok = GST_ELEMENT_REGISTER(recordsink, plugin);
  ok |= GST_ELEMENT_REGISTER(replaysrc, plugin);
  return ok;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, sugarcastrecord,
                  "Sugarcast recording and replay", plugin_init, VERSION, GST_LICENSE,
                  GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
