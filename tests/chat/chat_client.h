/* Test support: a chat client on libsoup's WebSocket client, as a browser
 * or an app would use the protocol.
 *
 * Everything runs on the thread-default main context: connect() and the
 * waits iterate it until what they wait for arrives or their timeout passes
 * (then the test fails instead of hanging). Messages queue per client, so
 * waiting on one client lets the others' messages pile up for later.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sugarcast::test {

using namespace std::chrono_literals;

/* One server message: its text and parsed members. */
class ChatMessage
{
public:
  explicit ChatMessage(std::string text);
  const std::string &text() const { return text_; }
  std::string type() const { return str("type"); }
  /* Members by dotted path ("user.id"); "" / -1 / false when absent. */
  std::string str(const std::string &path) const;
  int64_t num(const std::string &path) const;
  bool flag(const std::string &path) const;
  bool has(const std::string &path) const;
  /* The length of an array member; -1 when it is not an array. */
  int64_t count(const std::string &path) const;
  /* Element `i` of an array member, as a message. */
  ChatMessage at(const std::string &path, size_t i) const;

private:
  JsonNode *find(const std::string &path) const;
  std::string text_;
  std::shared_ptr<JsonNode> root_;
};

class ChatClient
{
public:
  /* Connects to ws://… and waits for the handshake. On failure, null, with
   * the HTTP status (0 when there was no answer) in `status`. */
  static std::unique_ptr<ChatClient> connect(const std::string &url, int *status = nullptr,
                                             const std::vector<std::string> &protocols = {});
  ~ChatClient();
  ChatClient(const ChatClient &) = delete;
  ChatClient &operator=(const ChatClient &) = delete;

  void send(const std::string &json);
  void send_binary(const std::string &bytes);
  /* Removes and answers the first queued message of `type`, waiting for one;
   * nullopt (and a test failure unless `quiet`) on timeout or close. */
  std::optional<ChatMessage> next(const std::string &type, std::chrono::milliseconds timeout = 10s,
                                  bool quiet = false);
  /* Drops every queued message. */
  void discard() { queue_.clear(); }
  /* Whether a message of `type` is queued now (nothing waited for). */
  bool has_queued(const std::string &type) const;
  /* Waits until the server closed the connection; its close code, or 0. */
  int wait_closed(std::chrono::milliseconds timeout = 10s);
  bool open() const;
  /* The subprotocol the server chose ("" for none). */
  std::string protocol() const;
  /* "CODE reason" of the close, for messages. */
  std::string close_description() const;
  void close();

private:
  ChatClient() = default;
  static void on_message(SoupWebsocketConnection *, gint type, GBytes *message, gpointer self);
  static void on_closed(SoupWebsocketConnection *, gpointer self);

  SoupSession *session_ = nullptr;
  SoupWebsocketConnection *ws_ = nullptr;
  std::deque<ChatMessage> queue_;
  bool closed_ = false;
};

} // namespace sugarcast::test
