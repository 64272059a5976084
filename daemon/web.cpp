/* sugarcastd — the pages people open. See web.h. */
#include "web.h"
#include "guard.h"

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
  if (g_str_has_suffix(name.c_str(), ".svg"))
    return "image/svg+xml";
  return nullptr;
}

/* RESOURCE from the binary's resources, or a JSON 404 naming PATH. Pages
 * are revalidated on each load (they name the assets); assets are cached. */
void serve(HttpRequest &r, const std::string &resource)
{
  g_autoptr(GBytes) bytes = content_type(resource) && resource.find('/') == std::string::npos
                                ? g_resources_lookup_data(("/sugarcast/web/" + resource).c_str(),
                                                          G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr)
                                : nullptr;
  if (!bytes) {
    respond_error(r.msg, SOUP_STATUS_NOT_FOUND, "not_found", "No such page: " + r.path);
    return;
  }
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(r.msg);
  const bool page = g_str_has_suffix(resource.c_str(), ".html");
  soup_message_headers_replace(headers, "Cache-Control", page ? "no-cache" : "public, max-age=300");
  soup_message_headers_replace(headers, "X-Content-Type-Options", "nosniff");
  /* Everything the pages use comes from this server: scripts, styles,
   * media, thumbnails, the chat socket. */
  if (page)
    soup_message_headers_replace(headers, "Content-Security-Policy",
                                 "default-src 'self'; img-src 'self' data: blob:; "
                                 "media-src 'self' blob:; worker-src 'self' blob:; "
                                 "connect-src 'self' ws: wss:; "
                                 "style-src 'self' 'unsafe-inline'; object-src 'none'; "
                                 "base-uri 'none'; frame-ancestors 'none'");
  respond_bytes(r.msg, r.method, content_type(resource), bytes);
}

} // namespace

WebPages::WebPages(HttpServer &http) : http_(http)
{
  /* /watch/ID is the page whatever the id: the page asks the API about it. */
  struct Page
  {
    const char *path, *resource;
  };
  for (const Page &p : {Page{"/", "index.html"}, Page{"/watch/{id}", "watch.html"},
                        Page{"/studio", "studio.html"}, Page{"/admin", "admin.html"}})
    http_.route(
        "GET", p.path, [resource = std::string(p.resource)](HttpRequest &r) { serve(r, resource); },
        false);
  http_.route(
      "GET", "/web/{file}", [](HttpRequest &r) { serve(r, r.params["file"]); }, false);
}

} // namespace sugarcast
