/* Every gst-launch example in docs/elements/abrladder.md and hlsabrsink.md
 * runs as written and leaves an HLS folder ffmpeg plays. The RTMP example's
 * rtmpserversrc listens on a free port instead of 1935 and gets the page's
 * ffmpeg push. */
#include "hlscheck.h"
#include "testenv.h"

#include <gio/gio.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

using namespace sugarcast::test;
namespace fs = std::filesystem;

namespace {

/* The shell commands of a page's ```sh blocks, continuation lines joined. */
std::vector<std::string> examples(const std::string &page)
{
  const std::string text = read_file(source_dir() + "/docs/elements/" + page);
  std::vector<std::string> commands;
  const std::regex block("```sh\n([\\s\\S]*?)```");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), block);
       it != std::sregex_iterator(); ++it) {
    std::string body = (*it)[1];
    std::string command;
    std::stringstream lines(body);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\\') {
        command += line.substr(0, line.size() - 1);
        continue;
      }
      command += line;
      if (!command.empty())
        commands.push_back(command);
      command.clear();
    }
  }
  return commands;
}

std::set<std::string> locations(const std::string &command)
{
  std::set<std::string> out;
  const std::regex location("hlsabrsink[^!]*?location=(\\S+)");
  for (auto it = std::sregex_iterator(command.begin(), command.end(), location);
       it != std::sregex_iterator(); ++it)
    out.insert((*it)[1]);
  return out;
}

/* A background process, stopped when the object goes. */
bool port_open(int port)
{
  GSocketClient *client = g_socket_client_new();
  GSocketConnection *c = g_socket_client_connect_to_host(
      client, "127.0.0.1", static_cast<guint16>(port), nullptr, nullptr);
  if (c)
    g_object_unref(c);
  g_object_unref(client);
  return c != nullptr;
}

void run_page(const std::string &page)
{
  const std::string dir = scratch_dir() + "/docs-" + page;
  fs::create_directories(dir);
  auto commands = examples(page);
  ASSERT_FALSE(commands.empty()) << page << " has no examples";
  for (std::string command : commands) {
    const bool rtmp = command.find("rtmpserversrc port=1935") != std::string::npos;
    std::vector<std::string> argv = {"sh", "-c", "cd '" + dir + "' && " + command};
    const bool launch = command.rfind("gst-launch-1.0", 0) == 0;
    if (rtmp) {
      /* The page's receiver on a free port, the page's push to it; the
       * receiver ends by itself when the publisher stops. */
      const int port = free_tcp_port();
      command = std::regex_replace(command, std::regex("port=1935"),
                                   "address=127.0.0.1 port=" + std::to_string(port));
      Background receiver({"sh", "-c", "cd '" + dir + "' && exec " + command});
      ASSERT_TRUE(eventually([port] { return port_open(port); }, std::chrono::seconds(10)))
          << "rtmpserversrc did not listen: " << command;
      auto push = run_process({"ffmpeg", "-nostdin", "-v", "error", "-re", "-i", dir + "/push.flv",
                               "-c", "copy", "-f", "flv",
                               "rtmp://127.0.0.1:" + std::to_string(port) + "/live/demo"});
      EXPECT_TRUE(push.ok()) << push.err;
      EXPECT_EQ(receiver.wait(std::chrono::seconds(60)), 0) << command;
    } else if (launch) {
      auto r = run_process(argv, std::chrono::seconds(180));
      EXPECT_TRUE(r.ok()) << command << "\n" << r.out << r.err;
      EXPECT_EQ(r.out.find("WARNING"), std::string::npos) << command << "\n" << r.out;
    }
    if (!launch)
      continue;
    for (const auto &location : locations(command)) {
      const std::string master = dir + "/" + location + "/master.m3u8";
      ASSERT_TRUE(fs::exists(master)) << command;
      auto m = parse_master_playlist(read_file(master));
      EXPECT_TRUE(m.valid) << master << ": " << m.problem;
      auto play = run_process(
          {"ffmpeg", "-v", "error", "-nostdin", "-i", master, "-map", "0", "-f", "null", "-"});
      EXPECT_TRUE(play.ok() && play.err.empty()) << master << ": " << play.err;
    }
  }
}

} // namespace

TEST(Docs, AbrladderExamplesWorkAsWritten)
{
  run_page("abrladder.md");
}

TEST(Docs, HlsabrsinkExamplesWorkAsWritten)
{
  run_page("hlsabrsink.md");
}
