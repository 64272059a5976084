/* Sugarcast test support: environment, child processes, expected log lines.
 *
 * Every gtest binary links gst_test_main.cpp, which gives it a fresh
 * GStreamer registry, our build folder plus the system plugins (set by
 * tests/meson.build), and turns GLib warnings and criticals into failures.
 */
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sugarcast::test {

/* Folders meson hands to every test (see tests/meson.build). */
std::string source_dir();
std::string build_dir();
/* A folder for this test binary's scratch files, removed at exit. */
std::string scratch_dir();
/* Path to a program built by this project, e.g. "plugins/clip/sugarcast-validate". */
std::string built_program(const std::string &relative);

struct ProcessResult
{
  int exit_status = -1; /* the exit code when the process exited normally */
  int term_signal = 0;  /* the signal that killed it, 0 when it exited */
  bool timed_out = false;
  std::string out;
  std::string err;
  bool ok() const { return !timed_out && term_signal == 0 && exit_status == 0; }
};

/* Runs argv to completion (killing it after `timeout`), capturing both outputs. */
ProcessResult run_process(const std::vector<std::string> &argv,
                          std::chrono::seconds timeout = std::chrono::seconds(120));

/* A program running beside the test (an encoder to kill mid-stream); its
 * outputs are discarded. Killed with SIGKILL when destroyed. */
class Background
{
public:
  explicit Background(const std::vector<std::string> &argv);
  ~Background();
  Background(const Background &) = delete;
  Background &operator=(const Background &) = delete;
  void kill(int signal = 9);
  /* The exit status once it ended within `timeout`, -1 otherwise (or when
   * a signal ended it). */
  int wait(std::chrono::seconds timeout);
  bool running() const;

private:
  struct _GSubprocess *proc_ = nullptr;
};

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int free_tcp_port();

/* Whether CONDITION becomes true within TIMEOUT, asked every 50 ms. */
bool eventually(const std::function<bool()> &condition,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));

/* Writes all SIZE bytes to the socket FD (blocking); false if it closed. */
bool send_all(int fd, const void *data, size_t size);
/* Whether the peer closes the socket FD (or it fails) within TIMEOUT; what
 * arrives meanwhile is read and dropped. */
bool wait_closed(int fd, std::chrono::milliseconds timeout);
/* One recv() on fd once it is readable, if that happens before deadline:
 * recv's result (bytes, 0 at end of stream, -1 with errno), or nothing when
 * the deadline passed first. */
std::optional<ssize_t> recv_before(int fd, void *buffer, size_t size,
                                   std::chrono::steady_clock::time_point deadline);

/* The whole of the file at PATH, bytes as they are; empty when it cannot be
 * read. */
std::string read_file(const std::string &path);

/* The first line of the file at PATH that holds NEEDLE (without its
 * newline), once one does within TIMEOUT; "" when none did. */
std::string eventually_line(const std::string &path, const std::string &needle,
                            std::chrono::milliseconds timeout);

/* How many descriptors process PID has open (/proc/PID/fd). */
int open_descriptors(int pid);
/* The same once it has stayed put for 100 ms (at most 5 s): a server closes
 * its end of a connection a moment after the client, so a count taken right
 * after a request may or may not include it. */
int settled_descriptors(int pid);

/* While alive, GLib warnings and criticals whose message contains `fragment`
 * are expected and do not fail the test. */
class ExpectLog
{
public:
  explicit ExpectLog(std::string fragment);
  ~ExpectLog();
  ExpectLog(const ExpectLog &) = delete;
  ExpectLog &operator=(const ExpectLog &) = delete;
  /* How many log lines matched so far. */
  int matched() const;

private:
  int id_;
};

} // namespace sugarcast::test
