/* Sugarcast — hlsabrsink: multi-variant HLS with aligned segments and timed metadata. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  SUGARCAST_HLS_ABR_SINK_PLAYLIST_LIVE,
  SUGARCAST_HLS_ABR_SINK_PLAYLIST_EVENT,
  SUGARCAST_HLS_ABR_SINK_PLAYLIST_VOD,
} SugarcastHlsAbrSinkPlaylistType;

typedef enum {
  SUGARCAST_HLS_ABR_SINK_FORMAT_MPEGTS,
  SUGARCAST_HLS_ABR_SINK_FORMAT_FMP4,
} SugarcastHlsAbrSinkSegmentFormat;

typedef enum {
  SUGARCAST_HLS_ABR_SINK_AUDIO_MUXED,
  SUGARCAST_HLS_ABR_SINK_AUDIO_GROUP,
} SugarcastHlsAbrSinkAudioMode;

#define SUGARCAST_TYPE_HLS_ABR_SINK_PLAYLIST_TYPE (sugarcast_hls_abr_sink_playlist_type_get_type())
GType sugarcast_hls_abr_sink_playlist_type_get_type(void);
#define SUGARCAST_TYPE_HLS_ABR_SINK_SEGMENT_FORMAT                                                 \
  (sugarcast_hls_abr_sink_segment_format_get_type())
GType sugarcast_hls_abr_sink_segment_format_get_type(void);
#define SUGARCAST_TYPE_HLS_ABR_SINK_AUDIO_MODE (sugarcast_hls_abr_sink_audio_mode_get_type())
GType sugarcast_hls_abr_sink_audio_mode_get_type(void);

#define SUGARCAST_TYPE_HLS_ABR_SINK (sugarcast_hls_abr_sink_get_type())
G_DECLARE_FINAL_TYPE(SugarcastHlsAbrSink, sugarcast_hls_abr_sink, SUGARCAST, HLS_ABR_SINK, GstBin)

GST_ELEMENT_REGISTER_DECLARE(hlsabrsink);

G_END_DECLS
