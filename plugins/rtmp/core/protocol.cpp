/* Sugarcast RTMP — one publisher's connection as a state machine. */
#include "protocol.h"

#include <glib.h>

namespace sugarcast::rtmp {

namespace {

constexpr uint32_t kServerWindowAckSize = 2500000;
constexpr uint32_t kServerChunkSize = 4096;
constexpr uint32_t kMaxStreamsPerConnection = 8;
constexpr uint32_t kCommandChunkStream = 3;
constexpr uint32_t kStatusChunkStream = 5;

std::string unescape(const std::string &s)
{
  g_autofree gchar *plus_as_space = g_strdup(s.c_str());
  for (gchar *c = plus_as_space; *c; ++c)
    if (*c == '+')
      *c = ' ';
  g_autofree gchar *decoded = g_uri_unescape_string(plus_as_space, nullptr);
  return decoded ? std::string(decoded) : std::string(plus_as_space);
}

} // namespace

std::string PublishInfo::arg(const std::string &name) const
{
  for (const auto &[key, value] : args)
    if (key == name)
      return value;
  return {};
}

std::vector<std::pair<std::string, std::string>> parse_query(const std::string &query)
{
  std::vector<std::pair<std::string, std::string>> args;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string::npos)
      end = query.size();
    const std::string part = query.substr(start, end - start);
    if (!part.empty()) {
      const size_t eq = part.find('=');
      if (eq == std::string::npos)
        args.emplace_back(unescape(part), "");
      else
        args.emplace_back(unescape(part.substr(0, eq)), unescape(part.substr(eq + 1)));
    }
    start = end + 1;
  }
  return args;
}

const char *refuse_code_string(RefuseCode code)
{
  return code == RefuseCode::Denied ? "NetStream.Publish.Denied" : "NetStream.Publish.BadName";
}

ServerProtocol::ServerProtocol(ChunkLimits limits, std::string client_address) : reader_(limits)
{
  info_.client_address = std::move(client_address);
}

bool ServerProtocol::fail(std::string what)
{
  if (error_.empty())
    error_ = std::move(what);
  state_ = State::Ended;
  return false;
}

bool ServerProtocol::feed(const uint8_t *data, size_t size, std::vector<uint8_t> &out)
{
  if (!error_.empty())
    return false;
  bytes_received_ += size;
  if (state_ == State::Handshake) {
    const size_t used = handshake_.feed(data, size, out);
    if (handshake_.failed())
      return fail(handshake_.error());
    if (!handshake_.done())
      return true;
    state_ = State::WaitConnect;
    data += used;
    size -= used;
  }
  if (size == 0)
    return true;
  pending_.clear();
  const bool parsed = reader_.feed(data, size, pending_);
  for (Message &m : pending_)
    if (!handle(m, out))
      return false;
  if (!parsed)
    return fail(reader_.error());

  if (window_ack_size_ > 0 && bytes_received_ - last_ack_ >= window_ack_size_) {
    last_ack_ = bytes_received_;
    send(make_acknowledgement(static_cast<uint32_t>(bytes_received_)), out);
  }
  return true;
}

void ServerProtocol::send(Message m, std::vector<uint8_t> &out)
{
  writer_.write(m, out);
}

void ServerProtocol::send_command(uint32_t stream_id, const std::vector<AmfValue> &values,
                                  std::vector<uint8_t> &out)
{
  Message m;
  m.chunk_stream = stream_id == 0 ? kCommandChunkStream : kStatusChunkStream;
  m.type = kCommandAmf0;
  m.stream_id = stream_id;
  m.payload = amf_encode_all(values);
  send(std::move(m), out);
}

void ServerProtocol::send_status(uint32_t stream_id, const char *level, const std::string &code,
                                 const std::string &description, std::vector<uint8_t> &out)
{
  AmfValue info = AmfValue::object({{"level", AmfValue::string(level)},
                                    {"code", AmfValue::string(code)},
                                    {"description", AmfValue::string(description)}});
  if (!info_.stream.empty())
    info.set("details", AmfValue::string(info_.stream));
  send_command(stream_id,
               {AmfValue::string("onStatus"), AmfValue::number(0), AmfValue::null(), info}, out);
}

bool ServerProtocol::handle(Message &m, std::vector<uint8_t> &out)
{
  if (state_ == State::Ended)
    return true; /* a refusal is being sent: the rest is not read */
  switch (m.type) {
  case kSetChunkSize:
  case kAbort: /* applied by the reader */
  case kAcknowledgement:
  case kSetPeerBandwidth:
    return true;
  case kWindowAckSize:
    if (m.payload.size() < 4)
      return fail("Window Acknowledgement Size message of " + std::to_string(m.payload.size()) +
                  " bytes, expected 4");
    window_ack_size_ = uint32_t(m.payload[0]) << 24 | uint32_t(m.payload[1]) << 16 |
                       uint32_t(m.payload[2]) << 8 | m.payload[3];
    return true;
  case kUserControl: {
    if (m.payload.size() < 2)
      return fail("User Control message of " + std::to_string(m.payload.size()) +
                  " bytes, expected at least 2");
    const uint16_t event = static_cast<uint16_t>(m.payload[0] << 8 | m.payload[1]);
    if (event == kPingRequest && m.payload.size() >= 6) {
      const uint32_t value = uint32_t(m.payload[2]) << 24 | uint32_t(m.payload[3]) << 16 |
                             uint32_t(m.payload[4]) << 8 | m.payload[5];
      send(make_user_control(kPingResponse, value), out);
    }
    return true;
  }
  case kCommandAmf0:
    return handle_command(m, m.payload.data(), m.payload.size(), out);
  case kCommandAmf3:
    /* AMF3 commands start with a format byte; publishers put AMF0 after it. */
    if (m.payload.empty())
      return fail("empty AMF3 command message");
    return handle_command(m, m.payload.data() + 1, m.payload.size() - 1, out);
  case kAudio:
  case kVideo:
  case kDataAmf0:
  case kDataAmf3:
    handle_media(m);
    return true;
  case kAggregate:
    handle_aggregate(m);
    return true;
  default:
    ++ignored_;
    return true;
  }
}

bool ServerProtocol::handle_command(const Message &m, const uint8_t *data, size_t size,
                                    std::vector<uint8_t> &out)
{
  AmfReader reader(data, size);
  auto values = reader.read_all();
  if (!values)
    return fail("malformed command: " + reader.error());
  if (values->size() < 2 || !(*values)[0].is_string() || !(*values)[1].is_number())
    return fail("command without a name and a transaction id");
  const std::string &name = (*values)[0].as_string();
  const double txn = (*values)[1].as_number();

  if (name == "connect")
    return handle_connect(txn, *values, out);
  if (state_ == State::WaitConnect)
    return fail("'" + name + "' before 'connect'");

  if (name == "createStream") {
    if (next_stream_id_ > kMaxStreamsPerConnection)
      return fail("more than " + std::to_string(kMaxStreamsPerConnection) +
                  " createStream calls on one connection");
    send_command(0,
                 {AmfValue::string("_result"), AmfValue::number(txn), AmfValue::null(),
                  AmfValue::number(next_stream_id_++)},
                 out);
    return true;
  }
  if (name == "publish")
    return handle_publish(m, txn, *values, out);
  if (name == "FCUnpublish" || name == "deleteStream" || name == "closeStream") {
    if (state_ == State::Publishing || state_ == State::AwaitingAnswer)
      end_publish();
    return true;
  }
  if (name == "releaseStream" || name == "FCPublish" || name == "_checkbw" ||
      name == "getStreamLength") {
    if (name == "FCPublish" && values->size() >= 4 && (*values)[3].is_string())
      send_command(0,
                   {AmfValue::string("onFCPublish"), AmfValue::number(0), AmfValue::null(),
                    AmfValue::object({{"code", AmfValue::string("NetStream.Publish.Start")},
                                      {"description", (*values)[3]}})},
                   out);
    return true;
  }
  if (name == "play" || name == "play2") {
    send_status(m.stream_id, "error", "NetStream.Play.Failed",
                "This server only accepts publishing", out);
    return fail("the client asked to play; this server only accepts publishing");
  }
  ++ignored_;
  return true;
}

bool ServerProtocol::handle_connect(double txn, const std::vector<AmfValue> &args,
                                    std::vector<uint8_t> &out)
{
  if (state_ != State::WaitConnect)
    return fail("a second 'connect' on the same connection");
  const AmfValue *object = args.size() >= 3 && args[2].is_object() ? &args[2] : nullptr;
  std::string app = object ? object->get_string("app") : std::string();
  const size_t q = app.find('?');
  if (q != std::string::npos)
    app.resize(q);
  while (!app.empty() && app.back() == '/')
    app.pop_back();
  auto reject = [&](const std::string &description, const std::string &why) {
    send_command(0,
                 {AmfValue::string("_error"), AmfValue::number(txn), AmfValue::null(),
                  AmfValue::object({{"level", AmfValue::string("error")},
                                    {"code", AmfValue::string("NetConnection.Connect.Rejected")},
                                    {"description", AmfValue::string(description)}})},
                 out);
    return fail(why);
  };
  if (!connect_rejection_.empty())
    return reject(connect_rejection_, "connect rejected: " + connect_rejection_);
  if (app.empty())
    return reject("No application name in the URL: use rtmp://HOST/APP with a stream key",
                  "'connect' without an application name");
  info_.app = app;
  info_.tc_url = object->get_string("tcUrl");
  info_.encoder = object->get_string("flashVer");
  if (info_.encoder.empty())
    info_.encoder = object->get_string("flashver");
  const AmfValue *encoding = object->get("objectEncoding");
  const double object_encoding = encoding && encoding->is_number() ? encoding->as_number() : 0;

  send(make_window_ack_size(kServerWindowAckSize), out);
  send(make_set_peer_bandwidth(kServerWindowAckSize, 2), out);
  send(make_set_chunk_size(kServerChunkSize), out);
  writer_.set_chunk_size(kServerChunkSize);
  send_command(0,
               {AmfValue::string("_result"), AmfValue::number(txn),
                AmfValue::object({{"fmsVer", AmfValue::string("FMS/3,0,1,123")},
                                  {"capabilities", AmfValue::number(31)}}),
                AmfValue::object({{"level", AmfValue::string("status")},
                                  {"code", AmfValue::string("NetConnection.Connect.Success")},
                                  {"description", AmfValue::string("Connection succeeded.")},
                                  {"objectEncoding", AmfValue::number(object_encoding)}})},
               out);
  state_ = State::Connected;
  return true;
}

bool ServerProtocol::handle_publish(const Message &m, double, const std::vector<AmfValue> &args,
                                    std::vector<uint8_t> &out)
{
  if (state_ != State::Connected)
    return fail("a second 'publish' on the same connection");
  if (m.stream_id == 0 || m.stream_id >= next_stream_id_) {
    send_status(m.stream_id, "error", "NetStream.Publish.BadName",
                "publish on a stream that createStream did not make", out);
    return fail("'publish' on message stream " + std::to_string(m.stream_id) +
                ", which createStream did not make");
  }
  std::string name = args.size() >= 4 && args[3].is_string() ? args[3].as_string() : "";
  const size_t q = name.find('?');
  if (q != std::string::npos) {
    info_.query = name.substr(q + 1);
    info_.args = parse_query(info_.query);
    name.resize(q);
  }
  info_.stream = name;
  info_.publish_type = args.size() >= 5 && args[4].is_string() ? args[4].as_string() : "live";
  publish_stream_id_ = m.stream_id;
  if (name.empty()) {
    send_status(m.stream_id, "error", "NetStream.Publish.BadName",
                "No stream name: put the stream key after the application, "
                "rtmp://HOST/APP/KEY",
                out);
    return fail("'publish' without a stream name");
  }
  state_ = State::AwaitingAnswer;
  if (on_publish)
    on_publish(info_);
  return true;
}

void ServerProtocol::accept_publish(std::vector<uint8_t> &out)
{
  if (state_ != State::AwaitingAnswer)
    return;
  state_ = State::Publishing;
  send(make_user_control(kStreamBegin, publish_stream_id_), out);
  send_status(publish_stream_id_, "status", "NetStream.Publish.Start",
              info_.stream + " is now published.", out);
}

void ServerProtocol::refuse_publish(RefuseCode code, const std::string &description,
                                    std::vector<uint8_t> &out)
{
  if (state_ != State::AwaitingAnswer)
    return;
  send_status(publish_stream_id_, "error", refuse_code_string(code), description, out);
  fail("publish refused: " + description);
}

void ServerProtocol::end_publish()
{
  const bool was_publishing = state_ == State::Publishing;
  state_ = State::Ended;
  if (was_publishing && on_unpublish)
    on_unpublish();
}

void ServerProtocol::handle_media(Message &m)
{
  if (state_ != State::Publishing || m.stream_id != publish_stream_id_) {
    ++ignored_;
    return;
  }
  if (m.type == kDataAmf3 || m.type == kDataAmf0) {
    if (m.type == kDataAmf3) {
      if (m.payload.empty())
        return;
      m.payload.erase(m.payload.begin());
      m.type = kDataAmf0;
    }
    AmfReader reader(m.payload.data(), m.payload.size());
    auto first = reader.read();
    if (!first || !first->is_string()) {
      ++ignored_;
      return;
    }
    if (first->as_string() == "@setDataFrame")
      m.payload.erase(m.payload.begin(),
                      m.payload.begin() + static_cast<std::ptrdiff_t>(reader.position()));
  } else if (m.payload.empty()) {
    return;
  }
  ++media_messages_;
  if (on_media)
    on_media(std::move(m));
}

/* An aggregate message holds FLV-style tags whose timestamps are relative
 * to the first one; the message's own timestamp anchors them. */
void ServerProtocol::handle_aggregate(const Message &m)
{
  const uint8_t *p = m.payload.data();
  size_t left = m.payload.size();
  bool first = true;
  uint32_t first_ts = 0;
  while (left >= 11) {
    const uint8_t type = p[0];
    const uint32_t size = uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
    const uint32_t ts = uint32_t(p[7]) << 24 | uint32_t(p[4]) << 16 | uint32_t(p[5]) << 8 | p[6];
    if (size > left - 11) {
      ++ignored_;
      return;
    }
    if (first) {
      first_ts = ts;
      first = false;
    }
    Message sub;
    sub.chunk_stream = m.chunk_stream;
    sub.type = type;
    sub.stream_id = m.stream_id;
    sub.timestamp = m.timestamp + (ts - first_ts);
    sub.payload.assign(p + 11, p + 11 + size);
    if (type == kAudio || type == kVideo || type == kDataAmf0)
      handle_media(sub);
    const size_t step = 11 + size + (left - 11 - size >= 4 ? 4 : left - 11 - size);
    p += step;
    left -= step;
  }
}

} // namespace sugarcast::rtmp
