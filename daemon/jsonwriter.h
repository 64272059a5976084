/* sugarcastd — the one JSON text writer for hot paths: chat frames (built
 * once per event and sent to every recipient), token claims, the cluster's
 * events. Text appended to one string, no tree: json-glib's JsonBuilder
 * (used everywhere else: REST replies, the control WebSocket) builds a node
 * tree and then generates text from it. A function uses one or the other,
 * never both. */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sugarcast {

/* Keys and values in the order written; strings escaped as JSON. */
class JsonWriter
{
public:
  JsonWriter &begin_object();
  JsonWriter &end_object();
  JsonWriter &begin_array(const char *key = nullptr);
  JsonWriter &end_array();
  JsonWriter &key(const char *name);
  JsonWriter &string(const char *key, std::string_view value);
  JsonWriter &integer(const char *key, int64_t value);
  JsonWriter &boolean(const char *key, bool value);
  /* `json` is already JSON (an element of an array when key is nullptr). */
  JsonWriter &raw(const char *key, std::string_view json);
  std::string take() { return std::move(out_); }
  const std::string &text() const { return out_; }

private:
  void separator(const char *key);
  std::string out_;
  bool first_ = true;
};

void json_escape_append(std::string &out, std::string_view text);

} // namespace sugarcast
