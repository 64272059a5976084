/* Sugarcast — hlsabrsink's request pads: video_%u and audio requested and
 * released (a ghost on the bin, its pad on the writer element), and the
 * parser (h264parse, aacparse) put in front of a pad at its first caps. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "abrinternal.h"
#include "hlsabrsink-private.h"

#include <algorithm>
#include <mutex>
#include <string>

using namespace sugarcast::abr;
using namespace sugarcast::abr::hlsabrsink;

#define GST_CAT_DEFAULT sugarcast_hls_abr_sink_debug

namespace sugarcast::abr::hlsabrsink {

/* ---- requesting and releasing pads ---------------------------------------- */

/* ---- the upstream parsers ------------------------------------------------- */

/* What the writer takes after the parser: H.264 access units with AUD, SPS
 * and PPS before every IDR (h264parse config-interval=-1, checked on 1.22)
 * in Annex B for MPEG-TS, or length-prefixed with codec_data for fMP4; AAC
 * raw with its AudioSpecificConfig in codec_data (aacparse converts ADTS),
 * which both containers need: fMP4 as is, MPEG-TS behind the ADTS header
 * mpegts.cpp writes (as mpegtsmux does for raw AAC). */
static GstPadProbeReturn insert_parser(GstPad *ghost, GstPadProbeInfo *info, gpointer data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  auto *self = SUGARCAST_HLS_ABR_SINK(data);
  SugarcastHlsAbrSinkPrivate *p = self->priv;
  GstCaps *caps = nullptr;
  gst_event_parse_caps(event, &caps);
  const GstStructure *st = gst_caps_get_structure(caps, 0);
  const bool h264 = gst_structure_has_name(st, "video/x-h264");
  const bool aac = gst_structure_has_name(st, "audio/mpeg");
  if (!h264 && !aac)
    return GST_PAD_PROBE_REMOVE; /* VP9 and Opus go to the writer as they are */

  GstPad *writer_pad = nullptr;
  bool fmp4 = false;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    for (auto &[pad, ps] : p->pads)
      if (ps->ghost == ghost)
        writer_pad = pad;
    fmp4 = p->settings.segment_format == SUGARCAST_HLS_ABR_SINK_FORMAT_FMP4;
  }
  if (!writer_pad)
    return GST_PAD_PROBE_REMOVE;
  GstElement *parse = make_child(GST_ELEMENT(self), h264 ? "h264parse" : "aacparse",
                                 "(gstreamer1.0-plugins-bad / -good)");
  GstElement *filter = make_child(GST_ELEMENT(self), "capsfilter", "(GStreamer core)");
  if (!parse || !filter) {
    for (GstElement *e : {parse, filter})
      if (e)
        gst_object_unref(gst_object_ref_sink(e));
    return GST_PAD_PROBE_REMOVE; /* the error is posted; the caps will not be taken */
  }
  if (h264)
    g_object_set(parse, "config-interval", -1, nullptr);
  GstCaps *want = h264 ? gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING,
                                             fmp4 ? "avc" : "byte-stream", "alignment",
                                             G_TYPE_STRING, "au", nullptr)
                       : gst_caps_new_simple("audio/mpeg", "mpegversion", G_TYPE_INT, 4,
                                             "stream-format", G_TYPE_STRING, "raw", nullptr);
  g_object_set(filter, "caps", want, nullptr);
  gst_caps_unref(want);
  gst_bin_add_many(GST_BIN(self), parse, filter, nullptr);
  GstPad *filter_src = gst_element_get_static_pad(filter, "src");
  GstPad *parse_sink = gst_element_get_static_pad(parse, "sink");
  /* Retarget first: that unlinks the ghost's inner pad from the writer's. */
  gst_ghost_pad_set_target(GST_GHOST_PAD(ghost), parse_sink);
  const bool linked =
      gst_element_link(parse, filter) && gst_pad_link(filter_src, writer_pad) == GST_PAD_LINK_OK;
  gst_object_unref(filter_src);
  gst_object_unref(parse_sink);
  gst_element_sync_state_with_parent(filter);
  gst_element_sync_state_with_parent(parse);
  {
    std::lock_guard<std::mutex> guard(p->lock);
    auto it = p->pads.find(writer_pad);
    if (it != p->pads.end()) {
      /* Held until the pad is released, which may come after the bin
       * disposed its children. */
      it->second->parse = GST_ELEMENT(gst_object_ref(parse));
      it->second->parse_filter = GST_ELEMENT(gst_object_ref(filter));
    }
  }
  if (!linked)
    GST_ELEMENT_ERROR(
        self, CORE, NEGOTIATION,
        ("hlsabrsink could not put %s before %s", GST_ELEMENT_NAME(parse), GST_PAD_NAME(ghost)),
        (nullptr));
  GST_DEBUG_OBJECT(self, "%s: %s before the writer", GST_PAD_NAME(ghost), GST_ELEMENT_NAME(parse));
  return GST_PAD_PROBE_REMOVE; /* the caps go on, through the parser */
}

void register_pad(HlsWriter &writer, PadState &ps)
{
  if (ps.audio) {
    writer.add_audio();
    ps.id = HlsWriter::kAudioPad;
  } else {
    ps.id = writer.add_video(GST_PAD_NAME(ps.ghost));
  }
}

GstPad *sugarcast_hls_abr_sink_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                               const gchar *name, const GstCaps *)
{
  auto *self = SUGARCAST_HLS_ABR_SINK(element);
  SugarcastHlsAbrSinkPrivate *p = self->priv;
  const bool audio = g_strcmp0(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "audio") == 0;
  std::string pad_name;
  std::shared_ptr<HlsWriter> writer;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    if (audio) {
      for (auto &[pad, ps] : p->pads)
        if (ps->audio) {
          GST_WARNING_OBJECT(self, "hlsabrsink takes one audio pad");
          return nullptr;
        }
      pad_name = "audio";
    } else {
      guint index = p->next_video;
      if (name && sscanf(name, "video_%u", &index) != 1)
        return nullptr;
      for (auto &[pad, ps] : p->pads)
        if (g_strcmp0(GST_PAD_NAME(ps->ghost), ("video_" + std::to_string(index)).c_str()) == 0)
          return nullptr;
      p->next_video = std::max(p->next_video, index + 1);
      pad_name = "video_" + std::to_string(index);
    }
    writer = p->writer;
  }

  GstPadTemplate *inner_templ = gst_element_class_get_pad_template(
      GST_ELEMENT_GET_CLASS(self->priv->inner), audio ? "audio" : "video_%u");
  GstPad *pad = gst_pad_new_from_template(inner_templ, pad_name.c_str());
  gst_pad_set_chain_function(pad, SUGARCAST_GUARD(writer_chain));
  gst_pad_set_event_function(pad, SUGARCAST_GUARD(writer_event));
  GstPad *ghost = gst_ghost_pad_new_from_template(pad_name.c_str(), pad, templ);

  auto ps = std::make_unique<PadState>();
  ps->ghost = ghost;
  ps->pad = pad;
  ps->audio = audio;
  gst_segment_init(&ps->segment, GST_FORMAT_TIME);
  if (writer)
    register_pad(*writer, *ps);
  {
    std::lock_guard<std::mutex> guard(p->lock);
    p->pads[pad] = std::move(ps);
  }
  gst_pad_set_active(pad, TRUE);
  gst_element_add_pad(GST_ELEMENT(p->inner), pad);
  gst_pad_add_probe(ghost, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, SUGARCAST_GUARD(insert_parser),
                    self, nullptr);
  gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(element, ghost);
  return ghost;
}

void sugarcast_hls_abr_sink_release_pad(GstElement *element, GstPad *ghost)
{
  auto *self = SUGARCAST_HLS_ABR_SINK(element);
  SugarcastHlsAbrSinkPrivate *p = self->priv;
  GstPad *pad = nullptr;
  std::shared_ptr<HlsWriter> writer;
  PadState *ps = nullptr;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    for (auto &[inner_pad, state] : p->pads)
      if (state->ghost == ghost) {
        pad = inner_pad;
        ps = state.get();
      }
    writer = p->writer;
  }
  if (!pad)
    return;
  /* A released pad has ended, as far as the playlists go. */
  if (writer && !ps->eos) {
    if (ps->audio)
      writer->end_audio();
    else
      writer->end_video(ps->id);
  }
  gst_element_remove_pad(element, ghost);
  for (GstElement *e : {ps->parse, ps->parse_filter})
    if (e) {
      if (GST_OBJECT_PARENT(e) == GST_OBJECT(self)) {
        gst_element_set_state(e, GST_STATE_NULL);
        gst_bin_remove(GST_BIN(self), e);
      }
      gst_object_unref(e);
    }
  gst_pad_set_active(pad, FALSE);
  if (GST_OBJECT_PARENT(pad) == GST_OBJECT(p->inner))
    gst_element_remove_pad(GST_ELEMENT(p->inner), pad);
  std::lock_guard<std::mutex> guard(p->lock);
  p->pads.erase(pad);
}

} // namespace sugarcast::abr::hlsabrsink
