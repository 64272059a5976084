/* Sugarcast — no exception crosses a C callback.
 *
 * GLib, GStreamer and libsoup call our C++ through plain C function
 * pointers: vfuncs, pad functions, probes, signal handlers, GSource
 * callbacks, soup handlers. An exception that reaches the C caller ends in
 * std::terminate (one crafted RTMP token once aborted gst-launch that way).
 * Every such function is handed to C through SUGARCAST_GUARD:
 *
 *   gst_pad_set_chain_function(pad, SUGARCAST_GUARD(my_chain));
 *   element_class->change_state = SUGARCAST_GUARD(my_change_state);
 *   g_signal_connect(msg, "got-chunk", G_CALLBACK(SUGARCAST_GUARD(on_chunk)), self);
 *   g_timeout_add(100, SUGARCAST_GUARD(+[](gpointer p) -> gboolean { ... }), self);
 *
 * The guard is a noexcept function of the same signature that calls the
 * original. When it throws, the guard logs a critical naming the callback,
 * its file and line and the exception, makes the failure visible where it
 * can — a GStreamer error on the element (for callbacks that get an
 * element, a pad, or a struct embedding an element), a 500 reply (for
 * callbacks that get a SoupServerMessage) — and returns the failure value
 * of the return type: GST_FLOW_ERROR, GST_STATE_CHANGE_FAILURE,
 * GST_PAD_PROBE_OK, GST_BUS_PASS, FALSE (a GSource is removed), nullptr or 0.
 * SUGARCAST_GUARD_OR(f, value) returns VALUE instead.
 *
 * tests/check-nothrow.sh (suite lint) fails on a callback handed to C
 * without it. Header-only; daemon/ and plugins/ both use it (meson:
 * sugarcast_guard_dep); the GStreamer and libsoup parts are there when the
 * including target uses those libraries.
 */
#pragma once

#include <glib.h>

#if __has_include(<gst/gst.h>)
#include <gst/gst.h>
#define SUGARCAST_GUARD_HAVE_GST 1
#endif
#if __has_include(<libsoup/soup.h>)
#include <libsoup/soup.h>
#define SUGARCAST_GUARD_HAVE_SOUP 1
#endif

#include <cstddef>
#include <exception>
#include <new>
#include <type_traits>

namespace sugarcast::guard_detail {

/* The callback's name (cut at 64 characters: a lambda's is its text) and
 * where it was handed to C, as a template argument. */
struct Where
{
  char text[160]{};
  constexpr Where(const char *name, const char *location)
  {
    size_t n = 0;
    for (; name[n] && n < 64; ++n)
      text[n] = name[n];
    if (name[n])
      for (const char *dots = "..."; *dots; ++dots)
        text[n++] = *dots;
    text[n++] = ' ';
    for (size_t i = 0; location[i] && n + 1 < sizeof text; ++i)
      text[n++] = location[i];
  }
};

inline const char *describe(const std::exception_ptr &e) noexcept
{
  try {
    std::rethrow_exception(e);
  } catch (const std::exception &x) {
    return x.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

/* Where the failure can be shown: each returns true once it has. */
#ifdef SUGARCAST_GUARD_HAVE_GST
inline bool show(GstElement *element, const char *where, const char *what) noexcept
{
  if (!GST_IS_ELEMENT(element))
    return false;
  GST_ELEMENT_ERROR(element, CORE, FAILED, ("Internal error in %s", where),
                    ("exception: %s", what));
  return true;
}

inline bool show(GstPad *pad, const char *where, const char *what) noexcept
{
  if (!GST_IS_PAD(pad))
    return false;
  GstObject *parent = gst_pad_get_parent(pad);
  const bool shown = parent && GST_IS_ELEMENT(parent) && show(GST_ELEMENT(parent), where, what);
  if (parent)
    gst_object_unref(parent);
  return shown;
}

inline bool show(GstObject *object, const char *where, const char *what) noexcept
{
  if (GST_IS_ELEMENT(object))
    return show(GST_ELEMENT(object), where, what);
  if (GST_IS_PAD(object))
    return show(GST_PAD(object), where, what);
  return false;
}

#endif

#ifdef SUGARCAST_GUARD_HAVE_SOUP
inline bool show(SoupServerMessage *msg, const char *, const char *) noexcept
{
  if (!SOUP_IS_SERVER_MESSAGE(msg))
    return false;
  static const char body[] =
      "{\"error\":{\"code\":\"internal\",\"message\":\"Internal error; the server's log says "
      "more\"}}\n";
  soup_server_message_set_status(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, nullptr);
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC, body,
                                   sizeof body - 1);
  return true;
}
#endif

/* A struct that embeds an element or a pad first (GstBaseSrc, GstPushSrc,
 * an element of ours): shown on what it embeds. Anything else: not shown. */
template <typename T>
bool show(T *p, const char *where, const char *what) noexcept
{
  if constexpr (requires { p->element; })
    return show(&p->element, where, what);
  else if constexpr (requires { p->parent; })
    return show(&p->parent, where, what);
  else if constexpr (requires { p->pad; })
    return show(&p->pad, where, what);
  else
    return false;
}
template <typename T>
bool show(const T &, const char *, const char *) noexcept
{
  return false;
}

template <typename... A>
void caught(const char *where, A... args) noexcept
{
  const char *what = describe(std::current_exception());
  g_log("sugarcast", G_LOG_LEVEL_CRITICAL, "exception in %s: %s", where, what);
  (void)(show(args, where, what) || ...);
}

template <typename R>
R failure() noexcept
{
  if constexpr (std::is_void_v<R>)
    return;
#ifdef SUGARCAST_GUARD_HAVE_GST
  else if constexpr (std::is_same_v<R, GstFlowReturn>)
    return GST_FLOW_ERROR;
  else if constexpr (std::is_same_v<R, GstStateChangeReturn>)
    return GST_STATE_CHANGE_FAILURE;
  else if constexpr (std::is_same_v<R, GstPadProbeReturn>)
    return GST_PAD_PROBE_OK;
  else if constexpr (std::is_same_v<R, GstBusSyncReply>)
    return GST_BUS_PASS;
#endif
  else
    return R{};
}

struct NoValue
{
};

/* GET: a captureless lambda type whose call returns the function to guard
 * (a lambda's own function pointer cannot be a template argument). */
template <typename Get, Where W, auto Fallback, typename Signature = decltype(Get{}())>
struct Guarded;

template <typename Get, Where W, auto Fallback, typename R, typename... A>
struct Guarded<Get, W, Fallback, R (*)(A...)>
{
  static R call(A... args) noexcept
  {
    try {
      return Get{}()(args...);
    } catch (...) {
      caught(W.text, args...);
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(Fallback)>, NoValue>)
        return failure<R>();
      else
        return static_cast<R>(Fallback);
    }
  }
};

} // namespace sugarcast::guard_detail

#define SUGARCAST_GUARD_STR2(x) #x
#define SUGARCAST_GUARD_STR(x) SUGARCAST_GUARD_STR2(x)
#define SUGARCAST_GUARD_WHERE(name)                                                                \
  ::sugarcast::guard_detail::Where(name, "(" __FILE__ ":" SUGARCAST_GUARD_STR(__LINE__) ")")

/* F: a function, a static member function or a captureless lambda. */
#define SUGARCAST_GUARD(...)                                                                       \
  (&::sugarcast::guard_detail::Guarded<decltype([] { return +(__VA_ARGS__); }),                    \
                                       SUGARCAST_GUARD_WHERE(#__VA_ARGS__),                        \
                                       ::sugarcast::guard_detail::NoValue{}>::call)
#define SUGARCAST_GUARD_OR(f, value)                                                               \
  (&::sugarcast::guard_detail::Guarded<decltype([] { return +(f); }), SUGARCAST_GUARD_WHERE(#f),   \
                                       (value)>::call)
