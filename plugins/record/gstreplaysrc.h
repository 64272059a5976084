/* Sugarcast — replaysrc: plays a recording made by recordsink, whole or a
 * range, keyframe-aligned without re-encoding or frame-exact (re-encoding
 * only the first GOP). */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define SUGARCAST_TYPE_REPLAY_SRC (sugarcast_replay_src_get_type())
G_DECLARE_FINAL_TYPE(SugarcastReplaySrc, sugarcast_replay_src, SUGARCAST, REPLAY_SRC, GstBin)

GST_ELEMENT_REGISTER_DECLARE(replaysrc);

G_END_DECLS
