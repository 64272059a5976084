/* sugarcastd — declarative pipeline descriptions: building one. A checked
 * PipelineDescription becomes a GstPipeline (PipelineDescription::instantiate):
 * its elements made and their properties set, static links made at once and
 * links to pads that appear later made as they appear (DynamicLinks, which
 * also prunes a branch whose media the input lacks); and stopping it
 * (stop_pipeline, send_eos). The description is read in pipelines.cpp. */
#include "guard.h"
#include "pipelines.h"
#include "pipelines_impl.h"

#include <mutex>
#include <set>

#define GST_CAT_DEFAULT pipelines_debug

namespace sugarcast {

using namespace pipeline_detail;

namespace {

/* Links made when pads appear, kept with the pipeline they belong to. */
struct DynamicLinks
{
  struct Deferred
  {
    PipelineLink link;
    GstElement *from, *to; /* borrowed */
  };
  struct Pending
  {
    PipelineLink link;
    GstElement *target; /* borrowed: owned by the pipeline */
    bool linked = false;
    std::vector<Deferred> deferred; /* made once this link is */
  };
  GstElement *pipeline; /* borrowed */
  /* Recursive: making a link can add a pad that is itself linked here, on
   * the same thread, before the first link returns (a tee branch into
   * abrladder's passthrough_sink adds the ladder's src_0, whose "each" link
   * to hlsabrsink is made from inside the outer pad-added). With a plain
   * mutex that second pad-added deadlocked the streaming thread and the
   * stream produced no segments. Entries of `by_source` are never erased,
   * so a nested call does not invalidate the outer one's references. */
  std::recursive_mutex lock;
  std::map<GstElement *, std::vector<Pending>> by_source;

  static void on_pad_added(GstElement *source, GstPad *pad, gpointer data);
  static void on_no_more_pads(GstElement *source, gpointer data);
  static void on_stream_collection(GstBus *bus, GstMessage *msg, gpointer data);
  /* With `lock` held: the links of `source` that will get no pad, because it
   * has all its pads or its streams do not include their media type. */
  void give_up(GstElement *source, const std::set<std::string> *media_present);
  void prune_branch(GstElement *element, GstPad *entry);
  void end_branch(GstElement *target, const PipelineLink &link);
};

/* Whether linking to `pad` on `element` asks it for a new request pad. */
bool is_request_pad(GstElement *element, const std::string &pad)
{
  if (pad.empty())
    return false;
  GstPadTemplate *templ = find_template(GST_ELEMENT_GET_CLASS(element), pad, GST_PAD_SINK);
  return templ && GST_PAD_TEMPLATE_PRESENCE(templ) == GST_PAD_REQUEST;
}

bool link_static(GstElement *from, GstElement *to, const PipelineLink &link, std::string &error)
{
  g_autoptr(GstCaps) caps = link.caps.empty() ? nullptr : gst_caps_from_string(link.caps.c_str());
  if (gst_element_link_pads_filtered(from, link.from_pad.empty() ? nullptr : link.from_pad.c_str(),
                                     to, link.to_pad.empty() ? nullptr : link.to_pad.c_str(), caps))
    return true;
  error = link.where + ": cannot link " + link.from_node +
          (link.from_pad.empty() ? "" : "." + link.from_pad) + " to " + link.to_node +
          (link.to_pad.empty() ? "" : "." + link.to_pad);
  return false;
}

bool pad_matches(const PipelineLink &link, GstPad *pad)
{
  if (!link.from_pad.empty()) {
    g_autofree gchar *name = gst_pad_get_name(pad);
    GstPadTemplate *templ = GST_PAD_PAD_TEMPLATE(pad);
    if (link.from_pad != name && !(templ && link.from_pad == GST_PAD_TEMPLATE_NAME_TEMPLATE(templ)))
      return false;
  }
  if (!link.select.empty()) {
    g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
    if (!caps)
      caps = gst_pad_query_caps(pad, nullptr);
    if (!caps || gst_caps_is_empty(caps) || gst_caps_is_any(caps))
      return false;
    const char *media = gst_structure_get_name(gst_caps_get_structure(caps, 0));
    const std::string prefix = link.select + "/";
    if (!g_str_has_prefix(media, prefix.c_str()) &&
        !(link.select == "video" && g_str_has_prefix(media, "image/")))
      return false;
  }
  return true;
}

/* The target's sink pad for `link`: named, requested from a template, or
 * whichever fits `src`. Caller owns the result. */
GstPad *target_pad(GstElement *target, const PipelineLink &link, GstPad *src)
{
  if (link.to_pad.empty())
    return gst_element_get_compatible_pad(target, src, nullptr);
  if (GstPad *pad = gst_element_get_static_pad(target, link.to_pad.c_str()))
    return pad;
  return gst_element_request_pad_simple(target, link.to_pad.c_str());
}

bool link_pad(GstElement *pipeline, GstPad *src, GstElement *target, const PipelineLink &link,
              std::string &error)
{
  g_autoptr(GstPad) sink = nullptr;
  GstPad *from = src;
  g_autoptr(GstPad) filter_src = nullptr;
  if (!link.caps.empty()) {
    GstElement *filter = gst_element_factory_make("capsfilter", nullptr);
    if (!filter) {
      error = "the capsfilter element is missing (GStreamer's core elements are not installed)";
      return false;
    }
    g_autoptr(GstCaps) caps = gst_caps_from_string(link.caps.c_str());
    g_object_set(filter, "caps", caps, nullptr);
    gst_bin_add(GST_BIN(pipeline), filter);
    gst_element_sync_state_with_parent(filter);
    g_autoptr(GstPad) filter_sink = gst_element_get_static_pad(filter, "sink");
    if (GST_PAD_LINK_FAILED(gst_pad_link(src, filter_sink))) {
      error = "caps " + link.caps + " do not fit";
      return false;
    }
    filter_src = gst_element_get_static_pad(filter, "src");
    from = filter_src;
  }
  sink = target_pad(target, link, from);
  if (!sink) {
    error = "no free sink pad" + (link.to_pad.empty() ? "" : " \"" + link.to_pad + "\"") + " on " +
            link.to_node;
    return false;
  }
  GstPadLinkReturn ret = gst_pad_link(from, sink);
  if (GST_PAD_LINK_FAILED(ret)) {
    error = std::string("linking failed: ") + gst_pad_link_get_name(ret);
    return false;
  }
  return true;
}

void post_link_error(GstElement *source, const PipelineLink &link, const std::string &why)
{
  g_autoptr(GError) err =
      g_error_new(GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, "Cannot link %s to %s%s%s (%s): %s",
                  (link.from_node + (link.from_pad.empty() ? "" : "." + link.from_pad)).c_str(),
                  link.to_node.c_str(), link.to_pad.empty() ? "" : ".", link.to_pad.c_str(),
                  link.where.c_str(), why.c_str());
  gst_element_post_message(source, gst_message_new_error(GST_OBJECT(source), err, nullptr));
}

void DynamicLinks::on_pad_added(GstElement *source, GstPad *pad, gpointer data)
{
  auto *self = static_cast<DynamicLinks *>(data);
  GST_DEBUG_OBJECT(source, "pad added: %" GST_PTR_FORMAT, pad);
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC)
    return;
  std::lock_guard<std::recursive_mutex> guard(self->lock);
  for (Pending &p : self->by_source[source]) {
    if ((p.linked && !p.link.each) || !pad_matches(p.link, pad))
      continue;
    std::string why;
    if (!link_pad(self->pipeline, pad, p.target, p.link, why))
      post_link_error(source, p.link, why);
    p.linked = true;
    for (const auto &d : p.deferred) {
      if (!link_static(d.from, d.to, d.link, why))
        post_link_error(d.from, d.link, why);
    }
    p.deferred.clear();
    return;
  }
}

/* Removes `element` and what only it feeds, down to the first element with
 * other inputs (a muxer), whose pad for this branch is released or ended. */
void DynamicLinks::prune_branch(GstElement *element, GstPad *entry)
{
  guint sinks = 0, linked = 0;
  for (GList *l = element->sinkpads; l; l = l->next) {
    ++sinks;
    linked += gst_pad_is_linked(GST_PAD(l->data)) ? 1 : 0;
  }
  /* Reached through a request-pad link never made (entry null) while another
   * input feeds it (a recordsink fed video, whose audio never came): the
   * element stays; there is no pad to release. */
  if (sinks > 1 || (!entry && linked > 0)) {
    GstPadTemplate *templ = entry ? GST_PAD_PAD_TEMPLATE(entry) : nullptr;
    if (templ && GST_PAD_TEMPLATE_PRESENCE(templ) == GST_PAD_REQUEST)
      gst_element_release_request_pad(element, entry);
    return;
  }
  std::vector<GstPad *> downstream;
  GstIterator *it = gst_element_iterate_src_pads(element);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    auto *src = GST_PAD(g_value_get_object(&item));
    if (GstPad *peer = gst_pad_get_peer(src)) {
      gst_pad_unlink(src, peer);
      downstream.push_back(peer);
    }
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  /* Links waiting for this element's pads will never be made either. */
  std::vector<GstElement *> waiting;
  for (Pending &p : by_source[element])
    if (!p.linked) {
      p.linked = true;
      waiting.push_back(p.target);
    }
  gst_element_set_locked_state(element, TRUE);
  gst_element_set_state(element, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(pipeline), element);
  for (GstPad *peer : downstream) {
    if (GstElement *next = gst_pad_get_parent_element(peer)) {
      prune_branch(next, peer);
      gst_object_unref(next);
    }
    gst_object_unref(peer);
  }
  for (GstElement *target : waiting)
    prune_branch(target, nullptr);
}

/* Ends the target's input: the element sees a stream with no data (a
 * clipvalidate then says the upload has no video). */
void DynamicLinks::end_branch(GstElement *target, const PipelineLink &link)
{
  g_autoptr(GstPad) sink = link.to_pad.empty()
                               ? gst_element_get_static_pad(target, "sink")
                               : gst_element_get_static_pad(target, link.to_pad.c_str());
  if (!sink)
    return; /* a request pad never requested: nothing waits for it */
  const std::string id = "sugarcast-missing/" + link.to_node;
  gst_pad_send_event(sink, gst_event_new_stream_start(id.c_str()));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  gst_pad_send_event(sink, gst_event_new_segment(&segment));
  gst_pad_send_event(sink, gst_event_new_eos());
}

void DynamicLinks::give_up(GstElement *source, const std::set<std::string> *media_present)
{
  for (Pending &p : by_source[source]) {
    if (p.linked || p.link.each)
      continue;
    if (media_present && (p.link.select.empty() || media_present->count(p.link.select)))
      continue;
    p.linked = true;
    GST_INFO_OBJECT(source, "no %s pad for %s: %s the branch at %s",
                    p.link.select.empty() ? "" : p.link.select.c_str(), p.link.where.c_str(),
                    p.link.if_missing == "remove" ? "removing" : "ending", p.link.to_node.c_str());
    if (p.link.if_missing == "remove")
      prune_branch(p.target, nullptr);
    else
      end_branch(p.target, p.link);
  }
}

void DynamicLinks::on_no_more_pads(GstElement *source, gpointer data)
{
  auto *self = static_cast<DynamicLinks *>(data);
  GST_DEBUG_OBJECT(source, "no more pads");
  std::lock_guard<std::recursive_mutex> guard(self->lock);
  self->give_up(source, nullptr);
}

/* parsebin and demuxers announce their streams before their pads: a link
 * selecting a media type the collection lacks will never be made. */
void DynamicLinks::on_stream_collection(GstBus *, GstMessage *msg, gpointer data)
{
  auto *self = static_cast<DynamicLinks *>(data);
  g_autoptr(GstStreamCollection) collection = nullptr;
  gst_message_parse_stream_collection(msg, &collection);
  std::set<std::string> present;
  for (guint i = 0; i < gst_stream_collection_get_size(collection); ++i) {
    const GstStreamType t =
        gst_stream_get_stream_type(gst_stream_collection_get_stream(collection, i));
    if (t & GST_STREAM_TYPE_VIDEO)
      present.insert("video");
    if (t & GST_STREAM_TYPE_AUDIO)
      present.insert("audio");
    if (t & GST_STREAM_TYPE_TEXT)
      present.insert("text");
    if (t & (GST_STREAM_TYPE_CONTAINER | GST_STREAM_TYPE_UNKNOWN))
      present.insert("application");
  }
  std::lock_guard<std::recursive_mutex> guard(self->lock);
  auto it = self->by_source.find(GST_ELEMENT(GST_MESSAGE_SRC(msg)));
  if (it != self->by_source.end())
    self->give_up(it->first, &present);
}

} // namespace

GstElement *PipelineDescription::instantiate(const std::string &pipeline_name,
                                             const PipelineParams &params, std::string &error) const
{
  GstElement *pipeline = gst_pipeline_new(pipeline_name.c_str());
  auto fail = [&](const std::string &message) {
    error = file_ + ": " + message;
    gst_object_unref(pipeline);
    return nullptr;
  };

  /* Nodes whose only_if parameter is empty here are left out, their link
   * in and link out replaced by the one checked at load. */
  std::set<std::string> left_out;
  for (const auto &node : nodes_) {
    if (node.only_if.empty())
      continue;
    std::string filled, why;
    if (!substitute(node.only_if, params, filled, why))
      return fail("/nodes/" + node.name + "/only_if: " + why);
    if (filled.empty())
      left_out.insert(node.name);
  }
  std::vector<PipelineLink> links;
  for (const auto &link : links_) {
    if (left_out.count(link.from_node))
      continue;
    if (!left_out.count(link.to_node))
      links.push_back(link);
    else if (const PipelineLink *joined = bypass(link.to_node))
      links.push_back(*joined);
    else
      return fail("node " + link.to_node + " is left out but has no joined link");
  }

  std::map<std::string, GstElement *> elements;
  for (const auto &node : nodes_) {
    if (left_out.count(node.name))
      continue;
    g_autoptr(GstElementFactory) factory = gst_element_factory_find(node.factory.c_str());
    if (!factory)
      return fail("no GStreamer element \"" + node.factory + "\"");
    GstElementClass *klass = element_class(node.factory);
    std::vector<const gchar *> names;
    std::vector<GValue> values(node.properties.size(), G_VALUE_INIT);
    std::string why;
    for (size_t i = 0; i < node.properties.size() && why.empty(); ++i) {
      const auto &[prop, text] = node.properties[i];
      std::string filled;
      GParamSpec *pspec = g_object_class_find_property(G_OBJECT_CLASS(klass), prop.c_str());
      if (substitute(text, params, filled, why) && value_from_text(pspec, filled, &values[i], why))
        names.push_back(prop.c_str());
      else
        why = "/nodes/" + node.name + "/properties/" + prop + ": " + why;
    }
    GstElement *element =
        why.empty() ? gst_element_factory_create_with_properties(
                          factory, static_cast<guint>(names.size()), names.data(), values.data())
                    : nullptr;
    for (size_t i = 0; i < names.size(); ++i)
      g_value_unset(&values[i]);
    if (!element)
      return fail(why.empty() ? "cannot make element " + node.factory : why);
    gst_object_set_name(GST_OBJECT(element), node.name.c_str());
    gst_bin_add(GST_BIN(pipeline), element);
    elements[node.name] = element;
  }
  /* The description was validated when loaded; checked again here so the
   * lookups below (operator[], not the throwing .at()) cannot miss. */
  for (const auto &link : links)
    if (!elements.count(link.from_node) || !elements.count(link.to_node))
      return fail("a link names a node that is not in /nodes: " + link.from_node + " -> " +
                  link.to_node);

  auto *dynamic = new DynamicLinks{pipeline, {}, {}};
  g_object_set_data_full(G_OBJECT(pipeline), "sugarcast-dynamic-links", dynamic,
                         [](gpointer p) { delete static_cast<DynamicLinks *>(p); });
  {
    g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
    gst_bus_enable_sync_message_emission(bus);
    g_signal_connect(bus, "sync-message::stream-collection",
                     G_CALLBACK(SUGARCAST_GUARD(DynamicLinks::on_stream_collection)), dynamic);
  }
  /* Links from pads that appear at run time wait for them. */
  std::vector<const PipelineLink *> static_links;
  for (const auto &link : links) {
    GstElement *from = elements[link.from_node], *to = elements[link.to_node];
    GstElementClass *klass = GST_ELEMENT_GET_CLASS(from);
    GstPadTemplate *templ =
        link.from_pad.empty() ? nullptr : find_template(klass, link.from_pad, GST_PAD_SRC);
    if (!appears_at_run_time(klass, templ)) {
      static_links.push_back(&link);
      continue;
    }
    auto &pending = dynamic->by_source[from];
    if (pending.empty()) {
      g_signal_connect(from, "pad-added", G_CALLBACK(SUGARCAST_GUARD(DynamicLinks::on_pad_added)),
                       dynamic);
      g_signal_connect(from, "no-more-pads",
                       G_CALLBACK(SUGARCAST_GUARD(DynamicLinks::on_no_more_pads)), dynamic);
    }
    pending.push_back({link, to, false, {}});
  }

  /* A branch fed by a pad that may never come asks muxers for a pad only
   * when the pad feeding it comes: a muxer never waits for, or writes, a
   * track that stays empty. The gate of an element is the outermost such
   * link above it (parsebin's, not decodebin's below it), whose pads all
   * appear together before data flows, so muxers get every pad in time. */
  auto downstream = [&](const std::string &start) {
    std::set<std::string> seen;
    std::vector<std::string> todo = {start};
    while (!todo.empty()) {
      std::string node = todo.back();
      todo.pop_back();
      if (!seen.insert(node).second)
        continue;
      for (const auto &l : links)
        if (l.from_node == node && !is_request_pad(elements[l.to_node], l.to_pad))
          todo.push_back(l.to_node);
    }
    return seen;
  };
  std::set<std::string> below_a_gate;
  for (auto &[source, pending] : dynamic->by_source)
    for (auto &p : pending)
      below_a_gate.merge(downstream(p.link.to_node));
  std::map<std::string, DynamicLinks::Pending *> gate;
  for (auto &[source, pending] : dynamic->by_source) {
    if (below_a_gate.count(GST_OBJECT_NAME(source)))
      continue;
    for (auto &p : pending)
      for (const auto &node : downstream(p.link.to_node))
        gate.emplace(node, &p);
  }

  for (const PipelineLink *l : static_links) {
    auto g = gate.find(l->from_node);
    if (g != gate.end() && is_request_pad(elements[l->to_node], l->to_pad)) {
      g->second->deferred.push_back({*l, elements[l->from_node], elements[l->to_node]});
      continue;
    }
    std::string why;
    if (!link_static(elements[l->from_node], elements[l->to_node], *l, why))
      return fail(why);
  }
  return pipeline;
}

void stop_pipeline(GstElement *pipeline, std::function<void()> stopped)
{
  struct Ctx
  {
    std::function<void()> stopped;
    GMainContext *context;
  };
  gst_element_call_async(
      pipeline, SUGARCAST_GUARD(+[](GstElement *e, gpointer data) {
        auto *ctx = static_cast<Ctx *>(data);
        gst_element_set_state(e, GST_STATE_NULL);
        auto *done = new std::function<void()>(std::move(ctx->stopped));
        g_main_context_invoke_full(
            ctx->context, G_PRIORITY_DEFAULT, SUGARCAST_GUARD(+[](gpointer d) -> gboolean {
              (*static_cast<std::function<void()> *>(d))();
              return G_SOURCE_REMOVE;
            }),
            done, [](gpointer d) { delete static_cast<std::function<void()> *>(d); });
      }),
      new Ctx{std::move(stopped), g_main_context_ref_thread_default()}, [](gpointer data) {
        auto *ctx = static_cast<Ctx *>(data);
        g_main_context_unref(ctx->context);
        delete ctx;
      });
  gst_object_unref(pipeline); /* the call holds its own reference until it has run */
}

void send_eos(GstElement *pipeline)
{
  gst_element_call_async(pipeline, SUGARCAST_GUARD(+[](GstElement *e, gpointer) {
                           gst_element_send_event(e, gst_event_new_eos());
                         }),
                         nullptr, nullptr);
}

} // namespace sugarcast
