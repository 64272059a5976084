/* sugarcastd — the answers both servers of the HTTP port give alike. See
 * httprules.h. */
#include "httprules.h"

#include <json-glib/json-glib.h>

namespace sugarcast {

std::string error_json(const char *code, const std::string &message)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "error");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "code");
  json_builder_add_string_value(b, code);
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message.c_str());
  json_builder_end_object(b);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, root);
  gsize length = 0;
  g_autofree gchar *text = json_generator_to_data(gen, &length);
  return std::string(text, length) + "\n";
}

std::string_view cors_allow_origin(const std::vector<std::string> &allowed, std::string_view origin,
                                   bool &vary_origin)
{
  vary_origin = false;
  for (const auto &a : allowed) {
    if (a == "*")
      return a;
    if (!origin.empty() && a == origin) {
      vary_origin = true;
      return a;
    }
  }
  return {};
}

} // namespace sugarcast
