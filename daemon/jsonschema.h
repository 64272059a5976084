/* sugarcastd — JSON Schema checking for what the daemon reads.
 *
 * The schemas under schemas/ are the published contract for the daemon's
 * configuration, pipeline descriptions and chat protocol. The daemon checks
 * its inputs against those same files (embedded at build time), so it
 * accepts and refuses exactly what the schemas say — tests compare it with
 * an independent validator (fastjsonschema).
 *
 * The subset of draft-07 implemented: type, enum, const, properties,
 * required, additionalProperties, patternProperties, propertyNames,
 * minProperties, maxProperties, items
 * (one schema), minItems, maxItems, uniqueItems, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, multipleOf, minLength, maxLength,
 * pattern, allOf, anyOf, oneOf, not, if/then/else, $ref to
 * "#/definitions/...". Annotations (title, description, default, examples,
 * $schema, $id, $comment, definitions) are allowed. Any other keyword makes
 * load() fail, so a schema can never say more than the daemon checks.
 */
#pragma once

#include <json-glib/json-glib.h>

#include <memory>
#include <string>
#include <vector>

namespace sugarcast {

struct SchemaViolation
{
  std::string path;    /* JSON pointer into the instance: "/http/port", "" for the root */
  std::string message; /* "expected an integer from 1 to 65535, found 70000" */
};

class JsonSchema
{
public:
  /* Takes a reference on root. Returns nullptr and sets error when the
   * schema itself is malformed or uses a keyword outside the subset. */
  static std::unique_ptr<JsonSchema> load(JsonNode *root, std::string &error);
  /* Loads from a GResource path such as "/sugarcast/schemas/config.schema.json". */
  static std::unique_ptr<JsonSchema> load_resource(const char *path, std::string &error);
  ~JsonSchema();

  /* All violations (at most `max` of them). `definition` checks against
   * "#/definitions/NAME" instead of the whole schema. */
  std::vector<SchemaViolation> validate(JsonNode *instance, size_t max = 20,
                                        const std::string &definition = "") const;

  /* Writes each "default" of the schema's object properties into `instance`
   * where the property is missing (recursively, through properties only). */
  void fill_defaults(JsonNode *instance) const;

private:
  explicit JsonSchema(JsonNode *root);
  JsonNode *root_;
};

/* "/a/b~1c" for {"a", "b/c"}; used in messages. */
std::string json_pointer_append(const std::string &pointer, const std::string &token);

/* A JSON value written for a person: strings quoted, long values cut. */
std::string json_value_summary(JsonNode *node);

} // namespace sugarcast
