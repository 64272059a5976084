/* Every gst-launch example in docs/elements/abrladder.md and hlsabrsink.md
 * runs as written and leaves an HLS folder ffmpeg plays. The RTMP example
 * runs against a private nginx-rtmp (on a free port instead of 1935) when
 * nginx and its RTMP module are installed. */
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
  const std::string text = read_text(source_dir() + "/docs/elements/" + page);
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
class Background
{
public:
  explicit Background(const std::vector<std::string> &argv)
  {
    std::vector<const gchar *> args;
    for (const auto &a : argv)
      args.push_back(a.c_str());
    args.push_back(nullptr);
    GError *error = nullptr;
    proc_ = g_subprocess_newv(args.data(),
                              static_cast<GSubprocessFlags>(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                            G_SUBPROCESS_FLAGS_STDERR_SILENCE),
                              &error);
    if (!proc_) {
      ADD_FAILURE() << "cannot start " << argv[0] << ": " << error->message;
      g_error_free(error);
    }
  }
  ~Background()
  {
    if (!proc_)
      return;
    g_subprocess_send_signal(proc_, SIGTERM);
    g_subprocess_wait(proc_, nullptr, nullptr);
    g_object_unref(proc_);
  }

private:
  GSubprocess *proc_ = nullptr;
};

bool nginx_rtmp_available()
{
  return fs::exists("/usr/lib/nginx/modules/ngx_rtmp_module.so") &&
         g_find_program_in_path("nginx") != nullptr;
}

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
    const bool rtmp = command.find("rtmp://127.0.0.1:1935/") != std::string::npos;
    std::unique_ptr<Background> nginx, publisher;
    std::vector<std::string> argv = {"sh", "-c", "cd '" + dir + "' && " + command};
    const bool launch = command.rfind("gst-launch-1.0", 0) == 0;
    if (rtmp) {
      if (!nginx_rtmp_available()) {
        std::cout << "[ SKIPPED  ] nginx-rtmp is not installed: " << command.substr(0, 60) << "\n";
        continue;
      }
      const int port = free_tcp_port();
      const std::string conf = dir + "/nginx.conf";
      std::ofstream(conf) << "daemon off; master_process on; worker_processes 1; pid " << dir
                          << "/nginx.pid;\nload_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n"
                             "events { worker_connections 32; }\nrtmp { server { listen 127.0.0.1:"
                          << port << "; application live { live on; wait_key on; } } }\n";
      nginx = std::make_unique<Background>(
          std::vector<std::string>{"nginx", "-p", dir, "-c", conf, "-e", dir + "/nginx.log"});
      for (int i = 0; i < 100 && !port_open(port); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ASSERT_TRUE(port_open(port)) << "nginx did not start";
      const std::string url = "rtmp://127.0.0.1:" + std::to_string(port) + "/live/demo";
      publisher = std::make_unique<Background>(
          std::vector<std::string>{"ffmpeg", "-nostdin", "-re", "-stream_loop", "3", "-i",
                                   dir + "/push.flv", "-c", "copy", "-f", "flv", url});
      command = std::regex_replace(command, std::regex("rtmp://127\\.0\\.0\\.1:1935/"),
                                   "rtmp://127.0.0.1:" + std::to_string(port) + "/");
      /* The page says: stop it with Ctrl-C. */
      argv = {"timeout", "--preserve-status",
              "-s",      "INT",
              "10",      "sh",
              "-c",      "cd '" + dir + "' && exec " + command};
    }
    if (!launch)
      continue;
    auto r = run_process(argv, std::chrono::seconds(180));
    EXPECT_TRUE(r.ok()) << command << "\n" << r.out << r.err;
    EXPECT_EQ(r.out.find("WARNING"), std::string::npos) << command << "\n" << r.out;
    for (const auto &location : locations(command)) {
      const std::string master = dir + "/" + location + "/master.m3u8";
      ASSERT_TRUE(fs::exists(master)) << command;
      auto m = parse_master_playlist(read_text(master));
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
