/* Sugarcast RTMP — SugarcastRtmpSession, the one GObject of the protocol
 * library: the handle a consumer (rtmpserversrc, the daemon) holds on a
 * publish, over its SessionChannel (session-channel.h). */
#define G_LOG_DOMAIN "sugarcast-rtmp"
#include "guard.h"
#include "session-channel.h"

using sugarcast::rtmp::SessionChannel;

G_DEFINE_TYPE(SugarcastRtmpSession, sugarcast_rtmp_session, G_TYPE_OBJECT)

enum {
  SESSION_PROP_0,
  SESSION_PROP_APP,
  SESSION_PROP_STREAM,
  SESSION_PROP_QUERY,
  SESSION_PROP_CLIENT_ADDRESS,
  SESSION_PROP_ENCODER,
  SESSION_PROP_TC_URL,
  SESSION_PROP_ENDED,
  SESSION_PROP_END_REASON,
};

static void sugarcast_rtmp_session_get_property(GObject *object, guint prop_id, GValue *value,
                                                GParamSpec *pspec)
{
  SessionChannel &c = **SUGARCAST_RTMP_SESSION(object)->channel;
  switch (prop_id) {
  case SESSION_PROP_APP:
    g_value_set_string(value, c.info.app.c_str());
    break;
  case SESSION_PROP_STREAM:
    g_value_set_string(value, c.info.stream.c_str());
    break;
  case SESSION_PROP_QUERY:
    g_value_set_string(value, c.info.query.c_str());
    break;
  case SESSION_PROP_CLIENT_ADDRESS:
    g_value_set_string(value, c.info.client_address.c_str());
    break;
  case SESSION_PROP_ENCODER:
    g_value_set_string(value, c.info.encoder.c_str());
    break;
  case SESSION_PROP_TC_URL:
    g_value_set_string(value, c.info.tc_url.c_str());
    break;
  case SESSION_PROP_ENDED: {
    std::lock_guard<std::mutex> guard(c.lock);
    g_value_set_boolean(value, c.ended);
    break;
  }
  case SESSION_PROP_END_REASON: {
    std::lock_guard<std::mutex> guard(c.lock);
    g_value_set_string(value, c.end_reason.c_str());
    break;
  }
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    break;
  }
}

static void sugarcast_rtmp_session_finalize(GObject *object)
{
  delete SUGARCAST_RTMP_SESSION(object)->channel;
  G_OBJECT_CLASS(sugarcast_rtmp_session_parent_class)->finalize(object);
}

static void sugarcast_rtmp_session_class_init(SugarcastRtmpSessionClass *klass)
{
  auto *object_class = G_OBJECT_CLASS(klass);
  object_class->get_property = SUGARCAST_GUARD(sugarcast_rtmp_session_get_property);
  object_class->finalize = SUGARCAST_GUARD(sugarcast_rtmp_session_finalize);
  const auto flags = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  struct
  {
    guint id;
    const char *name;
    const char *blurb;
  } strings[] = {
      {SESSION_PROP_APP, "app", "The application of the publish URL (rtmp://HOST/APP/STREAM)"},
      {SESSION_PROP_STREAM, "stream", "The stream name (the stream key), without the query"},
      {SESSION_PROP_QUERY, "query", "What followed '?' in the stream name"},
      {SESSION_PROP_CLIENT_ADDRESS, "client-address", "The publisher's IP address and port"},
      {SESSION_PROP_ENCODER, "encoder", "The encoder, from connect's flashVer"},
      {SESSION_PROP_TC_URL, "tc-url", "The URL the publisher connected to (tcUrl)"},
      {SESSION_PROP_END_REASON, "end-reason", "Why the publish ended; empty while it goes on"},
  };
  for (const auto &s : strings)
    g_object_class_install_property(object_class, s.id,
                                    g_param_spec_string(s.name, s.name, s.blurb, "", flags));
  g_object_class_install_property(object_class, SESSION_PROP_ENDED,
                                  g_param_spec_boolean("ended", "Ended",
                                                       "Whether the publisher has stopped or gone",
                                                       FALSE, flags));
}

static void sugarcast_rtmp_session_init(SugarcastRtmpSession *self)
{
  self->channel = new std::shared_ptr<SessionChannel>(std::make_shared<SessionChannel>());
}

const gchar *sugarcast_rtmp_session_get_app(SugarcastRtmpSession *session)
{
  g_return_val_if_fail(SUGARCAST_IS_RTMP_SESSION(session), nullptr);
  return (*session->channel)->info.app.c_str();
}

const gchar *sugarcast_rtmp_session_get_stream(SugarcastRtmpSession *session)
{
  g_return_val_if_fail(SUGARCAST_IS_RTMP_SESSION(session), nullptr);
  return (*session->channel)->info.stream.c_str();
}

const gchar *sugarcast_rtmp_session_get_client_address(SugarcastRtmpSession *session)
{
  g_return_val_if_fail(SUGARCAST_IS_RTMP_SESSION(session), nullptr);
  return (*session->channel)->info.client_address.c_str();
}

const gchar *sugarcast_rtmp_session_get_encoder(SugarcastRtmpSession *session)
{
  g_return_val_if_fail(SUGARCAST_IS_RTMP_SESSION(session), nullptr);
  return (*session->channel)->info.encoder.c_str();
}

gboolean sugarcast_rtmp_session_is_ended(SugarcastRtmpSession *session)
{
  g_return_val_if_fail(SUGARCAST_IS_RTMP_SESSION(session), TRUE);
  SessionChannel &c = **session->channel;
  std::lock_guard<std::mutex> guard(c.lock);
  return c.ended;
}

void sugarcast_rtmp_session_close(SugarcastRtmpSession *session)
{
  g_return_if_fail(SUGARCAST_IS_RTMP_SESSION(session));
  SessionChannel &c = **session->channel;
  if (c.request_close)
    c.request_close();
}

namespace sugarcast::rtmp {

PopResult session_pop(SugarcastRtmpSession *session, Message &out)
{
  return (*session->channel)->pop(out);
}

void session_set_notify(SugarcastRtmpSession *session, std::function<void()> notify)
{
  SessionChannel &c = **session->channel;
  std::lock_guard<std::mutex> guard(c.notify_lock);
  c.notify = std::move(notify);
}

const PublishInfo &session_info(SugarcastRtmpSession *session)
{
  return (*session->channel)->info;
}

std::string session_end_reason(SugarcastRtmpSession *session)
{
  SessionChannel &c = **session->channel;
  std::lock_guard<std::mutex> guard(c.lock);
  return c.end_reason;
}

} // namespace sugarcast::rtmp
