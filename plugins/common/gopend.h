/* Sugarcast — the end-of-GOP mark (header-only, plain C over GStreamer).
 *
 * abrladder marks the last frame of each GOP (the next frame is a keyframe on
 * every rung) with a GstReferenceTimestampMeta whose reference caps are
 * SUGARCAST_GOP_END_META_CAPS and whose timestamp is the running time of the
 * next keyframe. Video filters and encoders copy the meta onto what they make
 * of the frame, so hlsabrsink (or any other segmenter, e.g. recordsink) can
 * close a segment on it instead of waiting for that keyframe.
 */
#ifndef SUGARCAST_GOPEND_H
#define SUGARCAST_GOPEND_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define SUGARCAST_GOP_END_META_CAPS "timestamp/x-sugarcast-gop-end"

/* The reference caps of the mark (one shared instance, never freed). */
static inline GstCaps *sugarcast_gop_end_caps(void)
{
  static GstCaps *caps = NULL;
  if (g_once_init_enter(&caps))
    g_once_init_leave(&caps, gst_caps_new_empty_simple(SUGARCAST_GOP_END_META_CAPS));
  return caps;
}

/* Marks BUF as the last frame of its GOP; NEXT_KEYFRAME is a running time. */
static inline void sugarcast_buffer_mark_gop_end(GstBuffer *buf, GstClockTime next_keyframe)
{
  gst_buffer_add_reference_timestamp_meta(buf, sugarcast_gop_end_caps(), next_keyframe,
                                          GST_CLOCK_TIME_NONE);
}

/* The running time of the next keyframe when BUF carries the mark, else
 * GST_CLOCK_TIME_NONE. */
static inline GstClockTime sugarcast_buffer_gop_end(GstBuffer *buf)
{
  GstReferenceTimestampMeta *meta =
      gst_buffer_get_reference_timestamp_meta(buf, sugarcast_gop_end_caps());
  return meta ? meta->timestamp : GST_CLOCK_TIME_NONE;
}

G_END_DECLS

#endif /* SUGARCAST_GOPEND_H */
