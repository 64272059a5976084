/* Sugarcast — what abrladder's files share: the settings, one rung's
 * children, the bin's private struct, and the calls between
 * gstabrladder.cpp (the bin, its pads, properties and states) and
 * abrladder-rungs.cpp (the rungs built and resized at the input caps). */
#pragma once

#include "gstabrladder.h"

#include "core/keygrid.h"
#include "core/ladder.h"

#include <gst/gst.h>

#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_EXTERN(sugarcast_abr_ladder_debug);

#define DEFAULT_LADDER "1080p:5000,720p:2800,480p:1400,360p:800"
#define DEFAULT_CODEC SUGARCAST_ABR_LADDER_CODEC_H264
#define DEFAULT_GOP GST_SECOND
#define DEFAULT_PRESET SUGARCAST_ABR_LADDER_PRESET_SUPERFAST
#define DEFAULT_TUNE "zerolatency"
#define DEFAULT_VBV_BUFFER 1000
#define DEFAULT_THREADS 0

namespace sugarcast::abr::abrladder {

struct Settings
{
  std::string ladder_text = DEFAULT_LADDER;
  SugarcastAbrLadderCodec codec = DEFAULT_CODEC;
  GstClockTime gop = DEFAULT_GOP;
  SugarcastAbrLadderPreset preset = DEFAULT_PRESET;
  std::string tune = DEFAULT_TUNE;
  guint vbv_buffer = DEFAULT_VBV_BUFFER;
  guint threads = DEFAULT_THREADS;
  std::string encoder_options;
};

struct Rung
{
  PlannedRung plan;
  GstElement *scale = nullptr; /* null when fed unscaled */
  GstElement *scale_caps = nullptr;
  GstElement *encoder = nullptr;
  GstPad *ghost = nullptr;
  guint threads = 1;
  std::vector<GstElement *> elements;
};

} // namespace sugarcast::abr::abrladder

struct SugarcastAbrLadderPrivate
{
  std::mutex lock; /* protects settings and the structure below */
  sugarcast::abr::abrladder::Settings settings;

  /* Fixed children: grid -> convert -> I420 caps -> tee. */
  GstElement *grid = nullptr;
  GstElement *convert = nullptr;
  GstElement *convert_caps = nullptr;
  GstElement *tee = nullptr;
  /* The factory of a fixed child that could not be made (reported at
   * NULL->READY, when there is a bus to post on), or nullptr. */
  const char *missing = nullptr;

  /* Built at the first caps. */
  bool built = false;
  std::vector<sugarcast::abr::RungSpec> specs;
  std::vector<sugarcast::abr::abrladder::Rung> rungs;
  sugarcast::abr::SourcePicture source;

  /* The publisher's stream, when passthrough_sink was requested. */
  sugarcast::abr::SourceTimeline timeline;
  GstPad *passthrough_pad = nullptr;
  GstPad *passthrough_src = nullptr;
  std::vector<GstElement *> passthrough_elements;
  GstSegment passthrough_segment;
};

struct _SugarcastAbrLadder
{
  GstBin parent;
  GstPad *sinkpad;
  SugarcastAbrLadderPrivate *priv;
};

namespace sugarcast::abr::abrladder {

/* abrladder-rungs.cpp */
GstElement *make_element(SugarcastAbrLadder *self, const char *factory, const char *why);
/* Upstream key-unit requests would put keyframes off the grid. */
GstPadProbeReturn drop_key_unit_requests(GstPad *, GstPadProbeInfo *info, gpointer);
/* Builds the rungs for the first caps; later caps only resize them. Runs in
 * the streaming thread, before the caps go downstream. */
bool build_rungs(SugarcastAbrLadder *self, GstCaps *caps);
/* Removes the rungs built for the caps (not the passthrough branch). */
void teardown_rungs(SugarcastAbrLadder *self);

} // namespace sugarcast::abr::abrladder
