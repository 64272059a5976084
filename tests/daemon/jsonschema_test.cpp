/* The daemon's JSON Schema subset: what it refuses, how it words it, and
 * defaults. */
#include "jsondepth.h"
#include "jsonschema.h"

#include <gtest/gtest.h>

using namespace sugarcast;

namespace {

JsonNode *parse(const char *text)
{
  g_autoptr(JsonParser) p = json_parser_new();
  EXPECT_TRUE(json_parser_load_from_data(p, text, -1, nullptr)) << text;
  return json_node_copy(json_parser_get_root(p));
}

std::unique_ptr<JsonSchema> schema(const char *text)
{
  g_autoptr(JsonNode) root = parse(text);
  std::string error;
  auto s = JsonSchema::load(root, error);
  EXPECT_TRUE(s) << error;
  return s;
}

std::vector<SchemaViolation> check(const JsonSchema &s, const char *instance)
{
  g_autoptr(JsonNode) node = parse(instance);
  return s.validate(node);
}

} // namespace

TEST(JsonSchema, RefusesKeywordsItDoesNotImplement)
{
  g_autoptr(JsonNode) root = parse(R"({"type": "string", "format": "uri"})");
  std::string error;
  EXPECT_FALSE(JsonSchema::load(root, error));
  EXPECT_EQ(error, "/format: keyword \"format\" is not implemented by sugarcastd's validator");
}

TEST(JsonSchema, ReportsEveryProblemWithItsPath)
{
  auto s = schema(R"({"type": "object", "additionalProperties": false, "required": ["name"],
      "properties": {"name": {"type": "string", "minLength": 1},
                     "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                     "size": {"type": "integer", "minimum": 1}}})");
  auto v = check(*s, R"({"tags": ["a", 3, "a"], "size": 0.5, "x": null})");
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0].path, "");
  EXPECT_EQ(v[0].message, "missing required field \"name\"");
  EXPECT_EQ(v[1].path, "/size");
  EXPECT_EQ(v[1].message, "expected integer, found number 0.5");
  EXPECT_EQ(v[2].path, "/tags/2");
  EXPECT_EQ(v[2].message, "duplicate of item 0 \"a\"");
  EXPECT_EQ(v[3].path, "/tags/1");
  EXPECT_EQ(v[3].message, "expected string, found integer 3");
  EXPECT_EQ(v[4].path, "/x");
  EXPECT_EQ(v[4].message, "unknown field \"x\" (known fields: name, size, tags)");
  EXPECT_TRUE(check(*s, R"({"name": "n", "size": 2.0})").empty()) << "2.0 is an integer";
}

TEST(JsonSchema, OneOfExplainsTheClosestForm)
{
  auto s = schema(R"({"definitions": {
        "a": {"type": "object", "required": ["kind", "x"], "properties": {"kind": {"const": "a"}, "x": {"type": "integer"}}},
        "b": {"type": "object", "required": ["kind", "y"], "properties": {"kind": {"const": "b"}, "y": {"type": "string"}}}},
      "oneOf": [{"$ref": "#/definitions/a"}, {"$ref": "#/definitions/b"}]})");
  auto v = check(*s, R"({"kind": "b", "y": 5})");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].path, "/y");
  EXPECT_EQ(v[0].message, "expected string, found integer 5");
  EXPECT_TRUE(check(*s, R"({"kind": "a", "x": 5})").empty());
}

TEST(JsonSchema, FillsDefaultsThroughNestedObjects)
{
  auto s = schema(R"({"type": "object", "properties": {
      "http": {"type": "object", "default": {}, "properties": {"port": {"default": 8080}}},
      "list": {"type": "array", "items": {"type": "object", "properties": {"on": {"default": true}}}}}})");
  g_autoptr(JsonNode) node = parse(R"({"list": [{}, {"on": false}]})");
  s->fill_defaults(node);
  JsonObject *o = json_node_get_object(node);
  EXPECT_EQ(json_object_get_int_member(json_object_get_object_member(o, "http"), "port"), 8080);
  JsonArray *list = json_object_get_array_member(o, "list");
  EXPECT_TRUE(json_object_get_boolean_member(json_array_get_object_element(list, 0), "on"));
  EXPECT_FALSE(json_object_get_boolean_member(json_array_get_object_element(list, 1), "on"));
}

TEST(JsonDepth, BracketsInStringsDoNotCountAndTheLimitIsExact)
{
  size_t at = 0;
  EXPECT_TRUE(sugarcast::json_depth_within("[]", 1));
  EXPECT_FALSE(sugarcast::json_depth_within("[[]]", 1, &at));
  EXPECT_EQ(at, 1u);
  EXPECT_TRUE(sugarcast::json_depth_within(R"({"a": "[[[[{{{{", "b": ["\"[[["]})", 2));
  EXPECT_FALSE(sugarcast::json_depth_within(R"({"a": "\\", "b": [[0]]})", 2, &at));
  EXPECT_EQ(at, 18u) << "the escaped backslash ends the string";
  EXPECT_TRUE(sugarcast::json_depth_within(std::string(64, '[') + std::string(64, ']'), 64));
  EXPECT_FALSE(sugarcast::json_depth_within(std::string(65, '['), 64));
  /* Closers without openers never go below zero. */
  EXPECT_FALSE(sugarcast::json_depth_within("]]]]" + std::string(3, '{'), 2));
}

TEST(JsonDepth, ParseBoundedRefusesBeforeJsonGlibSeesIt)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  std::string error;
  EXPECT_FALSE(sugarcast::json_parse_bounded(parser, std::string(200000, '['), error));
  EXPECT_EQ(error, "the JSON nests deeper than 64 levels (at byte 64)");
  EXPECT_TRUE(sugarcast::json_parse_bounded(parser, R"({"ok": [1, 2]})", error));
  EXPECT_FALSE(sugarcast::json_parse_bounded(parser, "{", error));
  EXPECT_NE(error.find("<data>:1"), std::string::npos) << error;
}
