/* Sugarcast — replaysrc's re-encoded head GOP (frame-exact from a start
 * inside a GOP): a second reader, tsdemux, h264parse, avdec_h264, x264enc in
 * the source's profile behind the source's SPS/PPS, joined to the untouched
 * rest by concat. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "replaysrc-private.h"

#include "makechild.h"

#include <gst/pbutils/missing-plugins.h>

#include <optional>

using namespace sugarcast::record;

/* The source's caps: the profile the head is encoded in. */
static GstPadProbeReturn source_caps_probe(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(data)->priv;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  GstCaps *caps;
  gst_event_parse_caps(event, &caps);
  const gchar *profile = gst_structure_get_string(gst_caps_get_structure(caps, 0), "profile");
  /* The profiles x264enc names; for any other, x264enc picks the one that
   * fits the decoded chroma format and bit depth. */
  static const char *const kProfiles[] = {
      "constrained-baseline", "baseline", "main", "high", "high-10", "high-4:2:2", "high-4:4:4"};
  g_autoptr(GstCaps) want =
      gst_caps_from_string("video/x-h264, stream-format=byte-stream, alignment=au");
  for (const char *known : kProfiles)
    if (profile && g_str_equal(profile, known))
      gst_caps_set_simple(want, "profile", G_TYPE_STRING, profile, nullptr);
  std::lock_guard lk(p->lock);
  if (p->encoded_caps)
    g_object_set(p->encoded_caps, "caps", want, nullptr);
  return GST_PAD_PROBE_OK;
}

/* The head's frames decode the source's reorder delay before they show (the
 * PTS stands in for x264enc's DTS, the same without B-frames), as the
 * source's do: the rest's first DTS, at k1 - delay, then follows the head's
 * last one, and a muxer sees decode times that only go up. */
static GstPadProbeReturn head_dts_probe(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  const GstClockTime delay = *static_cast<const GstClockTime *>(data);
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  const GstClockTime pts = GST_BUFFER_PTS(buf);
  if (!GST_CLOCK_TIME_IS_VALID(pts) || pts < delay)
    return GST_PAD_PROBE_OK;
  buf = gst_buffer_make_writable(buf);
  GST_BUFFER_DTS(buf) = pts - delay;
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  return GST_PAD_PROBE_OK;
}

static void free_delay(gpointer data)
{
  delete static_cast<GstClockTime *>(data);
}

/* The head's first access unit gets the source's parameter sets in front of
 * its own (see build_head). */
static GstPadProbeReturn head_params_probe(GstPad *, GstPadProbeInfo *info, gpointer data)
{
  ReplayPrivate *p = SUGARCAST_REPLAY_SRC(data)->priv;
  std::vector<uint8_t> sets;
  {
    std::lock_guard lk(p->lock);
    sets = p->source_parameter_sets;
  }
  if (sets.empty())
    return GST_PAD_PROBE_REMOVE;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ))
    return GST_PAD_PROBE_REMOVE;
  /* After the access unit delimiter x264enc starts with: that stays first. */
  size_t at = 0;
  const auto nals = sugarcast::abr::split_annexb(map.data, map.size);
  if (nals.size() > 1 && nals[0].type() == sugarcast::abr::kNalAud)
    at = static_cast<size_t>(nals[0].data + nals[0].size - map.data);
  std::vector<uint8_t> au;
  au.reserve(map.size + sets.size());
  au.insert(au.end(), map.data, map.data + at);
  au.insert(au.end(), sets.begin(), sets.end());
  au.insert(au.end(), map.data + at, map.data + map.size);
  gst_buffer_unmap(buf, &map);
  GstBuffer *out = gst_buffer_new_memdup(au.data(), au.size());
  gst_buffer_copy_into(out, buf, GST_BUFFER_COPY_METADATA, 0, -1);
  gst_buffer_unref(buf);
  GST_PAD_PROBE_INFO_DATA(info) = out;
  return GST_PAD_PROBE_REMOVE;
}

static void on_head_demux_pad(GstElement *, GstPad *pad, gpointer data)
{
  auto *parse = GST_ELEMENT(data);
  g_autoptr(GstCaps) caps = gst_pad_query_caps(pad, nullptr);
  if (!gst_structure_has_name(gst_caps_get_structure(caps, 0), "video/x-h264"))
    return; /* the head's audio comes from the main reader */
  g_autoptr(GstPad) sink = gst_element_get_static_pad(parse, "sink");
  if (!gst_pad_is_linked(sink))
    gst_pad_link(pad, sink);
}

/* Whether FACTORY is installed; if not, says so (a missing-element message an
 * application can act on, and an error naming it and its package). */
static bool have_element(SugarcastReplaySrc *self, const char *factory, const char *package,
                         gint64 start)
{
  g_autoptr(GstElementFactory) f = gst_element_factory_find(factory);
  if (f)
    return true;
  gst_element_post_message(GST_ELEMENT(self),
                           gst_missing_element_message_new(GST_ELEMENT(self), factory));
  GST_ELEMENT_ERROR(self, CORE, MISSING_PLUGIN,
                    ("replaysrc: frame-exact needs the %s element (%s) to re-encode the GOP "
                     "that start (%.3f s) falls in",
                     factory, package, start / 1e9),
                    ("install %s, or set frame-exact=false for a keyframe-aligned start", package));
  return false;
}

/* The re-encoded head: a second reader over the head GOP's bytes, decoded,
 * cut at start, encoded again, and joined with the untouched rest by concat
 * (its pad sink_0; the rest links to sink_1 when tsdemux shows it). */
bool build_head(SugarcastReplaySrc *self, std::vector<Chunk> chunks, gint64 start)
{
  ReplayPrivate *p = self->priv;
  const struct
  {
    const char *factory, *package;
  } needed[] = {{"h264parse", "gstreamer1.0-plugins-bad"},
                {"avdec_h264", "gstreamer1.0-libav"},
                {"x264enc", "gstreamer1.0-plugins-ugly"},
                {"concat", "gstreamer1.0 core elements"}};
  for (const auto &n : needed)
    if (!have_element(self, n.factory, n.package, start))
      return false;
  /* The head gets SPS/PPS ids the source does not use (x264 numbers its PPS
   * like its SPS), and the source's sets go in front of its own: a parser
   * downstream that builds an avcC (MP4) then holds both before the first
   * frame, and the untouched rest decodes with it. */
  const auto keyframe = keyframe_at(chunks.back().path, chunks.back().from);
  const auto &source = keyframe.parameter_sets;
  const int64_t reorder_delay = keyframe.reorder_delay;
  std::vector<uint8_t> annexb;
  bool used[32] = {};
  for (const auto *sets : {&source.sps, &source.pps})
    for (const auto &nal : *sets) {
      annexb.insert(annexb.end(), {0, 0, 0, 1});
      annexb.insert(annexb.end(), nal.begin(), nal.end());
      std::optional<int> id;
      if (sets == &source.sps) {
        if (auto info = sugarcast::abr::parse_sps(nal))
          id = info->id;
      } else {
        id = sugarcast::abr::pps_id(nal);
      }
      if (id && *id >= 0 && *id < 32)
        used[*id] = true;
    }
  int head_id = 1;
  while (head_id < 31 && used[head_id])
    ++head_id;
  GST_DEBUG_OBJECT(self,
                   "source parameter sets: %zu bytes; the head's id is %d; reorder delay "
                   "%" GST_STIME_FORMAT,
                   annexb.size(), head_id, GST_STIME_ARGS(reorder_delay));
  GstElement *reader = GST_ELEMENT(g_object_new(SUGARCAST_TYPE_REPLAY_READER, nullptr));
  reader_set_chunks(reader, std::move(chunks));
  const char *why = "(to re-encode a frame-exact range's first GOP)";
  GstElement *el = GST_ELEMENT(self);
  GstElement *demux = sugarcast::make_child(el, "tsdemux", why);
  GstElement *parse_in = sugarcast::make_child(el, "h264parse", why);
  GstElement *decoder = sugarcast::make_child(el, "avdec_h264", why);
  GstElement *encoder = sugarcast::make_child(el, "x264enc", why);
  GstElement *encoded = sugarcast::make_child(el, "capsfilter", why);
  GstElement *parse_out = sugarcast::make_child(el, "h264parse", why);
  GstElement *concat = sugarcast::make_child(el, "concat", why);
  GstElement *out = sugarcast::make_child(el, "capsfilter", why);
  if (!demux || !parse_in || !decoder || !encoder || !encoded || !parse_out || !concat || !out) {
    for (GstElement *e :
         {reader, demux, parse_in, decoder, encoder, encoded, parse_out, concat, out})
      if (e)
        gst_object_unref(gst_object_ref_sink(e));
    return false;
  }
  gst_bin_add_many(GST_BIN(self), reader, demux, parse_in, decoder, encoder, encoded, parse_out,
                   concat, out, nullptr);
  /* The head is at most a GOP: near-transparent constant quality, in-band
   * SPS/PPS with its IDR frame first (x264enc starts with one), no B-frames. */
  g_autofree gchar *options = g_strdup_printf("sps-id=%d", head_id);
  g_object_set(encoder, "byte-stream", TRUE, "quantizer", 18u, "bframes", 0u, "option-string",
               options, nullptr);
  gst_util_set_object_arg(G_OBJECT(encoder), "pass", "qual");
  g_autoptr(GstCaps) au =
      gst_caps_from_string("video/x-h264, stream-format=byte-stream, alignment=au");
  g_object_set(encoded, "caps", au, nullptr);
  g_object_set(out, "caps", au, nullptr);
  /* The segments say where each part sits; concat must not move them. */
  g_object_set(concat, "adjust-base", FALSE, nullptr);
  gst_element_link(reader, demux);
  g_signal_connect(demux, "pad-added", G_CALLBACK(SUGARCAST_GUARD(on_head_demux_pad)), parse_in);
  gst_element_link_many(parse_in, decoder, encoder, encoded, parse_out, nullptr);
  g_autoptr(GstPad) head = gst_element_request_pad_simple(concat, "sink_%u");
  GstPad *rest = gst_element_request_pad_simple(concat, "sink_%u");
  {
    g_autoptr(GstPad) encoded_src = gst_element_get_static_pad(parse_out, "src");
    gst_pad_link(encoded_src, head);
    gst_pad_add_probe(encoded_src, GST_PAD_PROBE_TYPE_BUFFER, SUGARCAST_GUARD(head_params_probe),
                      self, nullptr);
    if (reorder_delay > 0)
      gst_pad_add_probe(encoded_src, GST_PAD_PROBE_TYPE_BUFFER, SUGARCAST_GUARD(head_dts_probe),
                        new GstClockTime(static_cast<GstClockTime>(reorder_delay)),
                        SUGARCAST_GUARD(free_delay));
  }
  gst_element_link(concat, out);
  {
    g_autoptr(GstPad) source = gst_element_get_static_pad(parse_in, "src");
    gst_pad_add_probe(source, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                      SUGARCAST_GUARD(source_caps_probe), self, nullptr);
    g_autoptr(GstPad) decoded = gst_element_get_static_pad(decoder, "src");
    add_retimer(decoded, self, Part::Head);
  }
  std::lock_guard lk(p->lock);
  p->encoded_caps = encoded;
  if (p->concat_rest)
    gst_object_unref(p->concat_rest);
  p->concat_rest = rest;
  p->video_out = out;
  p->source_parameter_sets = std::move(annexb);
  return true;
}
