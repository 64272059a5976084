/* Sugarcast — parsing a gift event (see giftevent.h). */
#include "giftevent.h"

#include <json-glib/json-glib.h>

#include <cmath>
#include <memory>

namespace sugarcast::gift {

namespace {

/* json-glib recurses without a limit; refuse deep nesting before it sees the
 * text (strings are skipped so a '[' inside a name does not count). */
bool nesting_within(std::string_view text, std::size_t limit)
{
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit)
        return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

/* A string member: absent is fine unless required; present must be a
 * non-empty string of at most `max_bytes`. */
bool string_member(JsonObject *object, const char *member, bool required, std::size_t max_bytes,
                   std::string &out, std::string &error)
{
  JsonNode *node = json_object_get_member(object, member);
  if (!node || JSON_NODE_HOLDS_NULL(node)) {
    if (required)
      error = std::string("member '") + member + "' is required";
    return !required;
  }
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
    error = std::string("member '") + member + "' must be a string";
    return false;
  }
  const char *value = json_node_get_string(node);
  const std::size_t length = value ? strlen(value) : 0;
  if (length == 0 || length > max_bytes) {
    error = std::string("member '") + member + "' must be 1 to " + std::to_string(max_bytes) +
            " bytes long, got " + std::to_string(length);
    return false;
  }
  out.assign(value, length);
  return true;
}

/* X- then letters, digits and '-', as hlsabrsink takes them (upper-cased). */
bool attribute_name(const char *name, std::string &out)
{
  const std::size_t length = strlen(name);
  if (length < 3 || length > kMaxAttributeNameBytes || (name[0] != 'X' && name[0] != 'x') ||
      name[1] != '-')
    return false;
  out.clear();
  for (std::size_t i = 0; i < length; ++i) {
    const char c = name[i];
    if (!g_ascii_isalnum(c) && c != '-')
      return false;
    out += g_ascii_toupper(c);
  }
  return true;
}

bool attributes_member(JsonObject *object, std::vector<GiftAttribute> &out, std::string &error)
{
  JsonNode *node = json_object_get_member(object, "attributes");
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return true;
  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    error = "member 'attributes' must be an object of X- attributes";
    return false;
  }
  JsonObject *attributes = json_node_get_object(node);
  if (json_object_get_size(attributes) > kMaxAttributes) {
    error = "member 'attributes' has at most " + std::to_string(kMaxAttributes) + " members, got " +
            std::to_string(json_object_get_size(attributes));
    return false;
  }
  /* In the order written (json_object_iter_* would give a hash order). */
  GList *members = json_object_get_members(attributes);
  std::unique_ptr<GList, decltype(&g_list_free)> owned(members, g_list_free);
  for (GList *m = members; m; m = m->next) {
    const gchar *name = static_cast<const gchar *>(m->data);
    JsonNode *value = json_object_get_member(attributes, name);
    GiftAttribute attr;
    if (!attribute_name(name, attr.name)) {
      error = std::string("attribute '") + name +
              "' must be X- followed by letters, digits and '-', at most " +
              std::to_string(kMaxAttributeNameBytes) + " bytes";
      return false;
    }
    const GType type = JSON_NODE_HOLDS_VALUE(value) ? json_node_get_value_type(value) : G_TYPE_NONE;
    if (type == G_TYPE_INT64) {
      attr.is_integer = true;
      attr.integer = json_node_get_int(value);
    } else if (type == G_TYPE_STRING) {
      attr.text = json_node_get_string(value);
      if (attr.text.size() > kMaxAttributeValueBytes ||
          !g_utf8_validate(attr.text.data(), static_cast<gssize>(attr.text.size()), nullptr)) {
        error = std::string("attribute '") + name + "' must be valid UTF-8 of at most " +
                std::to_string(kMaxAttributeValueBytes) + " bytes";
        return false;
      }
    } else {
      error = std::string("attribute '") + name + "' must be a string or an integer";
      return false;
    }
    out.push_back(std::move(attr));
  }
  return true;
}

} // namespace

bool is_valid_asset_name(std::string_view name)
{
  if (name.empty() || name.size() > kMaxGiftBytes)
    return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

bool parse_gift_event(std::string_view json, GiftEvent &out, std::string &error)
{
  if (json.size() > kMaxEventBytes) {
    error = "a gift event is at most " + std::to_string(kMaxEventBytes) + " bytes, got " +
            std::to_string(json.size());
    return false;
  }
  if (!nesting_within(json, kMaxNesting)) {
    error = "a gift event nests at most " + std::to_string(kMaxNesting) + " levels";
    return false;
  }
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) parse_error = nullptr;
  if (!json_parser_load_from_data(parser, json.data(), static_cast<gssize>(json.size()),
                                  &parse_error)) {
    error = std::string("not JSON: ") + (parse_error ? parse_error->message : "unknown error");
    return false;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    error = "a gift event must be a JSON object";
    return false;
  }
  JsonObject *object = json_node_get_object(root);

  GiftEvent event;
  if (!string_member(object, "gift", true, kMaxGiftBytes, event.gift, error))
    return false;
  if (!is_valid_asset_name(event.gift)) {
    error = "member 'gift' must match [a-z0-9_-]{1,32}, got '" + event.gift + "'";
    return false;
  }
  if (!string_member(object, "user", true, kMaxUserBytes, event.user, error) ||
      !string_member(object, "id", false, kMaxIdBytes, event.id, error) ||
      !string_member(object, "name", false, kMaxNameBytes, event.name, error) ||
      !string_member(object, "animation", false, kMaxGiftBytes, event.animation, error))
    return false;
  if (!event.animation.empty() && !is_valid_asset_name(event.animation)) {
    error = "member 'animation' must match [a-z0-9_-]{1,32}, got '" + event.animation + "'";
    return false;
  }
  for (const std::string *text : {&event.user, &event.name, &event.id})
    if (!g_utf8_validate(text->data(), static_cast<gssize>(text->size()), nullptr)) {
      error = "members 'user', 'name' and 'id' must be valid UTF-8";
      return false;
    }

  if (JsonNode *node = json_object_get_member(object, "count");
      node && !JSON_NODE_HOLDS_NULL(node)) {
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64 ||
        json_node_get_int(node) < 1 || json_node_get_int(node) > kMaxCount) {
      error = "member 'count' must be an integer from 1 to " + std::to_string(kMaxCount);
      return false;
    }
    event.count = static_cast<std::uint32_t>(json_node_get_int(node));
  }
  if (JsonNode *node = json_object_get_member(object, "at"); node && !JSON_NODE_HOLDS_NULL(node)) {
    const GType type = JSON_NODE_HOLDS_VALUE(node) ? json_node_get_value_type(node) : G_TYPE_NONE;
    if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE) {
      error = "member 'at' must be a number of seconds";
      return false;
    }
    const double at = json_node_get_double(node);
    if (!std::isfinite(at) || at < 0 || at > kMaxAtSeconds) {
      error = "member 'at' must be from 0 to " + std::to_string(static_cast<int>(kMaxAtSeconds)) +
              " seconds";
      return false;
    }
    event.at_ns = static_cast<std::int64_t>(std::llround(at * 1e9));
  }
  if (!attributes_member(object, event.attributes, error))
    return false;
  out = std::move(event);
  return true;
}

} // namespace sugarcast::gift
