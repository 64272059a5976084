/* sugarcastd — declarative pipeline descriptions. See pipelines.h. */
#include "pipelines.h"
#include "guard.h"

#include "jsondepth.h"
#include "jsonschema.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

GST_DEBUG_CATEGORY_STATIC(pipelines_debug);
#define GST_CAT_DEFAULT pipelines_debug

namespace sugarcast {

namespace {

const char *kSchema = "/sugarcast/schemas/pipeline.schema.json";
const char *kBuiltins = "/sugarcast/pipelines/";

/* What each kind must contain for the daemon to drive it. */
const std::map<std::string, std::string> kRequiredFactory = {
    {"live", "rtmpserversrc"},
    {"clip", "clipvalidate"},
};

std::string replace_all(std::string text, const std::string &from, const std::string &to)
{
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size())
    text.replace(at, from.size(), to);
  return text;
}

/* Fills ${name} from `params`; names a parameter the kind lacks in `error`. */
bool substitute(const std::string &text, const std::map<std::string, std::string> &params,
                std::string &out, std::string &error)
{
  out.clear();
  size_t at = 0;
  while (true) {
    size_t open = text.find("${", at);
    if (open == std::string::npos)
      break;
    size_t close = text.find('}', open);
    if (close == std::string::npos) {
      error = "unterminated ${ in \"" + text + "\"";
      return false;
    }
    const std::string name = text.substr(open + 2, close - open - 2);
    auto it = params.find(name);
    if (it == params.end()) {
      error = "unknown parameter ${" + name + "}";
      return false;
    }
    out += text.substr(at, open - at) + it->second;
    at = close + 1;
  }
  out += text.substr(at);
  return true;
}

std::string describe_type(GParamSpec *pspec)
{
  const GType t = G_PARAM_SPEC_VALUE_TYPE(pspec);
  char buf[160];
  if (G_IS_PARAM_SPEC_INT(pspec)) {
    auto *p = G_PARAM_SPEC_INT(pspec);
    std::snprintf(buf, sizeof buf, "an integer from %d to %d", p->minimum, p->maximum);
  } else if (G_IS_PARAM_SPEC_UINT(pspec)) {
    auto *p = G_PARAM_SPEC_UINT(pspec);
    std::snprintf(buf, sizeof buf, "an integer from %u to %u", p->minimum, p->maximum);
  } else if (G_IS_PARAM_SPEC_INT64(pspec)) {
    auto *p = G_PARAM_SPEC_INT64(pspec);
    std::snprintf(buf, sizeof buf, "an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT,
                  p->minimum, p->maximum);
  } else if (G_IS_PARAM_SPEC_UINT64(pspec)) {
    auto *p = G_PARAM_SPEC_UINT64(pspec);
    std::snprintf(buf, sizeof buf, "an integer from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT,
                  p->minimum, p->maximum);
  } else if (G_IS_PARAM_SPEC_DOUBLE(pspec)) {
    auto *p = G_PARAM_SPEC_DOUBLE(pspec);
    std::snprintf(buf, sizeof buf, "a number from %g to %g", p->minimum, p->maximum);
  } else if (G_IS_PARAM_SPEC_FLOAT(pspec)) {
    auto *p = G_PARAM_SPEC_FLOAT(pspec);
    std::snprintf(buf, sizeof buf, "a number from %g to %g", p->minimum, p->maximum);
  } else if (G_IS_PARAM_SPEC_ENUM(pspec)) {
    GEnumClass *klass = G_PARAM_SPEC_ENUM(pspec)->enum_class;
    std::string nicks;
    for (guint i = 0; i < klass->n_values; ++i)
      nicks += (i ? ", " : "") + std::string(klass->values[i].value_nick);
    return "one of " + nicks;
  } else if (t == G_TYPE_BOOLEAN) {
    return "true or false";
  } else {
    return std::string("a ") + g_type_name(t);
  }
  return buf;
}

/* `text` as a value of the property's type, the way gst-launch-1.0 reads it. */
bool value_from_text(GParamSpec *pspec, const std::string &text, GValue *value, std::string &error)
{
  g_value_init(value, G_PARAM_SPEC_VALUE_TYPE(pspec));
  if (G_PARAM_SPEC_VALUE_TYPE(pspec) == G_TYPE_STRING) {
    g_value_set_string(value, text.c_str());
    return true;
  }
  if (!gst_value_deserialize(value, text.c_str()) || g_param_value_validate(pspec, value)) {
    error = "expected " + describe_type(pspec) + ", found \"" + text + "\"";
    g_value_unset(value);
    return false;
  }
  return true;
}

std::string json_scalar_text(JsonNode *node)
{
  const GType t = json_node_get_value_type(node);
  if (t == G_TYPE_STRING)
    return json_node_get_string(node);
  if (t == G_TYPE_BOOLEAN)
    return json_node_get_boolean(node) ? "true" : "false";
  if (t == G_TYPE_INT64)
    return std::to_string(json_node_get_int(node));
  char buf[64];
  g_ascii_dtostr(buf, sizeof buf, json_node_get_double(node));
  return buf;
}

void split_endpoint(const std::string &text, std::string &node, std::string &pad)
{
  const size_t dot = text.find('.');
  node = text.substr(0, dot);
  pad = dot == std::string::npos ? "" : text.substr(dot + 1);
}

/* The pad template `pad` names on an element class: by template name, or a
 * concrete name matching a %u/%d/%s template. */
GstPadTemplate *find_template(GstElementClass *klass, const std::string &pad, GstPadDirection dir)
{
  for (GList *l = gst_element_class_get_pad_template_list(klass); l; l = l->next) {
    auto *templ = GST_PAD_TEMPLATE(l->data);
    if (GST_PAD_TEMPLATE_DIRECTION(templ) != dir)
      continue;
    const std::string name = GST_PAD_TEMPLATE_NAME_TEMPLATE(templ);
    if (name == pad)
      return templ;
    const size_t pct = name.find('%');
    if (pct != std::string::npos && pad.compare(0, pct, name, 0, pct) == 0 && pad.size() > pct)
      return templ;
  }
  return nullptr;
}

bool has_template(GstElementClass *klass, GstPadDirection dir, GstPadPresence presence)
{
  for (GList *l = gst_element_class_get_pad_template_list(klass); l; l = l->next) {
    auto *templ = GST_PAD_TEMPLATE(l->data);
    if (GST_PAD_TEMPLATE_DIRECTION(templ) == dir && GST_PAD_TEMPLATE_PRESENCE(templ) == presence)
      return true;
  }
  return false;
}

/* Whether a link from `templ` (nullptr: the element's choice) waits for
 * pads that appear while the pipeline runs. */
bool appears_at_run_time(GstElementClass *klass, GstPadTemplate *templ)
{
  if (templ)
    return GST_PAD_TEMPLATE_PRESENCE(templ) == GST_PAD_SOMETIMES;
  return !has_template(klass, GST_PAD_SRC, GST_PAD_ALWAYS) &&
         !has_template(klass, GST_PAD_SRC, GST_PAD_REQUEST);
}

std::string template_names(GstElementClass *klass, GstPadDirection dir)
{
  std::string names;
  for (GList *l = gst_element_class_get_pad_template_list(klass); l; l = l->next) {
    auto *templ = GST_PAD_TEMPLATE(l->data);
    if (GST_PAD_TEMPLATE_DIRECTION(templ) == dir)
      names += (names.empty() ? "" : ", ") + std::string(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ));
  }
  return names.empty() ? "none" : names;
}

GstElementClass *element_class(const std::string &factory_name)
{
  g_autoptr(GstElementFactory) factory = gst_element_factory_find(factory_name.c_str());
  if (!factory)
    return nullptr;
  g_autoptr(GstPluginFeature) loaded = gst_plugin_feature_load(GST_PLUGIN_FEATURE(factory));
  if (!loaded)
    return nullptr;
  GType type = gst_element_factory_get_element_type(GST_ELEMENT_FACTORY(loaded));
  /* Element classes stay alive for the life of the process once made. */
  return GST_ELEMENT_CLASS(g_type_class_ref(type));
}

/* Links made when pads appear, kept with the pipeline they belong to. */
struct DynamicLinks
{
  struct Deferred
  {
    PipelineLink link;
    GstElement *from, *to; /* borrowed */
  };
  struct Pending
  {
    PipelineLink link;
    GstElement *target; /* borrowed: owned by the pipeline */
    bool linked = false;
    std::vector<Deferred> deferred; /* made once this link is */
  };
  GstElement *pipeline; /* borrowed */
  /* Recursive: making a link can add a pad that is itself linked here, on
   * the same thread, before the first link returns (a tee branch into
   * abrladder's passthrough_sink adds the ladder's src_0, whose "each" link
   * to hlsabrsink is made from inside the outer pad-added). With a plain
   * mutex that second pad-added deadlocked the streaming thread and the
   * stream produced no segments. Entries of `by_source` are never erased,
   * so a nested call does not invalidate the outer one's references. */
  std::recursive_mutex lock;
  std::map<GstElement *, std::vector<Pending>> by_source;

  static void on_pad_added(GstElement *source, GstPad *pad, gpointer data);
  static void on_no_more_pads(GstElement *source, gpointer data);
  static void on_stream_collection(GstBus *bus, GstMessage *msg, gpointer data);
  /* With `lock` held: the links of `source` that will get no pad, because it
   * has all its pads or its streams do not include their media type. */
  void give_up(GstElement *source, const std::set<std::string> *media_present);
  void prune_branch(GstElement *element, GstPad *entry);
  void end_branch(GstElement *target, const PipelineLink &link);
};

/* Whether linking to `pad` on `element` asks it for a new request pad. */
bool is_request_pad(GstElement *element, const std::string &pad)
{
  if (pad.empty())
    return false;
  GstPadTemplate *templ = find_template(GST_ELEMENT_GET_CLASS(element), pad, GST_PAD_SINK);
  return templ && GST_PAD_TEMPLATE_PRESENCE(templ) == GST_PAD_REQUEST;
}

bool link_static(GstElement *from, GstElement *to, const PipelineLink &link, std::string &error)
{
  g_autoptr(GstCaps) caps = link.caps.empty() ? nullptr : gst_caps_from_string(link.caps.c_str());
  if (gst_element_link_pads_filtered(from, link.from_pad.empty() ? nullptr : link.from_pad.c_str(),
                                     to, link.to_pad.empty() ? nullptr : link.to_pad.c_str(), caps))
    return true;
  error = link.where + ": cannot link " + link.from_node +
          (link.from_pad.empty() ? "" : "." + link.from_pad) + " to " + link.to_node +
          (link.to_pad.empty() ? "" : "." + link.to_pad);
  return false;
}

bool pad_matches(const PipelineLink &link, GstPad *pad)
{
  if (!link.from_pad.empty()) {
    g_autofree gchar *name = gst_pad_get_name(pad);
    GstPadTemplate *templ = GST_PAD_PAD_TEMPLATE(pad);
    if (link.from_pad != name && !(templ && link.from_pad == GST_PAD_TEMPLATE_NAME_TEMPLATE(templ)))
      return false;
  }
  if (!link.select.empty()) {
    g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
    if (!caps)
      caps = gst_pad_query_caps(pad, nullptr);
    if (!caps || gst_caps_is_empty(caps) || gst_caps_is_any(caps))
      return false;
    const char *media = gst_structure_get_name(gst_caps_get_structure(caps, 0));
    const std::string prefix = link.select + "/";
    if (!g_str_has_prefix(media, prefix.c_str()) &&
        !(link.select == "video" && g_str_has_prefix(media, "image/")))
      return false;
  }
  return true;
}

/* The target's sink pad for `link`: named, requested from a template, or
 * whichever fits `src`. Caller owns the result. */
GstPad *target_pad(GstElement *target, const PipelineLink &link, GstPad *src)
{
  if (link.to_pad.empty())
    return gst_element_get_compatible_pad(target, src, nullptr);
  if (GstPad *pad = gst_element_get_static_pad(target, link.to_pad.c_str()))
    return pad;
  return gst_element_request_pad_simple(target, link.to_pad.c_str());
}

bool link_pad(GstElement *pipeline, GstPad *src, GstElement *target, const PipelineLink &link,
              std::string &error)
{
  g_autoptr(GstPad) sink = nullptr;
  GstPad *from = src;
  g_autoptr(GstPad) filter_src = nullptr;
  if (!link.caps.empty()) {
    GstElement *filter = gst_element_factory_make("capsfilter", nullptr);
    if (!filter) {
      error = "the capsfilter element is missing (GStreamer's core elements are not installed)";
      return false;
    }
    g_autoptr(GstCaps) caps = gst_caps_from_string(link.caps.c_str());
    g_object_set(filter, "caps", caps, nullptr);
    gst_bin_add(GST_BIN(pipeline), filter);
    gst_element_sync_state_with_parent(filter);
    g_autoptr(GstPad) filter_sink = gst_element_get_static_pad(filter, "sink");
    if (GST_PAD_LINK_FAILED(gst_pad_link(src, filter_sink))) {
      error = "caps " + link.caps + " do not fit";
      return false;
    }
    filter_src = gst_element_get_static_pad(filter, "src");
    from = filter_src;
  }
  sink = target_pad(target, link, from);
  if (!sink) {
    error = "no free sink pad" + (link.to_pad.empty() ? "" : " \"" + link.to_pad + "\"") + " on " +
            link.to_node;
    return false;
  }
  GstPadLinkReturn ret = gst_pad_link(from, sink);
  if (GST_PAD_LINK_FAILED(ret)) {
    error = std::string("linking failed: ") + gst_pad_link_get_name(ret);
    return false;
  }
  return true;
}

void post_link_error(GstElement *source, const PipelineLink &link, const std::string &why)
{
  g_autoptr(GError) err =
      g_error_new(GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, "Cannot link %s to %s%s%s (%s): %s",
                  (link.from_node + (link.from_pad.empty() ? "" : "." + link.from_pad)).c_str(),
                  link.to_node.c_str(), link.to_pad.empty() ? "" : ".", link.to_pad.c_str(),
                  link.where.c_str(), why.c_str());
  gst_element_post_message(source, gst_message_new_error(GST_OBJECT(source), err, nullptr));
}

void DynamicLinks::on_pad_added(GstElement *source, GstPad *pad, gpointer data)
{
  auto *self = static_cast<DynamicLinks *>(data);
  GST_DEBUG_OBJECT(source, "pad added: %" GST_PTR_FORMAT, pad);
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
    return;
  std::lock_guard<std::recursive_mutex> guard(self->lock);
  for (Pending &p : self->by_source[source]) {
    if ((p.linked && !p.link.each) || !pad_matches(p.link, pad))
      continue;
    std::string why;
    if (!link_pad(self->pipeline, pad, p.target, p.link, why))
      post_link_error(source, p.link, why);
    p.linked = true;
    for (const auto &d : p.deferred) {
      if (!link_static(d.from, d.to, d.link, why))
        post_link_error(d.from, d.link, why);
    }
    p.deferred.clear();
    return;
  }
}

/* Removes `element` and what only it feeds, down to the first element with
 * other inputs (a muxer), whose pad for this branch is released or ended. */
void DynamicLinks::prune_branch(GstElement *element, GstPad *entry)
{
  guint sinks = 0, linked = 0;
  for (GList *l = element->sinkpads; l; l = l->next) {
    ++sinks;
    linked += gst_pad_is_linked(GST_PAD(l->data)) ? 1 : 0;
  }
  /* Reached through a request-pad link never made (entry null) while another
   * input feeds it (a recordsink fed video, whose audio never came): the
   * element stays; there is no pad to release. */
  if (sinks > 1 || (!entry && linked > 0)) {
    GstPadTemplate *templ = entry ? GST_PAD_PAD_TEMPLATE(entry) : nullptr;
    if (templ && GST_PAD_TEMPLATE_PRESENCE(templ) == GST_PAD_REQUEST)
      gst_element_release_request_pad(element, entry);
    return;
  }
  std::vector<GstPad *> downstream;
  GstIterator *it = gst_element_iterate_src_pads(element);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    auto *src = GST_PAD(g_value_get_object(&item));
    if (GstPad *peer = gst_pad_get_peer(src)) {
      gst_pad_unlink(src, peer);
      downstream.push_back(peer);
    }
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  /* Links waiting for this element's pads will never be made either. */
  std::vector<GstElement *> waiting;
  for (Pending &p : by_source[element])
    if (!p.linked) {
      p.linked = true;
      waiting.push_back(p.target);
    }
  gst_element_set_locked_state(element, TRUE);
  gst_element_set_state(element, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(pipeline), element);
  for (GstPad *peer : downstream) {
    if (GstElement *next = gst_pad_get_parent_element(peer)) {
      prune_branch(next, peer);
      gst_object_unref(next);
    }
    gst_object_unref(peer);
  }
  for (GstElement *target : waiting)
    prune_branch(target, nullptr);
}

/* Ends the target's input: the element sees a stream with no data (a
 * clipvalidate then says the upload has no video). */
void DynamicLinks::end_branch(GstElement *target, const PipelineLink &link)
{
  g_autoptr(GstPad) sink = link.to_pad.empty()
                               ? gst_element_get_static_pad(target, "sink")
                               : gst_element_get_static_pad(target, link.to_pad.c_str());
  if (!sink)
    return; /* a request pad never requested: nothing waits for it */
  const std::string id = "sugarcast-missing/" + link.to_node;
  gst_pad_send_event(sink, gst_event_new_stream_start(id.c_str()));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  gst_pad_send_event(sink, gst_event_new_segment(&segment));
  gst_pad_send_event(sink, gst_event_new_eos());
}

void DynamicLinks::give_up(GstElement *source, const std::set<std::string> *media_present)
{
  for (Pending &p : by_source[source]) {
    if (p.linked || p.link.each)
      continue;
    if (media_present && (p.link.select.empty() || media_present->count(p.link.select)))
      continue;
    p.linked = true;
    GST_INFO_OBJECT(source, "no %s pad for %s: %s the branch at %s",
                    p.link.select.empty() ? "" : p.link.select.c_str(), p.link.where.c_str(),
                    p.link.if_missing == "remove" ? "removing" : "ending", p.link.to_node.c_str());
    if (p.link.if_missing == "remove")
      prune_branch(p.target, nullptr);
    else
      end_branch(p.target, p.link);
  }
}

void DynamicLinks::on_no_more_pads(GstElement *source, gpointer data)
{
  auto *self = static_cast<DynamicLinks *>(data);
  GST_DEBUG_OBJECT(source, "no more pads");
  std::lock_guard<std::recursive_mutex> guard(self->lock);
  self->give_up(source, nullptr);
}

/* parsebin and demuxers announce their streams before their pads: a link
 * selecting a media type the collection lacks will never be made. */
void DynamicLinks::on_stream_collection(GstBus *, GstMessage *msg, gpointer data)
{
  auto *self = static_cast<DynamicLinks *>(data);
  g_autoptr(GstStreamCollection) collection = nullptr;
  gst_message_parse_stream_collection(msg, &collection);
  std::set<std::string> present;
  for (guint i = 0; i < gst_stream_collection_get_size(collection); ++i) {
    const GstStreamType t =
        gst_stream_get_stream_type(gst_stream_collection_get_stream(collection, i));
    if (t & GST_STREAM_TYPE_VIDEO)
      present.insert("video");
    if (t & GST_STREAM_TYPE_AUDIO)
      present.insert("audio");
    if (t & GST_STREAM_TYPE_TEXT)
      present.insert("text");
    if (t & (GST_STREAM_TYPE_CONTAINER | GST_STREAM_TYPE_UNKNOWN))
      present.insert("application");
  }
  std::lock_guard<std::recursive_mutex> guard(self->lock);
  auto it = self->by_source.find(GST_ELEMENT(GST_MESSAGE_SRC(msg)));
  if (it != self->by_source.end())
    self->give_up(it->first, &present);
}

} // namespace

const std::map<std::string, std::string> &pipeline_parameters(const std::string &kind)
{
  static const std::map<std::string, std::string> live = {
      {"stream.id", "k3x9q2mfa7"},
      {"stream.key", "sk_0123456789abcdef"},
      {"stream.title", "Sample stream"},
      {"data_dir", "/var/lib/sugarcast"},
      {"hls_dir", "/var/lib/sugarcast/hls/k3x9q2mfa7"},
      {"hls.segment_duration", "2"},
      {"hls.playlist_length", "6"},
      {"hls.ladder", "1080p:5000,720p:2800,480p:1400,360p:800"},
      {"recordings_dir", "/var/lib/sugarcast/recordings/k3x9q2mfa7"},
      {"recordings.enabled", "true"},
      {"recordings.segment_duration_ns", "4000000000"},
      {"recordings.max_age", "0"},
      {"recordings.max_stream_bytes", "0"},
  };
  static const std::map<std::string, std::string> clip = {
      {"clip.id", "c7m2x9q4ab"},
      {"data_dir", "/var/lib/sugarcast"},
      {"upload.path", "/var/lib/sugarcast/clips/c7m2x9q4ab/upload"},
      {"clip.dir", "/var/lib/sugarcast/clips/c7m2x9q4ab"},
      {"clip.min_duration", "15000000000"},
      {"clip.max_duration", "60000000000"},
  };
  static const std::map<std::string, std::string> none;
  return kind == "live" ? live : kind == "clip" ? clip : none;
}

std::optional<PipelineDescription>
PipelineDescription::parse(const std::string &file, const std::string &json, std::string &error)
{
  std::vector<std::string> problems;
  auto fail = [&](const std::string &path, const std::string &message) {
    problems.push_back(file + ": " + (path.empty() ? "/" : path) + ": " + message);
  };
  auto finish = [&]() -> std::optional<PipelineDescription> {
    error.clear();
    for (const auto &p : problems)
      error += p + "\n";
    if (!error.empty())
      error.pop_back();
    return std::nullopt;
  };

  static std::unique_ptr<JsonSchema> schema = [] {
    GST_DEBUG_CATEGORY_INIT(pipelines_debug, "sugarcast-pipelines", 0,
                            "sugarcastd pipeline descriptions");
    std::string e;
    auto s = JsonSchema::load_resource(kSchema, e);
    if (!s)
      g_error("%s", e.c_str());
    return s;
  }();

  g_autoptr(JsonParser) parser = json_parser_new();
  std::string parse_error;
  if (!json_parse_bounded(parser, json, parse_error)) {
    error = parse_error.find("<data>") != std::string::npos
                ? replace_all(parse_error, "<data>", file)
                : file + ": " + parse_error;
    return std::nullopt;
  }
  JsonNode *root = json_parser_get_root(parser);
  for (const auto &v : schema->validate(root))
    fail(v.path, v.message);
  if (!problems.empty())
    return finish();

  PipelineDescription d;
  d.file_ = file;
  d.name_ = std::filesystem::path(file).stem().string();
  JsonObject *o = json_node_get_object(root);
  d.kind_ = json_object_get_string_member(o, "kind");
  const auto &params = pipeline_parameters(d.kind_);

  std::map<std::string, GstElementClass *> classes;
  JsonObject *nodes = json_object_get_object_member(o, "nodes");
  g_autoptr(GList) node_names = json_object_get_members(nodes);
  for (GList *l = node_names; l; l = l->next) {
    const char *name = static_cast<const char *>(l->data);
    JsonObject *n = json_object_get_object_member(nodes, name);
    const std::string at = json_pointer_append("/nodes", name);
    PipelineNode node{name, json_object_get_string_member(n, "factory"), {}};
    GstElementClass *klass = element_class(node.factory);
    if (!klass) {
      fail(at + "/factory", "no GStreamer element \"" + node.factory +
                                "\" is installed (gst-inspect-1.0 " + node.factory + ")");
      continue;
    }
    classes[name] = klass;
    if (json_object_has_member(n, "properties")) {
      JsonObject *props = json_object_get_object_member(n, "properties");
      g_autoptr(GList) prop_names = json_object_get_members(props);
      for (GList *p = prop_names; p; p = p->next) {
        const char *prop = static_cast<const char *>(p->data);
        const std::string where = json_pointer_append(at + "/properties", prop);
        const std::string text = json_scalar_text(json_object_get_member(props, prop));
        GParamSpec *pspec = g_object_class_find_property(G_OBJECT_CLASS(klass), prop);
        if (!pspec || !(pspec->flags & G_PARAM_WRITABLE)) {
          fail(where, "element " + node.factory + " has no writable property \"" + prop +
                          "\" (gst-inspect-1.0 " + node.factory + ")");
          continue;
        }
        std::string filled, why;
        if (!substitute(text, params, filled, why)) {
          std::string known;
          for (const auto &[k, v] : params)
            known += (known.empty() ? "" : ", ") + ("${" + k + "}");
          fail(where, why + "; a " + d.kind_ + " description can use " + known);
          continue;
        }
        GValue value = G_VALUE_INIT;
        if (!value_from_text(pspec, filled, &value, why)) {
          fail(where, why + (filled != text ? " (after filling in \"" + text + "\")" : ""));
          continue;
        }
        g_value_unset(&value);
        node.properties.emplace_back(prop, text);
      }
    }
    d.nodes_.push_back(std::move(node));
  }

  std::set<std::string> linked;
  JsonArray *links = json_object_get_array_member(o, "links");
  for (guint i = 0; i < json_array_get_length(links); ++i) {
    JsonObject *l = json_array_get_object_element(links, i);
    PipelineLink link;
    link.where = "/links/" + std::to_string(i);
    split_endpoint(json_object_get_string_member(l, "from"), link.from_node, link.from_pad);
    split_endpoint(json_object_get_string_member(l, "to"), link.to_node, link.to_pad);
    if (json_object_has_member(l, "caps"))
      link.caps = json_object_get_string_member(l, "caps");
    if (json_object_has_member(l, "select"))
      link.select = json_object_get_string_member(l, "select");
    link.each = json_object_has_member(l, "each") && json_object_get_boolean_member(l, "each");
    link.if_missing = json_object_has_member(l, "if_missing")
                          ? json_object_get_string_member(l, "if_missing")
                          : "end";
    bool ok = true;
    for (const auto &[end, node] : {std::pair{"/from", link.from_node}, {"/to", link.to_node}}) {
      if (!json_object_has_member(nodes, node.c_str())) {
        fail(link.where + end, "no node named \"" + node + "\"");
        ok = false;
      }
      linked.insert(node);
    }
    if (!ok || !classes.count(link.from_node) || !classes.count(link.to_node))
      continue;

    GstElementClass *from = classes[link.from_node], *to = classes[link.to_node];
    GstPadTemplate *src_templ = nullptr, *sink_templ = nullptr;
    if (!link.from_pad.empty()) {
      src_templ = find_template(from, link.from_pad, GST_PAD_SRC);
      if (!src_templ) {
        fail(link.where + "/from",
             "element " + link.from_node + " has no source pad \"" + link.from_pad +
                 "\" (its source pads: " + template_names(from, GST_PAD_SRC) + ")");
        continue;
      }
    } else if (!has_template(from, GST_PAD_SRC, GST_PAD_ALWAYS) &&
               !has_template(from, GST_PAD_SRC, GST_PAD_REQUEST) &&
               !has_template(from, GST_PAD_SRC, GST_PAD_SOMETIMES)) {
      fail(link.where + "/from", "element " + link.from_node + " has no source pad to link (" +
                                     template_names(from, GST_PAD_SRC) + ")");
      continue;
    }
    if (!link.to_pad.empty()) {
      sink_templ = find_template(to, link.to_pad, GST_PAD_SINK);
      if (!sink_templ) {
        fail(link.where + "/to", "element " + link.to_node + " has no sink pad \"" + link.to_pad +
                                     "\" (its sink pads: " + template_names(to, GST_PAD_SINK) +
                                     ")");
        continue;
      }
    } else if (!has_template(to, GST_PAD_SINK, GST_PAD_ALWAYS) &&
               !has_template(to, GST_PAD_SINK, GST_PAD_REQUEST)) {
      fail(link.where + "/to", "element " + link.to_node + " has no sink pad to link (" +
                                   template_names(to, GST_PAD_SINK) + ")");
      continue;
    }
    const bool dynamic = appears_at_run_time(from, src_templ);
    if ((!link.select.empty() || link.each) && !dynamic)
      fail(link.where, std::string(link.each ? "\"each\"" : "\"select\"") +
                           " needs a source pad that appears at run time; " + link.from_node +
                           "'s are always there");
    if (link.each && (!sink_templ || GST_PAD_TEMPLATE_PRESENCE(sink_templ) != GST_PAD_REQUEST))
      fail(link.where + "/to", "\"each\" needs a request pad template on " + link.to_node +
                                   " (its sink pads: " + template_names(to, GST_PAD_SINK) + ")");
    if (src_templ && sink_templ) {
      GstCaps *a = GST_PAD_TEMPLATE_CAPS(src_templ), *b = GST_PAD_TEMPLATE_CAPS(sink_templ);
      g_autoptr(GstCaps) filter =
          link.caps.empty() ? nullptr : gst_caps_from_string(link.caps.c_str());
      if (!link.caps.empty() && !filter)
        fail(link.where + "/caps", "\"" + link.caps + "\" are not valid caps");
      else if (!gst_caps_can_intersect(a, b) || (filter && (!gst_caps_can_intersect(a, filter) ||
                                                            !gst_caps_can_intersect(filter, b))))
        fail(link.where, link.from_node + "." + link.from_pad + " and " + link.to_node + "." +
                             link.to_pad + " have no media format in common");
    }
    d.links_.push_back(std::move(link));
  }
  for (const auto &node : d.nodes_)
    if (!linked.count(node.name) && d.nodes_.size() > 1)
      fail(json_pointer_append("/nodes", node.name), "node \"" + node.name + "\" is not linked");
  if (auto it = kRequiredFactory.find(d.kind_); it != kRequiredFactory.end()) {
    const size_t count = d.nodes_made_by(it->second).size();
    if (count != 1)
      fail("/nodes", "a " + d.kind_ + " description needs exactly one " + it->second +
                         " node, found " + std::to_string(count));
  }
  if (!problems.empty())
    return finish();
  return d;
}

std::vector<std::string> PipelineDescription::nodes_made_by(const std::string &factory) const
{
  std::vector<std::string> out;
  for (const auto &n : nodes_)
    if (n.factory == factory)
      out.push_back(n.name);
  return out;
}

GstElement *PipelineDescription::instantiate(const std::string &pipeline_name,
                                             const PipelineParams &params, std::string &error) const
{
  GstElement *pipeline = gst_pipeline_new(pipeline_name.c_str());
  auto fail = [&](const std::string &message) {
    error = file_ + ": " + message;
    gst_object_unref(pipeline);
    return nullptr;
  };

  std::map<std::string, GstElement *> elements;
  for (const auto &node : nodes_) {
    g_autoptr(GstElementFactory) factory = gst_element_factory_find(node.factory.c_str());
    if (!factory)
      return fail("no GStreamer element \"" + node.factory + "\"");
    GstElementClass *klass = element_class(node.factory);
    std::vector<const gchar *> names;
    std::vector<GValue> values(node.properties.size(), G_VALUE_INIT);
    std::string why;
    for (size_t i = 0; i < node.properties.size() && why.empty(); ++i) {
      const auto &[prop, text] = node.properties[i];
      std::string filled;
      GParamSpec *pspec = g_object_class_find_property(G_OBJECT_CLASS(klass), prop.c_str());
      if (substitute(text, params, filled, why) && value_from_text(pspec, filled, &values[i], why))
        names.push_back(prop.c_str());
      else
        why = "/nodes/" + node.name + "/properties/" + prop + ": " + why;
    }
    GstElement *element =
        why.empty() ? gst_element_factory_create_with_properties(
                          factory, static_cast<guint>(names.size()), names.data(), values.data())
                    : nullptr;
    for (size_t i = 0; i < names.size(); ++i)
      g_value_unset(&values[i]);
    if (!element)
      return fail(why.empty() ? "cannot make element " + node.factory : why);
    gst_object_set_name(GST_OBJECT(element), node.name.c_str());
    gst_bin_add(GST_BIN(pipeline), element);
    elements[node.name] = element;
  }
  /* The description was validated when loaded; checked again here so the
   * lookups below (operator[], not the throwing .at()) cannot miss. */
  for (const auto &link : links_)
    if (!elements.count(link.from_node) || !elements.count(link.to_node))
      return fail("a link names a node that is not in /nodes: " + link.from_node + " -> " +
                  link.to_node);

  auto *dynamic = new DynamicLinks{pipeline, {}, {}};
  g_object_set_data_full(G_OBJECT(pipeline), "sugarcast-dynamic-links", dynamic,
                         [](gpointer p) { delete static_cast<DynamicLinks *>(p); });
  {
    g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
    gst_bus_enable_sync_message_emission(bus);
    g_signal_connect(bus, "sync-message::stream-collection",
                     G_CALLBACK(SUGARCAST_GUARD(DynamicLinks::on_stream_collection)), dynamic);
  }
  /* Links from pads that appear at run time wait for them. */
  std::vector<const PipelineLink *> static_links;
  for (const auto &link : links_) {
    GstElement *from = elements[link.from_node], *to = elements[link.to_node];
    GstElementClass *klass = GST_ELEMENT_GET_CLASS(from);
    GstPadTemplate *templ =
        link.from_pad.empty() ? nullptr : find_template(klass, link.from_pad, GST_PAD_SRC);
    if (!appears_at_run_time(klass, templ)) {
      static_links.push_back(&link);
      continue;
    }
    auto &pending = dynamic->by_source[from];
    if (pending.empty()) {
      g_signal_connect(from, "pad-added", G_CALLBACK(SUGARCAST_GUARD(DynamicLinks::on_pad_added)),
                       dynamic);
      g_signal_connect(from, "no-more-pads",
                       G_CALLBACK(SUGARCAST_GUARD(DynamicLinks::on_no_more_pads)), dynamic);
    }
    pending.push_back({link, to, false, {}});
  }

  /* A branch fed by a pad that may never come asks muxers for a pad only
   * when the pad feeding it comes: a muxer never waits for, or writes, a
   * track that stays empty. The gate of an element is the outermost such
   * link above it (parsebin's, not decodebin's below it), whose pads all
   * appear together before data flows, so muxers get every pad in time. */
  auto downstream = [&](const std::string &start) {
    std::set<std::string> seen;
    std::vector<std::string> todo = {start};
    while (!todo.empty()) {
      std::string node = todo.back();
      todo.pop_back();
      if (!seen.insert(node).second)
        continue;
      for (const auto &l : links_)
        if (l.from_node == node && !is_request_pad(elements[l.to_node], l.to_pad))
          todo.push_back(l.to_node);
    }
    return seen;
  };
  std::set<std::string> below_a_gate;
  for (auto &[source, pending] : dynamic->by_source)
    for (auto &p : pending)
      below_a_gate.merge(downstream(p.link.to_node));
  std::map<std::string, DynamicLinks::Pending *> gate;
  for (auto &[source, pending] : dynamic->by_source) {
    if (below_a_gate.count(GST_OBJECT_NAME(source)))
      continue;
    for (auto &p : pending)
      for (const auto &node : downstream(p.link.to_node))
        gate.emplace(node, &p);
  }

  for (const PipelineLink *l : static_links) {
    auto g = gate.find(l->from_node);
    if (g != gate.end() && is_request_pad(elements[l->to_node], l->to_pad)) {
      g->second->deferred.push_back({*l, elements[l->from_node], elements[l->to_node]});
      continue;
    }
    std::string why;
    if (!link_static(elements[l->from_node], elements[l->to_node], *l, why))
      return fail(why);
  }
  return pipeline;
}

void stop_pipeline(GstElement *pipeline, std::function<void()> stopped)
{
  struct Ctx
  {
    std::function<void()> stopped;
    GMainContext *context;
  };
  gst_element_call_async(
      pipeline, SUGARCAST_GUARD(+[](GstElement *e, gpointer data) {
        auto *ctx = static_cast<Ctx *>(data);
        gst_element_set_state(e, GST_STATE_NULL);
        auto *done = new std::function<void()>(std::move(ctx->stopped));
        g_main_context_invoke_full(
            ctx->context, G_PRIORITY_DEFAULT, SUGARCAST_GUARD(+[](gpointer d) -> gboolean {
              (*static_cast<std::function<void()> *>(d))();
              return G_SOURCE_REMOVE;
            }),
            done, [](gpointer d) { delete static_cast<std::function<void()> *>(d); });
      }),
      new Ctx{std::move(stopped), g_main_context_ref_thread_default()}, [](gpointer data) {
        auto *ctx = static_cast<Ctx *>(data);
        g_main_context_unref(ctx->context);
        delete ctx;
      });
  gst_object_unref(pipeline); /* the call holds its own reference until it has run */
}

void send_eos(GstElement *pipeline)
{
  gst_element_call_async(pipeline, SUGARCAST_GUARD(+[](GstElement *e, gpointer) {
                           gst_element_send_event(e, gst_event_new_eos());
                         }),
                         nullptr, nullptr);
}

bool PipelineCatalog::load(const std::string &dir, std::string &error)
{
  std::vector<std::pair<std::string, std::string>> sources; /* label, text */
  g_auto(GStrv) builtins =
      g_resources_enumerate_children(kBuiltins, G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
  for (gchar **b = builtins; b && *b; ++b) {
    const std::string path = std::string(kBuiltins) + *b;
    g_autoptr(GBytes) bytes =
        g_resources_lookup_data(path.c_str(), G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
    gsize size = 0;
    const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
    sources.emplace_back(std::string("built-in pipelines/") + *b, std::string(data, size));
  }
  if (!dir.empty()) {
    std::error_code ec;
    std::vector<std::string> files;
    for (const auto &entry : std::filesystem::directory_iterator(dir, ec))
      if (entry.path().extension() == ".json")
        files.push_back(entry.path().string());
    if (ec) {
      error = "cannot read pipelines_dir " + dir + ": " + ec.message();
      return false;
    }
    std::sort(files.begin(), files.end());
    for (const auto &f : files) {
      std::ifstream in(f);
      std::stringstream text;
      text << in.rdbuf();
      sources.emplace_back(f, text.str());
    }
  }
  error.clear();
  for (const auto &[label, text] : sources) {
    std::string problem;
    auto d = PipelineDescription::parse(label, text, problem);
    if (!d) {
      error += (error.empty() ? "" : "\n") + problem;
      continue;
    }
    const std::string name = d->name();
    descriptions_[name] = std::make_shared<PipelineDescription>(std::move(*d));
  }
  return error.empty();
}

const PipelineDescription *PipelineCatalog::find(const std::string &name) const
{
  auto it = descriptions_.find(name);
  return it == descriptions_.end() ? nullptr : it->second.get();
}

std::vector<std::string> PipelineCatalog::names() const
{
  std::vector<std::string> out;
  for (const auto &[name, d] : descriptions_)
    out.push_back(name);
  return out;
}

} // namespace sugarcast
