/* Sugarcast — abrladder: one raw video in, one encoded rendition per rung out. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  GST_ABR_LADDER_CODEC_H264,
  GST_ABR_LADDER_CODEC_VP9,
} GstAbrLadderCodec;

typedef enum {
  GST_ABR_LADDER_PRESET_ULTRAFAST,
  GST_ABR_LADDER_PRESET_SUPERFAST,
  GST_ABR_LADDER_PRESET_VERYFAST,
  GST_ABR_LADDER_PRESET_FASTER,
  GST_ABR_LADDER_PRESET_FAST,
  GST_ABR_LADDER_PRESET_MEDIUM,
  GST_ABR_LADDER_PRESET_SLOW,
  GST_ABR_LADDER_PRESET_SLOWER,
  GST_ABR_LADDER_PRESET_VERYSLOW,
} GstAbrLadderPreset;

#define GST_TYPE_ABR_LADDER_CODEC (gst_abr_ladder_codec_get_type())
GType gst_abr_ladder_codec_get_type(void);
#define GST_TYPE_ABR_LADDER_PRESET (gst_abr_ladder_preset_get_type())
GType gst_abr_ladder_preset_get_type(void);

#define GST_TYPE_ABR_LADDER (gst_abr_ladder_get_type())
G_DECLARE_FINAL_TYPE(GstAbrLadder, gst_abr_ladder, GST, ABR_LADDER, GstBin)

GST_ELEMENT_REGISTER_DECLARE(abrladder);

G_END_DECLS
