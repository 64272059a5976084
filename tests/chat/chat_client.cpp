/* Test support: a libsoup chat client. See chat_client.h. */
#include "chat_client.h"

#include "store_await.h"

#include <gtest/gtest.h>

namespace sugarcast::test {

ChatMessage::ChatMessage(std::string text) : text_(std::move(text))
{
  g_autoptr(JsonParser) parser = json_parser_new();
  if (json_parser_load_from_data(parser, text_.data(), static_cast<gssize>(text_.size()), nullptr))
    root_.reset(json_node_copy(json_parser_get_root(parser)), json_node_unref);
  else
    ADD_FAILURE() << "the server sent something that is not JSON: " << text_;
}

JsonNode *ChatMessage::find(const std::string &path) const
{
  JsonNode *node = root_.get();
  size_t start = 0;
  while (node && start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string name = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!JSON_NODE_HOLDS_OBJECT(node))
      return nullptr;
    node = json_object_get_member(json_node_get_object(node), name.c_str());
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
  return node;
}

std::string ChatMessage::str(const std::string &path) const
{
  JsonNode *n = find(path);
  return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
             ? json_node_get_string(n)
             : "";
}

int64_t ChatMessage::num(const std::string &path) const
{
  JsonNode *n = find(path);
  return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64
             ? json_node_get_int(n)
             : -1;
}

bool ChatMessage::flag(const std::string &path) const
{
  JsonNode *n = find(path);
  return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
         json_node_get_boolean(n);
}

bool ChatMessage::has(const std::string &path) const
{
  return find(path) != nullptr;
}

int64_t ChatMessage::count(const std::string &path) const
{
  JsonNode *n = find(path);
  return n && JSON_NODE_HOLDS_ARRAY(n) ? json_array_get_length(json_node_get_array(n)) : -1;
}

ChatMessage ChatMessage::at(const std::string &path, size_t i) const
{
  JsonNode *n = find(path);
  if (!n || !JSON_NODE_HOLDS_ARRAY(n) || i >= json_array_get_length(json_node_get_array(n))) {
    ADD_FAILURE() << path << "[" << i << "] is not in " << text_;
    return ChatMessage("{}");
  }
  g_autofree gchar *json =
      json_to_string(json_array_get_element(json_node_get_array(n), static_cast<guint>(i)), FALSE);
  return ChatMessage(json);
}

std::unique_ptr<ChatClient> ChatClient::connect(const std::string &url, int *status,
                                                const std::vector<std::string> &protocols)
{
  std::vector<char *> offered;
  for (const auto &p : protocols)
    offered.push_back(const_cast<char *>(p.c_str()));
  offered.push_back(nullptr);
  std::unique_ptr<ChatClient> client(new ChatClient);
  client->session_ = soup_session_new_with_options("timeout", 20, nullptr);
  g_autoptr(SoupMessage) msg = soup_message_new("GET", url.c_str());
  if (!msg) {
    ADD_FAILURE() << "not a URL: " << url;
    return nullptr;
  }
  struct Result
  {
    bool done = false;
    SoupWebsocketConnection *ws = nullptr;
    std::string error;
  } result;
  soup_session_websocket_connect_async(
      client->session_, msg, nullptr, protocols.empty() ? nullptr : offered.data(),
      G_PRIORITY_DEFAULT, nullptr,
      [](GObject *session, GAsyncResult *res, gpointer data) {
        auto *r = static_cast<Result *>(data);
        g_autoptr(GError) error = nullptr;
        r->ws = soup_session_websocket_connect_finish(SOUP_SESSION(session), res, &error);
        if (error)
          r->error = error->message;
        r->done = true;
      },
      &result);
  if (!run_until([&] { return result.done; }, 20s)) {
    ADD_FAILURE() << "no WebSocket handshake within 20 s: " << url;
    return nullptr;
  }
  if (status)
    *status = static_cast<int>(soup_message_get_status(msg));
  if (!result.ws)
    return nullptr;
  client->ws_ = result.ws;
  /* Big enough for a welcome with a long history. */
  soup_websocket_connection_set_max_incoming_payload_size(client->ws_, 16 << 20);
  g_signal_connect(client->ws_, "message", G_CALLBACK(on_message), client.get());
  g_signal_connect(client->ws_, "closed", G_CALLBACK(on_closed), client.get());
  return client;
}

std::string ChatClient::protocol() const
{
  const char *p = ws_ ? soup_websocket_connection_get_protocol(ws_) : nullptr;
  return p ? p : "";
}

ChatClient::~ChatClient()
{
  if (ws_) {
    g_signal_handlers_disconnect_by_data(ws_, this);
    if (soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(ws_, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
    g_object_unref(ws_);
  }
  if (session_)
    g_object_unref(session_);
}

void ChatClient::on_message(SoupWebsocketConnection *, gint type, GBytes *message, gpointer self)
{
  auto *c = static_cast<ChatClient *>(self);
  gsize size = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(message, &size));
  if (type != SOUP_WEBSOCKET_DATA_TEXT) {
    ADD_FAILURE() << "the server sent a binary message";
    return;
  }
  c->queue_.emplace_back(std::string(data ? data : "", size));
}

void ChatClient::on_closed(SoupWebsocketConnection *, gpointer self)
{
  static_cast<ChatClient *>(self)->closed_ = true;
}

void ChatClient::send(const std::string &json)
{
  soup_websocket_connection_send_text(ws_, json.c_str());
}

void ChatClient::send_binary(const std::string &bytes)
{
  soup_websocket_connection_send_binary(ws_, bytes.data(), bytes.size());
}

std::optional<ChatMessage> ChatClient::next(const std::string &type,
                                            std::chrono::milliseconds timeout, bool quiet)
{
  std::optional<ChatMessage> found;
  auto take = [&] {
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (it->type() == type) {
        found = std::move(*it);
        queue_.erase(it);
        return true;
      }
    return closed_;
  };
  run_until(take, timeout);
  if (!found && !quiet) {
    std::string queued;
    for (const auto &m : queue_)
      queued += "\n  " + m.text();
    ADD_FAILURE() << "no \"" << type << "\" message within " << timeout.count() << " ms"
                  << (closed_ ? " (the connection closed: " + close_description() + ")" : "")
                  << "; queued:" << queued;
  }
  return found;
}

std::string ChatClient::close_description() const
{
  const char *reason = soup_websocket_connection_get_close_data(ws_);
  return std::to_string(soup_websocket_connection_get_close_code(ws_)) + " " +
         (reason ? reason : "");
}

bool ChatClient::has_queued(const std::string &type) const
{
  for (const auto &m : queue_)
    if (m.type() == type)
      return true;
  return false;
}

int ChatClient::wait_closed(std::chrono::milliseconds timeout)
{
  if (!run_until([&] { return closed_; }, timeout)) {
    ADD_FAILURE() << "the server did not close the connection within " << timeout.count() << " ms";
    return 0;
  }
  return soup_websocket_connection_get_close_code(ws_);
}

bool ChatClient::open() const
{
  return !closed_ && soup_websocket_connection_get_state(ws_) == SOUP_WEBSOCKET_STATE_OPEN;
}

void ChatClient::close()
{
  if (open())
    soup_websocket_connection_close(ws_, SOUP_WEBSOCKET_CLOSE_NORMAL, nullptr);
  run_until([&] { return closed_; }, 5s);
}

} // namespace sugarcast::test
