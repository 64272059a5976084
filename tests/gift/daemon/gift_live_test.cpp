/* A gift sent over chat, drawn on a live stream's video by the daemon's
 * giftoverlay: a real ffmpeg RTMP push (1280x720 testsrc2, still red where
 * the banner goes), a real chat WebSocket client, the HLS output decoded
 * with ffmpeg. The banner's rectangle of a frame after the gift differs from
 * the same rectangle of a frame before it, in every rung, and every variant
 * playlist has the gift's DATERANGE with the ledger's attributes. With
 * PostgreSQL, a gift sent on one daemon is drawn on the stream another
 * daemon runs. */
#include "chat_test.h"
#include "media.h"

#include <glib.h>

#include <cmath>
#include <cstdlib>
#include <regex>
#include <sstream>

namespace sugarcast::test {
namespace {

struct Variant
{
  std::string uri;
  int width = 0, height = 0;
};

struct Segment
{
  gint64 pdt_us = 0;
  double seconds = 0;
  std::string uri;
};

gint64 parse_date_us(const std::string &text)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_iso8601(text.c_str(), nullptr);
  return t ? g_date_time_to_unix(t) * G_USEC_PER_SEC + g_date_time_get_microsecond(t) : -1;
}

/* The variants master.m3u8 lists, with their RESOLUTION. */
std::vector<Variant> read_variants(const std::string &dir)
{
  std::vector<Variant> out;
  std::istringstream master(read_file(dir + "master.m3u8"));
  Variant next;
  const std::regex resolution("RESOLUTION=([0-9]+)x([0-9]+)");
  for (std::string line; std::getline(master, line);) {
    std::smatch m;
    if (std::regex_search(line, m, resolution)) {
      next.width = std::stoi(m[1]);
      next.height = std::stoi(m[2]);
    } else if (!line.empty() && line[0] != '#') {
      next.uri = line;
      out.push_back(next);
      next = {};
    }
  }
  return out;
}

std::vector<Segment> read_segments(const std::string &playlist)
{
  std::vector<Segment> out;
  std::istringstream in(playlist);
  Segment next;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#EXT-X-PROGRAM-DATE-TIME:", 0) == 0)
      next.pdt_us = parse_date_us(line.substr(25));
    else if (line.rfind("#EXTINF:", 0) == 0)
      next.seconds = std::atof(line.c_str() + 8);
    else if (!line.empty() && line[0] != '#') {
      next.uri = line;
      out.push_back(next);
      next = {};
    }
  }
  return out;
}

/* The value of ATTR in an EXT-X-DATERANGE line ("" when absent). */
std::string attribute(const std::string &line, const std::string &attr)
{
  std::smatch m;
  if (std::regex_search(line, m, std::regex("[:,]" + attr + "=(\"[^\"]*\"|[^,]*)")))
    return m[1];
  return "";
}

std::string publish_clip()
{
  ClipSpec spec;
  spec.seconds = 10;
  spec.width = 1280;
  spec.height = 720;
  spec.container = "flv";
  /* testsrc2's bouncing square crosses the banner's rectangle now and then
   * (frames 70 and 190 of every 300 at 1280x720), which made a source rung
   * look drawn on: paint the lower left, where the banner goes at every
   * rung's size, a still red. */
  spec.extra = {"-vf", "drawbox=x=0:y=ih*0.6:w=iw*0.15:h=ih*0.3:color=red:t=fill"};
  return make_clip(spec);
}

std::unique_ptr<Background> push(const std::string &clip, const std::string &url)
{
  return std::make_unique<Background>(
      std::vector<std::string>{"ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                               "-stream_loop", "-1", "-i", clip, "-c", "copy", "-f", "flv", url});
}

constexpr const char *kDaemonConfig =
    R"("streams": {"grace_period_ms": 0}, "hls": {"segment_duration": 1, "ladder": "720p:1500,360p:400"})";
/* The same ladder below the publisher's own stream (pipelines/live-source.json). */
constexpr const char *kSourceRungConfig =
    R"("streams": {"grace_period_ms": 0, "pipeline": "live-source"}, "hls": {"segment_duration": 1, "ladder": "720p:1500,360p:400"})";

/* `d` runs the stream's pipeline; `send` sends one castle gift from Alice
 * over chat (on whichever daemon) and returns its ack. Checks the DATERANGE
 * in every one of the `count` variants and the banner drawn in every rung
 * but the first `undrawn` (a source rung: the publisher's own pictures). */
void expect_gift_drawn(SugarcastdProcess &d, const std::string &stream,
                       const std::function<std::optional<ChatMessage>()> &send, size_t count = 2,
                       size_t undrawn = 0)
{
  const std::string dir = d.data_dir() + "/hls/" + stream + "/";
  std::vector<Variant> variants;
  ASSERT_TRUE(eventually(
      [&] {
        variants = read_variants(dir);
        for (const auto &v : variants)
          if (read_segments(read_file(dir + v.uri)).size() < 2)
            return false;
        return variants.size() == count;
      },
      120s))
      << "no " << count << " variants with segments in " << dir << "\n"
      << d.log();
  /* Frames that went through the overlay before the gift was sent. */
  std::vector<std::string> before;
  for (const auto &v : variants) {
    ASSERT_GT(v.width, 0) << v.uri;
    const auto segments = read_segments(read_file(dir + v.uri));
    before.push_back(decode_rgb_frame(dir + segments.back().uri, 15, v.width, v.height));
  }

  auto ack = send();
  ASSERT_TRUE(ack);
  const std::string ledger = std::to_string(ack->num("ledger_id"));
  const std::string tag = "#EXT-X-DATERANGE:ID=\"gift-" + ledger + "\"";
  for (size_t i = 0; i < variants.size(); ++i) {
    const Variant &v = variants[i];
    const std::string line = eventually_line(dir + v.uri, tag, 60s);
    ASSERT_FALSE(line.empty()) << v.uri << " has no " << tag << ":\n"
                               << read_file(dir + v.uri) << d.log();
    /* The attributes the ledger's path writes, from the overlay's event. */
    EXPECT_EQ(attribute(line, "CLASS"), "\"com.sugarcast.gift\"") << line;
    EXPECT_EQ(attribute(line, "X-GIFT"), "\"castle\"") << line;
    EXPECT_EQ(attribute(line, "X-NAME"), "\"Castle\"") << line;
    EXPECT_EQ(attribute(line, "X-USER"), "\"Alice\"") << line;
    EXPECT_EQ(attribute(line, "X-COUNT"), "1") << line;
    EXPECT_EQ(attribute(line, "X-COINS"), "1000") << line;
    EXPECT_EQ(attribute(line, "X-ANIMATION"), "\"castle\"") << line;
    EXPECT_EQ(attribute(line, "X-LEDGER-ID"), ledger) << line;
    EXPECT_EQ(attribute(line, "X-COMBO"), "1") << line;
    std::string date = attribute(line, "START-DATE");
    ASSERT_GT(date.size(), 2u) << line;
    const gint64 start = parse_date_us(date.substr(1, date.size() - 2));
    ASSERT_GT(start, 0) << line;

    /* 1.5 s after the gift appeared its banner is at rest (it enters for
     * 0.3 s, leaves after 4.6). */
    const gint64 target = start + 1500000;
    Segment found;
    /* Kept as soon as it is listed: the live window deletes it a few
     * segments later, sooner than a loaded machine may decode it. */
    const std::string kept = dir + "kept-" + v.uri + ".ts";
    ASSERT_TRUE(eventually(
        [&] {
          for (const Segment &s : read_segments(read_file(dir + v.uri)))
            if (s.pdt_us <= target && target < s.pdt_us + static_cast<gint64>(s.seconds * 1e6)) {
              const std::string bytes = read_file(dir + s.uri);
              if (bytes.empty() || !g_file_set_contents(kept.c_str(), bytes.data(),
                                                        static_cast<gssize>(bytes.size()), nullptr))
                return false;
              found = s;
              return true;
            }
          return false;
        },
        60s))
        << v.uri << " has no segment at " << target << ":\n"
        << read_file(dir + v.uri);
    const int index = static_cast<int>((target - found.pdt_us) * 30 / 1000000);
    const std::string after = decode_rgb_frame(kept, index, v.width, v.height);
    const Rect r = gift_banner_centre(v.width, v.height);
    const double changed = mean_difference(before[i], after, v.width, v.height, r);
    if (i < undrawn) {
      /* Never decoded, so never drawn on: the rectangle is the publisher's
       * still red before and after, up to its compression noise. */
      EXPECT_LT(changed, 10) << v.uri << ": a source rung changed by " << changed
                             << " per channel where the banner is drawn on the others";
      continue;
    }
    /* The publisher's picture is still red there (publish_clip); the
     * banner's dark plate and the castle's sprite are not. */
    EXPECT_GT(changed, 50) << v.uri << " " << v.width << "x" << v.height << ": the banner's "
                           << "rectangle changed by only " << changed << " per channel in "
                           << found.uri << " frame " << index;
  }
}

class GiftLive : public ChatTest
{
protected:
  Backend backend() const override { return Backend::sqlite; }

  /* One daemon with `config`, an ffmpeg push, Alice's castle gift over chat
   * checked by expect_gift_drawn; /api/watch must say whether the video
   * draws the gifts and whether the top variant is a source rung. */
  void gift_show(const char *config, const std::string &idempotency_key, size_t variants,
                 bool source_rung)
  {
    const std::string clip = publish_clip();
    ASSERT_FALSE(clip.empty());
    auto d = start_daemon("", config);
    HttpResponse created = d->admin("POST", "/api/streams", R"({"title": "gift show"})");
    ASSERT_EQ(created.status, 201) << created.body;
    ChatMessage stream(created.body);
    const std::string id = stream.str("id");
    auto alice = join(*d, id, token("alice", "viewer", "Alice"));
    ASSERT_TRUE(alice);
    auto encoder = push(clip, stream.str("rtmp_url"));
    expect_gift_drawn(
        *d, id,
        [&] {
          alice->send(R"({"v":1,"type":"gift","gift":"castle","count":1,"idempotency_key":")" +
                      idempotency_key + "\"}");
          return alice->next("gift_ack");
        },
        variants, source_rung ? 1 : 0);
    const std::vector<Variant> listed = read_variants(d->data_dir() + "/hls/" + id + "/");
    ASSERT_EQ(listed.size(), variants);
    /* The publish is 1280x720: so is the top variant, re-encoded or not. */
    EXPECT_EQ(listed[0].width, 1280);
    EXPECT_EQ(listed[0].height, 720);
    /* Players are told the video has them drawn, and where it does not. */
    HttpResponse watch = http_request("GET", d->url("/api/watch/" + id));
    ASSERT_EQ(watch.status, 200) << watch.body;
    EXPECT_NE(watch.body.find("\"gift_overlay\":true"), std::string::npos) << watch.body;
    EXPECT_NE(watch.body.find(std::string("\"source_rung\":") + (source_rung ? "true" : "false")),
              std::string::npos)
        << watch.body;
    EXPECT_TRUE(d->running());
  }
};

TEST_F(GiftLive, AGiftSentOverChatIsDrawnInEveryRungAndDatedInEveryPlaylist)
{
  gift_show(kDaemonConfig, "drawn-000001", 2, false);
}

/* pipelines/live-source.json: the publisher's H.264 is the top rung as it
 * came (never decoded, so no banner on it, but the gift's DATERANGE in its
 * playlist); the rungs below are decoded, drawn on and re-encoded. Run by the
 * daemon this description once produced no segment at all: a tee branch
 * into abrladder's passthrough_sink deadlocked the daemon's pad linking. */
TEST_F(GiftLive, TheSourceRungIsThePublishersStreamAndTheRungsBelowShowTheGift)
{
  gift_show(kSourceRungConfig, "source-00001", 3, true);
}

class GiftCluster : public ChatTest
{
protected:
  Backend backend() const override { return Backend::postgresql; }
};

TEST_F(GiftCluster, AGiftSentOnOneDaemonIsDrawnOnTheStreamAnotherRuns)
{
  const std::string clip = publish_clip();
  ASSERT_FALSE(clip.empty());
  auto a = start_daemon("", kDaemonConfig);
  auto b = start_daemon("", kDaemonConfig);
  for (auto *d : {a.get(), b.get()})
    ASSERT_TRUE(wait_for_log(*d, "hearing the other daemons")) << d->log();
  HttpResponse created = a->admin("POST", "/api/streams", R"({"title": "two daemons"})");
  ASSERT_EQ(created.status, 201) << created.body;
  ChatMessage stream(created.body);
  const std::string id = stream.str("id");
  const std::string url = stream.str("rtmp_url");
  const std::string key = url.substr(url.rfind('/') + 1);
  /* The encoder publishes to b; Alice chats on a. */
  auto encoder = push(clip, "rtmp://127.0.0.1:" + std::to_string(b->rtmp_port()) + "/live/" + key);
  auto alice = join(*a, id, token("alice", "viewer", "Alice"));
  ASSERT_TRUE(alice);
  expect_gift_drawn(*b, id, [&] {
    alice->send(
        R"({"v":1,"type":"gift","gift":"castle","count":1,"idempotency_key":"cluster-drawn-1"})");
    return alice->next("gift_ack");
  });
  /* a runs no pipeline for it and writes nothing. */
  EXPECT_FALSE(
      g_file_test((a->data_dir() + "/hls/" + id + "/master.m3u8").c_str(), G_FILE_TEST_EXISTS));
}

} // namespace
} // namespace sugarcast::test
