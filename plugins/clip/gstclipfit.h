/* Sugarcast — clipfit: scales and retimes a clip's decoded video to its output format. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_CLIP_FIT (gst_clip_fit_get_type())
G_DECLARE_FINAL_TYPE(GstClipFit, gst_clip_fit, GST, CLIP_FIT, GstBin)

GST_ELEMENT_REGISTER_DECLARE(clipfit);

G_END_DECLS
