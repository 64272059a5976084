/* Sugarcast — sugarcast-daterange structures. See timedmeta.h. */
#include "timedmeta.h"

#include "playlist.h"

namespace sugarcast::abr {

bool daterange_from_structure(const GstStructure *s, DateRange &range, std::string &error)
{
  const gchar *id = gst_structure_get_string(s, "id");
  if (!id || !*id) {
    error = "a sugarcast-daterange needs a non-empty string field 'id'";
    return false;
  }
  range.id = id;
  if (const gchar *klass = gst_structure_get_string(s, "class"))
    range.klass = klass;
  guint64 start = GST_CLOCK_TIME_NONE;
  if (gst_structure_get_uint64(s, "start", &start) && GST_CLOCK_TIME_IS_VALID(start))
    range.start = static_cast<int64_t>(start);
  if (const gchar *date = gst_structure_get_string(s, "start-date")) {
    range.start_us = parse_date(date);
    if (range.start_us < 0) {
      error = std::string("start-date '") + date +
              "' is not an ISO 8601 date with a time zone (2025-05-01T12:00:00.000Z)";
      return false;
    }
  }
  guint64 duration = GST_CLOCK_TIME_NONE;
  if (gst_structure_get_uint64(s, "duration", &duration) && GST_CLOCK_TIME_IS_VALID(duration))
    range.duration = static_cast<int64_t>(duration);
  const GValue *attrs = gst_structure_get_value(s, "attributes");
  if (attrs && G_VALUE_HOLDS(attrs, GST_TYPE_STRUCTURE)) {
    const GstStructure *a = gst_value_get_structure(attrs);
    for (int i = 0; a && i < gst_structure_n_fields(a); ++i) {
      const gchar *field = gst_structure_nth_field_name(a, static_cast<guint>(i));
      DateRangeAttribute attr;
      attr.name = field;
      if (!normalise_attribute_name(attr.name)) {
        error = std::string("attribute '") + field +
                "' is not a client attribute name (X- followed by letters, digits and '-')";
        return false;
      }
      const GValue *v = gst_structure_get_value(a, field);
      if (G_VALUE_HOLDS_STRING(v)) {
        attr.value = g_value_get_string(v) ? g_value_get_string(v) : "";
      } else {
        /* Numbers are written bare, anything else serialised and quoted. */
        attr.quoted =
            !(G_VALUE_HOLDS_INT(v) || G_VALUE_HOLDS_UINT(v) || G_VALUE_HOLDS_INT64(v) ||
              G_VALUE_HOLDS_UINT64(v) || G_VALUE_HOLDS_DOUBLE(v) || G_VALUE_HOLDS_FLOAT(v));
        g_autofree gchar *text = gst_value_serialize(v);
        attr.value = text ? text : (attr.quoted ? "" : "0");
      }
      range.attributes.push_back(std::move(attr));
    }
  }
  return true;
}

} // namespace sugarcast::abr
