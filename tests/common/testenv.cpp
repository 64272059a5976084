/* Sugarcast test support: environment, child processes, expected log lines. */
#include "testenv.h"

#include <gio/gio.h>
#include <glib.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

namespace sugarcast::test {

namespace {

std::string env_or_fail(const char *name)
{
  const char *value = g_getenv(name);
  if (!value) {
    ADD_FAILURE() << name << " is not set: run tests through `meson test` (./dev test)";
    return {};
  }
  return value;
}

struct Expectations
{
  std::mutex lock;
  std::map<int, std::pair<std::string, int>> fragments;
  int next_id = 1;
};

Expectations &expectations()
{
  static Expectations e;
  return e;
}

} // namespace

/* Called by the log writer in gst_test_main.cpp. */
bool log_line_expected(const std::string &message)
{
  Expectations &e = expectations();
  std::lock_guard<std::mutex> guard(e.lock);
  for (auto &[id, entry] : e.fragments) {
    if (message.find(entry.first) != std::string::npos) {
      ++entry.second;
      return true;
    }
  }
  return false;
}

ExpectLog::ExpectLog(std::string fragment)
{
  Expectations &e = expectations();
  std::lock_guard<std::mutex> guard(e.lock);
  id_ = e.next_id++;
  e.fragments[id_] = {std::move(fragment), 0};
}

ExpectLog::~ExpectLog()
{
  Expectations &e = expectations();
  std::lock_guard<std::mutex> guard(e.lock);
  e.fragments.erase(id_);
}

int ExpectLog::matched() const
{
  Expectations &e = expectations();
  std::lock_guard<std::mutex> guard(e.lock);
  return e.fragments.at(id_).second;
}

std::string source_dir()
{
  return env_or_fail("SUGARCAST_SOURCE_DIR");
}

std::string build_dir()
{
  return env_or_fail("SUGARCAST_BUILD_DIR");
}

std::string scratch_dir()
{
  /* Never freed: a static std::string would be destroyed before the atexit
   * handler below (registered first, so run last) reads it. */
  static const std::string *dir = [] {
    g_autoptr(GError) error = nullptr;
    g_autofree gchar *path = g_dir_make_tmp("sugarcast-test-XXXXXX", &error);
    if (!path)
      throw std::runtime_error(std::string("cannot make a scratch folder: ") + error->message);
    auto *p = new std::string(path);
    std::atexit([] { std::filesystem::remove_all(scratch_dir()); });
    return p;
  }();
  return *dir;
}

std::string built_program(const std::string &relative)
{
  return build_dir() + "/" + relative;
}

ProcessResult run_process(const std::vector<std::string> &argv, std::chrono::seconds timeout)
{
  ProcessResult result;
  std::vector<const gchar *> args;
  for (const auto &a : argv)
    args.push_back(a.c_str());
  args.push_back(nullptr);

  g_autoptr(GMainContext) context = g_main_context_new();
  g_main_context_push_thread_default(context);
  g_autoptr(GError) error = nullptr;
  g_autoptr(GSubprocess) proc =
      g_subprocess_newv(args.data(),
                        static_cast<GSubprocessFlags>(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                      G_SUBPROCESS_FLAGS_STDERR_PIPE |
                                                      G_SUBPROCESS_FLAGS_STDIN_INHERIT),
                        &error);
  if (!proc) {
    g_main_context_pop_thread_default(context);
    result.err = std::string("cannot start ") + argv[0] + ": " + error->message;
    return result;
  }

  struct Io
  {
    bool done = false;
    GBytes *out = nullptr;
    GBytes *err = nullptr;
  } io;
  g_subprocess_communicate_async(
      proc, nullptr, nullptr,
      [](GObject *source, GAsyncResult *res, gpointer data) {
        auto *io = static_cast<Io *>(data);
        g_subprocess_communicate_finish(G_SUBPROCESS(source), res, &io->out, &io->err, nullptr);
        io->done = true;
      },
      &io);
  struct Watchdog
  {
    GSubprocess *proc;
    bool *timed_out;
  } watchdog{proc, &result.timed_out};
  g_autoptr(GSource) timer = g_timeout_source_new_seconds(static_cast<guint>(timeout.count()));
  g_source_set_callback(
      timer,
      [](gpointer data) -> gboolean {
        auto *w = static_cast<Watchdog *>(data);
        *w->timed_out = true;
        g_subprocess_force_exit(w->proc);
        return G_SOURCE_REMOVE;
      },
      &watchdog, nullptr);
  g_source_attach(timer, context);
  while (!io.done)
    g_main_context_iteration(context, TRUE);
  g_source_destroy(timer);
  g_subprocess_wait(proc, nullptr, nullptr);
  g_main_context_pop_thread_default(context);

  auto text = [](GBytes *b) {
    if (!b)
      return std::string();
    gsize size = 0;
    const char *data = static_cast<const char *>(g_bytes_get_data(b, &size));
    std::string s(data ? data : "", size);
    g_bytes_unref(b);
    return s;
  };
  result.out = text(io.out);
  result.err = text(io.err);
  if (g_subprocess_get_if_exited(proc))
    result.exit_status = g_subprocess_get_exit_status(proc);
  else if (g_subprocess_get_if_signaled(proc))
    result.term_signal = g_subprocess_get_term_sig(proc);
  return result;
}

Background::Background(const std::vector<std::string> &argv)
{
  std::vector<const gchar *> args;
  for (const auto &a : argv)
    args.push_back(a.c_str());
  args.push_back(nullptr);
  g_autoptr(GError) error = nullptr;
  proc_ = reinterpret_cast<struct _GSubprocess *>(
      g_subprocess_newv(args.data(),
                        static_cast<GSubprocessFlags>(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                      G_SUBPROCESS_FLAGS_STDERR_SILENCE),
                        &error));
  if (!proc_)
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << error->message;
}

Background::~Background()
{
  if (!proc_)
    return;
  if (running())
    kill(9);
  g_subprocess_wait(G_SUBPROCESS(proc_), nullptr, nullptr);
  g_object_unref(proc_);
}

void Background::kill(int signal)
{
  if (proc_ && running())
    g_subprocess_send_signal(G_SUBPROCESS(proc_), signal);
}

bool Background::running() const
{
  return proc_ && g_subprocess_get_identifier(G_SUBPROCESS(proc_)) != nullptr;
}

int Background::wait(std::chrono::seconds timeout)
{
  if (!proc_ || !eventually([this] { return !running(); }, timeout))
    return -1;
  g_subprocess_wait(G_SUBPROCESS(proc_), nullptr, nullptr);
  return g_subprocess_get_if_exited(G_SUBPROCESS(proc_))
             ? g_subprocess_get_exit_status(G_SUBPROCESS(proc_))
             : -1;
}

int open_descriptors(int pid)
{
  int n = 0;
  for (const auto &e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

int settled_descriptors(int pid)
{
  int n = open_descriptors(pid);
  for (int stable = 0, i = 0; stable < 5 && i < 250; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const int now = open_descriptors(pid);
    stable = now == n ? stable + 1 : 0;
    n = now;
  }
  return n;
}

int free_tcp_port()
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
    if (fd >= 0)
      close(fd);
    throw std::runtime_error("cannot find a free TCP port on 127.0.0.1");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

bool eventually(const std::function<bool()> &condition, std::chrono::milliseconds timeout)
{
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

std::string eventually_line(const std::string &path, const std::string &needle,
                            std::chrono::milliseconds timeout)
{
  std::string line;
  eventually(
      [&] {
        const std::string text = read_file(path);
        const size_t at = text.find(needle);
        if (at == std::string::npos)
          return false;
        const size_t start = text.rfind('\n', at);
        const size_t from = start == std::string::npos ? 0 : start + 1;
        line = text.substr(from, text.find('\n', at) - from);
        return true;
      },
      timeout);
  return line;
}

bool send_all(int fd, const void *data, size_t size)
{
  const auto *bytes = static_cast<const char *>(data);
  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, bytes + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::optional<ssize_t> recv_before(int fd, void *buffer, size_t size,
                                   std::chrono::steady_clock::time_point deadline)
{
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0)
    return std::nullopt;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
    return std::nullopt;
  return recv(fd, buffer, size, 0);
}

bool wait_closed(int fd, std::chrono::milliseconds timeout)
{
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    char buf[65536];
    const std::optional<ssize_t> n = recv_before(fd, buf, sizeof buf, deadline);
    if (!n)
      return false;
    if (*n == 0 || (*n < 0 && errno != EINTR && errno != EAGAIN))
      return true;
  }
}

std::string read_file(const std::string &path)
{
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace sugarcast::test
