/* Sugarcast — hlsabrsink's hand-off to core/hlswriter.h: the writer element's
 * chain and event functions (samples in running time, formats, bitrates,
 * restarts, date ranges, EOS) and the HlsWriter made from the properties at
 * READY->PAUSED, whose hooks post the element messages. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "abrinternal.h"
#include "core/timedmeta.h"
#include "daterange.h"
#include "hlsabrsink-private.h"
#include "streamrestart.h"

#include <gst/tag/tag.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

using namespace sugarcast::abr;
using namespace sugarcast::abr::hlsabrsink;

#define GST_CAT_DEFAULT sugarcast_hls_abr_sink_debug

namespace sugarcast::abr::hlsabrsink {

/* ---- pad functions -------------------------------------------------------- */

GstFlowReturn writer_chain(GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  auto *inner = SUGARCAST_HLS_ABR_WRITER(parent);
  SugarcastHlsAbrSink *self = inner->sink;
  PadState *ps = pad_state(self, pad);
  auto writer = current_writer(self);
  if (!ps || !writer) {
    gst_buffer_unref(buf);
    return GST_FLOW_FLUSHING;
  }
  if (!ps->asked_live) {
    /* Live inputs cannot wait for late audio; files can. */
    ps->asked_live = true;
    GstQuery *query = gst_query_new_latency();
    gboolean live = FALSE;
    if (gst_pad_peer_query(ps->pad, query))
      gst_query_parse_latency(query, &live, nullptr, nullptr);
    gst_query_unref(query);
    if (live)
      writer->set_live(true);
  }
  MediaSample sample;
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) {
    gst_buffer_unref(buf);
    return GST_FLOW_ERROR;
  }
  sample.data = std::make_shared<const Bytes>(map.data, map.data + map.size);
  gst_buffer_unmap(buf, &map);
  sample.pts = signed_running_time(ps->segment, GST_BUFFER_PTS(buf));
  sample.dts = signed_running_time(ps->segment, GST_BUFFER_DTS(buf));
  if (sample.pts == kUnknown)
    sample.pts = sample.dts;
  if (GST_BUFFER_DURATION_IS_VALID(buf))
    sample.duration = static_cast<int64_t>(GST_BUFFER_DURATION(buf));
  sample.keyframe = !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  sample.gop_end = gop_end_mark(buf);
  gst_buffer_unref(buf);
  if (sample.pts != kUnknown) {
    const int64_t end = sample.pts + (sample.duration != kUnknown ? sample.duration : 0);
    if (ps->position == kUnknown || end > ps->position)
      ps->position = end;
  }
  const bool ok = ps->audio ? writer->push_audio(std::move(sample))
                            : writer->push_video(ps->id, std::move(sample));
  return ok ? GST_FLOW_OK : GST_FLOW_ERROR;
}

static void apply_format(SugarcastHlsAbrSink *self, HlsWriter &writer, PadState &ps)
{
  std::string error;
  bool ok = true;
  if (ps.audio && ps.have_audio_format) {
    AudioFormat f = ps.audio_format;
    f.declared_bitrate = ps.declared_bitrate;
    ok = writer.set_audio_format(f, error);
  } else if (!ps.audio && ps.have_video_format) {
    VideoFormat f = ps.video;
    f.declared_bitrate = ps.declared_bitrate;
    ok = writer.set_video_format(ps.id, f, error);
  }
  if (!ok)
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                      ("hlsabrsink cannot write %s: %s", GST_PAD_NAME(ps.ghost), error.c_str()),
                      (nullptr));
}

static void maybe_post_eos(SugarcastHlsAbrSink *self, HlsWriter &writer)
{
  if (!writer.finished())
    return;
  {
    std::lock_guard<std::mutex> guard(self->priv->lock);
    if (self->priv->eos_posted)
      return;
    self->priv->eos_posted = true;
  }
  GST_INFO_OBJECT(self, "every input ended; final playlists written");
  gst_element_post_message(GST_ELEMENT(self->priv->inner),
                           gst_message_new_eos(GST_OBJECT(self->priv->inner)));
}

gboolean writer_event(GstPad *pad, GstObject *parent, GstEvent *event)
{
  auto *inner = SUGARCAST_HLS_ABR_WRITER(parent);
  SugarcastHlsAbrSink *self = inner->sink;
  PadState *ps = pad_state(self, pad);
  auto writer = current_writer(self);
  gboolean ret = TRUE;
  if (!ps || !writer) {
    const GstEventType type = GST_EVENT_TYPE(event);
    gst_event_unref(event);
    return type == GST_EVENT_FLUSH_START || type == GST_EVENT_FLUSH_STOP;
  }
  switch (GST_EVENT_TYPE(event)) {
  case GST_EVENT_CAPS: {
    GstCaps *caps = nullptr;
    gst_event_parse_caps(event, &caps);
    std::string error;
    if (ps->audio)
      ps->have_audio_format = audio_format_from_caps(caps, ps->audio_format, error);
    else
      ps->have_video_format = video_format_from_caps(caps, ps->video, error);
    if (!error.empty()) {
      GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                        ("hlsabrsink cannot write %s: %s", GST_PAD_NAME(ps->ghost), error.c_str()),
                        ("caps %" GST_PTR_FORMAT, caps));
      ret = FALSE;
    } else {
      apply_format(self, *writer, *ps);
    }
    break;
  }
  case GST_EVENT_SEGMENT:
    gst_event_copy_segment(event, &ps->segment);
    break;
  case GST_EVENT_TAG: {
    GstTagList *tags = nullptr;
    gst_event_parse_tag(event, &tags);
    guint bitrate = 0;
    if (gst_tag_list_get_uint(tags, GST_TAG_MAXIMUM_BITRATE, &bitrate) ||
        gst_tag_list_get_uint(tags, GST_TAG_NOMINAL_BITRATE, &bitrate) ||
        gst_tag_list_get_uint(tags, GST_TAG_BITRATE, &bitrate)) {
      if (bitrate > 0 && bitrate != ps->declared_bitrate) {
        ps->declared_bitrate = bitrate;
        apply_format(self, *writer, *ps);
      }
    }
    break;
  }
  case GST_EVENT_STREAM_START: {
    const gchar *id = nullptr;
    gst_event_parse_stream_start(event, &id);
    const std::string stream_id = id ? id : "";
    if (!ps->stream_id.empty() && stream_id != ps->stream_id) {
      GST_INFO_OBJECT(self, "new stream on %s: discontinuity", GST_PAD_NAME(ps->ghost));
      writer->restart(ps->id);
    }
    ps->stream_id = stream_id;
    break;
  }
  case GST_EVENT_CUSTOM_DOWNSTREAM:
  case GST_EVENT_CUSTOM_DOWNSTREAM_OOB:
  case GST_EVENT_CUSTOM_BOTH: {
    if (sugarcast_event_is_stream_restart(event)) {
      GST_INFO_OBJECT(self, "stream restart on %s: discontinuity", GST_PAD_NAME(ps->ghost));
      writer->restart(ps->id);
    } else if (sugarcast_event_is_daterange(event)) {
      DateRange range;
      std::string error;
      if (!daterange_from_structure(gst_event_get_structure(event), range, error)) {
        GST_ELEMENT_WARNING(self, STREAM, FORMAT,
                            ("hlsabrsink ignored a sugarcast-daterange event: %s", error.c_str()),
                            ("%" GST_PTR_FORMAT, event));
      } else {
        if (range.start == kUnknown && range.start_us < 0)
          range.start = ps->position != kUnknown ? ps->position : writer->latest_running_time();
        if (range.start == kUnknown && range.start_us < 0)
          range.start = 0;
        writer->add_daterange(std::move(range));
      }
    }
    break;
  }
  case GST_EVENT_EOS: {
    ps->eos = true;
    if (ps->audio)
      writer->end_audio();
    else
      writer->end_video(ps->id);
    /* A requested pad nothing was linked to will never end: it does not
     * hold the others back. */
    std::vector<PadState *> idle;
    {
      std::lock_guard<std::mutex> guard(self->priv->lock);
      for (auto &[pad, state] : self->priv->pads)
        if (!state->eos && !gst_pad_is_linked(state->ghost))
          idle.push_back(state.get());
    }
    for (PadState *other : idle) {
      GST_INFO_OBJECT(self, "%s is not linked: treating it as ended", GST_PAD_NAME(other->ghost));
      other->eos = true;
      if (other->audio)
        writer->end_audio();
      else
        writer->end_video(other->id);
    }
    maybe_post_eos(self, *writer);
    break;
  }
  default:
    break;
  }
  gst_event_unref(event);
  return ret;
}

/* ---- the writer's life ---------------------------------------------------- */

bool start_writer(SugarcastHlsAbrSink *self)
{
  SugarcastHlsAbrSinkPrivate *p = self->priv;
  HlsSettings hs;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    const Settings &s = p->settings;
    hs.folder = s.location;
    hs.target_duration = static_cast<int>(s.target_duration);
    hs.playlist_length = s.playlist_length;
    hs.type = s.playlist_type == SUGARCAST_HLS_ABR_SINK_PLAYLIST_LIVE    ? PlaylistType::Live
              : s.playlist_type == SUGARCAST_HLS_ABR_SINK_PLAYLIST_EVENT ? PlaylistType::Event
                                                                         : PlaylistType::Vod;
    hs.container = s.segment_format == SUGARCAST_HLS_ABR_SINK_FORMAT_FMP4 ? Container::Fmp4
                                                                          : Container::MpegTs;
    hs.audio_mode =
        s.audio_mode == SUGARCAST_HLS_ABR_SINK_AUDIO_GROUP ? AudioMode::Group : AudioMode::Muxed;
    hs.program_date_time = s.program_date_time;
    hs.master_name = s.master_name;
    hs.can_block_reload = s.can_block_reload;
  }

  HlsWriter::Hooks hooks;
  hooks.error = [self](const std::string &message, const std::string &debug) {
    GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("%s", message.c_str()), ("%s", debug.c_str()));
  };
  hooks.warning = [self](const std::string &message) {
    GST_ELEMENT_WARNING(self, STREAM, FORMAT, ("%s", message.c_str()), (nullptr));
  };
  hooks.segment = [self](const SegmentReport &r) {
    GstStructure *s = gst_structure_new(
        "hlsabrsink-segment", "rendition", G_TYPE_STRING, r.rendition.c_str(), "location",
        G_TYPE_STRING, r.path.c_str(), "playlist", G_TYPE_STRING, r.playlist.c_str(), "sequence",
        G_TYPE_UINT64, static_cast<guint64>(r.sequence), "running-time", G_TYPE_INT64,
        static_cast<gint64>(r.start), "duration", G_TYPE_UINT64, static_cast<guint64>(r.duration),
        "discontinuity", G_TYPE_BOOLEAN, r.discontinuity, "listed-time", G_TYPE_INT64,
        static_cast<gint64>(r.listed_us), nullptr);
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
  };
  hooks.master = [self](const std::string &path, size_t variants) {
    gst_element_post_message(
        GST_ELEMENT(self),
        gst_message_new_element(GST_OBJECT(self),
                                gst_structure_new("hlsabrsink-master", "location", G_TYPE_STRING,
                                                  path.c_str(), "variants", G_TYPE_UINT,
                                                  static_cast<guint>(variants), nullptr)));
  };
  hooks.now_us = [] { return static_cast<int64_t>(g_get_real_time()); };
  hooks.running_time_now = [self]() -> int64_t {
    const GstClockTime now = gst_element_get_current_running_time(GST_ELEMENT(self));
    return GST_CLOCK_TIME_IS_VALID(now) ? static_cast<int64_t>(now) : kUnknown;
  };

  auto writer = std::make_shared<HlsWriter>(hs, hooks);
  std::string error;
  if (!writer->start(error)) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_WRITE, ("%s", error.c_str()),
                      ("location=%s", hs.folder.c_str()));
    return false;
  }
  std::lock_guard<std::mutex> guard(p->lock);
  /* Pads in name order, so video_0 is the first variant. */
  std::vector<PadState *> ordered;
  for (auto &[pad, ps] : p->pads)
    ordered.push_back(ps.get());
  std::sort(ordered.begin(), ordered.end(), [](PadState *a, PadState *b) {
    return g_strcmp0(GST_PAD_NAME(a->ghost), GST_PAD_NAME(b->ghost)) < 0;
  });
  for (PadState *ps : ordered) {
    register_pad(*writer, *ps);
    gst_segment_init(&ps->segment, GST_FORMAT_TIME);
    ps->stream_id.clear();
    ps->position = kUnknown;
    ps->eos = false;
    ps->asked_live = false;
  }
  p->writer = writer;
  p->eos_posted = false;
  return true;
}

} // namespace sugarcast::abr::hlsabrsink
