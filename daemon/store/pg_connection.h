/* sugarcastd store: one libpq connection, driven by the main loop.
 *
 * Connects with PQconnectStartParams/PQconnectPoll and runs Scripts with
 * PQsendQueryParams on a non-blocking socket watched from the main context:
 * the loop never waits for the network. One statement is in flight at a
 * time; Scripts queue behind each other while the connection is up, and are
 * refused at once (retryable) while it is down — nothing waits for a server
 * that may not come back. A lost connection fails what it was running and,
 * when reconnecting is on, is opened again with a growing delay
 * (100 ms doubling to 2 s). A connection attempt gives up after the
 * connection string's connect_timeout (5 s when it has none).
 */
#pragma once

#include "sql.h"

#include <glib.h>
#include <libpq-fe.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sugarcast::store {

class PgConnection
{
public:
  struct Events
  {
    std::function<void()> up;                     /* connected, first time or again */
    std::function<void(const StoreError &)> down; /* an attempt failed, or the link broke */
    std::function<void(const std::string &channel, const std::string &payload)> notification;
  };

  /* `conninfo`: a libpq connection string or postgresql:// URI. `name`
   * appears in error messages ("work", "listen"). */
  PgConnection(GMainContext *context, std::string conninfo, std::string name, Events events);
  /* Closes the connection; Scripts still queued are failed first. */
  ~PgConnection();
  PgConnection(const PgConnection &) = delete;
  PgConnection &operator=(const PgConnection &) = delete;

  /* Starts connecting (no-op when connected or connecting). */
  void connect();
  /* After a loss or a failed attempt, try again by itself. */
  void set_reconnect(bool reconnect) { reconnect_ = reconnect; }
  /* Closes now, stops reconnecting, fails what is queued with `why`. */
  void disconnect(const StoreError &why);
  bool is_up() const { return state_ == State::up; }
  /* Why the last attempt or connection failed. */
  const std::string &last_error() const { return last_error_; }

  /* Runs the script; calls script->done once, from the main loop or at
   * once (retryable) when the connection is not up. */
  void run(std::unique_ptr<Script> script);

  /* "LISTEN" needs an identifier, which cannot be a parameter: quoted here. */
  static std::string quote_identifier(const std::string &name);

private:
  enum class State { idle, connecting, up };
  struct Job;

  static gboolean on_socket(gint fd, GIOCondition condition, gpointer self);
  static gboolean on_connect_timeout(gpointer self);
  static gboolean on_reconnect(gpointer self);

  void poll_connect();
  void connected();
  void lost(const std::string &why, bool retryable = true);
  /* Closes the socket and fails every job with `why`. */
  void close_connection(const StoreError &why);
  void watch(GIOCondition condition);
  void unwatch();
  void stop_timers();
  void read_input();
  void flush_output();
  void send_next();
  void finish_statement(StoreResult<Rows> answer);
  void deliver_notifications();
  void fail_jobs(const StoreError &error);

  GMainContext *context_;
  const std::string conninfo_;
  const std::string name_;
  Events events_;
  State state_ = State::idle;
  bool reconnect_ = false;
  PGconn *conn_ = nullptr;
  GSource *watch_ = nullptr;
  int watch_fd_ = -1;
  GIOCondition watch_condition_ = GIOCondition(0);
  const guint connect_timeout_ms_;
  guint connect_timer_ = 0;
  guint reconnect_timer_ = 0;
  guint backoff_ms_ = 0;
  std::string last_error_;

  std::deque<std::unique_ptr<Job>> jobs_;   /* the front one is running when busy_ */
  bool busy_ = false;                       /* a statement is in flight */
  std::optional<StoreResult<Rows>> answer_; /* the in-flight statement's answer so far */
};

} // namespace sugarcast::store
