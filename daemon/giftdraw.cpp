/* sugarcastd — a gift as giftoverlay draws it. See giftdraw.h. */
#include "giftdraw.h"

#include <json-glib/json-glib.h>

namespace sugarcast {

namespace {

/* At most `bytes` of `text`, cut before a character, not inside one. */
std::string clip_utf8(const std::string &text, size_t bytes)
{
  if (text.size() <= bytes)
    return text;
  const char *end = g_utf8_find_prev_char(text.c_str(), text.c_str() + bytes + 1);
  return text.substr(0, end ? static_cast<size_t>(end - text.c_str()) : 0);
}

} // namespace

std::string gift_daterange_id(const GiftDrawn &gift)
{
  return "gift-" + std::to_string(gift.ledger_id);
}

GstStructure *gift_daterange_attributes(const GiftDrawn &gift)
{
  return gst_structure_new(
      "attributes", "X-GIFT", G_TYPE_STRING, gift.gift_id.c_str(), "X-NAME", G_TYPE_STRING,
      gift.name.c_str(), "X-COUNT", G_TYPE_INT, gift.count, "X-COINS", G_TYPE_INT64, gift.coins,
      "X-USER", G_TYPE_STRING, gift.user_name.c_str(), "X-ANIMATION", G_TYPE_STRING,
      gift.animation.c_str(), "X-LEDGER-ID", G_TYPE_INT64, gift.ledger_id, nullptr);
}

std::string gift_overlay_event(const GiftDrawn &gift, const GstStructure *attributes,
                               std::optional<double> at)
{
  const std::string user = gift.user_name.empty() ? gift.user_id : gift.user_name;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  auto member = [&](const char *name, const std::string &value) {
    if (value.empty())
      return;
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value.c_str());
  };
  member("id", gift_daterange_id(gift));
  member("gift", gift.gift_id);
  member("name", clip_utf8(gift.name, 64));
  member("user", clip_utf8(user, 128));
  /* A catalogue animation that is no sprite name is drawn as the gift's. */
  if (!gift.animation.empty() && gift.animation.size() <= 32 &&
      gift.animation.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") ==
          std::string::npos)
    member("animation", gift.animation);
  json_builder_set_member_name(b, "count");
  json_builder_add_int_value(b, gift.count);
  if (at) {
    json_builder_set_member_name(b, "at");
    json_builder_add_double_value(b, *at);
  }
  json_builder_set_member_name(b, "attributes");
  json_builder_begin_object(b);
  for (int i = 0; attributes && i < gst_structure_n_fields(attributes); ++i) {
    const char *field = gst_structure_nth_field_name(attributes, static_cast<guint>(i));
    const GValue *v = gst_structure_get_value(attributes, field);
    json_builder_set_member_name(b, field);
    if (G_VALUE_HOLDS_INT(v))
      json_builder_add_int_value(b, g_value_get_int(v));
    else if (G_VALUE_HOLDS_INT64(v))
      json_builder_add_int_value(b, g_value_get_int64(v));
    else
      json_builder_add_string_value(
          b, clip_utf8(g_value_get_string(v) ? g_value_get_string(v) : "", 256).c_str());
  }
  json_builder_end_object(b);
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  g_autofree gchar *text = json_generator_to_data(gen, nullptr);
  return text;
}

} // namespace sugarcast
