/* Sugarcast — the rendition ladder, independent of GStreamer.
 *
 * A ladder is written like `1080p:5000,720p:2800,480p:1400,360p:800`: each
 * rung names the short side of its picture in pixels ("720p" is 1280x720 for
 * a landscape source and 720x1280 for a portrait one) and its bitrate in
 * kb/s, optionally a maximum frame rate (`360p:800:30`). The rung `source`
 * (optionally `source:6000`, the publisher's bitrate for information) is the
 * publisher's own encoded stream, passed through untouched.
 *
 * Given the source picture, plan_rungs() decides which rungs are active
 * (never upscaling) and the exact size of each: the source's display aspect
 * is kept, widths and heights are even, output pixels are square.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sugarcast::abr {

struct RungSpec
{
  bool source = false; /* the publisher's stream, passed through */
  int short_side = 0;  /* 720 for "720p"; 0 for the source rung */
  int kbps = 0;        /* 0 for a source rung without a declared bitrate */
  int max_fps = 0;     /* 0 = the source's frame rate */
  std::string text;    /* the rung as written, normalised: "720p:2800:30" */
};

/* Parses a ladder; on failure returns nullopt and sets `error` to a sentence
 * naming the entry and what was expected. Rungs come back ordered from the
 * largest to the smallest picture (the source rung first), bitrate breaking
 * ties. */
std::optional<std::vector<RungSpec>> parse_ladder(const std::string &text, std::string &error);

/* The ladder written back in its canonical form. */
std::string format_ladder(const std::vector<RungSpec> &rungs);

struct SourcePicture
{
  int width = 0;
  int height = 0;
  int par_n = 1; /* pixel aspect ratio of the source */
  int par_d = 1;
  int fps_n = 0; /* 0/1 = variable or unknown */
  int fps_d = 1;
};

struct PlannedRung
{
  RungSpec spec;
  int width = 0; /* the encoded picture; 0x0 for the source rung */
  int height = 0;
  int decimation = 1; /* keep one frame in `decimation` to honour max_fps */
  int fps_n = 0;      /* the rung's frame rate after decimation */
  int fps_d = 1;
  bool clamped = false; /* kept at the source's size: every rung was taller */
};

struct LadderPlan
{
  std::vector<PlannedRung> active; /* largest first; the source rung first when used */
  std::vector<RungSpec> dropped;   /* taller than the source, never upscaled */
  bool portrait = false;           /* laddered by the width */
};

/* Decides the active rungs for a source picture. `with_source` says whether
 * the publisher's stream is available for a `source` rung; without it the
 * source rung is dropped. When every encoded rung is taller than the source,
 * the smallest is kept at the source's own size (clamped = true), so there is
 * always at least one encoded rung. */
LadderPlan plan_rungs(const std::vector<RungSpec> &rungs, const SourcePicture &source,
                      bool with_source);

/* The even number nearest to `value`, at least 2. */
int nearest_even(double value);

} // namespace sugarcast::abr
