/* sugarcastd chat — the service's life, connections and rooms: start,
 * WebSocket upgrades, joining and leaving, loading a room, sending and
 * broadcasting, the periodic tick, and the public face. See
 * chat_service.h; what clients send and its history are in
 * chat_messages.cpp, moderation in chat_moderation.cpp, gifts, REST routes
 * and events between daemons in chat_gifts.cpp, chat_rest.cpp and
 * chat_cluster.cpp. */
#include "chat_impl.h"
#include "guard.h"

#include "../viewers.h"

#include "http.h"
#include "jwt.h"

#include <algorithm>
#include <cinttypes>
#include <fcntl.h>
#include <gio/gio.h>
#include <unistd.h>

#define G_LOG_DOMAIN_CHAT "sugarcastd-chat"

namespace sugarcast::chat {

namespace {

bool valid_stream_id(const std::string &id)
{
  if (id.empty() || id.size() > 64)
    return false;
  for (char c : id)
    if (!g_ascii_isalnum(c) && c != '-' && c != '_')
      return false;
  return true;
}

/* The subprotocol the server answers, and the prefix of the one that
 * carries a browser's token (docs/protocol.md "Who you are"). */
constexpr const char *kSubprotocol = "sugarcast.v1";
constexpr std::string_view kTokenProtocol = "sugarcast.token.";
char *kSubprotocols[] = {const_cast<char *>(kSubprotocol), nullptr};

/* The token offered as `sugarcast.token.JWT` in Sec-WebSocket-Protocol;
 * "" when there is none. */
std::string token_from_protocols(SoupServerMessage *msg)
{
  const char *header = soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
                                                    "Sec-WebSocket-Protocol");
  if (!header)
    return "";
  g_auto(GStrv) offered = g_strsplit_set(header, ", ", -1);
  for (char **p = offered; *p; ++p) {
    const std::string_view item(*p);
    if (item.substr(0, kTokenProtocol.size()) == kTokenProtocol)
      return std::string(item.substr(kTokenProtocol.size()));
  }
  return "";
}

struct UpgradeData
{
  ChatService::Impl *impl;
  std::string stream;
  UserInfo user;
  std::string refusal_code;
  std::string refusal;
  uint16_t close;
};

} // namespace

ChatService::Impl::Impl(const Config &c, Store &s, HttpServer &h, Metrics &m, GiftSink g)
    : config(c), store(s), http(h), metrics(m), on_gift(std::move(g)),
      filter(c.chat.sensitive_words),
      main_queue(g_main_context_default(), Mailbox::Leftovers::Drop),
      messages_total(m.counter("sugarcast_chat_messages_total", "Chat messages accepted")),
      history_dropped(m.counter("sugarcast_chat_history_dropped_total",
                                "Chat messages dropped unstored: the store was down too long")),
      gifts_recorded(m.counter("sugarcast_gifts_recorded_total",
                               "Gifts newly recorded in the ledger by this daemon"))
{
  instance_tag = g_str_hash(config.instance_id.c_str()) ^ g_random_int();
}

ChatService::Impl::~Impl()
{
  if (flush_source)
    g_source_remove(flush_source);
  if (tick_source)
    g_source_remove(tick_source);
  fanout.reset(); /* joins the workers before anything they use goes */
}

int64_t ChatService::Impl::now_ms() const
{
  return g_get_real_time() / 1000;
}

bool ChatService::Impl::start(std::string &error)
{
  parser = ProtocolParser::load(error);
  if (!parser)
    return false;
  FanoutLimits limits;
  limits.send_queue_bytes = static_cast<size_t>(config.chat.send_queue_bytes);
  limits.idle_ping_ms = config.chat.idle_ping_ms;
  /* Room for the longest chat text escaped as JSON, and the other fields. */
  limits.max_message_bytes =
      std::max<size_t>(16 * 1024, static_cast<size_t>(config.chat.max_message_chars) * 12 + 1024);
  FanoutHandlers handlers;
  handlers.on_text = [this](ConnId conn, std::string_view text) -> FramePtr {
    auto parsed = parser->parse(text, config.chat.max_message_chars);
    if (auto *refusal = std::get_if<ProtocolError>(&parsed))
      return make_text_frame(encode_error(*refusal));
    auto &m = std::get<ClientMessage>(parsed);
    if (m.type == ClientMessage::Type::Ping)
      return make_text_frame(encode_pong(m.ref, g_get_real_time() / 1000));
    const int64_t received = g_get_monotonic_time();
    main_queue.post([this, conn, received, m = std::move(m)]() mutable {
      /* How long accepted messages wait for the main context (a store
       * write or an HTTP request in the way shows here). */
      const auto waited = static_cast<uint64_t>(g_get_monotonic_time() - received);
      accept_wait_us += waited;
      accept_wait_max_us = std::max(accept_wait_max_us, waited);
      ++accepted_messages;
      handle(conn, std::move(m));
    });
    return nullptr;
  };
  handlers.on_refused = [this](ConnId, Refusal why, std::string_view detail) -> FramePtr {
    switch (why) {
    case Refusal::Binary:
      return make_text_frame(encode_error(
          "bad_message", "binary frames are not part of the protocol: send JSON as text"));
    case Refusal::TooBig:
      return make_text_frame(encode_error(
          "too_long",
          "the message is " + std::string(detail) + " bytes; the limit is " +
              std::to_string(std::max<size_t>(
                  16 * 1024, static_cast<size_t>(config.chat.max_message_chars) * 12 + 1024)) +
              " bytes"));
    case Refusal::BadUtf8:
      return make_text_frame(encode_error("bad_message", "the message is not valid UTF-8"));
    case Refusal::Framing:
      return make_text_frame(encode_error("bad_message", "broken WebSocket framing (" +
                                                             std::string(detail) + "); closing"));
    }
    return nullptr;
  };
  handlers.on_closed = [this](ConnId conn, uint16_t code, const std::string &reason) {
    main_queue.post([this, conn, code, reason] {
      g_debug("chat: connection %" G_GUINT64_FORMAT " closed: %u %s", conn, code, reason.c_str());
      on_closed(conn);
    });
  };
  fanout = std::make_unique<Fanout>(config.chat.threads, limits, std::move(handlers));

  http.route(
      "GET", "/ws/chat/{stream}", [this](HttpRequest &r) { on_upgrade(r); }, false);
  add_routes();
  listen_cluster();
  tick_source = g_timeout_add(static_cast<guint>(config.chat.viewer_count_interval_ms),
                              SUGARCAST_GUARD(+[](gpointer self) -> gboolean {
                                static_cast<Impl *>(self)->tick();
                                return G_SOURCE_CONTINUE;
                              }),
                              this);

  Fanout *f = fanout.get();
  metrics.gauge("sugarcast_chat_connections", "Open chat WebSocket connections",
                [f] { return static_cast<double>(f->stats().connections); });
  metrics.gauge("sugarcast_chat_frames_sent", "WebSocket frames written to chat connections",
                [f] { return static_cast<double>(f->stats().frames_sent); });
  metrics.gauge("sugarcast_chat_slow_closed",
                "Chat connections closed because they stopped reading",
                [f] { return static_cast<double>(f->stats().slow_closed); });
  metrics.gauge("sugarcast_chat_queued_bytes", "Bytes waiting in chat send queues",
                [f] { return static_cast<double>(f->stats().queued_bytes); });
  metrics.gauge("sugarcast_chat_fanouts",
                "Broadcasts handled by the fan-out workers (each counts once per worker)",
                [f] { return static_cast<double>(f->stats().fanouts); });
  metrics.gauge("sugarcast_chat_fanout_wait_seconds",
                "Time broadcasts waited for a fan-out worker, summed",
                [f] { return static_cast<double>(f->stats().fanout_wait_us) / 1e6; });
  metrics.gauge("sugarcast_chat_fanout_write_seconds",
                "Time fan-out workers spent writing broadcasts to every member, summed",
                [f] { return static_cast<double>(f->stats().fanout_work_us) / 1e6; });
  metrics.gauge("sugarcast_chat_fanout_max_seconds",
                "The longest one worker took from a broadcast to its last member's socket",
                [f] { return static_cast<double>(f->stats().fanout_max_us) / 1e6; });
  metrics.gauge("sugarcast_chat_client_messages", "Client messages handed to the main context",
                [this] { return static_cast<double>(accepted_messages); });
  metrics.gauge("sugarcast_chat_accept_wait_seconds",
                "Time client messages waited for the main context, summed",
                [this] { return static_cast<double>(accept_wait_us) / 1e6; });
  metrics.gauge("sugarcast_chat_accept_wait_max_seconds",
                "The longest a client message waited for the main context",
                [this] { return static_cast<double>(accept_wait_max_us) / 1e6; });
  metrics.gauge("sugarcast_chat_history_pending", "Chat messages waiting to be stored",
                [this] { return static_cast<double>(pending_history.size()); });
  started = true;
  return true;
}

/* ---- connections ---------------------------------------------------- */

void ChatService::Impl::on_upgrade(HttpRequest &r)
{
  SoupServerMessage *msg = r.msg;
  const std::string stream = r.params["stream"];
  if (stopping) {
    respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "shutting_down",
                  "the server is shutting down");
    return;
  }
  if (!valid_stream_id(stream)) {
    respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", "no stream \"" + stream + "\"");
    return;
  }
  g_autoptr(GError) err = nullptr;
  if (!soup_websocket_server_check_handshake(msg, nullptr, kSubprotocols, nullptr, &err)) {
    respond_error(msg, SOUP_STATUS_BAD_REQUEST, "not_websocket",
                  std::string("expected a WebSocket handshake: ") + err->message);
    return;
  }
  UserInfo user;
  std::string refusal_code, refusal;
  uint16_t close = 0;
  /* The token comes in Sec-WebSocket-Protocol, where proxies do not log
   * it; ?token= (in every access log) is deprecated and goes next release. */
  std::string token = token_from_protocols(msg);
  if (token.empty()) {
    token = r.query_param("token");
    if (!token.empty())
      metrics
          .counter("sugarcast_chat_query_tokens_total",
                   "Chat connections that sent their token in the URL (deprecated)")
          .fetch_add(1, std::memory_order_relaxed);
  }
  if (token.empty()) {
    user.id = "anon-" + std::to_string(g_random_int());
    user.name = "anonymous";
    user.role = Role::Anonymous;
  } else {
    TokenCheck check = verify_token(token, config.chat.jwt_secret, g_get_real_time() / 1000000,
                                    {config.chat.jwt_audience, config.chat.jwt_issuer});
    if (!check.claims) {
      refusal_code = "unauthorized";
      refusal = check.error;
      close = close_code::unauthorized;
    } else {
      user.id = check.claims->user_id;
      user.name = check.claims->name;
      /* Rights attach to the stream: a moderator's or streamer's token
       * holds in the stream it names, a viewer's everywhere else. */
      user.role = role_in_stream(*check.claims, stream);
    }
  }
  soup_server_message_pause(msg);
  g_object_ref(msg);
  store.get_stream(stream, [this, msg, stream, user, refusal_code, refusal,
                            close](StoreResult<std::optional<StreamRecord>> found) {
    if (!found.ok() || !found.value()) {
      if (!found.ok())
        respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "store_unavailable",
                      "cannot look the stream up now; try again");
      else
        respond_error(msg, SOUP_STATUS_NOT_FOUND, "not_found", "no stream \"" + stream + "\"");
      soup_server_message_unpause(msg);
      g_object_unref(msg);
      return;
    }
    if (close != 0 || user.role == Role::Anonymous) {
      accept_connection(msg, stream, user, refusal_code, refusal, close);
      return;
    }
    store.find_ban(user.id, ban_scopes(stream), now_ms(),
                   [this, msg, stream, user](StoreResult<std::optional<BanRecord>> ban) {
                     if (!ban.ok()) {
                       respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "store_unavailable",
                                     "cannot check bans now; try again");
                       soup_server_message_unpause(msg);
                       g_object_unref(msg);
                       return;
                     }
                     if (ban.value()) {
                       const BanRecord &b = *ban.value();
                       std::string why = "you are banned from " +
                                         std::string(b.scope == "*" ? "every room" : "this room");
                       if (b.expires_at > 0)
                         why += " for another " +
                                std::to_string((b.expires_at - now_ms() + 999) / 1000) + " s";
                       if (!b.reason.empty())
                         why += ": " + b.reason;
                       accept_connection(msg, stream, user, "banned", why, close_code::banned);
                       return;
                     }
                     accept_connection(msg, stream, user, "", "", 0);
                   });
  });
}

void ChatService::Impl::accept_connection(SoupServerMessage *msg, const std::string &stream,
                                          UserInfo user, std::string refusal_code,
                                          std::string refusal, uint16_t close)
{
  auto finish = [this, msg, stream, user, refusal_code, refusal, close] {
    if (stopping) {
      respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "shutting_down",
                    "the server is shutting down");
    } else if (soup_websocket_server_process_handshake(msg, nullptr, kSubprotocols, nullptr,
                                                       nullptr)) {
      auto *data = new UpgradeData{this, stream, user, refusal_code, refusal, close};
      g_signal_connect_data(
          msg, "wrote-informational",
          G_CALLBACK(SUGARCAST_GUARD(+[](SoupServerMessage *m, gpointer p) {
            auto *d = static_cast<UpgradeData *>(p);
            g_signal_handlers_disconnect_matched(m, G_SIGNAL_MATCH_DATA, 0, 0, nullptr, nullptr, p);
            d->impl->steal_and_join(m, d->stream, d->user, d->refusal_code, d->refusal, d->close);
          })),
          data, [](gpointer p, GClosure *) { delete static_cast<UpgradeData *>(p); },
          static_cast<GConnectFlags>(0));
    }
    soup_server_message_unpause(msg);
    g_object_unref(msg);
  };
  if (close != 0) {
    finish();
    return;
  }
  when_loaded(room(stream), finish);
}

void ChatService::Impl::steal_and_join(SoupServerMessage *msg, const std::string &stream,
                                       const UserInfo &user, const std::string &refusal_code,
                                       const std::string &refusal, uint16_t close)
{
  g_object_ref(msg);
  const char *remote = soup_server_message_get_remote_host(msg);
  const char *agent =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "User-Agent");
  const std::string client = ViewerTracker::client_of(remote ? remote : "", agent ? agent : "");
  /* Held past the steal: the message may go with it. */
  g_autoptr(GSocket) socket = message_socket(msg);
  if (socket)
    g_object_ref(socket);
  GIOStream *io = soup_server_message_steal_connection(msg);
  g_object_unref(msg);
  if (!io)
    return;
  if (!socket) {
    g_warning("chat: a WebSocket connection without a socket; dropped");
    g_object_unref(io);
    return;
  }
  /* Bytes libsoup already read past the handshake belong to the first frame. */
  std::string input;
  GInputStream *in = g_io_stream_get_input_stream(io);
  if (G_IS_POLLABLE_INPUT_STREAM(in)) {
    char buffer[4096];
    while (input.size() < (1u << 20)) {
      const gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(in), buffer,
                                                                sizeof buffer, nullptr, nullptr);
      if (n <= 0)
        break;
      input.append(buffer, static_cast<size_t>(n));
    }
  }
  const int fd = fcntl(g_socket_get_fd(socket), F_DUPFD_CLOEXEC, 0);
  /* libsoup keeps its GSocket alive for a while after the steal: close its
   * descriptor now, or every connection costs two (ulimit -n is 20,000). */
  g_socket_close(socket, nullptr);
  g_object_unref(io);
  if (fd < 0) {
    g_warning("chat: cannot take the connection over: %s", g_strerror(errno));
    return;
  }
  if (close != 0) {
    const ConnId id = fanout->add(
        fd, "", {make_text_frame(encode_error(refusal_code.c_str(), refusal))}, std::move(input));
    fanout->close(id, close, refusal);
    return;
  }
  Room &rm = room(stream);
  /* Counted here, on the main context as each one joins: connections
   * still in their handshake cannot slip past the caps together. */
  std::string full;
  if (sessions.size() >= static_cast<size_t>(config.chat.max_connections))
    full = "the server holds its limit of " + std::to_string(config.chat.max_connections) +
           " chat connections";
  else if (rm.conns.size() >= static_cast<size_t>(config.chat.max_connections_per_room))
    full = "this room holds its limit of " + std::to_string(config.chat.max_connections_per_room) +
           " connections on this server";
  if (!full.empty()) {
    metrics
        .counter("sugarcast_chat_refused_connections_total",
                 "Chat connections refused with 1013 because a cap was reached")
        .fetch_add(1, std::memory_order_relaxed);
    ProtocolError e{"unavailable", full + "; try again later", "", 5000, true};
    const ConnId id = fanout->add(fd, "", {make_text_frame(encode_error(e))}, std::move(input));
    fanout->close(id, close_code::try_again_later, full);
    return;
  }
  WelcomeInfo w;
  w.stream = stream;
  w.you = user;
  Session s{0, stream, user};
  s.client = client;
  w.moderator = is_moderator(s);
  w.can_chat = user.role != Role::Anonymous;
  w.viewers = viewers(rm) + 1;
  w.live = live_streams.count(stream) > 0;
  w.reconnecting = reconnecting_streams.count(stream) > 0;
  w.slow = rm.slow_seconds;
  for (const auto &h : rm.history)
    w.history.push_back(h.json);
  w.leaderboard_entries = rm.leaderboard_json;
  const ConnId id = fanout->add(fd, stream, {make_text_frame(encode_welcome(w))}, std::move(input));
  s.id = id;
  sessions.emplace(id, std::move(s));
  rm.conns.insert(id);
  rm.empty_since = 0;
}

void ChatService::Impl::on_closed(ConnId conn)
{
  auto it = sessions.find(conn);
  if (it == sessions.end())
    return;
  auto r = rooms.find(it->second.stream);
  if (r != rooms.end()) {
    r->second->conns.erase(conn);
    if (r->second->conns.empty())
      r->second->empty_since = monotonic_ms();
  }
  sessions.erase(it);
}

Room &ChatService::Impl::room(const std::string &stream)
{
  auto it = rooms.find(stream);
  if (it != rooms.end())
    return *it->second;
  auto created = std::make_unique<Room>();
  Room &rm = *created;
  rm.id = stream;
  rm.loading = 3;
  rooms.emplace(stream, std::move(created));
  auto one_done = [this, stream] {
    auto found = rooms.find(stream);
    if (found == rooms.end())
      return;
    Room &r = *found->second;
    if (--r.loading > 0)
      return;
    r.loaded = true;
    auto waiting = std::move(r.on_loaded);
    r.on_loaded.clear();
    for (auto &fn : waiting)
      fn();
  };
  store.list_chat(
      stream, "", config.chat.history_size,
      [this, stream, one_done](StoreResult<std::vector<ChatRecord>> got) {
        auto found = rooms.find(stream);
        if (found != rooms.end()) {
          Room &r = *found->second;
          std::vector<HistoryEntry> merged;
          std::set<std::string> seen;
          for (const auto &h : r.history)
            seen.insert(h.record.id);
          if (got.ok()) {
            for (const auto &rec : got.value())
              if (seen.insert(rec.id).second)
                merged.push_back({rec, Role::Anonymous, encode_chat(rec, Role::Anonymous)});
          } else {
            g_warning("chat: cannot load the history of %s: %s", stream.c_str(),
                      got.error().message.c_str());
          }
          /* Accepted here but not stored yet. */
          for (const auto &rec : pending_history)
            if (rec.stream_id == stream && seen.insert(rec.id).second)
              merged.push_back({rec, Role::Anonymous, encode_chat(rec, Role::Anonymous)});
          for (auto &h : r.history)
            merged.push_back(std::move(h));
          std::sort(merged.begin(), merged.end(), [](const HistoryEntry &a, const HistoryEntry &b) {
            return a.record.id < b.record.id;
          });
          r.history.clear();
          for (auto &h : merged)
            add_to_history(r, std::move(h));
        }
        one_done();
      });
  store.list_moderators(
      stream, [this, stream, one_done](StoreResult<std::vector<std::string>> got) {
        auto found = rooms.find(stream);
        if (found != rooms.end() && got.ok())
          found->second->moderators.insert(got.value().begin(), got.value().end());
        else if (!got.ok())
          g_warning("chat: cannot load the moderators of %s: %s", stream.c_str(),
                    got.error().message.c_str());
        one_done();
      });
  store.leaderboard(stream, 10,
                    [this, stream, one_done](StoreResult<std::vector<LeaderboardEntry>> got) {
                      auto found = rooms.find(stream);
                      if (found != rooms.end() && got.ok())
                        found->second->leaderboard_json = encode_leaderboard_entries(got.value());
                      one_done();
                    });
  return rm;
}

void ChatService::Impl::when_loaded(Room &rm, std::function<void()> fn)
{
  if (rm.loaded)
    fn();
  else
    rm.on_loaded.push_back(std::move(fn));
}

int64_t ChatService::Impl::viewers(Room &rm)
{
  int64_t n = static_cast<int64_t>(rm.conns.size());
  for (const auto &[instance, seen] : rm.remote_viewers)
    n += seen.first;
  return n;
}

void ChatService::Impl::send(ConnId conn, const std::string &json)
{
  fanout->send(conn, make_text_frame(json));
}

void ChatService::Impl::reply_error(ConnId conn, const char *code, const std::string &message,
                                    const std::string &ref, int64_t retry_after_ms, bool retryable)
{
  metrics
      .counter("sugarcast_chat_refused_total", "Client messages refused, by error code",
               {{"code", code}})
      .fetch_add(1, std::memory_order_relaxed);
  send(conn, encode_error(ProtocolError{code, message, ref, retry_after_ms, retryable}));
}

void ChatService::Impl::broadcast(const std::string &stream, const std::string &json)
{
  if (fanout)
    fanout->broadcast(stream, make_text_frame(json));
}

std::string ChatService::Impl::next_message_id()
{
  char id[32];
  g_snprintf(id, sizeof id, "%011" PRIx64 "%05x%08x", static_cast<uint64_t>(now_ms()),
             message_seq++ & 0xFFFFF, instance_tag);
  return id;
}

std::vector<std::string> ChatService::Impl::ban_scopes(const std::string &stream) const
{
  return {stream, "*"};
}

/* ---- periodic --------------------------------------------------------- */

void ChatService::Impl::tick()
{
  const int64_t mono = monotonic_ms();
  for (auto it = rooms.begin(); it != rooms.end();) {
    Room &rm = *it->second;
    for (auto r = rm.remote_viewers.begin(); r != rm.remote_viewers.end();)
      r = mono - r->second.second > 45000 ? rm.remote_viewers.erase(r) : std::next(r);
    const int64_t n = viewers(rm);
    if (n != rm.viewers_sent && rm.loaded) {
      rm.viewers_sent = n;
      broadcast(rm.id, encode_viewers(n));
    }
    const auto local = static_cast<int64_t>(rm.conns.size());
    /* Other daemons forget counts not repeated within 45 s. */
    if (local != rm.local_viewers_told || (local > 0 && mono - rm.local_viewers_told_at > 15000)) {
      rm.local_viewers_told = local;
      rm.local_viewers_told_at = mono;
      JsonWriter f;
      f.integer("n", local);
      tell_cluster("viewers", rm.id, f);
    }
    const bool idle = rm.conns.empty() && rm.loaded && rm.empty_since > 0 &&
                      mono - rm.empty_since > 10 * 60 * 1000;
    it = idle ? rooms.erase(it) : std::next(it);
  }
  for (auto *map : {&buckets, &gift_buckets})
    for (auto it = map->begin(); it != map->end();)
      it = it->second.full(mono) ? map->erase(it) : std::next(it);
}

} // namespace sugarcast::chat

/* ---- the public face --------------------------------------------------- */

namespace sugarcast::chat {

ChatService::ChatService(const Config &config, Store &store, HttpServer &http, Metrics &metrics,
                         GiftSink on_gift)
    : impl_(std::make_unique<Impl>(config, store, http, metrics, std::move(on_gift)))
{}

ChatService::~ChatService() = default;

bool ChatService::start(std::string &error)
{
  return impl_->start(error);
}

namespace {

/* Puts ID into SET or takes it out; whether that changed anything. */
bool set_membership(std::set<std::string> &set, const std::string &id, bool in)
{
  return in ? set.insert(id).second : set.erase(id) > 0;
}

} // namespace

void ChatService::set_stream_live(const std::string &stream_id, bool live)
{
  Impl &d = *impl_;
  d.reconnecting_streams.erase(stream_id);
  if (set_membership(d.live_streams, stream_id, live))
    d.broadcast(stream_id, encode_stream_state(live ? "live" : "offline"));
}

void ChatService::set_stream_reconnecting(const std::string &stream_id, bool reconnecting)
{
  Impl &d = *impl_;
  if (d.live_streams.count(stream_id) &&
      set_membership(d.reconnecting_streams, stream_id, reconnecting))
    d.broadcast(stream_id, encode_stream_state(reconnecting ? "reconnecting" : "live"));
}

void ChatService::shutdown(std::function<void()> done)
{
  Impl &d = *impl_;
  d.stopping = true;
  if (!d.fanout) {
    done();
    return;
  }
  Impl *impl = &d;
  d.fanout->close_all(close_code::going_away, "the server is shutting down", [impl, done] {
    impl->main_queue.post([impl, done] {
      impl->after_flush = done;
      if (impl->flush_source) {
        g_source_remove(impl->flush_source);
        impl->flush_source = 0;
      }
      impl->flush_backoff_ms = 0;
      impl->flush_history();
    });
  });
}

std::vector<std::pair<std::string, uint64_t>>
ChatService::clients(const std::string &stream_id) const
{
  std::vector<std::pair<std::string, uint64_t>> out;
  auto room = impl_->rooms.find(stream_id);
  if (room == impl_->rooms.end())
    return out;
  for (ConnId id : room->second->conns) {
    auto it = impl_->sessions.find(id);
    if (it != impl_->sessions.end() && !it->second.banned)
      out.emplace_back(it->second.client, static_cast<uint64_t>(id));
  }
  return out;
}

void ChatService::on_message(std::function<void(const std::string &stream_id)> callback)
{
  impl_->on_message = std::move(callback);
}

size_t ChatService::connections() const
{
  return impl_->fanout ? impl_->fanout->stats().connections : 0;
}

} // namespace sugarcast::chat
