/* Sugarcast — what hlsabrsink's files share: the settings, the state of one
 * requested pad, the bin's private struct and the writer element inside it.
 * Private to gsthlsabrsink.cpp (the bin, its properties and signal),
 * hlsabrsink-caps.cpp (caps to the writer's formats), hlsabrsink-writer.cpp
 * (the writer element's pad functions and the HlsWriter's start) and
 * hlsabrsink-pads.cpp (requesting and releasing pads, the parsers in front). */
#pragma once

#include "gsthlsabrsink.h"

#include "core/hlswriter.h"

#include <gst/gst.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

GST_DEBUG_CATEGORY_EXTERN(sugarcast_hls_abr_sink_debug);

#define DEFAULT_LOCATION "."
#define DEFAULT_TARGET_DURATION 2
#define DEFAULT_PLAYLIST_LENGTH 6
#define DEFAULT_PLAYLIST_TYPE SUGARCAST_HLS_ABR_SINK_PLAYLIST_LIVE
#define DEFAULT_SEGMENT_FORMAT SUGARCAST_HLS_ABR_SINK_FORMAT_MPEGTS
#define DEFAULT_AUDIO_MODE SUGARCAST_HLS_ABR_SINK_AUDIO_MUXED
#define DEFAULT_PROGRAM_DATE_TIME TRUE
#define DEFAULT_MASTER_NAME "master.m3u8"
#define DEFAULT_CAN_BLOCK_RELOAD FALSE

/* ---- the element inside the bin that owns the pads --------------------- */

G_BEGIN_DECLS
#define SUGARCAST_TYPE_HLS_ABR_WRITER (sugarcast_hls_abr_writer_get_type())
G_DECLARE_FINAL_TYPE(SugarcastHlsAbrWriter, sugarcast_hls_abr_writer, SUGARCAST, HLS_ABR_WRITER,
                     GstElement)
G_END_DECLS

struct _SugarcastHlsAbrWriter
{
  GstElement parent;
  SugarcastHlsAbrSink *sink; /* the bin holding this element; not a reference */
};

namespace sugarcast::abr::hlsabrsink {

struct Settings
{
  std::string location = DEFAULT_LOCATION;
  guint target_duration = DEFAULT_TARGET_DURATION;
  guint playlist_length = DEFAULT_PLAYLIST_LENGTH;
  SugarcastHlsAbrSinkPlaylistType playlist_type = DEFAULT_PLAYLIST_TYPE;
  SugarcastHlsAbrSinkSegmentFormat segment_format = DEFAULT_SEGMENT_FORMAT;
  SugarcastHlsAbrSinkAudioMode audio_mode = DEFAULT_AUDIO_MODE;
  bool program_date_time = DEFAULT_PROGRAM_DATE_TIME;
  std::string master_name = DEFAULT_MASTER_NAME;
  bool can_block_reload = DEFAULT_CAN_BLOCK_RELOAD;
};

struct PadState
{
  GstPad *ghost = nullptr; /* the bin's pad */
  GstPad *pad = nullptr;   /* the writer's pad */
  bool audio = false;
  int id = -1; /* the writer's video id, or HlsWriter::kAudioPad */
  GstSegment segment;
  std::string stream_id;
  int64_t position = kUnknown;
  bool have_video_format = false;
  VideoFormat video;
  bool have_audio_format = false;
  AudioFormat audio_format;
  uint64_t declared_bitrate = 0;
  bool eos = false;
  bool asked_live = false;
  /* The upstream parser between the bin's pad and the writer's, made at the
   * first caps (h264parse for H.264, aacparse for AAC; none for VP9, Opus). */
  GstElement *parse = nullptr;
  GstElement *parse_filter = nullptr;
};

} // namespace sugarcast::abr::hlsabrsink

struct SugarcastHlsAbrSinkPrivate
{
  std::mutex lock; /* protects settings, pads and the writer pointer */
  sugarcast::abr::hlsabrsink::Settings settings;
  SugarcastHlsAbrWriter *inner = nullptr;
  std::map<GstPad *, std::unique_ptr<sugarcast::abr::hlsabrsink::PadState>>
      pads; /* keyed by the writer's pad */
  std::shared_ptr<sugarcast::abr::HlsWriter> writer;
  guint next_video = 0;
  bool eos_posted = false;
};

struct _SugarcastHlsAbrSink
{
  GstBin parent;
  SugarcastHlsAbrSinkPrivate *priv;
};

namespace sugarcast::abr::hlsabrsink {

/* gsthlsabrsink.cpp */
std::shared_ptr<HlsWriter> current_writer(SugarcastHlsAbrSink *self);
PadState *pad_state(SugarcastHlsAbrSink *self, GstPad *pad);

/* hlsabrsink-caps.cpp: false (and ERROR set) for caps the writer cannot take. */
bool video_format_from_caps(GstCaps *caps, VideoFormat &f, std::string &error);
bool audio_format_from_caps(GstCaps *caps, AudioFormat &f, std::string &error);

/* hlsabrsink-writer.cpp: the writer element's pad functions, and the
 * HlsWriter made at READY->PAUSED (false: the error is posted). */
GstFlowReturn writer_chain(GstPad *pad, GstObject *parent, GstBuffer *buf);
gboolean writer_event(GstPad *pad, GstObject *parent, GstEvent *event);
bool start_writer(SugarcastHlsAbrSink *self);

/* hlsabrsink-pads.cpp */
void register_pad(HlsWriter &writer, PadState &ps);
GstPad *sugarcast_hls_abr_sink_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                               const gchar *name, const GstCaps *);
void sugarcast_hls_abr_sink_release_pad(GstElement *element, GstPad *ghost);

} // namespace sugarcast::abr::hlsabrsink
