/* sugarcastd — the pages viewers open. See web.h. */
#include "web.h"
#include "guard.h"

#include "media.h"

#include <gio/gio.h>

namespace sugarcast {

namespace {

const char *content_type(const std::string &name)
{
  if (g_str_has_suffix(name.c_str(), ".html"))
    return "text/html; charset=utf-8";
  if (g_str_has_suffix(name.c_str(), ".js"))
    return "text/javascript; charset=utf-8";
  if (g_str_has_suffix(name.c_str(), ".css"))
    return "text/css; charset=utf-8";
  return nullptr;
}

} // namespace

WebPages::WebPages(HttpServer &http) : http_(http)
{
  soup_server_add_handler(http.soup(), "/watch", SUGARCAST_GUARD(on_request), this, nullptr);
  soup_server_add_handler(http.soup(), "/web", SUGARCAST_GUARD(on_request), this, nullptr);
}

void WebPages::on_request(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                          gpointer self)
{
  auto *pages = static_cast<WebPages *>(self);
  const std::string method = soup_server_message_get_method(msg);
  if (method != "GET" && method != "HEAD") {
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                 "GET, HEAD");
    respond_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                  method + " is not allowed on pages; use GET");
    return;
  }
  /* /watch/ID is the page whatever the id: the page asks the API about it. */
  const std::vector<std::string> parts = split_path(path);
  std::string resource;
  if (parts.size() == 2 && parts[0] == "watch")
    resource = "watch.html";
  else if (parts.size() == 2 && parts[0] == "web" && content_type(parts[1]))
    resource = parts[1];
  g_autoptr(GBytes) bytes = resource.empty()
                                ? nullptr
                                : g_resources_lookup_data(("/sugarcast/web/" + resource).c_str(),
                                                          G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
  if (!bytes) {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", std::string("No such page: ") + path);
    return;
  }
  pages->http_.add_cors_headers(msg);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Cache-Control",
                               resource == "watch.html" ? "no-cache" : "public, max-age=300");
  soup_message_headers_replace(headers, "X-Content-Type-Options", "nosniff");
  respond_bytes(msg, method, content_type(resource), bytes);
}

} // namespace sugarcast
