/* A publish, in memory: ServerProtocol fed by a scripted publisher. */
#include "protocol.h"
#include "rtmp_client.h"

#include <gtest/gtest.h>

using namespace sugarcast::rtmp;
using namespace sugarcast::test;

namespace {

class Protocol : public ::testing::Test
{
protected:
  ServerProtocol server{ChunkLimits{}, "127.0.0.1:5000"};
  PublisherScript client;
  ServerReader answers;
  std::vector<PublishInfo> publishes;
  std::vector<Message> media;
  int unpublished = 0;
  bool open = true;

  void SetUp() override
  {
    server.on_publish = [this](const PublishInfo &info) { publishes.push_back(info); };
    server.on_media = [this](Message &&m) { media.push_back(std::move(m)); };
    server.on_unpublish = [this] { ++unpublished; };
  }

  void send(const Bytes &data)
  {
    Bytes out;
    open = server.feed(data.data(), data.size(), out);
    ASSERT_TRUE(answers.feed(out)) << answers.error;
  }

  void handshake()
  {
    Bytes out;
    Bytes c0c1 = plain_c0c1();
    ASSERT_TRUE(server.feed(c0c1.data(), c0c1.size(), out));
    ASSERT_EQ(out.size(), 3073u);
    Bytes c2(out.begin() + 1, out.begin() + 1537);
    out.clear();
    ASSERT_TRUE(server.feed(c2.data(), c2.size(), out));
    ASSERT_TRUE(server.handshake_done());
  }

  void up_to_publish(const std::string &name = "key?exp=10&sig=ab%20c")
  {
    handshake();
    send(client.connect("live"));
    send(client.create_stream());
    send(client.publish(name));
  }
};

} // namespace

TEST_F(Protocol, PublishIsAnsweredTheWayEncodersExpect)
{
  handshake();
  send(client.connect("live", "FMLE/3.0 (compatible; Lavf59.27.100)"));
  const ServerCommand *result = answers.find("_result", "NetConnection.Connect.Success");
  ASSERT_NE(result, nullptr);
  bool saw_ack_size = false, saw_bandwidth = false, saw_chunk_size = false;
  for (const auto &m : answers.messages) {
    saw_ack_size |= m.type == kWindowAckSize;
    saw_bandwidth |= m.type == kSetPeerBandwidth;
    saw_chunk_size |= m.type == kSetChunkSize;
  }
  EXPECT_TRUE(saw_ack_size && saw_bandwidth && saw_chunk_size);

  send(client.command(0, {AmfValue::string("releaseStream"), AmfValue::number(2), AmfValue::null(),
                          AmfValue::string("key")}));
  send(client.command(0, {AmfValue::string("FCPublish"), AmfValue::number(3), AmfValue::null(),
                          AmfValue::string("key")}));
  send(client.create_stream(4));
  const ServerCommand *created = nullptr;
  for (const auto &c : answers.commands)
    if (c.name == "_result" && c.values.size() == 4 && c.values[1].as_number() == 4)
      created = &c;
  ASSERT_NE(created, nullptr);
  EXPECT_EQ(created->values[3].as_number(), 1);

  send(client.publish("key?exp=10&sig=ab%20c"));
  ASSERT_EQ(publishes.size(), 1u);
  EXPECT_EQ(publishes[0].app, "live");
  EXPECT_EQ(publishes[0].stream, "key");
  EXPECT_EQ(publishes[0].query, "exp=10&sig=ab%20c");
  EXPECT_EQ(publishes[0].arg("sig"), "ab c");
  EXPECT_EQ(publishes[0].encoder, "FMLE/3.0 (compatible; Lavf59.27.100)");
  EXPECT_EQ(publishes[0].tc_url, "rtmp://127.0.0.1/live");
  EXPECT_EQ(publishes[0].client_address, "127.0.0.1:5000");
  EXPECT_TRUE(server.awaiting_answer());
  EXPECT_EQ(answers.find("onStatus"), nullptr) << "nothing is said before the answer";

  Bytes out;
  server.accept_publish(out);
  ASSERT_TRUE(answers.feed(out));
  const ServerCommand *start = answers.find("onStatus", "NetStream.Publish.Start");
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->stream_id, 1u);
  bool stream_begin = false;
  for (const auto &m : answers.messages)
    stream_begin |= m.type == kUserControl && m.payload.size() == 6 &&
                    m.payload[1] == kStreamBegin && m.payload[5] == 1;
  EXPECT_TRUE(stream_begin);

  send(client.metadata());
  send(client.media(kVideo, 0, avc_sequence_header()));
  send(client.media(kAudio, 0, aac_sequence_header()));
  send(client.media(kVideo, 33, avc_frame(true, 5000)));
  ASSERT_EQ(media.size(), 4u);
  /* @setDataFrame is dropped: the script tag starts with "onMetaData" */
  AmfReader meta(media[0].payload.data(), media[0].payload.size());
  EXPECT_EQ(meta.read()->as_string(), "onMetaData");
  EXPECT_EQ(media[3].timestamp, 33u);
  EXPECT_EQ(media[3].payload.size(), 5000u);

  send(client.fc_unpublish("key"));
  EXPECT_EQ(unpublished, 1);
  EXPECT_TRUE(server.ended());
}

TEST_F(Protocol, RefusalSendsAnErrorStatusAndEnds)
{
  up_to_publish();
  Bytes out;
  server.refuse_publish(RefuseCode::Denied, "unknown stream key", out);
  ASSERT_TRUE(answers.feed(out));
  const ServerCommand *status = answers.find("onStatus", "NetStream.Publish.Denied");
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->description(), "unknown stream key");
  EXPECT_EQ(status->values[3].get_string("level"), "error");
  send(client.media(kVideo, 0, avc_sequence_header()));
  EXPECT_FALSE(open);
  EXPECT_TRUE(media.empty());
}

TEST_F(Protocol, MediaBeforeTheAnswerIsNotPassedOn)
{
  up_to_publish();
  send(client.media(kVideo, 0, avc_sequence_header()));
  EXPECT_TRUE(media.empty());
  EXPECT_EQ(server.ignored_messages(), 1u);
}

TEST_F(Protocol, PingRequestIsAnswered)
{
  handshake();
  send(client.connect("live"));
  send(client.user_control(kPingRequest, 0x01020304));
  bool pong = false;
  for (const auto &m : answers.messages)
    pong |= m.type == kUserControl && m.payload == Bytes{0, 7, 1, 2, 3, 4};
  EXPECT_TRUE(pong);
}

TEST_F(Protocol, AcknowledgementAfterTheClientsWindow)
{
  up_to_publish("key");
  Bytes out;
  server.accept_publish(out);
  send(client.window_ack_size(10000));
  for (uint32_t i = 0; i < 5; ++i)
    send(client.media(kVideo, i * 33, avc_frame(i == 0, 3000)));
  int acks = 0;
  for (const auto &m : answers.messages)
    if (m.type == kAcknowledgement) {
      ++acks;
      const uint32_t seq = uint32_t(m.payload[0]) << 24 | uint32_t(m.payload[1]) << 16 |
                           uint32_t(m.payload[2]) << 8 | m.payload[3];
      EXPECT_GE(seq, 10000u);
    }
  EXPECT_EQ(acks, 1);
}

TEST_F(Protocol, ConnectWithoutAnAppIsRejected)
{
  handshake();
  send(client.connect(""));
  EXPECT_FALSE(open);
  const ServerCommand *error = answers.find("_error", "NetConnection.Connect.Rejected");
  ASSERT_NE(error, nullptr);
  EXPECT_NE(error->description().find("rtmp://HOST/APP"), std::string::npos);
}

TEST_F(Protocol, PublishWithoutANameIsABadName)
{
  handshake();
  send(client.connect("live"));
  send(client.create_stream());
  send(client.publish(""));
  EXPECT_FALSE(open);
  EXPECT_NE(answers.find("onStatus", "NetStream.Publish.BadName"), nullptr);
  EXPECT_TRUE(publishes.empty());
}

TEST_F(Protocol, PublishOnAStreamNobodyCreatedIsRefused)
{
  handshake();
  send(client.connect("live"));
  send(client.publish("key", 7));
  EXPECT_FALSE(open);
  EXPECT_EQ(server.error(), "'publish' on message stream 7, which createStream did not make");
}

TEST_F(Protocol, PlayIsRefused)
{
  handshake();
  send(client.connect("live"));
  send(client.command(1, {AmfValue::string("play"), AmfValue::number(0), AmfValue::null(),
                          AmfValue::string("key")}));
  EXPECT_FALSE(open);
  EXPECT_NE(answers.find("onStatus", "NetStream.Play.Failed"), nullptr);
}

TEST_F(Protocol, CommandsBeforeConnectAndMalformedCommandsClose)
{
  handshake();
  send(client.create_stream());
  EXPECT_FALSE(open);
  EXPECT_EQ(server.error(), "'createStream' before 'connect'");

  ServerProtocol other;
  Bytes out, c0c1 = plain_c0c1();
  other.feed(c0c1.data(), c0c1.size(), out);
  Bytes c2(1536, 0);
  other.feed(c2.data(), c2.size(), out);
  Message m;
  m.chunk_stream = 3;
  m.type = kCommandAmf0;
  m.payload = {0x02, 0x00, 0x10, 'x'}; /* a string longer than the message */
  Bytes bytes;
  ChunkWriter().write(m, bytes);
  EXPECT_FALSE(other.feed(bytes.data(), bytes.size(), out));
  EXPECT_NE(other.error().find("malformed command: AMF0: string of 16 bytes"), std::string::npos)
      << other.error();
}

TEST_F(Protocol, AggregateMessagesAreSplitIntoTags)
{
  up_to_publish("key");
  Bytes out;
  server.accept_publish(out);
  Bytes agg;
  for (int i = 0; i < 3; ++i) {
    Bytes body = avc_frame(i == 0, 10);
    const uint32_t ts = 500 + i * 40;
    agg.insert(agg.end(),
               {kVideo, 0, 0, static_cast<uint8_t>(body.size()), static_cast<uint8_t>(ts >> 16),
                static_cast<uint8_t>(ts >> 8), static_cast<uint8_t>(ts), 0, 0, 0, 0});
    agg.insert(agg.end(), body.begin(), body.end());
    agg.insert(agg.end(), {0, 0, 0, static_cast<uint8_t>(body.size() + 11)});
  }
  send(client.media(kAggregate, 1000, agg));
  ASSERT_EQ(media.size(), 3u);
  EXPECT_EQ(media[0].timestamp, 1000u);
  EXPECT_EQ(media[2].timestamp, 1080u);
  EXPECT_EQ(media[1].payload.size(), 10u);
}
