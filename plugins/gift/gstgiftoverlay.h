/* Sugarcast — giftoverlay: viewers' gifts animated onto raw video. */
#pragma once

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define SUGARCAST_TYPE_GIFT_OVERLAY (sugarcast_gift_overlay_get_type())
G_DECLARE_FINAL_TYPE(SugarcastGiftOverlay, sugarcast_gift_overlay, SUGARCAST, GIFT_OVERLAY,
                     GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE(giftoverlay);

G_END_DECLS
