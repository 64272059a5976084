/* Sugarcast — the caps query of an element that sets some caps fields and
 * passes the others (header-only, C++ over GStreamer).
 *
 * abrladder's decimator sets the frame rate; clipfit, when it leads its
 * input straight to its capsfilter, stands for videorate and videoscale,
 * which set size, pixel aspect ratio and rate. Either answers a caps query
 * on one pad with what the peer of its other pad takes, those fields left
 * open, narrowed by the query's filter.
 */
#pragma once

#include <gst/gst.h>

#include <initializer_list>

namespace sugarcast {

/* A copy of CAPS without FIELDS in any structure. */
inline GstCaps *caps_without(GstCaps *caps, std::initializer_list<const char *> fields)
{
  GstCaps *out = gst_caps_copy(caps);
  for (guint i = 0; i < gst_caps_get_size(out); ++i)
    for (const char *field : fields)
      gst_structure_remove_field(gst_caps_get_structure(out, i), field);
  return out;
}

/* Answers the caps QUERY with what the peer of OTHER takes, FIELDS open. */
inline void answer_caps_query_open(GstQuery *query, GstPad *other,
                                   std::initializer_list<const char *> fields)
{
  GstCaps *filter = nullptr;
  gst_query_parse_caps(query, &filter);
  GstCaps *open_filter = filter ? caps_without(filter, fields) : nullptr;
  GstCaps *peer = gst_pad_peer_query_caps(other, open_filter);
  GstCaps *result = caps_without(peer, fields);
  gst_caps_unref(peer);
  if (open_filter)
    gst_caps_unref(open_filter);
  if (filter) {
    GstCaps *both = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(result);
    result = both;
  }
  gst_query_set_caps_result(query, result);
  gst_caps_unref(result);
}

} // namespace sugarcast
