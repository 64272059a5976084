/* Sugarcast test support: a real sugarcastd process and an HTTP client.
 *
 * SugarcastdProcess starts build/daemon/sugarcastd with a scratch data folder,
 * free HTTP and RTMP ports on 127.0.0.1 and the given configuration merged
 * in, waits until /healthz answers, and stops it with SIGTERM (SIGKILL after
 * 20 s) when it dies. Its log goes to DATA_DIR/sugarcastd.log. */
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

typedef struct _GSubprocess GSubprocess;

namespace sugarcast::test {

struct HttpResponse
{
  int status = 0; /* 0: no answer */
  std::string body;
  std::map<std::string, std::string> headers; /* names in lower case */
  std::string header(const std::string &name) const;
};

/* One request with libsoup; `headers` as {"Name", "value"}. */
HttpResponse http_request(const std::string &method, const std::string &url,
                          const std::string &body = "",
                          const std::vector<std::pair<std::string, std::string>> &headers = {},
                          const std::string &content_type = "application/json");

class SugarcastdProcess
{
public:
  struct Options
  {
    /* A JSON object merged over the test defaults (ports, data_dir, log). */
    std::string config = "{}";
    /* Extra environment, e.g. {"SUGARCAST_DATABASE_URL", "..."}. */
    std::vector<std::pair<std::string, std::string>> env;
    /* "" : a new scratch folder. Reuse one to restart on the same data. */
    std::string data_dir;
    std::string admin_token = "test-admin-token";
  };

  explicit SugarcastdProcess(Options options);
  ~SugarcastdProcess();
  SugarcastdProcess(const SugarcastdProcess &) = delete;
  SugarcastdProcess &operator=(const SugarcastdProcess &) = delete;

  /* Whether /healthz answered within `timeout` (the process may have exited). */
  bool wait_ready(std::chrono::seconds timeout = std::chrono::seconds(20));
  /* Sends `signal` and waits; the exit status, or -1 if it had to be killed. */
  int stop(int signal = 15 /* SIGTERM */, std::chrono::seconds timeout = std::chrono::seconds(20));
  bool running() const;
  int pid() const;

  int http_port() const { return http_port_; }
  int rtmp_port() const { return rtmp_port_; }
  std::string url(const std::string &path = "") const;
  const std::string &data_dir() const { return data_dir_; }
  const std::string &admin_token() const { return options_.admin_token; }
  std::string log() const;

  /* A request with the admin bearer token. */
  HttpResponse admin(const std::string &method, const std::string &path,
                     const std::string &body = "") const;

  /* The daemon's sugarcast_heap_bytes (what malloc handed out and did not
   * get back; unlike the RSS, blind to the pages the allocator keeps), the
   * lowest of five readings 100 ms apart: work may still be going away.
   * -1 when /metrics has none. */
  double heap_bytes() const;

private:
  Options options_;
  std::string data_dir_;
  int http_port_ = 0;
  int rtmp_port_ = 0;
  GSubprocess *proc_ = nullptr;
  int exit_status_ = -1;
};

} // namespace sugarcast::test
