/* Sugarcast RTMP — one publisher's connection as a state machine.
 *
 * ServerProtocol takes the bytes a client sends and answers with the bytes
 * to send back, without any socket: the handshake, then chunk streams, the
 * protocol control messages (Set Chunk Size, Abort, Acknowledgement, Window
 * Acknowledgement Size, Set Peer Bandwidth, User Control Stream Begin and
 * ping) and the AMF0 commands of a publish (connect, releaseStream,
 * FCPublish, createStream, publish, FCUnpublish, deleteStream, closeStream).
 * A publish is reported through on_publish and waits, with the client, until
 * the owner calls accept_publish or refuse_publish. Audio, video and
 * metadata (@setDataFrame is dropped, onMetaData kept) come out of on_media
 * as messages ready to become FLV tags.
 */
#pragma once

#include "amf0.h"
#include "chunk.h"
#include "handshake.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sugarcast::rtmp {

struct PublishInfo
{
  std::string app;    /* "live" from rtmp://host/live/KEY */
  std::string stream; /* "KEY", without the query */
  std::string query;  /* "exp=1&sig=ab" from KEY?exp=1&sig=ab, without the "?" */
  std::vector<std::pair<std::string, std::string>> args; /* the query, parsed and unescaped */
  std::string client_address;                            /* "127.0.0.1:52344" */
  std::string encoder;      /* connect's flashVer, e.g. "FMLE/3.0 (compatible; Lavf59.27.100)" */
  std::string tc_url;       /* connect's tcUrl, e.g. "rtmp://127.0.0.1:1935/live" */
  std::string publish_type; /* "live", "record" or "append" as the client asked */

  /* The value of a query argument, or "" */
  std::string arg(const std::string &name) const;
};

/* "a=1&b=x%20y" → {{"a","1"},{"b","x y"}}; malformed escapes are kept as written. */
std::vector<std::pair<std::string, std::string>> parse_query(const std::string &query);

/* onStatus codes a refused publisher receives. */
enum class RefuseCode {
  BadName, /* NetStream.Publish.BadName: already publishing, or an unusable name */
  Denied,  /* NetStream.Publish.Denied: authentication refused it */
};
const char *refuse_code_string(RefuseCode code);

class ServerProtocol
{
public:
  std::function<void(const PublishInfo &)> on_publish;
  /* Audio (8), video (9) or script data (18, starting with "onMetaData"). */
  std::function<void(Message &&)> on_media;
  /* The client said it stops publishing (FCUnpublish, deleteStream, closeStream). */
  std::function<void()> on_unpublish;

  explicit ServerProtocol(ChunkLimits limits = {}, std::string client_address = {});

  /* Feeds bytes from the client; appends bytes to send to out. Returns false
   * when the connection must close (error() says why; anything already in
   * out, such as a refusal, should still be sent first). */
  bool feed(const uint8_t *data, size_t size, std::vector<uint8_t> &out);

  /* Makes the client's connect be answered NetConnection.Connect.Rejected
   * with description (e.g. a connection limit reached), then the connection
   * ends. Call before its connect arrives. */
  void reject_connect(std::string description) { connect_rejection_ = std::move(description); }

  /* Answers the publish reported through on_publish. */
  void accept_publish(std::vector<uint8_t> &out);
  void refuse_publish(RefuseCode code, const std::string &description, std::vector<uint8_t> &out);

  bool handshake_done() const { return handshake_.done(); }
  bool publishing() const { return state_ == State::Publishing; }
  bool awaiting_answer() const { return state_ == State::AwaitingAnswer; }
  /* The publish ended (FCUnpublish, deleteStream, closeStream) or was refused. */
  bool ended() const { return state_ == State::Ended; }
  const std::string &error() const { return error_; }
  const PublishInfo &publish_info() const { return info_; }
  uint64_t bytes_received() const { return bytes_received_; }
  uint64_t media_messages() const { return media_messages_; }
  /* Messages the client sent that were not understood and skipped. */
  uint64_t ignored_messages() const { return ignored_; }

private:
  enum class State { Handshake, WaitConnect, Connected, AwaitingAnswer, Publishing, Ended };
  std::string connect_rejection_;

  bool handle(Message &m, std::vector<uint8_t> &out);
  bool handle_command(const Message &m, const uint8_t *data, size_t size,
                      std::vector<uint8_t> &out);
  bool handle_connect(double txn, const std::vector<AmfValue> &args, std::vector<uint8_t> &out);
  bool handle_publish(const Message &m, double txn, const std::vector<AmfValue> &args,
                      std::vector<uint8_t> &out);
  void handle_media(Message &m);
  void handle_aggregate(const Message &m);
  void end_publish();
  void send(Message m, std::vector<uint8_t> &out);
  void send_command(uint32_t stream_id, const std::vector<AmfValue> &values,
                    std::vector<uint8_t> &out);
  void send_status(uint32_t stream_id, const char *level, const std::string &code,
                   const std::string &description, std::vector<uint8_t> &out);
  bool fail(std::string what);

  State state_ = State::Handshake;
  ServerHandshake handshake_;
  ChunkReader reader_;
  ChunkWriter writer_;
  PublishInfo info_;
  std::string error_;
  std::vector<Message> pending_;
  uint32_t publish_stream_id_ = 0;
  uint32_t next_stream_id_ = 1;
  uint32_t window_ack_size_ = 0; /* from the client; 0 until it sets one */
  uint64_t bytes_received_ = 0;
  uint64_t last_ack_ = 0;
  uint64_t media_messages_ = 0;
  uint64_t ignored_ = 0;
};

} // namespace sugarcast::rtmp
