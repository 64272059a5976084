/* sugarcastd chat — the chat protocol (schemas/chat.schema.json,
 * docs/protocol.md): client messages parsed and checked where they enter,
 * server messages encoded once per event.
 *
 * Parsing is thread-safe (the fan-out workers call it) and never changes
 * anything: a message it refuses gets an `error` reply and nothing else.
 */
#pragma once

#include "../jsonschema.h"
#include "../store/store.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sugarcast::chat {

constexpr int kProtocolVersion = 1;

/* In rising order of rights (code compares them). A creator uploads short
 * videos; in chat a creator is a viewer. */
enum class Role { Anonymous, Viewer, Creator, Moderator, Streamer, Admin };
const char *role_name(Role role);
/* "viewer" etc.; false when the name is not a role a token may carry. */
bool parse_role(std::string_view name, Role &role);

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

/* A small JSON text writer: messages are built as text, once per event. */
class JsonWriter
{
public:
  JsonWriter &begin_object();
  JsonWriter &end_object();
  JsonWriter &begin_array(const char *key = nullptr);
  JsonWriter &end_array();
  JsonWriter &key(const char *name);
  JsonWriter &string(const char *key, std::string_view value);
  JsonWriter &integer(const char *key, int64_t value);
  JsonWriter &boolean(const char *key, bool value);
  /* `json` is already JSON (an element of an array when key is nullptr). */
  JsonWriter &raw(const char *key, std::string_view json);
  std::string take() { return std::move(out_); }
  const std::string &text() const { return out_; }

private:
  void separator(const char *key);
  std::string out_;
  bool first_ = true;
};

void json_escape_append(std::string &out, std::string_view text);

/* Server messages, as JSON text. */
struct UserInfo
{
  std::string id;
  std::string name;
  Role role = Role::Anonymous;
};

std::string encode_chat(const ChatRecord &message, Role role);
std::string encode_error(const ProtocolError &error);
std::string encode_error(const char *code, const std::string &message, const std::string &ref = "");
std::string encode_pong(const std::string &ref, int64_t now);
std::string encode_deleted(const std::string &id, const std::string &by);
std::string encode_viewers(int64_t count);
std::string encode_stream_state(bool live);
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
std::string encode_leaderboard_entries(const std::vector<LeaderboardEntry> &entries);
std::string encode_leaderboard(const std::vector<LeaderboardEntry> &entries);
struct GiftView
{
  GiftRecord record;
  std::string name;      /* catalogue name */
  std::string animation; /* catalogue animation */
};
std::string encode_gift(const GiftView &gift);
std::string encode_gift_ack(const GiftRecord &gift, const std::string &ref);
struct WelcomeInfo
{
  std::string stream;
  UserInfo you;
  bool moderator = false;
  bool can_chat = false;
  int64_t viewers = 0;
  bool live = false;
  int64_t slow = 0;
  std::vector<std::string> history; /* encoded chat messages, oldest first */
  std::string leaderboard_entries;  /* encoded array, "" when none */
};
std::string encode_welcome(const WelcomeInfo &info);

} // namespace sugarcast::chat
