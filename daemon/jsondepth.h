/* sugarcastd — bounded nesting for JSON text from outside.
 *
 * json-glib parses recursively and has no depth limit: about 75,000 levels
 * of '[' overflow an 8 MiB thread stack (and the schema checker recurses
 * too). Every JSON text that comes from outside — request bodies, the
 * configuration file, pipeline descriptions, chat frames — is scanned here
 * first, in one pass without recursion, and refused when its arrays and
 * objects nest deeper than the limit; only then is it handed to json-glib.
 *
 * The limit is kMaxJsonDepth (64) everywhere unless a caller passes its own;
 * nothing the daemon accepts comes close (its deepest schema is 5 levels). */
#pragma once

#include <json-glib/json-glib.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace sugarcast {

inline constexpr size_t kMaxJsonDepth = 64;

/* Whether the arrays and objects in TEXT nest at most MAX_DEPTH deep
 * ("[]" is depth 1, "{"a":[]}" depth 2). Brackets inside strings do not
 * count. Stops at the first bracket past the limit and sets `offset` to its
 * byte offset. Not a validator: malformed text within the limit is left to
 * the parser. */
bool json_depth_within(std::string_view text, size_t max_depth, size_t *offset = nullptr);

/* TEXT parsed into PARSER, after the depth check: false with `error` saying
 * what was wrong ("nested deeper than 64 levels at byte 70", or json-glib's
 * message with its line and column). */
bool json_parse_bounded(JsonParser *parser, std::string_view text, std::string &error,
                        size_t max_depth = kMaxJsonDepth);

} // namespace sugarcast
