/* Sugarcast — abrladder: one raw video in, one encoded rendition per rung out. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  SUGARCAST_ABR_LADDER_CODEC_H264,
  SUGARCAST_ABR_LADDER_CODEC_VP9,
} SugarcastAbrLadderCodec;

typedef enum {
  SUGARCAST_ABR_LADDER_PRESET_ULTRAFAST,
  SUGARCAST_ABR_LADDER_PRESET_SUPERFAST,
  SUGARCAST_ABR_LADDER_PRESET_VERYFAST,
  SUGARCAST_ABR_LADDER_PRESET_FASTER,
  SUGARCAST_ABR_LADDER_PRESET_FAST,
  SUGARCAST_ABR_LADDER_PRESET_MEDIUM,
  SUGARCAST_ABR_LADDER_PRESET_SLOW,
  SUGARCAST_ABR_LADDER_PRESET_SLOWER,
  SUGARCAST_ABR_LADDER_PRESET_VERYSLOW,
} SugarcastAbrLadderPreset;

#define SUGARCAST_TYPE_ABR_LADDER_CODEC (sugarcast_abr_ladder_codec_get_type())
GType sugarcast_abr_ladder_codec_get_type(void);
#define SUGARCAST_TYPE_ABR_LADDER_PRESET (sugarcast_abr_ladder_preset_get_type())
GType sugarcast_abr_ladder_preset_get_type(void);

#define SUGARCAST_TYPE_ABR_LADDER (sugarcast_abr_ladder_get_type())
G_DECLARE_FINAL_TYPE(SugarcastAbrLadder, sugarcast_abr_ladder, SUGARCAST, ABR_LADDER, GstBin)

GST_ELEMENT_REGISTER_DECLARE(abrladder);

G_END_DECLS
