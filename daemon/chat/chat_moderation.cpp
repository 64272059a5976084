/* sugarcastd chat — moderation: who may moderate, delete, mute, ban,
 * unban, slow mode, and applying each to the room (also when another
 * daemon tells of it). Apart so that the rules of moderation read in one
 * place. */
#include "chat_impl.h"

#include <algorithm>

namespace sugarcast::chat {

bool ChatService::Impl::is_moderator(const Session &s)
{
  if (s.user.role >= Role::Moderator)
    return true;
  if (s.user.role == Role::Anonymous)
    return false;
  auto it = rooms.find(s.stream);
  return it != rooms.end() && it->second->moderators.count(s.user.id) > 0;
}

bool ChatService::Impl::protected_user(Room &rm, const std::string &user_id)
{
  if (rm.moderators.count(user_id))
    return true;
  for (ConnId id : rm.conns) {
    auto it = sessions.find(id);
    if (it != sessions.end() && it->second.user.id == user_id &&
        it->second.user.role >= Role::Moderator)
      return true;
  }
  return false;
}

void ChatService::Impl::moderate(Session &s, const ClientMessage &m)
{
  using T = ClientMessage::Type;
  static const char *names[] = {"chat", "gift", "delete", "mute", "ban", "unban", "slow", "ping"};
  const char *what = names[static_cast<int>(m.type)];
  if (!is_moderator(s)) {
    reply_error(s.id, "forbidden", std::string("only moderators may ") + what, m.ref);
    return;
  }
  Room &rm = room(s.stream);
  const std::string by = s.user.id;
  const ConnId conn = s.id;
  const std::string stream = s.stream;
  const std::string ref = m.ref;
  if ((m.type == T::Mute || m.type == T::Ban) && !m.user.empty()) {
    if (m.user == s.user.id) {
      reply_error(conn, "forbidden", std::string("you cannot ") + what + " yourself", ref);
      return;
    }
    if (s.user.role < Role::Streamer && protected_user(rm, m.user)) {
      reply_error(conn, "forbidden",
                  std::string("only the streamer or an admin may ") + what + " a moderator", ref);
      return;
    }
  }
  switch (m.type) {
  case T::Delete: {
    bool local = false;
    for (const auto &h : rm.history)
      local |= h.record.id == m.id;
    for (const auto &p : pending_history)
      local |= p.id == m.id && p.stream_id == stream;
    if (local) {
      apply_delete(stream, m.id, by);
      JsonWriter f;
      f.string("id", m.id).string("by", by);
      tell_cluster("deleted", stream, f);
    }
    const std::string id = m.id;
    store.delete_chat(stream, id, [this, local, conn, stream, id, by, ref](StoreResult<bool> r) {
      if (local) {
        if (!r.ok())
          g_warning("chat: message %s deleted here but not in the store: %s", id.c_str(),
                    r.error().message.c_str());
        return;
      }
      if (!r.ok()) {
        reply_error(conn, "unavailable", "cannot delete now: the store is unavailable", ref, 1000,
                    true);
      } else if (!r.value()) {
        reply_error(conn, "not_found", "no message " + id + " in this room", ref);
      } else {
        apply_delete(stream, id, by);
        JsonWriter f;
        f.string("id", id).string("by", by);
        tell_cluster("deleted", stream, f);
      }
    });
    break;
  }
  case T::Mute: {
    const int64_t seconds = m.seconds > 0 ? m.seconds : 600;
    const int64_t until = now_ms() + seconds * 1000;
    apply_mute(stream, m.user, until, seconds, by, m.reason);
    JsonWriter f;
    f.string("user", m.user).integer("until", until).integer("seconds", seconds);
    f.string("by", by).string("reason", m.reason);
    tell_cluster("mute", stream, f);
    break;
  }
  case T::Ban: {
    BanRecord ban;
    ban.user_id = m.user;
    ban.scope = config.chat.ban_scope == "global" ? "*" : stream;
    ban.reason = m.reason;
    ban.banned_by = by;
    ban.created_at = now_ms();
    ban.expires_at = m.seconds > 0 ? ban.created_at + m.seconds * 1000 : 0;
    store.ban_user(ban, [this, ban, stream, conn, ref](StoreResult<Done> r) {
      if (!r.ok()) {
        reply_error(conn, "unavailable", "the ban was not recorded: the store is unavailable", ref,
                    1000, r.error().retryable);
        return;
      }
      apply_ban(ban, stream);
      JsonWriter f;
      f.string("user", ban.user_id).string("scope", ban.scope).string("by", ban.banned_by);
      f.string("reason", ban.reason).integer("expires_at", ban.expires_at);
      tell_cluster("ban", stream, f);
    });
    break;
  }
  case T::Unban: {
    const std::string user = m.user;
    const std::string scope = config.chat.ban_scope == "global" ? "*" : stream;
    store.unban_user(user, scope, [this, user, stream, by, conn, ref](StoreResult<bool> r) {
      if (!r.ok()) {
        reply_error(conn, "unavailable", "the ban was not lifted: the store is unavailable", ref,
                    1000, r.error().retryable);
        return;
      }
      if (!r.value()) {
        reply_error(conn, "not_found", user + " is not banned here", ref);
        return;
      }
      broadcast(stream, encode_moderation({"unban", user, by}));
      JsonWriter f;
      f.string("user", user).string("by", by);
      tell_cluster("unban", stream, f);
    });
    break;
  }
  case T::Slow: {
    apply_slow(stream, m.seconds, by);
    JsonWriter f;
    f.integer("seconds", m.seconds).string("by", by);
    tell_cluster("slow", stream, f);
    break;
  }
  default:
    break;
  }
}

void ChatService::Impl::apply_delete(const std::string &stream, const std::string &id,
                                     const std::string &by)
{
  auto it = rooms.find(stream);
  if (it != rooms.end()) {
    auto &h = it->second->history;
    h.erase(std::remove_if(h.begin(), h.end(),
                           [&](const HistoryEntry &e) { return e.record.id == id; }),
            h.end());
  }
  broadcast(stream, encode_deleted(id, by));
}

void ChatService::Impl::apply_ban(const BanRecord &ban, const std::string &stream)
{
  std::string why =
      "you were banned from " + std::string(ban.scope == "*" ? "every room" : "this room");
  if (!ban.reason.empty())
    why += ": " + ban.reason;
  kick_user(ban.user_id, ban.scope, why);
  ModerationEvent e{"ban", ban.user_id, ban.banned_by};
  if (ban.expires_at > 0)
    e.until = ban.expires_at;
  e.reason = ban.reason;
  broadcast(stream, encode_moderation(e));
}

void ChatService::Impl::apply_mute(const std::string &stream, const std::string &user,
                                   int64_t until, int64_t seconds, const std::string &by,
                                   const std::string &reason)
{
  Room &rm = room(stream);
  rm.muted_until[user] = until;
  ModerationEvent e{"mute", user, by, seconds, until, reason};
  broadcast(stream, encode_moderation(e));
}

void ChatService::Impl::apply_slow(const std::string &stream, int64_t seconds,
                                   const std::string &by)
{
  room(stream).slow_seconds = seconds;
  broadcast(stream, encode_moderation({"slow", "", by, seconds}));
}

void ChatService::Impl::kick_user(const std::string &user_id, const std::string &scope,
                                  const std::string &why)
{
  for (auto &[id, s] : sessions) {
    if (s.user.id != user_id || (scope != "*" && s.stream != scope))
      continue;
    s.banned = true;
    send(id, encode_error("banned", why));
    fanout->close(id, close_code::banned, why);
  }
}

} // namespace sugarcast::chat
