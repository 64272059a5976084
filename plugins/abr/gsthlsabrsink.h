/* Sugarcast — hlsabrsink: multi-variant HLS with aligned segments and timed metadata. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  GST_HLS_ABR_SINK_PLAYLIST_LIVE,
  GST_HLS_ABR_SINK_PLAYLIST_EVENT,
  GST_HLS_ABR_SINK_PLAYLIST_VOD,
} GstHlsAbrSinkPlaylistType;

typedef enum {
  GST_HLS_ABR_SINK_FORMAT_MPEGTS,
  GST_HLS_ABR_SINK_FORMAT_FMP4,
} GstHlsAbrSinkSegmentFormat;

typedef enum {
  GST_HLS_ABR_SINK_AUDIO_MUXED,
  GST_HLS_ABR_SINK_AUDIO_GROUP,
} GstHlsAbrSinkAudioMode;

#define GST_TYPE_HLS_ABR_SINK_PLAYLIST_TYPE (gst_hls_abr_sink_playlist_type_get_type())
GType gst_hls_abr_sink_playlist_type_get_type(void);
#define GST_TYPE_HLS_ABR_SINK_SEGMENT_FORMAT (gst_hls_abr_sink_segment_format_get_type())
GType gst_hls_abr_sink_segment_format_get_type(void);
#define GST_TYPE_HLS_ABR_SINK_AUDIO_MODE (gst_hls_abr_sink_audio_mode_get_type())
GType gst_hls_abr_sink_audio_mode_get_type(void);

#define GST_TYPE_HLS_ABR_SINK (gst_hls_abr_sink_get_type())
G_DECLARE_FINAL_TYPE(GstHlsAbrSink, gst_hls_abr_sink, GST, HLS_ABR_SINK, GstBin)

GST_ELEMENT_REGISTER_DECLARE(hlsabrsink);

G_END_DECLS
