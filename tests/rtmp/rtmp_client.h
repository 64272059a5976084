/* Test support: what an RTMP publisher sends, built byte by byte, and a
 * reader for what the server answers. Used in memory (protocol tests) and
 * over a real socket (server and element tests). */
#pragma once

#include "amf0.h"
#include "chunk.h"

#include <string>
#include <vector>

namespace sugarcast::test {

using Bytes = std::vector<uint8_t>;

/* C0 + C1 of a plain handshake (version 0). */
Bytes plain_c0c1();

class PublisherScript
{
public:
  explicit PublisherScript(uint32_t chunk_size = 128);
  /* The Set Chunk Size message, when chunk_size is not 128. */
  Bytes set_chunk_size();
  Bytes command(uint32_t stream_id, const std::vector<rtmp::AmfValue> &values);
  Bytes connect(const std::string &app, const std::string &flash_ver = "FMLE/3.0 (test)");
  Bytes create_stream(double txn = 4);
  Bytes publish(const std::string &name, uint32_t stream_id = 1);
  Bytes media(uint8_t type, uint32_t timestamp, const Bytes &payload, uint32_t stream_id = 1);
  Bytes metadata(uint32_t stream_id = 1);
  Bytes fc_unpublish(const std::string &name);
  Bytes user_control(uint16_t event, uint32_t value);
  Bytes window_ack_size(uint32_t size);

private:
  rtmp::ChunkWriter writer_;
  uint32_t chunk_size_;
};

/* One AMF0 command or status the server sent. */
struct ServerCommand
{
  std::string name; /* "_result", "onStatus", ... */
  uint32_t stream_id = 0;
  std::vector<rtmp::AmfValue> values;
  /* onStatus/_error: the info object's code and description */
  std::string code() const;
  std::string description() const;
};

/* Reads the server's answer (after its 3073-byte handshake reply). */
class ServerReader
{
public:
  bool feed(const Bytes &data);
  std::vector<rtmp::Message> messages;
  std::vector<ServerCommand> commands;
  std::string error;
  /* The first command named name (and with code, when given), or nullptr. */
  const ServerCommand *find(const std::string &name, const std::string &code = {}) const;

private:
  rtmp::ChunkReader reader_;
};

/* A flat H.264 FLV video tag body and an AAC one, enough for the server. */
Bytes avc_sequence_header();
Bytes avc_frame(bool keyframe, size_t size = 600);
Bytes aac_sequence_header();
Bytes aac_frame(size_t size = 200);

} // namespace sugarcast::test
