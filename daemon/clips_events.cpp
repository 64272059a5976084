/* sugarcastd — uploaded clips: the uploader's progress as server-sent
 * events (GET /api/clips/{id}/events). Every change of the clip until it is
 * settled, at most clips.max_event_streams_per_user streams a user, each
 * ended after clips.events_idle_timeout seconds without a change. Apart
 * from the pipeline (clips_jobs.cpp), which only calls notify_streams. */
#include "clips_impl.h"
#include "guard.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace sugarcast {

/* ---- progress for the uploader: server-sent events ---- */

bool ClipService::Impl::settled(const std::string &state)
{
  return state == "ready" || state == "rejected" || state == "failed";
}

int ClipService::Impl::streams_of(const std::string &user) const
{
  return static_cast<int>(std::count_if(event_streams.begin(), event_streams.end(),
                                        [&user](const auto &s) { return s.second.user == user; }));
}

std::string ClipService::Impl::user_key(const Uploader &who)
{
  return who.owner.empty() ? std::string("(admin)") : who.owner;
}

bool ClipService::Impl::stream_cap_reached(SoupServerMessage *msg, const std::string &user)
{
  if (streams_of(user) < config.clips.max_event_streams_per_user)
    return false;
  respond_error(msg, 429, "too_many_streams",
                "You have " + std::to_string(config.clips.max_event_streams_per_user) +
                    " progress streams open (clips.max_event_streams_per_user); close one "
                    "first");
  return true;
}

/* Appends one event and lets libsoup write it (it pauses itself when the
 * body has nothing more to send). */
void ClipService::Impl::send_event(SoupServerMessage *msg, const char *name, JsonObject *o)
{
  g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), o);
  json_object_unref(o);
  g_autofree gchar *data = json_to_string(node, FALSE);
  std::string text = std::string("event: ") + name + "\ndata: " + data + "\n\n";
  soup_message_body_append(soup_server_message_get_response_body(msg), SOUP_MEMORY_COPY,
                           text.data(), text.size());
  soup_server_message_unpause(msg);
}

void ClipService::Impl::arm_idle(SoupServerMessage *msg, EventStream &s)
{
  if (s.idle_timer)
    g_source_remove(s.idle_timer);
  struct Ctx
  {
    Impl *self;
    SoupServerMessage *msg;
  };
  s.idle_timer = g_timeout_add_full(
      G_PRIORITY_DEFAULT, static_cast<guint>(config.clips.events_idle_timeout * 1000),
      SUGARCAST_GUARD(+[](gpointer data) -> gboolean {
        auto *ctx = static_cast<Ctx *>(data);
        auto it = ctx->self->event_streams.find(ctx->msg);
        if (it != ctx->self->event_streams.end()) {
          it->second.idle_timer = 0;
          JsonObject *o = json_object_new();
          json_object_set_string_member(o, "id", it->second.clip.c_str());
          json_object_set_string_member(
              o, "message",
              "Nothing changed for clips.events_idle_timeout seconds; reconnect "
              "to go on following the clip");
          ctx->self->end_stream(ctx->msg, "idle", o);
        }
        return G_SOURCE_REMOVE;
      }),
      new Ctx{this, msg}, [](gpointer d) { delete static_cast<Ctx *>(d); });
}

/* The last event, then the end of the body; the message's "finished"
 * forgets the stream. */
void ClipService::Impl::end_stream(SoupServerMessage *msg, const char *name, JsonObject *o)
{
  auto it = event_streams.find(msg);
  if (it != event_streams.end() && it->second.idle_timer)
    g_source_remove(std::exchange(it->second.idle_timer, 0u));
  if (o)
    send_event(msg, name, o);
  soup_message_body_complete(soup_server_message_get_response_body(msg));
  soup_server_message_unpause(msg);
}

void ClipService::Impl::forget_stream(SoupServerMessage *msg)
{
  auto it = event_streams.find(msg);
  if (it == event_streams.end())
    return;
  if (it->second.idle_timer)
    g_source_remove(it->second.idle_timer);
  g_signal_handlers_disconnect_by_data(msg, this);
  event_streams.erase(it);
  g_object_unref(msg);
}

void ClipService::Impl::notify_streams(const ClipRecord &c)
{
  std::vector<SoupServerMessage *> to;
  for (auto &[msg, s] : event_streams)
    if (s.clip == c.id)
      to.push_back(msg);
  for (SoupServerMessage *msg : to) {
    if (settled(c.state)) {
      end_stream(msg, "clip", describe(msg, c));
    } else {
      send_event(msg, "clip", describe(msg, c));
      if (auto it = event_streams.find(msg); it != event_streams.end())
        arm_idle(msg, it->second); /* not if the client went away meanwhile */
    }
  }
}

void ClipService::Impl::open_stream(SoupServerMessage *msg, const ClipRecord &stored,
                                    const std::string &user)
{
  if (stream_cap_reached(msg, user)) /* again: others may have opened meanwhile */
    return;
  auto run = running.find(stored.id);
  const ClipRecord &c = run != running.end() && run->second ? run->second->record : stored;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(headers, "Content-Type", "text/event-stream");
  soup_message_headers_replace(headers, "Cache-Control", "no-store");
  soup_message_headers_replace(headers, "X-Accel-Buffering", "no");
  soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
  soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
  if (settled(c.state)) {
    end_stream(msg, "clip", describe(msg, c));
    return;
  }
  event_streams[SOUP_SERVER_MESSAGE(g_object_ref(msg))] = EventStream{c.id, user, 0};
  /* Whichever comes first forgets the stream (forget_stream is idempotent). */
  for (const char *signal : {"finished", "disconnected"})
    g_signal_connect(msg, signal,
                     G_CALLBACK(SUGARCAST_GUARD(+[](SoupServerMessage *m, gpointer data) {
                       static_cast<Impl *>(data)->forget_stream(m);
                     })),
                     this);
  send_event(msg, "clip", describe(msg, c));
  if (auto it = event_streams.find(msg); it != event_streams.end())
    arm_idle(msg, it->second);
}

/* GET /api/clips/{id}/events: the clip's owner or the admin. */
void ClipService::Impl::follow(HttpRequest &r)
{
  Uploader who;
  if (!authorize_uploader(config, http, r.msg, who))
    return;
  const std::string user = user_key(who);
  if (stream_cap_reached(r.msg, user))
    return; /* before the store is asked */
  if (shutting_down) {
    respond_error(r.msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "shutting_down",
                  "The server is shutting down; reconnect shortly");
    return;
  }
  std::optional<Uploader> asker = who;
  auto reply = std::make_shared<Deferred>(r.msg);
  with_clip(
      reply, r.params["id"], [asker](const ClipRecord &c) { return owns(asker, c); },
      "No clip of yours with id",
      [this, reply, user](const ClipRecord &c) { open_stream(reply->msg(), c, user); });
}

} // namespace sugarcast
