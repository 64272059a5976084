/* Sugarcast — elements private to abrladder (not registered as factories).
 *
 * SugarcastAbrGrid: the first element in abrladder. Decides, once for every
 * rung, which frames are keyframes (KeyframeGrid, or the publisher's own
 * keyframes through a SourceTimeline) and sends a downstream
 * GstForceKeyUnit event right before each of them; every encoder downstream
 * keyframes exactly those frames. Calls back into the bin on caps, before
 * forwarding them, so the bin can build or resize its rungs.
 *
 * SugarcastAbrScale: downscales I420 by exactly 2:1 or 3:2 (downscale.h), for
 * the rungs that are such ratios of a larger one; a third of the cost of
 * videoscale.
 *
 * SugarcastAbrDecimate: keeps one frame in N for a rung with a maximum frame
 * rate, always keeping the frames announced as keyframes (and restarting
 * its count there), so decimated rungs keep the shared keyframe grid.
 */
#pragma once

#include "core/keygrid.h"
#include "makechild.h"

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>

#include <functional>

G_BEGIN_DECLS

#define SUGARCAST_TYPE_ABR_GRID (sugarcast_abr_grid_get_type())
G_DECLARE_FINAL_TYPE(SugarcastAbrGrid, sugarcast_abr_grid, SUGARCAST, ABR_GRID, GstElement)

#define SUGARCAST_TYPE_ABR_SCALE (sugarcast_abr_scale_get_type())
G_DECLARE_FINAL_TYPE(SugarcastAbrScale, sugarcast_abr_scale, SUGARCAST, ABR_SCALE, GstVideoFilter)

#define SUGARCAST_TYPE_ABR_DECIMATE (sugarcast_abr_decimate_get_type())
G_DECLARE_FINAL_TYPE(SugarcastAbrDecimate, sugarcast_abr_decimate, SUGARCAST, ABR_DECIMATE,
                     GstElement)

G_END_DECLS

namespace sugarcast::abr {

/* Called from the streaming thread with the new caps before they go
 * downstream; false refuses them (the callback posts the error). */
using CapsCallback = std::function<bool(GstCaps *caps)>;

void grid_set_caps_callback(SugarcastAbrGrid *grid, CapsCallback callback);
void grid_set_gop(SugarcastAbrGrid *grid, GstClockTime gop);
/* Follow the publisher's keyframes recorded in `timeline` (nullptr: own grid). */
void grid_follow(SugarcastAbrGrid *grid, SourceTimeline *timeline);

/* The picture size SugarcastAbrScale produces (set before it negotiates). */
void scale_set_size(SugarcastAbrScale *scale, int width, int height);

/* Keep one frame in `factor` (1 = all); `fps_n/fps_d` is the resulting rate
 * announced downstream (0/1 when the input rate is unknown, in which case
 * frames closer than 1/max_fps are dropped instead). */
void decimate_configure(SugarcastAbrDecimate *decimate, int factor, int max_fps);

/* A timestamp in signed running time (nanoseconds), kUnknown when it has
 * none or the segment is not in time. */
int64_t signed_running_time(const GstSegment &segment, GstClockTime t);

/* The mark abrladder puts on a frame that ends its GOP (the next frame is a
 * keyframe on every rung); the meta and its name are plugins/common/gopend.h.
 * hlsabrsink closes the segment on it instead of waiting for that keyframe to
 * be captured and encoded. */
void mark_gop_end(GstBuffer *buf, int64_t next_keyframe);
/* The running time of the next keyframe if BUF carries the mark, else kUnknown. */
int64_t gop_end_mark(GstBuffer *buf);

/* Child elements: plugins/common/makechild.h. */
using sugarcast::make_child;
using sugarcast::report_missing;

/* The structure names of the custom events that abrladder and hlsabrsink
 * understand; see daterange.h and streamrestart.h. */
bool is_restart_event(GstEvent *event);

} // namespace sugarcast::abr
