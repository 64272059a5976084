/* sugarcastd — the JSON text writer of the hot paths. See jsonwriter.h. */
#include "jsonwriter.h"

#include <glib.h>

namespace sugarcast {

void json_escape_append(std::string &out, std::string_view text)
{
  static const char hex[] = "0123456789abcdef";
  out.push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
}

void JsonWriter::separator(const char *key)
{
  if (!first_)
    out_.push_back(',');
  first_ = false;
  if (key) {
    json_escape_append(out_, key);
    out_.push_back(':');
  }
}

JsonWriter &JsonWriter::begin_object()
{
  if (!out_.empty() && out_.back() != ':' && out_.back() != '[' && out_.back() != '{')
    out_.push_back(',');
  out_.push_back('{');
  first_ = true;
  return *this;
}

JsonWriter &JsonWriter::end_object()
{
  out_.push_back('}');
  first_ = false;
  return *this;
}

JsonWriter &JsonWriter::begin_array(const char *name)
{
  separator(name);
  out_.push_back('[');
  first_ = true;
  return *this;
}

JsonWriter &JsonWriter::end_array()
{
  out_.push_back(']');
  first_ = false;
  return *this;
}

JsonWriter &JsonWriter::key(const char *name)
{
  separator(name);
  first_ = true; /* the value that follows needs no comma */
  return *this;
}

JsonWriter &JsonWriter::string(const char *name, std::string_view value)
{
  separator(name);
  json_escape_append(out_, value);
  return *this;
}

JsonWriter &JsonWriter::integer(const char *name, int64_t value)
{
  separator(name);
  out_ += std::to_string(value);
  return *this;
}

JsonWriter &JsonWriter::boolean(const char *name, bool value)
{
  separator(name);
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter &JsonWriter::raw(const char *name, std::string_view json)
{
  separator(name);
  out_.append(json);
  return *this;
}

} // namespace sugarcast
