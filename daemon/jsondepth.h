/* sugarcastd — how deeply a JSON text nests, checked before json-glib sees it.
 *
 * json-glib parses recursively with no depth limit: about 75,000 levels of
 * `[` overflow an 8 MiB thread stack, so outside text must be bounded before
 * it is handed to json_parser_load_from_data(). This walks the bytes once,
 * without allocating, counting `[`/`{` outside strings (escapes inside
 * strings skipped); it does not validate anything else — json-glib still
 * does that, for texts shallow enough to give it.
 *
 * Header-only and pure so that every JSON entry point (chat frames, tokens,
 * HTTP bodies) can share it. */
#pragma once

#include <cstddef>
#include <string_view>

namespace sugarcast {

/* Every JSON entry point's default: no protocol message or API body nests
 * anywhere near this deep, and json-glib's recursion at this depth is a few
 * kilobytes of stack. */
inline constexpr int kMaxJsonDepth = 64;

/* True when `text` opens more than `max_depth` arrays/objects inside one
 * another at some point (strings are skipped, so brackets in them do not
 * count). Malformed text that stays shallow answers false: the parser then
 * says what is wrong with it. */
inline bool json_too_deep(std::string_view text, int max_depth = kMaxJsonDepth)
{
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i; /* the escaped character, whatever it is */
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

} // namespace sugarcast
