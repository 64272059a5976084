/* Sugarcast test support: a real sugarcastd process. See sugarcastd.h. */
#include "sugarcastd.h"

#include "testenv.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace sugarcast::test {

std::string HttpResponse::header(const std::string &name) const
{
  std::string lower = name;
  for (auto &c : lower)
    c = static_cast<char>(g_ascii_tolower(c));
  auto it = headers.find(lower);
  return it == headers.end() ? "" : it->second;
}

HttpResponse http_request(const std::string &method, const std::string &url,
                          const std::string &body,
                          const std::vector<std::pair<std::string, std::string>> &headers,
                          const std::string &content_type)
{
  HttpResponse r;
  g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 30, nullptr);
  g_autoptr(SoupMessage) msg = soup_message_new(method.c_str(), url.c_str());
  if (!msg) {
    ADD_FAILURE() << "not a URL: " << url;
    return r;
  }
  SoupMessageHeaders *request_headers = soup_message_get_request_headers(msg);
  for (const auto &[name, value] : headers)
    soup_message_headers_replace(request_headers, name.c_str(), value.c_str());
  if (!body.empty() || method == "POST" || method == "PUT") {
    g_autoptr(GBytes) bytes = g_bytes_new(body.data(), body.size());
    soup_message_set_request_body_from_bytes(msg, content_type.c_str(), bytes);
  }
  g_autoptr(GError) error = nullptr;
  g_autoptr(GBytes) reply = soup_session_send_and_read(session, msg, nullptr, &error);
  if (!reply)
    return r;
  r.status = static_cast<int>(soup_message_get_status(msg));
  gsize size = 0;
  const char *data = static_cast<const char *>(g_bytes_get_data(reply, &size));
  r.body.assign(data ? data : "", size);
  SoupMessageHeadersIter it;
  soup_message_headers_iter_init(&it, soup_message_get_response_headers(msg));
  const char *name, *value;
  while (soup_message_headers_iter_next(&it, &name, &value)) {
    std::string lower = name;
    for (auto &c : lower)
      c = static_cast<char>(g_ascii_tolower(c));
    r.headers[lower] = value;
  }
  return r;
}

SugarcastdProcess::SugarcastdProcess(Options options) : options_(std::move(options))
{
  data_dir_ = options_.data_dir;
  if (data_dir_.empty()) {
    g_autofree gchar *dir = g_build_filename(scratch_dir().c_str(), "sugarcastd-XXXXXX", nullptr);
    data_dir_ = g_mkdtemp(dir) ? dir : "";
  }
  http_port_ = free_tcp_port();
  rtmp_port_ = free_tcp_port();

  g_autoptr(JsonParser) parser = json_parser_new();
  EXPECT_TRUE(json_parser_load_from_data(parser, options_.config.c_str(), -1, nullptr))
      << options_.config;
  JsonObject *config = json_node_get_object(json_parser_get_root(parser));
  auto section = [&](const char *name) {
    if (!json_object_has_member(config, name))
      json_object_set_object_member(config, name, json_object_new());
    return json_object_get_object_member(config, name);
  };
  json_object_set_string_member(config, "data_dir", data_dir_.c_str());
  if (!json_object_has_member(config, "admin_token"))
    json_object_set_string_member(config, "admin_token", options_.admin_token.c_str());
  if (!json_object_has_member(config, "log_level"))
    json_object_set_string_member(config, "log_level", "debug");
  json_object_set_string_member(section("http"), "address", "127.0.0.1");
  json_object_set_int_member(section("http"), "port", http_port_);
  json_object_set_string_member(section("rtmp"), "address", "127.0.0.1");
  json_object_set_int_member(section("rtmp"), "port", rtmp_port_);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, json_parser_get_root(parser));
  const std::string config_path = data_dir_ + "/test-config.json";
  json_generator_to_file(gen, config_path.c_str(), nullptr);

  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
  for (const auto &[k, v] : options_.env)
    g_subprocess_launcher_setenv(launcher, k.c_str(), v.c_str(), TRUE);
  const std::string log_path = data_dir_ + "/sugarcastd.log";
  g_subprocess_launcher_set_stderr_file_path(launcher, log_path.c_str());
  g_subprocess_launcher_set_stdout_file_path(launcher, log_path.c_str());
  const std::string program = built_program("daemon/sugarcastd");
  g_autoptr(GError) error = nullptr;
  proc_ = g_subprocess_launcher_spawn(launcher, &error, program.c_str(), "--config",
                                      config_path.c_str(), nullptr);
  EXPECT_NE(proc_, nullptr) << (error ? error->message : "");
}

SugarcastdProcess::~SugarcastdProcess()
{
  if (proc_) {
    if (running())
      stop();
    g_object_unref(proc_);
  }
}

bool SugarcastdProcess::running() const
{
  return proc_ && g_subprocess_get_identifier(proc_) != nullptr;
}

int SugarcastdProcess::pid() const
{
  const char *id = proc_ ? g_subprocess_get_identifier(proc_) : nullptr;
  return id ? std::atoi(id) : 0;
}

bool SugarcastdProcess::wait_ready(std::chrono::seconds timeout)
{
  bool ready = false;
  eventually(
      [&] { return !running() || (ready = http_request("GET", url("/healthz")).status == 200); },
      timeout);
  return ready;
}

int SugarcastdProcess::stop(int signal, std::chrono::seconds timeout)
{
  if (!proc_)
    return exit_status_;
  if (running())
    g_subprocess_send_signal(proc_, signal);
  if (!eventually([this] { return !running(); }, timeout)) {
    ADD_FAILURE() << "sugarcastd did not exit within " << timeout.count() << " s of signal "
                  << signal << "; killing it. Log:\n"
                  << log();
    g_subprocess_force_exit(proc_);
    g_subprocess_wait(proc_, nullptr, nullptr);
    return exit_status_ = -1;
  }
  g_subprocess_wait(proc_, nullptr, nullptr);
  exit_status_ = g_subprocess_get_if_exited(proc_) ? g_subprocess_get_exit_status(proc_) : -1;
  return exit_status_;
}

std::string SugarcastdProcess::url(const std::string &path) const
{
  return "http://127.0.0.1:" + std::to_string(http_port_) + path;
}

std::string SugarcastdProcess::log() const
{
  std::ifstream in(data_dir_ + "/sugarcastd.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double SugarcastdProcess::heap_bytes() const
{
  const std::string name = "\nsugarcast_heap_bytes ";
  double lowest = -1;
  for (int i = 0; i < 5; ++i) {
    if (i > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::string body = http_request("GET", url("/metrics")).body;
    const size_t at = body.find(name);
    if (at == std::string::npos)
      continue;
    const double v = std::stod(body.substr(at + name.size()));
    lowest = lowest < 0 ? v : std::min(lowest, v);
  }
  return lowest;
}

HttpResponse SugarcastdProcess::admin(const std::string &method, const std::string &path,
                                      const std::string &body) const
{
  return http_request(method, url(path), body,
                      {{"Authorization", "Bearer " + options_.admin_token}});
}

} // namespace sugarcast::test
