/* sugarcastd — the daemon: builds every module from the configuration,
 * starts them in order and shuts them down in reverse on SIGTERM/SIGINT. */
#pragma once

#include "config.h"

#include <functional>
#include <memory>
#include <string>

namespace sugarcast {

class Daemon
{
public:
  explicit Daemon(Config config);
  ~Daemon();

  /* Opens the store, loads pipeline descriptions, starts listening. Calls
   * `done` on the main context with "" or the reason start-up failed. */
  void start(std::function<void(const std::string &error)> done);
  /* Stops accepting, ends pipelines with EOS, flushes the store; then
   * done(true), or done(false) when something could not finish in time. */
  void shutdown(std::function<void(bool clean)> done);

  int http_port() const;
  int rtmp_port() const;
  const Config &config() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/* Secrets shorter than this are refused at start-up: a guessable admin
 * token or JWT secret is no secret. */
inline constexpr size_t kMinSecretBytes = 16;
/* "" when every configured secret is long enough; otherwise one line per
 * secret that is not, naming its field and variable. */
std::string check_secret_lengths(const Config &config);

/* The admin token: the configured one, or the one kept in DATA_DIR/admin-token
 * (made on first use, readable by its owner only). */
std::string ensure_admin_token(const Config &config, std::string &error);

} // namespace sugarcast
