/* sugarcastd — what the media fast path (fastpath.h) reads from a client,
 * as pure functions: no I/O, no state, so that they can be tested and fuzzed
 * on their own (tests/daemon/fuzz_http.cpp).
 *
 * parse_request() reads one request head (RFC 9112: blank lines before it
 * ignored, no obsolete line folding, one Host, header values without control
 * characters) and what the fast path needs of it; the views in Request point
 * into the text given. parse_range() reads one "bytes=" range against a
 * file's size. first_look() tells from a connection's first bytes whether
 * its first request is the fast path's. */
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sugarcast::http1 {

/* A request head (request line and headers) longer than this is refused. */
inline constexpr size_t kMaxHeadBytes = 16384;

struct Request
{
  std::string_view method;
  std::string_view target;
  bool http10 = false;
  bool has_host = false;
  bool has_body = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool if_range = false;
  int ranges = 0;
  std::string_view range;
  std::string_view origin;
  std::string_view user_agent;
  size_t head_bytes = 0; /* blank lines before it, request line, headers, final blank line */
};

enum class Parsed { Incomplete, Complete, Malformed, HeadersTooLarge, UriTooLong };

/* The first request head in DATA: Complete (R filled, `head_bytes` the
 * bytes it took), Incomplete (send more), Malformed, or HeadersTooLarge /
 * UriTooLong once DATA holds kMaxHeadBytes without a whole head. */
Parsed parse_request(std::string_view data, Request &r);

enum class FirstLook { Media, Other, NeedMore };

/* Media when DATA (a connection's first bytes, blank lines allowed before
 * them) starts with one of FIRST_LINES ("GET /hls/", ...), NeedMore while it
 * could still, Other otherwise. */
FirstLook first_look(std::string_view data, const std::vector<std::string> &first_lines);

enum class RangeKind { None, Satisfiable, Unsatisfiable };

/* One byte range SPEC ("bytes=0-99", "bytes=-500", "bytes=9500-") of a
 * file of SIZE bytes: Satisfiable with 0 <= first <= last < size, or
 * Unsatisfiable, or None (anything but one well-formed range: serve the
 * whole file). */
RangeKind parse_range(std::string_view spec, int64_t size, int64_t &first, int64_t &last);

} // namespace sugarcast::http1
