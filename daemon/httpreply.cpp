/* sugarcastd — replies and request bodies on libsoup's messages: the free
 * functions of http.h. (The server itself is http.cpp.) */
#include "http.h"

#include "jsondepth.h"

namespace sugarcast {

std::vector<std::string> split_path(const std::string &path)
{
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos)
      end = path.size();
    if (end > start)
      out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

namespace {

void set_no_store(SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  if (!soup_message_headers_get_one(headers, "Cache-Control"))
    soup_message_headers_replace(headers, "Cache-Control", "no-store");
}

} // namespace

std::string HttpRequest::query_param(const char *name, const std::string &fallback) const
{
  if (!query)
    return fallback;
  auto *value = static_cast<const char *>(g_hash_table_lookup(query, name));
  return value ? value : fallback;
}

void respond_text(SoupServerMessage *msg, guint status, const char *content_type,
                  const std::string &text)
{
  set_no_store(msg);
  soup_server_message_set_status(msg, status, nullptr);
  soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, text.data(), text.size());
}

void respond_bytes(SoupServerMessage *msg, const std::string &method, const char *content_type,
                   GBytes *bytes)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_set_content_type(headers, content_type, nullptr);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  if (method == "GET")
    soup_message_body_append_bytes(soup_server_message_get_response_body(msg), bytes);
  else
    soup_message_headers_set_content_length(headers, g_bytes_get_size(bytes));
}

void respond_json(SoupServerMessage *msg, guint status, JsonNode *body)
{
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, body);
  gsize length = 0;
  g_autofree gchar *text = json_generator_to_data(gen, &length);
  respond_text(msg, status, "application/json", std::string(text, length) + "\n");
}

void respond_json_builder(SoupServerMessage *msg, guint status, JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root(builder);
  respond_json(msg, status, root);
}

void respond_error(SoupServerMessage *msg, guint status, const char *code,
                   const std::string &message)
{
  respond_text(msg, status, "application/json", error_json(code, message));
}

JsonNode *read_json_object(SoupServerMessage *msg, int64_t max_bytes)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  const char *type = soup_message_headers_get_content_type(headers, nullptr);
  if (type && g_ascii_strcasecmp(type, "application/json") != 0) {
    respond_error(msg, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                  std::string("Expected a JSON body (Content-Type: application/json), got ") +
                      type);
    return nullptr;
  }
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  if (body->length > max_bytes) {
    respond_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                  "The JSON body is " + std::to_string(body->length) + " bytes; the limit is " +
                      std::to_string(max_bytes));
    return nullptr;
  }
  g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
  gsize size = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(bytes, &size));
  if (size == 0) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_json",
                  "Expected a JSON object body, got nothing");
    return nullptr;
  }
  g_autoptr(JsonParser) parser = json_parser_new();
  std::string error;
  if (!json_parse_bounded(parser, std::string_view(data, size), error)) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_json", "The body is not valid JSON: " + error);
    return nullptr;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "bad_json", "Expected a JSON object body");
    return nullptr;
  }
  return json_node_copy(root);
}

JsonNode *read_json_body(SoupServerMessage *msg, int64_t max_bytes, const char *definition)
{
  static std::unique_ptr<JsonSchema> schema = [] {
    std::string error;
    auto s = JsonSchema::load_resource("/sugarcast/schemas/api.schema.json", error);
    if (!s)
      g_error("%s", error.c_str());
    return s;
  }();
  JsonNode *body = read_json_object(msg, max_bytes);
  if (!body)
    return nullptr;
  std::vector<SchemaViolation> problems = schema->validate(body, 20, definition);
  if (problems.empty())
    return body;
  json_node_unref(body);
  std::string message;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "error");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "code");
  json_builder_add_string_value(b, "bad_request");
  json_builder_set_member_name(b, "fields");
  json_builder_begin_array(b);
  for (const auto &p : problems) {
    const std::string path = p.path.empty() ? "/" : p.path;
    message += (message.empty() ? "" : "; ") + path + ": " + p.message;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, path.c_str());
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, p.message.c_str());
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message.c_str());
  json_builder_end_object(b);
  json_builder_end_object(b);
  respond_json_builder(msg, SOUP_STATUS_BAD_REQUEST, b);
  return nullptr;
}

} // namespace sugarcast
