/* sugarcastd — JSON Schema checking. See jsonschema.h. */
#include "jsonschema.h"

#include <gio/gio.h>

#include <cmath>
#include <map>
#include <mutex>
#include <set>

namespace sugarcast {

namespace {

const std::set<std::string> kAssertions = {
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "$ref",
};
const std::set<std::string> kAnnotations = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "definitions",
};

std::string type_of(JsonNode *node)
{
  switch (JSON_NODE_TYPE(node)) {
  case JSON_NODE_NULL:
    return "null";
  case JSON_NODE_OBJECT:
    return "object";
  case JSON_NODE_ARRAY:
    return "array";
  case JSON_NODE_VALUE:
    break;
  }
  GType t = json_node_get_value_type(node);
  if (t == G_TYPE_STRING)
    return "string";
  if (t == G_TYPE_BOOLEAN)
    return "boolean";
  if (t == G_TYPE_INT64)
    return "integer";
  return "number";
}

bool is_number(JsonNode *node)
{
  std::string t = type_of(node);
  return t == "integer" || t == "number";
}

bool has_type(JsonNode *node, const std::string &wanted)
{
  std::string t = type_of(node);
  if (wanted == t)
    return true;
  if (wanted == "number")
    return t == "integer";
  if (wanted == "integer" && t == "number") {
    double d = json_node_get_double(node);
    return std::isfinite(d) && d == std::floor(d);
  }
  return false;
}

bool json_equal(JsonNode *a, JsonNode *b)
{
  if (is_number(a) && is_number(b))
    return json_node_get_double(a) == json_node_get_double(b);
  if (type_of(a) != type_of(b))
    return false;
  switch (JSON_NODE_TYPE(a)) {
  case JSON_NODE_NULL:
    return true;
  case JSON_NODE_VALUE:
    if (type_of(a) == "string")
      return g_strcmp0(json_node_get_string(a), json_node_get_string(b)) == 0;
    return json_node_get_boolean(a) == json_node_get_boolean(b);
  case JSON_NODE_ARRAY: {
    JsonArray *x = json_node_get_array(a), *y = json_node_get_array(b);
    if (json_array_get_length(x) != json_array_get_length(y))
      return false;
    for (guint i = 0; i < json_array_get_length(x); ++i)
      if (!json_equal(json_array_get_element(x, i), json_array_get_element(y, i)))
        return false;
    return true;
  }
  case JSON_NODE_OBJECT: {
    JsonObject *x = json_node_get_object(a), *y = json_node_get_object(b);
    if (json_object_get_size(x) != json_object_get_size(y))
      return false;
    bool same = true;
    g_autoptr(GList) members = json_object_get_members(x);
    for (GList *l = members; l && same; l = l->next) {
      const char *name = static_cast<const char *>(l->data);
      same = json_object_has_member(y, name) &&
             json_equal(json_object_get_member(x, name), json_object_get_member(y, name));
    }
    return same;
  }
  }
  return false;
}

std::string number_text(double d)
{
  char buf[64];
  if (d == std::floor(d) && std::fabs(d) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", d);
  else
    std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

GRegex *cached_regex(const std::string &pattern, std::string &error)
{
  /* For the life of the process, never destroyed: a thread still checking
   * a message at exit never meets a destroyed cache, and leak checkers see
   * the patterns as reachable rather than lost. */
  static std::mutex lock;
  static auto &cache = *new std::map<std::string, GRegex *>;
  std::lock_guard<std::mutex> guard(lock);
  auto it = cache.find(pattern);
  if (it != cache.end())
    return it->second;
  g_autoptr(GError) err = nullptr;
  GRegex *re =
      g_regex_new(pattern.c_str(), G_REGEX_OPTIMIZE, static_cast<GRegexMatchFlags>(0), &err);
  if (!re) {
    error = "invalid pattern \"" + pattern + "\": " + err->message;
    return nullptr;
  }
  cache[pattern] = re;
  return re;
}

bool matches(const std::string &pattern, const char *text)
{
  std::string ignored;
  GRegex *re = cached_regex(pattern, ignored);
  return re && g_regex_match(re, text, static_cast<GRegexMatchFlags>(0), nullptr);
}

struct Validator
{
  JsonNode *root;
  size_t max;
  std::vector<SchemaViolation> out;

  bool full() const { return out.size() >= max; }
  void fail(const std::string &path, std::string message)
  {
    if (!full())
      out.push_back({path, std::move(message)});
  }

  JsonNode *resolve(JsonNode *schema)
  {
    for (int depth = 0; depth < 32 && JSON_NODE_HOLDS_OBJECT(schema); ++depth) {
      JsonObject *o = json_node_get_object(schema);
      if (!json_object_has_member(o, "$ref"))
        return schema;
      JsonNode *target = resolve_pointer(json_object_get_string_member(o, "$ref"));
      if (!target)
        return schema;
      schema = target;
    }
    return schema;
  }

  JsonNode *resolve_pointer(const char *ref)
  {
    if (!ref || ref[0] != '#')
      return nullptr;
    JsonNode *node = root;
    g_auto(GStrv) tokens = g_strsplit(ref + 1, "/", -1);
    for (gchar **t = tokens; *t; ++t) {
      if (!**t)
        continue;
      std::string token = *t;
      for (size_t p; (p = token.find("~1")) != std::string::npos;)
        token.replace(p, 2, "/");
      for (size_t p; (p = token.find("~0")) != std::string::npos;)
        token.replace(p, 2, "~");
      if (!JSON_NODE_HOLDS_OBJECT(node) ||
          !json_object_has_member(json_node_get_object(node), token.c_str()))
        return nullptr;
      node = json_object_get_member(json_node_get_object(node), token.c_str());
    }
    return node;
  }

  void check(JsonNode *schema_node, JsonNode *inst, const std::string &path)
  {
    if (full())
      return;
    schema_node = resolve(schema_node);
    if (JSON_NODE_HOLDS_VALUE(schema_node) &&
        json_node_get_value_type(schema_node) == G_TYPE_BOOLEAN) {
      if (!json_node_get_boolean(schema_node))
        fail(path, "no value is allowed here");
      return;
    }
    if (!JSON_NODE_HOLDS_OBJECT(schema_node))
      return;
    JsonObject *s = json_node_get_object(schema_node);
    auto member = [s](const char *name) {
      return json_object_has_member(s, name) ? json_object_get_member(s, name) : nullptr;
    };

    if (JsonNode *type = member("type")) {
      std::vector<std::string> types;
      if (JSON_NODE_HOLDS_ARRAY(type)) {
        JsonArray *a = json_node_get_array(type);
        for (guint i = 0; i < json_array_get_length(a); ++i)
          types.push_back(json_array_get_string_element(a, i));
      } else {
        types.push_back(json_node_get_string(type));
      }
      bool ok = false;
      for (const auto &t : types)
        ok |= has_type(inst, t);
      if (!ok) {
        std::string wanted;
        for (const auto &t : types)
          wanted += (wanted.empty() ? "" : " or ") + t;
        fail(path,
             "expected " + wanted + ", found " + type_of(inst) + " " + json_value_summary(inst));
        return; /* the other keywords would only repeat the same mistake */
      }
    }
    if (JsonNode *e = member("enum")) {
      JsonArray *a = json_node_get_array(e);
      bool ok = false;
      std::string allowed;
      for (guint i = 0; i < json_array_get_length(a); ++i) {
        ok |= json_equal(inst, json_array_get_element(a, i));
        allowed += (i ? ", " : "") + json_value_summary(json_array_get_element(a, i));
      }
      if (!ok)
        fail(path, "expected one of " + allowed + ", found " + json_value_summary(inst));
    }
    if (JsonNode *c = member("const")) {
      if (!json_equal(inst, c))
        fail(path, "expected " + json_value_summary(c) + ", found " + json_value_summary(inst));
    }
    if (is_number(inst))
      check_number(s, inst, path);
    if (type_of(inst) == "string")
      check_string(s, inst, path);
    if (JSON_NODE_HOLDS_ARRAY(inst))
      check_array(s, inst, path);
    if (JSON_NODE_HOLDS_OBJECT(inst))
      check_object(s, inst, path);
    check_combinators(s, inst, path);
  }

  void check_number(JsonObject *s, JsonNode *inst, const std::string &path)
  {
    const double v = json_node_get_double(inst);
    auto num = [s](const char *name, double &out) {
      if (!json_object_has_member(s, name))
        return false;
      out = json_node_get_double(json_object_get_member(s, name));
      return true;
    };
    double lo = 0, hi = 0, xlo = 0, xhi = 0, step = 0;
    const bool has_lo = num("minimum", lo), has_hi = num("maximum", hi);
    const bool has_xlo = num("exclusiveMinimum", xlo), has_xhi = num("exclusiveMaximum", xhi);
    const std::string kind =
        json_object_has_member(s, "type") &&
                JSON_NODE_HOLDS_VALUE(json_object_get_member(s, "type")) &&
                g_strcmp0(json_object_get_string_member(s, "type"), "integer") == 0
            ? "an integer"
            : "a number";
    const bool out_of_range =
        (has_lo && v < lo) || (has_hi && v > hi) || (has_xlo && v <= xlo) || (has_xhi && v >= xhi);
    if (out_of_range) {
      std::string range;
      if (has_lo && has_hi)
        range = "from " + number_text(lo) + " to " + number_text(hi);
      else if (has_lo)
        range = "of at least " + number_text(lo);
      else if (has_hi)
        range = "of at most " + number_text(hi);
      if (has_xlo)
        range += (range.empty() ? "" : " and ") + std::string("above ") + number_text(xlo);
      if (has_xhi)
        range += (range.empty() ? "" : " and ") + std::string("below ") + number_text(xhi);
      fail(path, "expected " + kind + " " + range + ", found " + number_text(v));
    }
    if (num("multipleOf", step) && step > 0) {
      double q = v / step;
      if (std::fabs(q - std::round(q)) > 1e-9)
        fail(path, "expected a multiple of " + number_text(step) + ", found " + number_text(v));
    }
  }

  void check_string(JsonObject *s, JsonNode *inst, const std::string &path)
  {
    const char *text = json_node_get_string(inst);
    const glong length = g_utf8_strlen(text, -1);
    if (json_object_has_member(s, "minLength") &&
        length < json_object_get_int_member(s, "minLength")) {
      gint64 min = json_object_get_int_member(s, "minLength");
      fail(path, min == 1 ? "expected a non-empty string"
                          : "expected at least " + std::to_string(min) + " characters, found " +
                                std::to_string(length));
    }
    if (json_object_has_member(s, "maxLength") &&
        length > json_object_get_int_member(s, "maxLength"))
      fail(path, "expected at most " + std::to_string(json_object_get_int_member(s, "maxLength")) +
                     " characters, found " + std::to_string(length));
    if (json_object_has_member(s, "pattern")) {
      const char *pattern = json_object_get_string_member(s, "pattern");
      if (!matches(pattern, text))
        fail(path, std::string("expected text matching ") + pattern + ", found " +
                       json_value_summary(inst));
    }
  }

  void check_array(JsonObject *s, JsonNode *inst, const std::string &path)
  {
    JsonArray *a = json_node_get_array(inst);
    const guint n = json_array_get_length(a);
    if (json_object_has_member(s, "minItems") && n < json_object_get_int_member(s, "minItems"))
      fail(path, "expected at least " + std::to_string(json_object_get_int_member(s, "minItems")) +
                     " items, found " + std::to_string(n));
    if (json_object_has_member(s, "maxItems") && n > json_object_get_int_member(s, "maxItems"))
      fail(path, "expected at most " + std::to_string(json_object_get_int_member(s, "maxItems")) +
                     " items, found " + std::to_string(n));
    if (json_object_has_member(s, "uniqueItems") &&
        json_object_get_boolean_member(s, "uniqueItems"))
      for (guint i = 0; i < n; ++i)
        for (guint j = 0; j < i; ++j)
          if (json_equal(json_array_get_element(a, i), json_array_get_element(a, j)))
            fail(json_pointer_append(path, std::to_string(i)),
                 "duplicate of item " + std::to_string(j) + " " +
                     json_value_summary(json_array_get_element(a, i)));
    if (JsonNode *items =
            json_object_has_member(s, "items") ? json_object_get_member(s, "items") : nullptr)
      for (guint i = 0; i < n; ++i)
        check(items, json_array_get_element(a, i), json_pointer_append(path, std::to_string(i)));
  }

  void check_object(JsonObject *s, JsonNode *inst, const std::string &path)
  {
    JsonObject *o = json_node_get_object(inst);
    const guint size = json_object_get_size(o);
    if (json_object_has_member(s, "minProperties") &&
        size < json_object_get_int_member(s, "minProperties"))
      fail(path, "expected at least " +
                     std::to_string(json_object_get_int_member(s, "minProperties")) +
                     " fields, found " + std::to_string(size));
    if (json_object_has_member(s, "maxProperties") &&
        size > json_object_get_int_member(s, "maxProperties"))
      fail(path, "expected at most " +
                     std::to_string(json_object_get_int_member(s, "maxProperties")) +
                     " fields, found " + std::to_string(size));
    if (json_object_has_member(s, "required")) {
      JsonArray *req = json_object_get_array_member(s, "required");
      for (guint i = 0; i < json_array_get_length(req); ++i) {
        const char *name = json_array_get_string_element(req, i);
        if (!json_object_has_member(o, name))
          fail(path, std::string("missing required field \"") + name + "\"");
      }
    }
    JsonObject *props = json_object_has_member(s, "properties")
                            ? json_object_get_object_member(s, "properties")
                            : nullptr;
    JsonObject *patterns = json_object_has_member(s, "patternProperties")
                               ? json_object_get_object_member(s, "patternProperties")
                               : nullptr;
    JsonNode *additional = json_object_has_member(s, "additionalProperties")
                               ? json_object_get_member(s, "additionalProperties")
                               : nullptr;
    JsonNode *names = json_object_has_member(s, "propertyNames")
                          ? json_object_get_member(s, "propertyNames")
                          : nullptr;

    g_autoptr(GList) members = json_object_get_members(o);
    members = g_list_sort(members, reinterpret_cast<GCompareFunc>(g_strcmp0));
    for (GList *l = members; l; l = l->next) {
      const char *name = static_cast<const char *>(l->data);
      const std::string child = json_pointer_append(path, name);
      JsonNode *value = json_object_get_member(o, name);
      if (names) {
        g_autoptr(JsonNode) name_node = json_node_new(JSON_NODE_VALUE);
        json_node_set_string(name_node, name);
        Validator sub{root, 1, {}};
        sub.check(names, name_node, child);
        if (!sub.out.empty())
          fail(child,
               "field name \"" + std::string(name) + "\" is not allowed: " + sub.out[0].message);
      }
      bool known = false;
      if (props && json_object_has_member(props, name)) {
        known = true;
        check(json_object_get_member(props, name), value, child);
      }
      if (patterns) {
        g_autoptr(GList) pats = json_object_get_members(patterns);
        for (GList *p = pats; p; p = p->next) {
          if (matches(static_cast<const char *>(p->data), name)) {
            known = true;
            check(json_object_get_member(patterns, static_cast<const char *>(p->data)), value,
                  child);
          }
        }
      }
      if (!known && additional) {
        if (JSON_NODE_HOLDS_VALUE(additional) && !json_node_get_boolean(additional)) {
          std::string allowed;
          if (props) {
            g_autoptr(GList) known_names = json_object_get_members(props);
            known_names = g_list_sort(known_names, reinterpret_cast<GCompareFunc>(g_strcmp0));
            for (GList *k = known_names; k; k = k->next)
              allowed += (allowed.empty() ? "" : ", ") + std::string(static_cast<char *>(k->data));
          }
          fail(child, "unknown field \"" + std::string(name) + "\"" +
                          (allowed.empty() ? "" : " (known fields: " + allowed + ")"));
        } else {
          check(additional, value, child);
        }
      }
    }
  }

  void check_combinators(JsonObject *s, JsonNode *inst, const std::string &path)
  {
    auto branches = [s](const char *name) {
      std::vector<JsonNode *> v;
      if (json_object_has_member(s, name)) {
        JsonArray *a = json_object_get_array_member(s, name);
        for (guint i = 0; i < json_array_get_length(a); ++i)
          v.push_back(json_array_get_element(a, i));
      }
      return v;
    };
    for (JsonNode *b : branches("allOf"))
      check(b, inst, path);

    for (const char *kw : {"anyOf", "oneOf"}) {
      std::vector<JsonNode *> bs = branches(kw);
      if (bs.empty())
        continue;
      int passing = 0;
      std::vector<SchemaViolation> closest;
      for (JsonNode *b : bs) {
        Validator sub{root, max, {}};
        sub.check(b, inst, path);
        if (sub.out.empty())
          ++passing;
        else if (closest.empty() || sub.out.size() < closest.size() ||
                 (sub.out.size() == closest.size() &&
                  sub.out[0].path.size() > closest[0].path.size()))
          closest = sub.out;
      }
      if (passing == 0) {
        /* The branch that came closest says best what is wrong. */
        for (auto &v : closest)
          fail(v.path, v.message);
      } else if (std::string(kw) == "oneOf" && passing > 1) {
        fail(path,
             "matches " + std::to_string(passing) + " of the allowed forms; expected exactly one");
      }
    }
    if (json_object_has_member(s, "not")) {
      Validator sub{root, 1, {}};
      sub.check(json_object_get_member(s, "not"), inst, path);
      if (sub.out.empty())
        fail(path, "this value is not allowed here: " + json_value_summary(inst));
    }
    if (json_object_has_member(s, "if")) {
      Validator sub{root, 1, {}};
      sub.check(json_object_get_member(s, "if"), inst, path);
      const char *branch = sub.out.empty() ? "then" : "else";
      if (json_object_has_member(s, branch))
        check(json_object_get_member(s, branch), inst, path);
    }
  }
};

/* Every keyword in the schema is one the validator implements. */
bool check_schema(JsonNode *node, const std::string &where, std::string &error)
{
  if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_BOOLEAN)
    return true;
  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    error = where + ": a schema must be an object or a boolean";
    return false;
  }
  JsonObject *o = json_node_get_object(node);
  g_autoptr(GList) members = json_object_get_members(o);
  for (GList *l = members; l; l = l->next) {
    const std::string key = static_cast<const char *>(l->data);
    JsonNode *value = json_object_get_member(o, key.c_str());
    const std::string here = where + "/" + key;
    if (!kAssertions.count(key) && !kAnnotations.count(key)) {
      error = here + ": keyword \"" + key + "\" is not implemented by sugarcastd's validator";
      return false;
    }
    if (key == "pattern") {
      if (!cached_regex(json_node_get_string(value), error))
        return false;
    } else if (key == "properties" || key == "patternProperties" || key == "definitions") {
      JsonObject *map = json_node_get_object(value);
      g_autoptr(GList) names = json_object_get_members(map);
      for (GList *n = names; n; n = n->next) {
        const char *name = static_cast<const char *>(n->data);
        if (key == "patternProperties" && !cached_regex(name, error))
          return false;
        if (!check_schema(json_object_get_member(map, name), here + "/" + name, error))
          return false;
      }
    } else if (key == "additionalProperties" || key == "items" || key == "not" || key == "if" ||
               key == "then" || key == "else" || key == "propertyNames") {
      if (JSON_NODE_HOLDS_ARRAY(value)) {
        error = here + ": only a single schema is supported here";
        return false;
      }
      if (!check_schema(value, here, error))
        return false;
    } else if (key == "allOf" || key == "anyOf" || key == "oneOf") {
      JsonArray *a = json_node_get_array(value);
      for (guint i = 0; i < json_array_get_length(a); ++i)
        if (!check_schema(json_array_get_element(a, i), here + "/" + std::to_string(i), error))
          return false;
    } else if (key == "$ref") {
      const char *ref = json_node_get_string(value);
      if (!ref || !g_str_has_prefix(ref, "#")) {
        error = here + ": only local references (\"#/definitions/...\") are supported";
        return false;
      }
    }
  }
  return true;
}

void fill(JsonNode *root, JsonNode *schema, JsonNode *inst, int depth)
{
  if (depth > 32)
    return;
  Validator resolver{root, 0, {}};
  schema = resolver.resolve(schema);
  if (!JSON_NODE_HOLDS_OBJECT(schema))
    return;
  JsonObject *s = json_node_get_object(schema);
  if (JSON_NODE_HOLDS_OBJECT(inst)) {
    JsonObject *o = json_node_get_object(inst);
    JsonObject *props = json_object_has_member(s, "properties")
                            ? json_object_get_object_member(s, "properties")
                            : nullptr;
    if (props) {
      g_autoptr(GList) names = json_object_get_members(props);
      for (GList *l = names; l; l = l->next) {
        const char *name = static_cast<const char *>(l->data);
        JsonNode *prop = resolver.resolve(json_object_get_member(props, name));
        if (!json_object_has_member(o, name) && JSON_NODE_HOLDS_OBJECT(prop) &&
            json_object_has_member(json_node_get_object(prop), "default"))
          json_object_set_member(
              o, name,
              json_node_copy(json_object_get_member(json_node_get_object(prop), "default")));
        if (json_object_has_member(o, name))
          fill(root, prop, json_object_get_member(o, name), depth + 1);
      }
    }
    if (json_object_has_member(s, "additionalProperties")) {
      JsonNode *additional = json_object_get_member(s, "additionalProperties");
      g_autoptr(GList) names = json_object_get_members(o);
      for (GList *l = names; l; l = l->next) {
        const char *name = static_cast<const char *>(l->data);
        if (!props || !json_object_has_member(props, name))
          fill(root, additional, json_object_get_member(o, name), depth + 1);
      }
    }
  } else if (JSON_NODE_HOLDS_ARRAY(inst) && json_object_has_member(s, "items")) {
    JsonArray *a = json_node_get_array(inst);
    for (guint i = 0; i < json_array_get_length(a); ++i)
      fill(root, json_object_get_member(s, "items"), json_array_get_element(a, i), depth + 1);
  }
}

} // namespace

std::string json_pointer_append(const std::string &pointer, const std::string &token)
{
  std::string escaped;
  for (char c : token) {
    if (c == '~')
      escaped += "~0";
    else if (c == '/')
      escaped += "~1";
    else
      escaped += c;
  }
  return pointer + "/" + escaped;
}

std::string json_value_summary(JsonNode *node)
{
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, node);
  g_autofree gchar *text = json_generator_to_data(gen, nullptr);
  std::string s = text ? text : "null";
  if (g_utf8_strlen(s.c_str(), -1) > 60) {
    const char *cut = g_utf8_offset_to_pointer(s.c_str(), 57);
    s = std::string(s.c_str(), cut) + "...";
  }
  return s;
}

JsonSchema::JsonSchema(JsonNode *root) : root_(json_node_ref(root)) {}

JsonSchema::~JsonSchema()
{
  json_node_unref(root_);
}

std::unique_ptr<JsonSchema> JsonSchema::load(JsonNode *root, std::string &error)
{
  if (!check_schema(root, "", error))
    return nullptr;
  return std::unique_ptr<JsonSchema>(new JsonSchema(root));
}

std::unique_ptr<JsonSchema> JsonSchema::load_resource(const char *path, std::string &error)
{
  g_autoptr(GError) err = nullptr;
  g_autoptr(GBytes) bytes = g_resources_lookup_data(path, G_RESOURCE_LOOKUP_FLAGS_NONE, &err);
  if (!bytes) {
    error = std::string("schema ") + path + " is not built in: " + err->message;
    return nullptr;
  }
  g_autoptr(JsonParser) parser = json_parser_new();
  gsize size = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
  if (!json_parser_load_from_data(parser, data, static_cast<gssize>(size), &err)) {
    error = std::string("schema ") + path + " is not valid JSON: " + err->message;
    return nullptr;
  }
  auto schema = load(json_parser_get_root(parser), error);
  if (!schema)
    error = std::string("schema ") + path + error;
  return schema;
}

std::vector<SchemaViolation> JsonSchema::validate(JsonNode *instance, size_t max,
                                                  const std::string &definition) const
{
  Validator v{root_, max, {}};
  JsonNode *schema = root_;
  if (!definition.empty()) {
    schema = v.resolve_pointer(("#/definitions/" + definition).c_str());
    if (!schema)
      return {{"", "the schema has no definition \"" + definition + "\""}};
  }
  v.check(schema, instance, "");
  return v.out;
}

void JsonSchema::fill_defaults(JsonNode *instance) const
{
  fill(root_, root_, instance, 0);
}

} // namespace sugarcast
