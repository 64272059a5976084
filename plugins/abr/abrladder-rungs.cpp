/* Sugarcast — abrladder's rungs: planned from the input caps, each fed from
 * the cheapest picture already made (scaled by SugarcastAbrScale), decimated
 * when it has a frame-rate cap, encoded (x264enc or vp9enc, threads shared by
 * pixel rate) and put out on src_%u; resized on later caps, torn down at
 * PAUSED->READY; the abrladder-rungs message. */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "abrinternal.h"
#include "abrladder-private.h"
#include "core/downscale.h"

#include <gst/video/video.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <string>
#include <vector>

using namespace sugarcast::abr;
using namespace sugarcast::abr::abrladder;

#define GST_CAT_DEFAULT sugarcast_abr_ladder_debug

namespace sugarcast::abr::abrladder {

static const char *preset_nick(SugarcastAbrLadderPreset preset)
{
  static const char *nicks[] = {"ultrafast", "superfast", "veryfast", "faster",  "fast",
                                "medium",    "slow",      "slower",   "veryslow"};
  return nicks[preset];
}

GstElement *make_element(SugarcastAbrLadder *self, const char *factory, const char *why)
{
  return make_child(GST_ELEMENT(self), factory, why);
}

static GstElement *make_queue(SugarcastAbrLadder *self, guint buffers)
{
  GstElement *q = make_element(self, "queue", "(GStreamer core)");
  if (q)
    g_object_set(q, "max-size-buffers", buffers, "max-size-bytes", 0u, "max-size-time",
                 G_GUINT64_CONSTANT(0), nullptr);
  return q;
}

/* Encoder threads in proportion to each rung's pixel rate, over 1.5 threads a
 * core (what x264 itself picks for one encoder), at least one each. */
static void share_threads(std::vector<Rung> &rungs, guint fixed)
{
  double total = 0;
  for (const auto &r : rungs)
    if (!r.plan.spec.source)
      total += static_cast<double>(r.plan.width) * r.plan.height / r.plan.decimation;
  const double budget = std::max(1.0, std::round(g_get_num_processors() * 1.5));
  for (auto &r : rungs) {
    if (r.plan.spec.source)
      continue;
    if (fixed > 0) {
      r.threads = fixed;
      continue;
    }
    const double share =
        total > 0 ? static_cast<double>(r.plan.width) * r.plan.height / r.plan.decimation / total
                  : 1;
    r.threads = static_cast<guint>(std::clamp(std::round(share * budget), 1.0, budget));
  }
}

static bool configure_encoder(SugarcastAbrLadder *self, Rung &rung, const Settings &s)
{
  GstElement *enc = rung.encoder;
  const int kbps = rung.plan.spec.kbps;
  if (s.codec == SUGARCAST_ABR_LADDER_CODEC_H264) {
    std::string options = "scenecut=0";
    if (!s.encoder_options.empty())
      options += ":" + s.encoder_options;
    /* key-int-max 2^30 is x264's "infinite": the grid's forced keyframes
     * are the only ones. */
    g_object_set(enc, "bitrate", static_cast<guint>(kbps), "key-int-max", 1u << 30,
                 "vbv-buf-capacity", s.vbv_buffer, "threads", rung.threads, "option-string",
                 options.c_str(), nullptr);
    gst_util_set_object_arg(G_OBJECT(enc), "speed-preset", preset_nick(s.preset));
    if (!s.tune.empty()) {
      std::string tune, psy;
      for (const char *word : {"stillimage", "fastdecode", "zerolatency"})
        if (s.tune.find(word) != std::string::npos)
          tune += (tune.empty() ? "" : "+") + std::string(word);
      for (const char *word : {"film", "animation", "grain", "psnr", "ssim"})
        if (s.tune.find(word) != std::string::npos)
          psy = word;
      if (!tune.empty())
        gst_util_set_object_arg(G_OBJECT(enc), "tune", tune.c_str());
      if (!psy.empty())
        gst_util_set_object_arg(G_OBJECT(enc), "psy-tune", psy.c_str());
    }
  } else {
    static const int cpu_used[] = {8, 7, 6, 5, 4, 3, 2, 1, 0};
    g_object_set(enc, "target-bitrate", kbps * 1000, "deadline", G_GINT64_CONSTANT(1), "cpu-used",
                 cpu_used[s.preset], "lag-in-frames", 0, "threads", static_cast<gint>(rung.threads),
                 "row-mt", TRUE, "buffer-size", static_cast<gint>(s.vbv_buffer),
                 "buffer-initial-size", static_cast<gint>(s.vbv_buffer / 2), "buffer-optimal-size",
                 static_cast<gint>(s.vbv_buffer * 3 / 4), nullptr);
    gst_util_set_object_arg(G_OBJECT(enc), "end-usage", "cbr");
    gst_util_set_object_arg(G_OBJECT(enc), "keyframe-mode", "disabled");
  }
  (void)self;
  return true;
}

static GstCaps *scaled_caps(const PlannedRung &p)
{
  return gst_caps_new_simple("video/x-raw", "width", G_TYPE_INT, p.width, "height", G_TYPE_INT,
                             p.height, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, nullptr);
}

/* Upstream key-unit requests would put keyframes off the grid. */
GstPadProbeReturn drop_key_unit_requests(GstPad *, GstPadProbeInfo *info, gpointer)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
  if (gst_video_event_is_force_key_unit(event)) {
    GST_DEBUG("ignoring an upstream force-key-unit request: the keyframe grid is fixed");
    return GST_PAD_PROBE_DROP;
  }
  return GST_PAD_PROBE_OK;
}

static GstStructure *rungs_message(const SugarcastAbrLadderPrivate *p)
{
  return gst_structure_new("abrladder-rungs", "source-width", G_TYPE_INT, p->source.width,
                           "source-height", G_TYPE_INT, p->source.height, "source-framerate",
                           GST_TYPE_FRACTION, p->source.fps_n, std::max(1, p->source.fps_d),
                           nullptr);
}

static void post_rungs(SugarcastAbrLadder *self, const std::vector<RungSpec> &dropped,
                       bool portrait)
{
  SugarcastAbrLadderPrivate *p = self->priv;
  GstStructure *s = rungs_message(p);
  GValue rungs = G_VALUE_INIT;
  gst_value_array_init(&rungs, p->rungs.size());
  for (const auto &r : p->rungs) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, GST_TYPE_STRUCTURE);
    const bool source = r.plan.spec.source;
    g_value_take_boxed(
        &v, gst_structure_new("rung", "pad", G_TYPE_STRING, GST_PAD_NAME(r.ghost), "ladder",
                              G_TYPE_STRING, r.plan.spec.text.c_str(), "source", G_TYPE_BOOLEAN,
                              source, "width", G_TYPE_INT, source ? p->source.width : r.plan.width,
                              "height", G_TYPE_INT, source ? p->source.height : r.plan.height,
                              "bitrate", G_TYPE_INT, r.plan.spec.kbps, "framerate",
                              GST_TYPE_FRACTION, r.plan.fps_n > 0 ? r.plan.fps_n : p->source.fps_n,
                              r.plan.fps_n > 0 ? r.plan.fps_d : std::max(1, p->source.fps_d),
                              "threads", G_TYPE_UINT, source ? 0u : r.threads, "clamped",
                              G_TYPE_BOOLEAN, r.plan.clamped, nullptr));
    gst_value_array_append_and_take_value(&rungs, &v);
  }
  gst_structure_take_value(s, "rungs", &rungs);
  GValue gone = G_VALUE_INIT;
  gst_value_array_init(&gone, dropped.size());
  for (const auto &d : dropped) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_TYPE_STRING);
    g_value_set_string(&v, d.text.c_str());
    gst_value_array_append_and_take_value(&gone, &v);
  }
  gst_structure_take_value(s, "dropped", &gone);
  gst_structure_set(s, "portrait", G_TYPE_BOOLEAN, portrait, nullptr);
  gchar *text = gst_structure_to_string(s);
  GST_INFO_OBJECT(self, "%s", text);
  g_free(text);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

static SourcePicture picture_from_caps(GstCaps *caps)
{
  SourcePicture pic;
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  gst_structure_get_int(s, "width", &pic.width);
  gst_structure_get_int(s, "height", &pic.height);
  if (!gst_structure_get_fraction(s, "pixel-aspect-ratio", &pic.par_n, &pic.par_d)) {
    pic.par_n = 1;
    pic.par_d = 1;
  }
  if (!gst_structure_get_fraction(s, "framerate", &pic.fps_n, &pic.fps_d)) {
    pic.fps_n = 0;
    pic.fps_d = 1;
  }
  return pic;
}

/* Builds the rungs for the first caps; later caps only resize them. Runs in
 * the streaming thread, before the caps go downstream. */
bool build_rungs(SugarcastAbrLadder *self, GstCaps *caps)
{
  SugarcastAbrLadderPrivate *p = self->priv;
  std::unique_lock<std::mutex> guard(p->lock);
  const Settings s = p->settings;
  const SourcePicture pic = picture_from_caps(caps);
  if (pic.width <= 0 || pic.height <= 0) {
    guard.unlock();
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                      ("abrladder got video without a width and height; the stream before it "
                       "must be decoded raw video"),
                      ("caps %" GST_PTR_FORMAT, caps));
    return false;
  }
  p->source = pic;
  const bool with_source = p->passthrough_pad != nullptr;
  LadderPlan plan = plan_rungs(p->specs, pic, with_source);

  if (p->built) {
    /* Same rungs, new source size: resize without upscaling. */
    bool changed = false;
    size_t next = 0;
    for (auto &r : p->rungs) {
      if (r.plan.spec.source)
        continue;
      PlannedRung fresh = r.plan;
      for (; next < plan.active.size(); ++next)
        if (!plan.active[next].spec.source)
          break;
      if (next < plan.active.size() && plan.active[next].spec.text == r.plan.spec.text) {
        fresh = plan.active[next++];
      } else {
        /* This rung is now taller than the source: the source's size. */
        fresh.width = std::max(2, pic.width / 2 * 2);
        fresh.height = std::max(2, pic.height / 2 * 2);
        fresh.clamped = true;
      }
      if (fresh.width != r.plan.width || fresh.height != r.plan.height) {
        changed = true;
        r.plan = fresh;
        if (r.scale_caps) {
          scale_set_size(SUGARCAST_ABR_SCALE(r.scale), r.plan.width, r.plan.height);
          GstCaps *c = scaled_caps(r.plan);
          g_object_set(r.scale_caps, "caps", c, nullptr);
          gst_caps_unref(c);
        }
      }
    }
    guard.unlock();
    if (changed)
      post_rungs(self, plan.dropped, plan.portrait);
    return true;
  }

  const char *encoder_factory = s.codec == SUGARCAST_ABR_LADDER_CODEC_H264 ? "x264enc" : "vp9enc";
  const char *encoder_package = s.codec == SUGARCAST_ABR_LADDER_CODEC_H264
                                    ? "(gstreamer1.0-plugins-ugly) for codec=h264"
                                    : "(gstreamer1.0-plugins-good) for codec=vp9";

  std::vector<Rung> rungs;
  for (const auto &a : plan.active) {
    Rung r;
    r.plan = a;
    rungs.push_back(r);
  }
  share_threads(rungs, s.threads);

  /* The passthrough rung exists already (made when its pad was requested). */
  guint pad_index = with_source ? 1 : 0;
  /* Pictures a rung can be scaled from: the (converted) source, then each
   * rung as it is made. */
  struct Feed
  {
    GstElement *tee;
    int width, height;
    bool square;
  };
  std::vector<Feed> feeds = {{p->tee, pic.width, pic.height, pic.par_n == pic.par_d}};
  std::vector<GstElement *> added;
  auto fail = [&]() {
    for (GstElement *e : added) {
      gst_element_set_state(e, GST_STATE_NULL);
      gst_bin_remove(GST_BIN(self), e);
    }
    return false;
  };

  for (auto &r : rungs) {
    if (r.plan.spec.source) {
      r.ghost = p->passthrough_src;
      continue;
    }
    /* The same picture already made; else the smallest picture it is an
     * exact 2:1 or 3:2 of (the cheap scale); else the next larger one. */
    const Feed *from = nullptr;
    for (auto it = feeds.rbegin(); it != feeds.rend() && !from; ++it)
      if (it->square && it->width == r.plan.width && it->height == r.plan.height)
        from = &*it;
    for (auto it = feeds.rbegin(); it != feeds.rend() && !from; ++it)
      if (it->square && fast_scalable(it->width, it->height, r.plan.width, r.plan.height))
        from = &*it;
    if (!from)
      from = &feeds.back();
    GstElement *feed = from->tee;
    if (from->width != r.plan.width || from->height != r.plan.height || !from->square) {
      GstElement *q = make_queue(self, 4);
      GstElement *scale = GST_ELEMENT(g_object_new(SUGARCAST_TYPE_ABR_SCALE, nullptr));
      GstElement *caps_filter = make_element(self, "capsfilter", "(GStreamer core)");
      GstElement *tee = make_element(self, "tee", "(GStreamer core)");
      if (!q || !caps_filter || !tee) {
        for (GstElement *e : {q, scale, caps_filter, tee})
          if (e)
            gst_object_unref(e);
        guard.unlock();
        return fail();
      }
      scale_set_size(SUGARCAST_ABR_SCALE(scale), r.plan.width, r.plan.height);
      GstCaps *c = scaled_caps(r.plan);
      g_object_set(caps_filter, "caps", c, nullptr);
      gst_caps_unref(c);
      gst_bin_add_many(GST_BIN(self), q, scale, caps_filter, tee, nullptr);
      added.insert(added.end(), {q, scale, caps_filter, tee});
      if (!gst_element_link_many(feed, q, scale, caps_filter, tee, nullptr)) {
        guard.unlock();
        GST_ELEMENT_ERROR(
            self, CORE, NEGOTIATION,
            ("abrladder could not link the scaler for rung %s", r.plan.spec.text.c_str()),
            (nullptr));
        return fail();
      }
      GST_INFO_OBJECT(self, "rung %s: %dx%d scaled from %dx%d", r.plan.spec.text.c_str(),
                      r.plan.width, r.plan.height, from->width, from->height);
      r.scale = scale;
      r.scale_caps = caps_filter;
      r.elements.insert(r.elements.end(), {q, scale, caps_filter, tee});
      feeds.push_back({tee, r.plan.width, r.plan.height, true});
      feed = tee;
    }

    GstElement *q = make_queue(self, 4);
    GstElement *decimate = nullptr;
    if (r.plan.decimation > 1 || (r.plan.spec.max_fps > 0 && r.plan.fps_n <= 0)) {
      decimate = GST_ELEMENT(g_object_new(SUGARCAST_TYPE_ABR_DECIMATE, nullptr));
      decimate_configure(SUGARCAST_ABR_DECIMATE(decimate), r.plan.decimation, r.plan.spec.max_fps);
    }
    GstElement *enc = make_element(self, encoder_factory, encoder_package);
    GstElement *out_caps = make_element(self, "capsfilter", "(GStreamer core)");
    if (!q || !enc || !out_caps) {
      for (GstElement *e : {q, decimate, enc, out_caps})
        if (e)
          gst_object_unref(e);
      guard.unlock();
      return fail();
    }
    r.encoder = enc;
    configure_encoder(self, r, s);
    if (s.codec == SUGARCAST_ABR_LADDER_CODEC_H264) {
      GstCaps *c = gst_caps_from_string("video/x-h264,stream-format=byte-stream,alignment=au");
      g_object_set(out_caps, "caps", c, nullptr);
      gst_caps_unref(c);
    }
    gst_bin_add_many(GST_BIN(self), q, enc, out_caps, nullptr);
    added.insert(added.end(), {q, enc, out_caps});
    bool linked;
    if (decimate) {
      gst_bin_add(GST_BIN(self), decimate);
      added.push_back(decimate);
      linked = gst_element_link_many(feed, q, decimate, enc, out_caps, nullptr);
    } else {
      linked = gst_element_link_many(feed, q, enc, out_caps, nullptr);
    }
    if (!linked) {
      guard.unlock();
      GST_ELEMENT_ERROR(
          self, CORE, NEGOTIATION,
          ("abrladder could not link the encoder for rung %s", r.plan.spec.text.c_str()),
          (nullptr));
      return fail();
    }
    r.elements.insert(r.elements.end(), {q, enc, out_caps});
    if (decimate)
      r.elements.push_back(decimate);

    GstPad *target = gst_element_get_static_pad(out_caps, "src");
    gst_pad_add_probe(target, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
                      SUGARCAST_GUARD(drop_key_unit_requests), nullptr, nullptr);
    gchar *name = g_strdup_printf("src_%u", pad_index++);
    r.ghost = gst_ghost_pad_new_from_template(
        name, target, gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(self), "src_%u"));
    g_free(name);
    gst_object_unref(target);
  }

  /* Start everything downstream first, so data never meets a stopped element. */
  for (auto it = added.rbegin(); it != added.rend(); ++it)
    gst_element_sync_state_with_parent(*it);
  p->rungs = rungs;
  p->built = true;
  guard.unlock();

  for (auto &r : rungs) {
    if (r.plan.spec.source)
      continue;
    gst_pad_set_active(r.ghost, TRUE);
    gst_element_add_pad(GST_ELEMENT(self), r.ghost);
  }
  post_rungs(self, plan.dropped, plan.portrait);
  gst_element_no_more_pads(GST_ELEMENT(self));
  return true;
}

/* Removes the rungs built for the caps (not the passthrough branch). */
void teardown_rungs(SugarcastAbrLadder *self)
{
  SugarcastAbrLadderPrivate *p = self->priv;
  std::vector<Rung> rungs;
  {
    std::lock_guard<std::mutex> guard(p->lock);
    rungs.swap(p->rungs);
    p->built = false;
  }
  for (auto &r : rungs) {
    if (r.plan.spec.source)
      continue;
    gst_element_remove_pad(GST_ELEMENT(self), r.ghost);
    for (GstElement *e : r.elements) {
      gst_element_set_state(e, GST_STATE_NULL);
      gst_bin_remove(GST_BIN(self), e);
    }
  }
}

} // namespace sugarcast::abr::abrladder
