/* sugarcastd — declarative pipeline descriptions: reading and checking them
 * (PipelineDescription::parse, the catalog of built-in and operator
 * descriptions), each kind's parameters, and the helpers both this and the
 * building (pipelines_build.cpp) use: ${name} substitution, property values
 * from text, pad templates. See pipelines.h. */
#include "pipelines.h"
#include "pipelines_impl.h"

#include "jsondepth.h"
#include "jsonschema.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

GST_DEBUG_CATEGORY(pipelines_debug);
#define GST_CAT_DEFAULT pipelines_debug

namespace sugarcast {

namespace pipeline_detail {

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

} // namespace pipeline_detail

using namespace pipeline_detail;

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
      {"clip.gifts", "/var/lib/sugarcast/clips/c7m2x9q4ab/gifts.jsonl"},
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
    if (json_object_has_member(n, "only_if")) {
      /* The schema allows only "${name}"; the name must be one of the kind's. */
      node.only_if = json_object_get_string_member(n, "only_if");
      std::string filled, why;
      if (!substitute(node.only_if, params, filled, why)) {
        std::string known;
        for (const auto &[k, v] : params)
          known += (known.empty() ? "" : ", ") + ("${" + k + "}");
        fail(at + "/only_if", why + "; a " + d.kind_ + " description can use " + known);
      }
    }
    d.nodes_.push_back(std::move(node));
  }

  /* Pads that can exist on both ends, in the right direction, with a media
   * format in common; select/each only where pads appear at run time.
   * Messages name `link.where`. */
  auto check_pads = [&](const PipelineLink &link) -> bool {
    GstElementClass *from = classes[link.from_node], *to = classes[link.to_node];
    GstPadTemplate *src_templ = nullptr, *sink_templ = nullptr;
    if (!link.from_pad.empty()) {
      src_templ = find_template(from, link.from_pad, GST_PAD_SRC);
      if (!src_templ) {
        fail(link.where + "/from",
             "element " + link.from_node + " has no source pad \"" + link.from_pad +
                 "\" (its source pads: " + template_names(from, GST_PAD_SRC) + ")");
        return false;
      }
    } else if (!has_template(from, GST_PAD_SRC, GST_PAD_ALWAYS) &&
               !has_template(from, GST_PAD_SRC, GST_PAD_REQUEST) &&
               !has_template(from, GST_PAD_SRC, GST_PAD_SOMETIMES)) {
      fail(link.where + "/from", "element " + link.from_node + " has no source pad to link (" +
                                     template_names(from, GST_PAD_SRC) + ")");
      return false;
    }
    if (!link.to_pad.empty()) {
      sink_templ = find_template(to, link.to_pad, GST_PAD_SINK);
      if (!sink_templ) {
        fail(link.where + "/to", "element " + link.to_node + " has no sink pad \"" + link.to_pad +
                                     "\" (its sink pads: " + template_names(to, GST_PAD_SINK) +
                                     ")");
        return false;
      }
    } else if (!has_template(to, GST_PAD_SINK, GST_PAD_ALWAYS) &&
               !has_template(to, GST_PAD_SINK, GST_PAD_REQUEST)) {
      fail(link.where + "/to", "element " + link.to_node + " has no sink pad to link (" +
                                   template_names(to, GST_PAD_SINK) + ")");
      return false;
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
    return true;
  };

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

    if (!check_pads(link))
      continue;
    d.links_.push_back(std::move(link));
  }
  for (const auto &node : d.nodes_) {
    if (node.only_if.empty())
      continue;
    const std::string at = json_pointer_append("/nodes", node.name) + "/only_if";
    std::vector<const PipelineLink *> in, out;
    for (const auto &l : d.links_) {
      if (l.to_node == node.name)
        in.push_back(&l);
      if (l.from_node == node.name)
        out.push_back(&l);
    }
    if (in.size() != 1 || out.size() != 1) {
      fail(at, "a node that may be left out needs exactly one link in and one link out, joined "
               "when it is; " +
                   node.name + " has " + std::to_string(in.size()) + " in and " +
                   std::to_string(out.size()) + " out");
      continue;
    }
    const PipelineLink &a = *in[0], &b = *out[0];
    auto optional = [&](const std::string &name) {
      for (const auto &n : d.nodes_)
        if (n.name == name)
          return !n.only_if.empty();
      return false;
    };
    if (auto it = kRequiredFactory.find(d.kind_);
        it != kRequiredFactory.end() && node.factory == it->second)
      fail(at, "the " + it->second + " node of a " + d.kind_ + " description cannot be left out");
    else if (a.each || b.each || !b.select.empty())
      fail(at, "the links of a node that may be left out cannot use \"each\", nor \"select\" on "
               "its way out (" +
                   (a.each ? a.where : b.where) + ")");
    else if (!a.caps.empty() && !b.caps.empty())
      fail(at, "only one of the links of a node that may be left out can have caps, the joined "
               "link's (" +
                   a.where + " and " + b.where + " both do)");
    else if (optional(a.from_node) || optional(b.to_node))
      fail(at, "two nodes in a row that may be left out (" + a.from_node + " -> " + node.name +
                   " -> " + b.to_node + ")");
    else {
      PipelineLink joined = a;
      joined.to_node = b.to_node;
      joined.to_pad = b.to_pad;
      if (joined.caps.empty())
        joined.caps = b.caps;
      joined.where = at;
      if (classes.count(joined.from_node) && classes.count(joined.to_node) && check_pads(joined))
        d.bypasses_[node.name] = std::move(joined);
    }
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

const PipelineLink *PipelineDescription::bypass(const std::string &node) const
{
  auto it = bypasses_.find(node);
  return it == bypasses_.end() ? nullptr : &it->second;
}

std::vector<std::string> PipelineDescription::nodes_made_by(const std::string &factory) const
{
  std::vector<std::string> out;
  for (const auto &n : nodes_)
    if (n.factory == factory)
      out.push_back(n.name);
  return out;
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
