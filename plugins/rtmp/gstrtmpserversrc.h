/* Sugarcast — rtmpserversrc: an RTMP(S) server as a live FLV source. */
#pragma once

#include <gst/base/gstpushsrc.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define SUGARCAST_TYPE_RTMP_SERVER_SRC (sugarcast_rtmp_server_src_get_type())
G_DECLARE_FINAL_TYPE(SugarcastRtmpServerSrc, sugarcast_rtmp_server_src, SUGARCAST, RTMP_SERVER_SRC,
                     GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE(rtmpserversrc);

G_END_DECLS
