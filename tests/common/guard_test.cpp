/* plugins/common/guard.h: a callback that throws is caught at the C
 * boundary, says which callback it was, and fails the way its caller can
 * see — a GStreamer error on the element, a 500 reply, a removed GSource —
 * instead of std::terminate. */
#include "guard.h"

#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace sugarcast::test;

namespace {

GstFlowReturn throwing_chain(GstPad *, GstObject *, GstBuffer *buffer)
{
  gst_buffer_unref(buffer);
  throw std::out_of_range("frame 3 of 0");
}

void throwing_handler(SoupServer *, SoupServerMessage *, const char *, GHashTable *, gpointer)
{
  throw std::runtime_error("no such thing");
}

} // namespace

TEST(Guard, AThrowingPadFunctionPostsAnErrorOnItsElement)
{
  ExpectLog expected("exception in throwing_chain");
  g_autoptr(GstElement) pipeline = gst_pipeline_new("guarded");
  GstElement *sink = gst_element_factory_make("fakesink", "victim");
  ASSERT_NE(sink, nullptr);
  gst_bin_add(GST_BIN(pipeline), sink);
  g_autoptr(GstPad) pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_set_chain_function(pad, SUGARCAST_GUARD(throwing_chain));
  ASSERT_EQ(gst_element_set_state(pipeline, GST_STATE_PAUSED), GST_STATE_CHANGE_ASYNC);

  g_autoptr(GstPad) src = gst_pad_new("src", GST_PAD_SRC);
  gst_pad_set_active(src, TRUE);
  ASSERT_EQ(gst_pad_link(src, pad), GST_PAD_LINK_OK);
  gst_pad_push_event(src, gst_event_new_stream_start("s"));
  g_autoptr(GstCaps) caps = gst_caps_new_empty_simple("application/x-test");
  gst_pad_push_event(src, gst_event_new_caps(caps));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  gst_pad_push_event(src, gst_event_new_segment(&segment));
  EXPECT_EQ(gst_pad_push(src, gst_buffer_new()), GST_FLOW_ERROR);

  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
  g_autoptr(GstMessage) error = gst_bus_timed_pop_filtered(bus, 5 * GST_SECOND, GST_MESSAGE_ERROR);
  ASSERT_NE(error, nullptr) << "no error on the bus";
  EXPECT_EQ(GST_MESSAGE_SRC(error), GST_OBJECT(sink));
  g_autoptr(GError) e = nullptr;
  g_autofree gchar *debug = nullptr;
  gst_message_parse_error(error, &e, &debug);
  EXPECT_NE(std::string(e->message).find("throwing_chain"), std::string::npos) << e->message;
  EXPECT_NE(std::string(debug).find("exception: "), std::string::npos) << debug;
  EXPECT_EQ(expected.matched(), 1);
  gst_pad_set_active(src, FALSE);
  gst_element_set_state(pipeline, GST_STATE_NULL);
}

TEST(Guard, AThrowingSoupHandlerAnswers500AndTheServerServesOn)
{
  ExpectLog expected("exception in throwing_handler");
  g_autoptr(GMainContext) context = g_main_context_new();
  g_main_context_push_thread_default(context);
  g_autoptr(SoupServer) server = soup_server_new(nullptr, nullptr);
  soup_server_add_handler(server, "/boom", SUGARCAST_GUARD(throwing_handler), nullptr, nullptr);
  g_autoptr(GError) error = nullptr;
  ASSERT_TRUE(soup_server_listen_local(server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
      << error->message;
  GSList *uris = soup_server_get_uris(server);
  ASSERT_NE(uris, nullptr);
  g_autofree gchar *base = g_uri_to_string(static_cast<GUri *>(uris->data));
  g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));

  /* The client asks from a thread; the server runs here until it is done. */
  std::atomic<bool> done{false};
  std::vector<HttpResponse> answers;
  std::thread client([&] {
    for (int i = 0; i < 2; ++i)
      answers.push_back(http_request("GET", std::string(base) + "boom"));
    done = true;
    g_main_context_wakeup(context);
  });
  while (!done)
    g_main_context_iteration(context, TRUE);
  client.join();
  g_main_context_pop_thread_default(context);
  for (const HttpResponse &r : answers) {
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_NE(r.body.find("\"code\":\"internal\""), std::string::npos) << r.body;
  }
  EXPECT_EQ(expected.matched(), 2);
}

TEST(Guard, AThrowingSourceIsRemovedAndOneWithAFallbackGoesOn)
{
  ExpectLog expected("exception in");
  GSourceFunc removed = SUGARCAST_GUARD(+[](gpointer) -> gboolean { throw std::bad_alloc(); });
  GSourceFunc kept = SUGARCAST_GUARD_OR(
      +[](gpointer) -> gboolean { throw 42; }, G_SOURCE_CONTINUE);
  EXPECT_EQ(removed(nullptr), G_SOURCE_REMOVE);
  EXPECT_EQ(kept(nullptr), G_SOURCE_CONTINUE);
  EXPECT_EQ(expected.matched(), 2);
}
