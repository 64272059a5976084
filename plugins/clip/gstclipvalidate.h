/* Sugarcast — clipvalidate: measures an uploaded clip and accepts or rejects it. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  GST_CLIP_VALIDATE_ACTION_ERROR,
  GST_CLIP_VALIDATE_ACTION_REPORT,
} GstClipValidateAction;

#define GST_TYPE_CLIP_VALIDATE_ACTION (gst_clip_validate_action_get_type())
GType gst_clip_validate_action_get_type(void);

#define GST_TYPE_CLIP_VALIDATE (gst_clip_validate_get_type())
G_DECLARE_FINAL_TYPE(GstClipValidate, gst_clip_validate, GST, CLIP_VALIDATE, GstElement)

GST_ELEMENT_REGISTER_DECLARE(clipvalidate);

G_END_DECLS
