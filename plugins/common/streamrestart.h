/* Sugarcast — the stream-restart event (header-only, plain C).
 *
 * When a publisher continues a stream after reconnecting, rtmpserversrc
 * pushes this custom downstream serialized event before the new publisher's
 * first data. It flows through flvdemux, parsers, decoders and abrladder
 * (which forwards it to every rung and keyframes the next frame); hlsabrsink
 * starts a new segment with EXT-X-DISCONTINUITY in every variant.
 *
 *   sugarcast-stream-restart, app=(string)live, stream=(string)KEY
 */
#ifndef SUGARCAST_STREAMRESTART_H
#define SUGARCAST_STREAMRESTART_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define SUGARCAST_STREAM_RESTART_EVENT "sugarcast-stream-restart"

/* A new sugarcast-stream-restart event; app and stream may be NULL. */
static inline GstEvent *sugarcast_stream_restart_event_new(const gchar *app, const gchar *stream)
{
  return gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM,
                              gst_structure_new(SUGARCAST_STREAM_RESTART_EVENT, "app",
                                                G_TYPE_STRING, app ? app : "", "stream",
                                                G_TYPE_STRING, stream ? stream : "", NULL));
}

static inline gboolean sugarcast_event_is_stream_restart(GstEvent *event)
{
  const GstStructure *s;
  if (GST_EVENT_TYPE(event) != GST_EVENT_CUSTOM_DOWNSTREAM)
    return FALSE;
  s = gst_event_get_structure(event);
  return s && gst_structure_has_name(s, SUGARCAST_STREAM_RESTART_EVENT);
}

G_END_DECLS

#endif /* SUGARCAST_STREAMRESTART_H */
