/* sugarcastd chat — the chat protocol (schemas/chat.schema.json,
 * docs/protocol.md): client messages parsed and checked where they enter,
 * server messages encoded once per event.
 *
 * Parsing is thread-safe (the fan-out workers call it) and never changes
 * anything: a message it refuses gets an `error` reply and nothing else.
 *
 * The encoders take the protocol's own structs (ChatLine, GiftLine,
 * LeaderLine), not the store's records: the wire format does not follow
 * the schema of a table. chat_impl.h fills them from the records.
 */
#pragma once

#include "../jsonschema.h"
#include "../jsonwriter.h"
#include "role.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sugarcast::chat {

constexpr int kProtocolVersion = 1;

struct ClientMessage
{
  enum class Type { Chat, Gift, Delete, Mute, Ban, Unban, Slow, Ping } type = Type::Ping;
  std::string ref;
  std::string text;            /* chat */
  std::string gift;            /* gift: catalogue id */
  int64_t count = 0;           /* gift */
  std::string idempotency_key; /* gift */
  std::string id;              /* delete: message id */
  std::string user;            /* mute, ban, unban */
  std::string reason;          /* mute, ban */
  int64_t seconds = -1;        /* mute, ban, slow; -1 when absent */
};

/* Why a client message was refused: an `error` reply. */
struct ProtocolError
{
  std::string code; /* bad_message, too_long, ... */
  std::string message;
  std::string ref;
  int64_t retry_after_ms = -1; /* -1: not said */
  bool retryable = false;
};

class ProtocolParser
{
public:
  /* Loads the embedded schema; nullptr with `error` if it does not load. */
  static std::unique_ptr<ProtocolParser> load(std::string &error);

  /* One text message from a client. `max_chars`: chat.max_message_chars. */
  std::variant<ClientMessage, ProtocolError> parse(std::string_view text, int max_chars) const;

  /* Checks a server message against definitions/server_message (tests). */
  std::vector<SchemaViolation> check_server_message(JsonNode *message) const;
  std::vector<SchemaViolation> check_client_message(JsonNode *message) const;

private:
  std::unique_ptr<JsonSchema> client_;
  std::unique_ptr<JsonSchema> server_;
};

/* Server messages, as JSON text. */
struct UserInfo
{
  std::string id;
  std::string name;
  Role role = Role::Anonymous;
};

/* A chat message as the protocol shows it. */
struct ChatLine
{
  std::string id;
  std::string user_id;
  std::string user_name;
  std::string text;
  int64_t created_at = 0; /* ms since the epoch */
};
/* A gift as the protocol shows it. */
struct GiftLine
{
  int64_t ledger_id = 0;
  std::string idempotency_key;
  std::string user_id;
  std::string user_name;
  std::string gift_id;
  int64_t count = 1;
  int64_t coins = 0;
  int64_t created_at = 0;
};
/* One leaderboard row. */
struct LeaderLine
{
  std::string user_id;
  std::string user_name;
  int64_t coins = 0;
  int64_t gifts = 0;
};

std::string encode_chat(const ChatLine &message, Role role);
std::string encode_error(const ProtocolError &error);
std::string encode_error(const char *code, const std::string &message, const std::string &ref = "");
std::string encode_pong(const std::string &ref, int64_t now);
std::string encode_deleted(const std::string &id, const std::string &by);
std::string encode_viewers(int64_t count);
/* STATE: "live", "reconnecting" or "offline". */
std::string encode_stream_state(const char *state);
struct ModerationEvent
{
  std::string action; /* mute, ban, unban, slow */
  std::string user;
  std::string by;
  int64_t seconds = -1;
  int64_t until = -1;
  std::string reason;
};
std::string encode_moderation(const ModerationEvent &event);
std::string encode_leaderboard_entries(const std::vector<LeaderLine> &entries);
std::string encode_leaderboard(const std::vector<LeaderLine> &entries);
struct GiftView
{
  GiftLine record;
  std::string name;      /* catalogue name */
  std::string animation; /* catalogue animation */
};
std::string encode_gift(const GiftView &gift);
std::string encode_gift_ack(const GiftLine &gift, const std::string &ref);
struct WelcomeInfo
{
  std::string stream;
  UserInfo you;
  bool moderator = false;
  bool can_chat = false;
  int64_t viewers = 0;
  bool live = false;
  bool reconnecting = false; /* live, its encoder gone for now: said only when true */
  int64_t slow = 0;
  std::vector<std::string> history; /* encoded chat messages, oldest first */
  std::string leaderboard_entries;  /* encoded array, "" when none */
};
std::string encode_welcome(const WelcomeInfo &info);

} // namespace sugarcast::chat
