/* Sugarcast — clipvalidate: measures an uploaded clip and accepts or rejects it. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  SUGARCAST_CLIP_VALIDATE_ACTION_ERROR,
  SUGARCAST_CLIP_VALIDATE_ACTION_REPORT,
} SugarcastClipValidateAction;

#define SUGARCAST_TYPE_CLIP_VALIDATE_ACTION (sugarcast_clip_validate_action_get_type())
GType sugarcast_clip_validate_action_get_type(void);

#define SUGARCAST_TYPE_CLIP_VALIDATE (sugarcast_clip_validate_get_type())
G_DECLARE_FINAL_TYPE(SugarcastClipValidate, sugarcast_clip_validate, SUGARCAST, CLIP_VALIDATE,
                     GstElement)

GST_ELEMENT_REGISTER_DECLARE(clipvalidate);

G_END_DECLS
