/* Sugarcast — making a bin's child elements (header-only, C++ over
 * GStreamer; users link gstreamer-pbutils).
 *
 * Every element that builds children (abrladder, hlsabrsink, replaysrc)
 * makes them through make_child: a missing one is reported the way
 * GStreamer applications expect (a missing-element message they can act on)
 * and as an error a person can read, naming the element and why it is
 * needed, rather than a NULL that fails later as an unlinked pad.
 */
#pragma once

#include <gst/gst.h>
#include <gst/pbutils/missing-plugins.h>

namespace sugarcast {

/* Posts both for a FACTORY that could not be made. */
inline void report_missing(GstElement *parent, const char *factory, const char *why)
{
  gst_element_post_message(parent, gst_missing_element_message_new(parent, factory));
  /* "abrladder needs ...": the parent's element name, not its instance name. */
  GstElementFactory *own = gst_element_get_factory(parent);
  const char *who = own ? GST_OBJECT_NAME(own) : GST_ELEMENT_NAME(parent);
  GST_ELEMENT_ERROR(parent, CORE, MISSING_PLUGIN,
                    ("%s needs the %s element %s; it is not installed.", who, factory, why),
                    ("gst_element_factory_make(\"%s\") failed", factory));
}

/* A child element from FACTORY, or nullptr after report_missing. */
inline GstElement *make_child(GstElement *parent, const char *factory, const char *why)
{
  GstElement *e = gst_element_factory_make(factory, nullptr);
  if (!e)
    report_missing(parent, factory, why);
  return e;
}

} // namespace sugarcast
