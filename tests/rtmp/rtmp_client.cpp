/* Test support: what an RTMP publisher sends, and what the server answers. */
#include "rtmp_client.h"

#include <glib.h>

namespace sugarcast::test {

using namespace sugarcast::rtmp;

Bytes plain_c0c1()
{
  Bytes c(1537, 0);
  c[0] = 3;
  for (size_t i = 9; i < c.size(); ++i)
    c[i] = static_cast<uint8_t>(g_random_int());
  return c;
}

PublisherScript::PublisherScript(uint32_t chunk_size) : chunk_size_(chunk_size) {}

Bytes PublisherScript::set_chunk_size()
{
  Bytes out;
  writer_.write(make_set_chunk_size(chunk_size_), out);
  writer_.set_chunk_size(chunk_size_);
  return out;
}

Bytes PublisherScript::command(uint32_t stream_id, const std::vector<AmfValue> &values)
{
  Message m;
  m.chunk_stream = stream_id ? 8 : 3;
  m.type = kCommandAmf0;
  m.stream_id = stream_id;
  m.payload = amf_encode_all(values);
  Bytes out;
  writer_.write(m, out);
  return out;
}

Bytes PublisherScript::connect(const std::string &app, const std::string &flash_ver)
{
  return command(0, {AmfValue::string("connect"), AmfValue::number(1),
                     AmfValue::object({{"app", AmfValue::string(app)},
                                       {"type", AmfValue::string("nonprivate")},
                                       {"flashVer", AmfValue::string(flash_ver)},
                                       {"tcUrl", AmfValue::string("rtmp://127.0.0.1/" + app)}})});
}

Bytes PublisherScript::create_stream(double txn)
{
  return command(0, {AmfValue::string("createStream"), AmfValue::number(txn), AmfValue::null()});
}

Bytes PublisherScript::publish(const std::string &name, uint32_t stream_id)
{
  return command(stream_id, {AmfValue::string("publish"), AmfValue::number(5), AmfValue::null(),
                             AmfValue::string(name), AmfValue::string("live")});
}

Bytes PublisherScript::media(uint8_t type, uint32_t timestamp, const Bytes &payload,
                             uint32_t stream_id)
{
  Message m;
  m.chunk_stream = type == kAudio ? 4 : 6;
  m.type = type;
  m.stream_id = stream_id;
  m.timestamp = timestamp;
  m.payload = payload;
  Bytes out;
  writer_.write(m, out);
  return out;
}

Bytes PublisherScript::metadata(uint32_t stream_id)
{
  Message m;
  m.chunk_stream = 5;
  m.type = kDataAmf0;
  m.stream_id = stream_id;
  m.payload = amf_encode_all({AmfValue::string("@setDataFrame"), AmfValue::string("onMetaData"),
                              AmfValue::ecma_array({{"width", AmfValue::number(320)},
                                                    {"videocodecid", AmfValue::number(7)},
                                                    {"audiocodecid", AmfValue::number(10)}})});
  Bytes out;
  writer_.write(m, out);
  return out;
}

Bytes PublisherScript::fc_unpublish(const std::string &name)
{
  return command(0, {AmfValue::string("FCUnpublish"), AmfValue::number(6), AmfValue::null(),
                     AmfValue::string(name)});
}

Bytes PublisherScript::user_control(uint16_t event, uint32_t value)
{
  Bytes out;
  writer_.write(make_user_control(event, value), out);
  return out;
}

Bytes PublisherScript::window_ack_size(uint32_t size)
{
  Bytes out;
  writer_.write(make_window_ack_size(size), out);
  return out;
}

std::string ServerCommand::code() const
{
  for (const auto &v : values)
    if (v.is_object() && v.get("code"))
      return v.get_string("code");
  return {};
}

std::string ServerCommand::description() const
{
  for (const auto &v : values)
    if (v.is_object() && v.get("description"))
      return v.get_string("description");
  return {};
}

bool ServerReader::feed(const Bytes &data)
{
  std::vector<Message> got;
  const bool ok = reader_.feed(data.data(), data.size(), got);
  for (auto &m : got) {
    if (m.type == kCommandAmf0) {
      AmfReader amf(m.payload.data(), m.payload.size());
      auto values = amf.read_all();
      if (!values || values->empty() || !(*values)[0].is_string()) {
        error = "server sent a malformed command: " + amf.error();
        return false;
      }
      commands.push_back({(*values)[0].as_string(), m.stream_id, *values});
    }
    messages.push_back(std::move(m));
  }
  if (!ok)
    error = reader_.error();
  return ok;
}

const ServerCommand *ServerReader::find(const std::string &name, const std::string &code) const
{
  for (const auto &c : commands)
    if (c.name == name && (code.empty() || c.code() == code))
      return &c;
  return nullptr;
}

Bytes avc_sequence_header()
{
  return {0x17, 0x00, 0,    0,    0,    0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00,
          0x04, 0x67, 0x42, 0xc0, 0x0d, 0x01, 0x00, 0x04, 0x68, 0xce, 0x3c, 0x80};
}

Bytes avc_frame(bool keyframe, size_t size)
{
  Bytes b(size, 0x55);
  b[0] = keyframe ? 0x17 : 0x27;
  b[1] = 0x01;
  b[2] = b[3] = b[4] = 0;
  return b;
}

Bytes aac_sequence_header()
{
  return {0xaf, 0x00, 0x12, 0x10};
}

Bytes aac_frame(size_t size)
{
  Bytes b(size, 0x21);
  b[0] = 0xaf;
  b[1] = 0x01;
  return b;
}

} // namespace sugarcast::test
