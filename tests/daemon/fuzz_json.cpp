/* libFuzzer target for the daemon's JSON inputs; see fuzz_json.h. Built
 * with clang (-Dfuzzing=enabled); in the normal build fuzz_json_corpus_test
 * runs every seed in tests/daemon/fuzz-corpus through it. */
#include "fuzz_json.h"

#include "jsondepth.h"
#include "jsonschema.h"

#include <json-glib/json-glib.h>

#include <memory>
#include <string>

namespace sugarcast::fuzz {

namespace {

const JsonSchema &schema(int which)
{
  static const char *paths[] = {"/sugarcast/schemas/config.schema.json",
                                "/sugarcast/schemas/pipeline.schema.json",
                                "/sugarcast/schemas/api.schema.json"};
  static std::unique_ptr<JsonSchema> loaded[3];
  if (!loaded[which]) {
    std::string error;
    loaded[which] = JsonSchema::load_resource(paths[which], error);
    if (!loaded[which])
      g_error("%s", error.c_str());
  }
  return *loaded[which];
}

} // namespace

int run_json(const uint8_t *data, size_t size)
{
  if (size < 1)
    return -1;
  const int mode = data[0] % 4;
  g_autoptr(JsonParser) parser = json_parser_new();
  std::string error; /* as the daemon parses outside JSON: depth first */
  if (!json_parse_bounded(
          parser, std::string_view(reinterpret_cast<const char *>(data + 1), size - 1), error))
    return -1;
  JsonNode *root = json_parser_get_root(parser);
  if (!root)
    return -1;
  switch (mode) {
  case 0: {
    auto problems = schema(0).validate(root);
    if (problems.empty())
      schema(0).fill_defaults(root);
    return static_cast<int>(problems.size());
  }
  case 1:
    return static_cast<int>(schema(1).validate(root).size());
  case 2:
    return static_cast<int>(schema(2).validate(root, 20, "stream_create").size());
  default: {
    int total = 0;
    for (const char *d : {"stream_create", "no_such_definition"})
      total += static_cast<int>(schema(2).validate(root, 20, d).size());
    return total;
  }
  }
}

} // namespace sugarcast::fuzz

#ifdef SUGARCAST_FUZZER_MAIN
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  sugarcast::fuzz::run_json(data, size);
  return 0;
}
#endif
