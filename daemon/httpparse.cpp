/* sugarcastd — HTTP/1.1 request heads, ranges and first looks, parsed
 * without I/O. See httpparse.h. */
#include "httpparse.h"

#include <glib.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace sugarcast::http1 {

namespace {

bool iequals(std::string_view a, std::string_view b)
{
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (g_ascii_tolower(a[i]) != g_ascii_tolower(b[i]))
      return false;
  return true;
}

std::string_view trim(std::string_view s)
{
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool is_tchar(char c)
{
  return g_ascii_isalnum(c) || (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c));
}

bool all_digits(std::string_view s)
{
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/* Digits as a number, saturating at INT64_MAX. */
int64_t to_int(std::string_view digits)
{
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range || value > static_cast<uint64_t>(INT64_MAX))
    return INT64_MAX;
  return static_cast<int64_t>(value);
}

/* One line ending in LF (a CR before it is dropped); false when the data
 * holds no complete line yet. */
bool next_line(std::string_view data, size_t &pos, std::string_view &line)
{
  const size_t eol = data.find('\n', pos);
  if (eol == std::string_view::npos)
    return false;
  line = data.substr(pos, eol - pos);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  pos = eol + 1;
  return true;
}

} // namespace

Parsed parse_request(std::string_view data, Request &r)
{
  const bool full = data.size() >= kMaxHeadBytes;
  size_t pos = 0;
  std::string_view line;
  /* Blank lines before a request are ignored (RFC 9112, 2.2). */
  do {
    if (!next_line(data, pos, line))
      return full ? Parsed::UriTooLong : Parsed::Incomplete;
  } while (line.empty());

  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos)
    return Parsed::Malformed;
  r.method = line.substr(0, sp1);
  r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (r.method.empty() || !std::all_of(r.method.begin(), r.method.end(), is_tchar) ||
      r.target.empty() || (version != "HTTP/1.1" && version != "HTTP/1.0"))
    return Parsed::Malformed;
  for (char c : r.target)
    if (c <= 0x20 || c >= 0x7f)
      return Parsed::Malformed;
  r.http10 = version == "HTTP/1.0";

  for (;;) {
    if (!next_line(data, pos, line))
      return full ? Parsed::HeadersTooLarge : Parsed::Incomplete;
    if (line.empty())
      break;
    const size_t colon = line.find(':');
    if (line[0] == ' ' || line[0] == '\t' || colon == std::string_view::npos || colon == 0)
      return Parsed::Malformed; /* obsolete line folding, or no name */
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (!std::all_of(name.begin(), name.end(), is_tchar))
      return Parsed::Malformed;
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        return Parsed::Malformed;
    if (iequals(name, "host")) {
      if (r.has_host)
        return Parsed::Malformed;
      r.has_host = true;
    } else if (iequals(name, "content-length")) {
      if (!all_digits(value) || to_int(value) != 0)
        r.has_body = true;
    } else if (iequals(name, "transfer-encoding")) {
      r.has_body = true;
    } else if (iequals(name, "connection")) {
      size_t start = 0;
      while (start <= value.size()) {
        size_t end = value.find(',', start);
        if (end == std::string_view::npos)
          end = value.size();
        const std::string_view token = trim(value.substr(start, end - start));
        r.connection_close = r.connection_close || iequals(token, "close");
        r.connection_keep_alive = r.connection_keep_alive || iequals(token, "keep-alive");
        start = end + 1;
      }
    } else if (iequals(name, "range")) {
      r.range = value;
      ++r.ranges;
    } else if (iequals(name, "if-range")) {
      r.if_range = true;
    } else if (iequals(name, "origin")) {
      r.origin = value;
    } else if (iequals(name, "user-agent")) {
      r.user_agent = value;
    }
  }
  r.head_bytes = pos;
  return Parsed::Complete;
}

/* Whether a connection's first bytes start a request the fast path serves. */
FirstLook first_look(std::string_view data, const std::vector<std::string> &first_lines)
{
  while (!data.empty() && (data.front() == '\r' || data.front() == '\n'))
    data.remove_prefix(1);
  bool could_be = false;
  for (const std::string &start : first_lines) {
    if (data.size() >= start.size()) {
      if (data.compare(0, start.size(), start) == 0)
        return FirstLook::Media;
    } else if (std::string_view(start).compare(0, data.size(), data) == 0) {
      could_be = true;
    }
  }
  return could_be ? FirstLook::NeedMore : FirstLook::Other;
}

/* One byte range of a file of SIZE bytes: [first, last]. Anything but a
 * single well-formed "bytes=" range asks for the whole file. */
RangeKind parse_range(std::string_view spec, int64_t size, int64_t &first, int64_t &last)
{
  spec = trim(spec);
  if (spec.size() < 6 || !iequals(spec.substr(0, 6), "bytes="))
    return RangeKind::None;
  spec = trim(spec.substr(6));
  const size_t dash = spec.find('-');
  if (spec.find(',') != std::string_view::npos || dash == std::string_view::npos)
    return RangeKind::None;
  const std::string_view a = trim(spec.substr(0, dash));
  const std::string_view b = trim(spec.substr(dash + 1));
  if (a.empty()) {
    if (!all_digits(b))
      return RangeKind::None;
    const int64_t suffix = to_int(b);
    if (suffix == 0 || size == 0)
      return RangeKind::Unsatisfiable;
    first = size - std::min(suffix, size);
    last = size - 1;
    return RangeKind::Satisfiable;
  }
  if (!all_digits(a) || (!b.empty() && !all_digits(b)))
    return RangeKind::None;
  first = to_int(a);
  last = b.empty() ? INT64_MAX : to_int(b);
  if (last < first)
    return RangeKind::None;
  if (first >= size)
    return RangeKind::Unsatisfiable;
  last = std::min(last, size - 1);
  return RangeKind::Satisfiable;
}

} // namespace sugarcast::http1
