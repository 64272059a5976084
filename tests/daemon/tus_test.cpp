/* Resumable clip uploads (tus 1.0) against a real sugarcastd: an upload cut
 * off half-way and resumed arrives byte for byte and becomes a ready clip;
 * limits are refused from the request head; abandoned uploads expire;
 * uploaders with a user token see only their own uploads. */
#include "chat/jwt.h"
#include "media.h"
#include "sugarcastd.h"
#include "testenv.h"

#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <filesystem>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace sugarcast;
using namespace sugarcast::test;
namespace fs = std::filesystem;

namespace {

constexpr const char *kSecret = "tus-test-secret-0123456789";

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string sha256(const std::string &bytes)
{
  g_autofree gchar *hex = g_compute_checksum_for_data(
      G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(bytes.data()), bytes.size());
  return hex;
}

std::string base64(const std::string &text)
{
  g_autofree gchar *b = g_base64_encode(reinterpret_cast<const guchar *>(text.data()), text.size());
  return b;
}

std::string user_token(const std::string &user, chat::Role role = chat::Role::Streamer)
{
  return "Bearer " +
         chat::mint_token(kSecret, user, user, role, g_get_real_time() / G_USEC_PER_SEC + 3600);
}

/* The path part of an absolute URL. */
std::string path_of(const std::string &url)
{
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos ? url : url.substr(slash);
}

class Tus : public ::testing::Test
{
protected:
  void start(const std::string &clips = "{}")
  {
    d = std::make_unique<SugarcastdProcess>(
        SugarcastdProcess::Options{.config = R"({"chat": {"jwt_secret": ")" + std::string(kSecret) +
                                             R"("}, "clips": )" + clips + "}"});
    ASSERT_TRUE(d->wait_ready()) << d->log();
    admin = "Bearer " + d->admin_token();
  }

  HttpResponse tus(const std::string &method, const std::string &path, const std::string &auth,
                   Headers headers = {}, const std::string &body = "",
                   const std::string &type = "application/offset+octet-stream")
  {
    headers.push_back({"Tus-Resumable", "1.0.0"});
    if (!auth.empty())
      headers.push_back({"Authorization", auth});
    return http_request(method, d->url(path), body, headers, type);
  }

  /* POST: a new upload of LENGTH bytes; its path, or "" (see `last`). */
  std::string create(int64_t length, const std::string &auth, const std::string &filename = "")
  {
    Headers h = {{"Upload-Length", std::to_string(length)}};
    if (!filename.empty())
      h.push_back(
          {"Upload-Metadata", "filename " + base64(filename) + ",filetype " + base64("video/mp4")});
    last = tus("POST", "/api/clips/uploads", auth, h, "", "application/octet-stream");
    return last.status == 201 ? path_of(last.header("location")) : "";
  }

  HttpResponse patch(const std::string &path, int64_t offset, const std::string &bytes,
                     const std::string &auth)
  {
    return tus("PATCH", path, auth, {{"Upload-Offset", std::to_string(offset)}}, bytes);
  }

  /* HEAD, waiting (bounded) while a PATCH the server has not yet seen end
   * still holds the upload. */
  HttpResponse head(const std::string &path, const std::string &auth)
  {
    HttpResponse r;
    eventually(
        [&] {
          r = tus("HEAD", path, auth);
          return r.status != 423;
        },
        std::chrono::seconds(5));
    return r;
  }

  std::string clip_state(const std::string &id)
  {
    std::string body = "(still processing)";
    eventually(
        [&] {
          HttpResponse r = d->admin("GET", "/api/clips/" + id);
          for (const char *s : {"\"ready\"", "\"rejected\"", "\"failed\""})
            if (r.body.find(std::string("\"state\":") + s) != std::string::npos) {
              body = r.body;
              return true;
            }
          return false;
        },
        std::chrono::seconds(60));
    return body;
  }

  std::unique_ptr<SugarcastdProcess> d;
  std::string admin;
  HttpResponse last;
};

/* Sends a PATCH's head and the first BYTES of its body over a plain socket,
 * then closes the connection: a phone losing its network mid-upload. */
void patch_cut_off(int port, const std::string &path, const std::string &auth, int64_t offset,
                   int64_t content_length, const std::string &bytes)
{
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
  const std::string head = "PATCH " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                           "Authorization: " + auth + "\r\nTus-Resumable: 1.0.0\r\n" +
                           "Content-Type: application/offset+octet-stream\r\n" +
                           "Upload-Offset: " + std::to_string(offset) + "\r\n" +
                           "Content-Length: " + std::to_string(content_length) + "\r\n\r\n";
  const std::string all = head + bytes;
  size_t sent = 0;
  while (sent < all.size()) {
    const ssize_t n = send(fd, all.data() + sent, all.size() - sent, MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << g_strerror(errno);
    sent += static_cast<size_t>(n);
  }
  close(fd);
}

} // namespace

TEST_F(Tus, DiscoveryNamesVersionExtensionsAndMaxSize)
{
  start(R"({"max_upload_bytes": 1000000})");
  HttpResponse r = http_request("OPTIONS", d->url("/api/clips/uploads"));
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(r.header("tus-version"), "1.0.0");
  EXPECT_EQ(r.header("tus-resumable"), "1.0.0");
  EXPECT_EQ(r.header("tus-extension"), "creation,expiration,termination");
  EXPECT_EQ(r.header("tus-max-size"), "1000000");
}

TEST_F(Tus, AnUploadCutOffHalfWayResumesAndBecomesAReadyClip)
{
  start(R"({"min_duration": 1})");
  /* 5 s of noisy 640x360 at 40 Mb/s: about 25 MB of real video, short to transcode. */
  const std::string file =
      read_file(make_clip({.seconds = 5,
                           .width = 640,
                           .height = 360,
                           .extra = {"-vf", "noise=alls=60:allf=t", "-b:v", "40M", "-maxrate",
                                     "40M", "-bufsize", "20M"}}));
  ASSERT_GT(file.size(), 20u * 1000 * 1000);
  const int64_t total = static_cast<int64_t>(file.size());
  const std::string path = create(total, admin, "holiday.mp4");
  ASSERT_FALSE(path.empty()) << last.status << " " << last.body;
  EXPECT_EQ(last.header("upload-offset"), "0");
  EXPECT_FALSE(last.header("upload-expires").empty());

  const int64_t half = total / 2;
  patch_cut_off(d->http_port(), path, admin, 0, total, file.substr(0, half));
  HttpResponse h = head(path, admin);
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.header("upload-length"), std::to_string(total));
  const int64_t offset = std::stoll(h.header("upload-offset"));
  EXPECT_GT(offset, 0) << "the bytes received before the connection dropped are kept";
  EXPECT_LE(offset, half);
  EXPECT_EQ(h.header("sugarcast-clip-id"), "");

  /* A resume from the wrong offset is refused and changes nothing. */
  EXPECT_EQ(patch(path, offset + 1, file.substr(offset + 1, 10), admin).status, 409);

  HttpResponse done = patch(path, offset, file.substr(offset), admin);
  ASSERT_EQ(done.status, 204) << done.body << d->log();
  EXPECT_EQ(done.header("upload-offset"), std::to_string(total));
  EXPECT_EQ(done.header("sugarcast-upload-sha256"), sha256(file))
      << "the server holds exactly the file's bytes";
  const std::string clip = done.header("sugarcast-clip-id");
  ASSERT_FALSE(clip.empty());

  const std::string state = clip_state(clip);
  EXPECT_NE(state.find("\"state\":\"ready\""), std::string::npos) << state << d->log();
  EXPECT_NE(state.find("\"filename\":\"holiday.mp4\""), std::string::npos) << state;
  EXPECT_NE(state.find("\"size\":" + std::to_string(total)), std::string::npos) << state;
  ProcessResult probe = run_process({"ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                                     "-of", "csv=p=0", d->url("/clips/" + clip + "/clip.mp4")});
  EXPECT_NE(probe.out.find("h264"), std::string::npos) << probe.err;

  /* Afterwards HEAD still says where the bytes went. */
  h = head(path, admin);
  EXPECT_EQ(h.header("upload-offset"), std::to_string(total));
  EXPECT_EQ(h.header("sugarcast-clip-id"), clip);
}

TEST_F(Tus, LimitsAreCheckedBeforeBytesAreAccepted)
{
  start(R"({"max_upload_bytes": 100000, "max_uploads_per_user": 2,
            "uploads_disk_bytes": 150000})");
  EXPECT_EQ(create(100001, admin), "");
  EXPECT_EQ(last.status, 413) << last.body;
  EXPECT_EQ(create(0, admin), "");
  EXPECT_EQ(last.status, 400);
  EXPECT_EQ(create(1000, ""), "");
  EXPECT_EQ(last.status, 401);
  HttpResponse old = http_request("POST", d->url("/api/clips/uploads"), "",
                                  {{"Upload-Length", "10"}, {"Authorization", admin}});
  EXPECT_EQ(old.status, 412) << "no Tus-Resumable";
  EXPECT_EQ(old.header("tus-version"), "1.0.0");
  EXPECT_EQ(tus("POST", "/api/clips/uploads", admin, {{"Upload-Length", "12x"}}, "",
                "application/octet-stream")
                .status,
            400);
  EXPECT_EQ(tus("POST", "/api/clips/uploads", admin,
                {{"Upload-Length", "10"}, {"Upload-Metadata", "filename not*base64"}}, "",
                "application/octet-stream")
                .status,
            400);

  /* The disk budget is reserved at creation. */
  const std::string a = create(100000, admin);
  ASSERT_FALSE(a.empty()) << last.body;
  EXPECT_EQ(create(60000, user_token("carol")), "");
  EXPECT_EQ(last.status, 507) << last.body;
  const std::string b = create(40000, admin);
  ASSERT_FALSE(b.empty()) << last.body;
  /* Two unfinished uploads are the most one uploader may have. */
  EXPECT_EQ(create(100, admin), "");
  EXPECT_EQ(last.status, 429) << last.body;

  /* A PATCH announcing more than the upload still takes is refused before its body. */
  EXPECT_EQ(patch(b, 0, std::string(40001, 'x'), admin).status, 413);
  EXPECT_EQ(
      tus("PATCH", b, admin, {{"Upload-Offset", "0"}}, "abc", "application/octet-stream").status,
      415);
  EXPECT_EQ(head(b, admin).header("upload-offset"), "0");

  /* Termination frees the budget and the slot. */
  EXPECT_EQ(tus("DELETE", a, admin).status, 204);
  EXPECT_EQ(head(a, admin).status, 404);
  EXPECT_FALSE(fs::exists(d->data_dir() + "/uploads/" + a.substr(a.rfind('/') + 1)));
  EXPECT_FALSE(create(60000, user_token("carol")).empty()) << last.body;
}

TEST_F(Tus, AnAbandonedUploadExpires)
{
  start(R"({"upload_expiry_seconds": 1})");
  const std::string path = create(1000, admin);
  ASSERT_FALSE(path.empty()) << last.body;
  ASSERT_EQ(patch(path, 0, std::string(100, 'x'), admin).status, 204);
  const std::string dir = d->data_dir() + "/uploads/" + path.substr(path.rfind('/') + 1);
  EXPECT_TRUE(fs::exists(dir));
  /* The cleanup runs every second. */
  EXPECT_TRUE(eventually([&] { return !fs::exists(dir); }, std::chrono::seconds(5)))
      << "the cleanup deleted it";
  EXPECT_EQ(head(path, admin).status, 404);
}

TEST_F(Tus, UploadersWithAUserTokenSeeOnlyTheirOwn)
{
  start();
  const std::string alice = user_token("alice"), bob = user_token("bob");
  const std::string path = create(1000, alice, "mine.mp4");
  ASSERT_FALSE(path.empty()) << last.status << " " << last.body;
  ASSERT_EQ(patch(path, 0, std::string(10, 'a'), alice).status, 204);
  EXPECT_EQ(head(path, alice).header("upload-offset"), "10");
  EXPECT_EQ(head(path, bob).status, 404) << "bob cannot see alice's upload";
  EXPECT_EQ(patch(path, 10, "b", bob).status, 404);
  EXPECT_EQ(tus("DELETE", path, bob).status, 404);
  EXPECT_EQ(head(path, admin).header("upload-offset"), "10") << "the admin sees every upload";
  EXPECT_EQ(create(1000, user_token("victor", chat::Role::Viewer)), "");
  EXPECT_EQ(last.status, 403) << "a viewer token does not upload";
  EXPECT_EQ(create(1000, "Bearer not.a.token"), "");
  EXPECT_EQ(last.status, 401);
  EXPECT_EQ(tus("DELETE", path, alice).status, 204);
}
