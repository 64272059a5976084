/* Sugarcast — clipfit: scales and retimes a clip's decoded video to its output format. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define SUGARCAST_TYPE_CLIP_FIT (sugarcast_clip_fit_get_type())
G_DECLARE_FINAL_TYPE(SugarcastClipFit, sugarcast_clip_fit, SUGARCAST, CLIP_FIT, GstBin)

GST_ELEMENT_REGISTER_DECLARE(clipfit);

G_END_DECLS
