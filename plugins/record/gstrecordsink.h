/* Sugarcast — recordsink: records encoded H.264 and AAC without re-encoding
 * into crash-safe MPEG-TS segments, a manifest and a VOD playlist. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define SUGARCAST_TYPE_RECORD_SINK (sugarcast_record_sink_get_type())
G_DECLARE_FINAL_TYPE(SugarcastRecordSink, sugarcast_record_sink, SUGARCAST, RECORD_SINK, GstBin)

GST_ELEMENT_REGISTER_DECLARE(recordsink);

G_END_DECLS
