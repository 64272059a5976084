/* Sugarcast — timed metadata for HLS (header-only, plain C).
 *
 * A sugarcast-daterange event travels downstream with the media (through
 * giftoverlay, abrladder and encoders) to hlsabrsink, which writes it as an
 * EXT-X-DATERANGE tag into every variant's playlist, before the segment
 * whose time covers its start. The daemon (a gift from chat) and
 * giftoverlay make it with sugarcast_daterange_event_new(), so both describe
 * the same thing the same way; hlsabrsink's `add-daterange` action signal
 * takes the same arguments.
 *
 *   sugarcast-daterange,
 *     id=(string)gift-8812,              required, unique per stream
 *     class=(string)com.sugarcast.gift,  optional: CLASS
 *     start=(guint64)12345678900,        running time in ns; GST_CLOCK_TIME_NONE
 *                                        (or absent) = where the event is in the stream
 *     start-date=(string)2025-05-01T12:00:00.000Z,  optional instead of start
 *     duration=(guint64)3000000000,      optional: DURATION, in ns
 *     attributes=(structure)"attributes, X-GIFT=(string)rose, X-COUNT=(int)10;"
 *
 * Attribute names must be X- followed by letters, digits and '-' (lower case
 * is upper-cased); string values are written quoted, numbers as decimals.
 */
#ifndef SUGARCAST_DATERANGE_H
#define SUGARCAST_DATERANGE_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define SUGARCAST_DATERANGE_EVENT "sugarcast-daterange"

/* A new sugarcast-daterange event. `klass` and `attributes` may be NULL;
 * `running_time` and `duration` may be GST_CLOCK_TIME_NONE. The attributes
 * structure is copied. */
static inline GstEvent *sugarcast_daterange_event_new(const gchar *id, const gchar *klass,
                                                      GstClockTime running_time,
                                                      GstClockTime duration,
                                                      const GstStructure *attributes)
{
  GstStructure *s;
  g_return_val_if_fail(id != NULL && *id != '\0', NULL);
  s = gst_structure_new(SUGARCAST_DATERANGE_EVENT, "id", G_TYPE_STRING, id, NULL);
  if (klass && *klass)
    gst_structure_set(s, "class", G_TYPE_STRING, klass, NULL);
  gst_structure_set(s, "start", G_TYPE_UINT64, (guint64)running_time, NULL);
  if (GST_CLOCK_TIME_IS_VALID(duration))
    gst_structure_set(s, "duration", G_TYPE_UINT64, (guint64)duration, NULL);
  if (attributes)
    gst_structure_set(s, "attributes", GST_TYPE_STRUCTURE, attributes, NULL);
  return gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, s);
}

static inline gboolean sugarcast_event_is_daterange(GstEvent *event)
{
  const GstStructure *s;
  if (GST_EVENT_TYPE(event) != GST_EVENT_CUSTOM_DOWNSTREAM)
    return FALSE;
  s = gst_event_get_structure(event);
  return s && gst_structure_has_name(s, SUGARCAST_DATERANGE_EVENT);
}

G_END_DECLS

#endif /* SUGARCAST_DATERANGE_H */
