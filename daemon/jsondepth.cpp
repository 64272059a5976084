/* sugarcastd — bounded nesting for JSON text. See jsondepth.h. */
#include "jsondepth.h"

namespace sugarcast {

bool json_depth_within(std::string_view text, size_t max_depth, size_t *offset)
{
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i; /* whatever follows is escaped, a quote included */
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
    case '"':
      in_string = true;
      break;
    case '[':
    case '{':
      if (++depth > max_depth) {
        if (offset)
          *offset = i;
        return false;
      }
      break;
    case ']':
    case '}':
      if (depth > 0)
        --depth;
      break;
    default:
      break;
    }
  }
  return true;
}

bool json_parse_bounded(JsonParser *parser, std::string_view text, std::string &error,
                        size_t max_depth)
{
  size_t offset = 0;
  if (!json_depth_within(text, max_depth, &offset)) {
    error = "the JSON nests deeper than " + std::to_string(max_depth) + " levels (at byte " +
            std::to_string(offset) + ")";
    return false;
  }
  g_autoptr(GError) err = nullptr;
  if (!json_parser_load_from_data(parser, text.data(), static_cast<gssize>(text.size()), &err)) {
    error = err->message;
    return false;
  }
  return true;
}

} // namespace sugarcast
