/* Sugarcast — a sugarcast-daterange structure (plugins/common/daterange.h)
 * read into a DateRange: the one reader of that format, used by hlsabrsink
 * (its event and its add-daterange signal) and by recordsink (its
 * add-daterange signal), so both accept and refuse the same things. */
#pragma once

#include "hlswriter.h"

#include <gst/gst.h>

#include <string>

namespace sugarcast::abr {

/* Fills `range` from the structure's id, class, start, start-date, duration
 * and attributes. Returns false with `error` naming the field that is wrong
 * (no id, a start-date that is not ISO 8601, an attribute that is not X-NAME). */
bool daterange_from_structure(const GstStructure *s, DateRange &range, std::string &error);

} // namespace sugarcast::abr
