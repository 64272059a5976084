/* sugarcast-validate — decide whether uploaded clips are acceptable.
 *
 *   sugarcast-validate [OPTION...] FILE...
 *
 * Prints one JSON verdict per file on stdout, one per line. Exit status: 0
 * when every file is valid, 1 when any is rejected, 2 when any cannot be
 * read at all (missing file, not a media file, a container GStreamer cannot
 * parse). Runs filesrc ! parsebin ! clipvalidate: nothing is decoded.
 */
#ifdef HAVE_CONFIG_H
#include "sugarcast-plugins-config.h"
#endif

#include "guard.h"

#include "clipmeter.h"
#include "gstclipvalidate.h"

#include <gst/gst.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

using namespace sugarcast::clip;

namespace {

enum Outcome { OUTCOME_VALID = 0, OUTCOME_REJECTED = 1, OUTCOME_UNREADABLE = 2 };

struct Options
{
  gdouble min_duration = 15.0;
  gdouble max_duration = 60.0;
  gint max_width = Limits{}.max_width;
  gint max_height = Limits{}.max_height;
  gdouble max_framerate = Limits{}.max_framerate;
  gchar *codecs = nullptr;
};

struct Run
{
  GstElement *validator = nullptr;
  GstElement *pipeline = nullptr;
  bool have_video = false;
};

/* One JSON object on one line. json-glib would print 60.033 as
 * 60.033000000000001; scripts read these lines, so numbers are written
 * the way a person would. */
class JsonLine
{
public:
  JsonLine &string(const char *key, const char *value)
  {
    if (!value)
      return raw(key, "null");
    g_autofree gchar *utf8 = g_utf8_make_valid(value, -1); /* file names may be any bytes */
    std::string quoted = "\"";
    for (const char *p = utf8; *p; ++p) {
      const auto ch = static_cast<unsigned char>(*p);
      if (ch == '"' || ch == '\\') {
        quoted += '\\';
        quoted += *p;
      } else if (ch < 0x20) {
        char escape[8];
        std::snprintf(escape, sizeof escape, "\\u%04x", ch);
        quoted += escape;
      } else {
        quoted += *p;
      }
    }
    return raw(key, quoted + "\"");
  }
  JsonLine &boolean(const char *key, bool value) { return raw(key, value ? "true" : "false"); }
  JsonLine &integer(const char *key, gint64 value) { return raw(key, std::to_string(value)); }
  JsonLine &number(const char *key, double value, int decimals = 3)
  {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    std::string s = buf;
    while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.'))
      s.pop_back();
    return raw(key, s);
  }
  JsonLine &seconds(const char *key, guint64 ns)
  {
    return GST_CLOCK_TIME_IS_VALID(ns) ? number(key, static_cast<double>(ns) / GST_SECOND)
                                       : raw(key, "null");
  }
  std::string text() const { return "{" + body_ + "}"; }

private:
  JsonLine &raw(const char *key, const std::string &value)
  {
    body_ += (body_.empty() ? "\"" : ",\"") + std::string(key) + "\":" + value;
    return *this;
  }
  std::string body_;
};

/* The JSON line for one file, from the element's clip-validation structure. */
std::string verdict_json(const char *file, const GstStructure *s)
{
  gboolean valid = FALSE;
  gint width = 0, height = 0;
  gdouble framerate = 0;
  guint64 duration = GST_CLOCK_TIME_NONE, declared = GST_CLOCK_TIME_NONE, frames = 0;
  gst_structure_get(s, "valid", G_TYPE_BOOLEAN, &valid, "width", G_TYPE_INT, &width, "height",
                    G_TYPE_INT, &height, "framerate", G_TYPE_DOUBLE, &framerate, "duration",
                    G_TYPE_UINT64, &duration, "declared-duration", G_TYPE_UINT64, &declared,
                    "frames", G_TYPE_UINT64, &frames, nullptr);
  const char *codec = gst_structure_get_string(s, "codec");
  return JsonLine()
      .string("file", file)
      .boolean("valid", valid)
      .string("reason", gst_structure_get_string(s, "reason"))
      .string("message", gst_structure_get_string(s, "message"))
      .seconds("duration", duration)
      .seconds("declared_duration", declared)
      .integer("width", width)
      .integer("height", height)
      .number("framerate", framerate, 2)
      .string("codec", codec && *codec ? codec : nullptr)
      .integer("frames", static_cast<gint64>(frames))
      .text();
}

std::string unreadable_json(const char *file, const std::string &message)
{
  return JsonLine()
      .string("file", file)
      .boolean("valid", false)
      .string("reason", "unreadable")
      .string("message", message.c_str())
      .text();
}

/* Elementary streams are exposed as the demuxer gives them: the validator
 * needs timestamps and caps, not a parser's bitstream analysis. */
gboolean on_autoplug_continue(GstElement *, GstPad *, GstCaps *caps, gpointer)
{
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  const gchar *name = gst_structure_get_name(s);
  /* Containers also have video/ names; elementary streams carry a size. */
  if (g_str_has_prefix(name, "audio/"))
    return FALSE;
  if (g_str_has_prefix(name, "video/") && gst_structure_has_field(s, "width") &&
      gst_structure_has_field(s, "height"))
    return FALSE;
  return TRUE;
}

void on_pad_added(GstElement *, GstPad *pad, gpointer user_data)
{
  auto *run = static_cast<Run *>(user_data);
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  if (!caps)
    caps = gst_pad_query_caps(pad, nullptr);
  const gchar *name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  const bool video = g_str_has_prefix(name, "video/") || g_str_has_prefix(name, "image/");

  GstElement *sink = gst_element_factory_make("fakesink", nullptr);
  if (!sink)
    return; /* core elements missing (filesrc, of the same plugin, was there): the unlinked
             * pad ends the run with a not-linked error */
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(run->pipeline), sink);
  gst_element_sync_state_with_parent(sink);

  GstElement *target = sink;
  if (video && !run->have_video) {
    run->have_video = true;
    gst_element_link(run->validator, sink);
    target = run->validator;
  }
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad(target, "sink");
  gst_pad_link(pad, sinkpad);
}

Outcome validate_file(const char *file, const Options &opt, std::string &line)
{
  FILE *probe = std::fopen(file, "rb");
  if (!probe) {
    line = unreadable_json(file, std::string("Cannot open ") + file + ": " + std::strerror(errno));
    return OUTCOME_UNREADABLE;
  }
  std::fclose(probe);

  Run run;
  run.pipeline = gst_pipeline_new("validate");
  GstElement *src = gst_element_factory_make("filesrc", nullptr);
  GstElement *parse = gst_element_factory_make("parsebin", nullptr);
  run.validator = gst_element_factory_make("clipvalidate", nullptr);
  if (!src || !parse || !run.validator) {
    line =
        unreadable_json(file, "GStreamer elements filesrc, parsebin or clipvalidate are missing");
    return OUTCOME_UNREADABLE;
  }
  g_object_set(src, "location", file, nullptr);
  g_object_set(run.validator, "action", SUGARCAST_CLIP_VALIDATE_ACTION_REPORT, "min-duration",
               static_cast<guint64>(opt.min_duration * GST_SECOND), "max-duration",
               static_cast<guint64>(opt.max_duration * GST_SECOND), "max-width", opt.max_width,
               "max-height", opt.max_height, "max-framerate", opt.max_framerate, nullptr);
  if (opt.codecs)
    g_object_set(run.validator, "codecs", opt.codecs, nullptr);
  gst_bin_add_many(GST_BIN(run.pipeline), src, parse, run.validator, nullptr);
  gst_element_link(src, parse);
  g_signal_connect(parse, "autoplug-continue", G_CALLBACK(SUGARCAST_GUARD(on_autoplug_continue)),
                   nullptr);
  g_signal_connect(parse, "pad-added", G_CALLBACK(SUGARCAST_GUARD(on_pad_added)), &run);

  Outcome outcome = OUTCOME_UNREADABLE;
  g_autoptr(GstBus) bus = gst_element_get_bus(run.pipeline);
  if (gst_element_set_state(run.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    line = unreadable_json(file, std::string("Cannot read ") + file);
  } else {
    for (bool done = false; !done;) {
      g_autoptr(GstMessage) msg = gst_bus_timed_pop_filtered(
          bus, GST_CLOCK_TIME_NONE,
          static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_ELEMENT));
      switch (GST_MESSAGE_TYPE(msg)) {
      case GST_MESSAGE_ELEMENT: {
        const GstStructure *s = gst_message_get_structure(msg);
        if (GST_MESSAGE_SRC(msg) == GST_OBJECT(run.validator) &&
            gst_structure_has_name(s, "clip-validation")) {
          gboolean valid = FALSE;
          gst_structure_get_boolean(s, "valid", &valid);
          line = verdict_json(file, s);
          outcome = valid ? OUTCOME_VALID : OUTCOME_REJECTED;
          done = true;
        }
        break;
      }
      case GST_MESSAGE_EOS:
        if (!run.have_video) {
          /* Readable, but nothing in it is video: the meter words the verdict. */
          ClipMeter meter;
          Verdict v = meter.finish();
          GstStructure *s = gst_structure_new("clip-validation", "valid", G_TYPE_BOOLEAN, FALSE,
                                              "reason", G_TYPE_STRING, reason_nick(v.reason),
                                              "message", G_TYPE_STRING, v.message.c_str(), nullptr);
          line = verdict_json(file, s);
          gst_structure_free(s);
          outcome = OUTCOME_REJECTED;
        } else {
          line = unreadable_json(file, "The stream ended before a verdict");
        }
        done = true;
        break;
      case GST_MESSAGE_ERROR: {
        g_autoptr(GError) err = nullptr;
        g_autofree gchar *debug = nullptr;
        gst_message_parse_error(msg, &err, &debug);
        line = unreadable_json(file, std::string("Cannot read the file as video: ") + err->message);
        done = true;
        break;
      }
      default:
        break;
      }
    }
  }
  gst_element_set_state(run.pipeline, GST_STATE_NULL);
  gst_object_unref(run.pipeline);
  return outcome;
}

} // namespace

int main(int argc, char **argv)
{
  Options opt;
  const GOptionEntry entries[] = {
      {"min-duration", 0, 0, G_OPTION_ARG_DOUBLE, &opt.min_duration,
       "Shortest accepted clip in seconds (default 15)", "SECONDS"},
      {"max-duration", 0, 0, G_OPTION_ARG_DOUBLE, &opt.max_duration,
       "Longest accepted clip in seconds (default 60)", "SECONDS"},
      {"max-width", 0, 0, G_OPTION_ARG_INT, &opt.max_width, "Widest accepted video (default 4096)",
       "PIXELS"},
      {"max-height", 0, 0, G_OPTION_ARG_INT, &opt.max_height,
       "Tallest accepted video (default 4096)", "PIXELS"},
      {"max-framerate", 0, 0, G_OPTION_ARG_DOUBLE, &opt.max_framerate,
       "Highest accepted frame rate (default 120)", "FPS"},
      {"codecs", 0, 0, G_OPTION_ARG_STRING, &opt.codecs,
       "Accepted codecs, comma-separated (default h264,h265,vp8,vp9,av1)", "LIST"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("FILE... - validate uploaded clips");
  g_option_context_set_summary(
      ctx, "Prints one JSON verdict per file. Exit status: 0 all valid, 1 any rejected, 2 any "
           "unreadable.");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  g_autoptr(GError) error = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    std::fprintf(stderr, "sugarcast-validate: %s\n", error->message);
    return 2;
  }
  if (argc < 2) {
    std::fprintf(stderr, "sugarcast-validate: no file given; usage: sugarcast-validate FILE...\n");
    return 2;
  }
  if (opt.min_duration < 0 || opt.max_duration < 0 || opt.max_duration > 1e6) {
    std::fprintf(stderr, "sugarcast-validate: durations must be between 0 and 1000000 s\n");
    return 2;
  }
  GST_ELEMENT_REGISTER(clipvalidate, nullptr);

  int status = OUTCOME_VALID;
  for (int i = 1; i < argc; ++i) {
    std::string line;
    Outcome outcome = validate_file(argv[i], opt, line);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (outcome > status)
      status = outcome;
  }
  g_free(opt.codecs);
  return status;
}
