/* sugarcastd store: the PostgreSQL backend. See pg_store.h. */
#include "pg_store.h"

#include "pg_connection.h"
#include "schema.h"
#include "sql_store.h"

#include <glib.h>

#include <map>
#include <vector>

namespace sugarcast::store {

namespace {

using Listener = std::function<void(const std::string &)>;

class PgStore final : public SqlStore
{
public:
  explicit PgStore(std::string conninfo)
      : SqlStore(Dialect::postgresql), conninfo_(std::move(conninfo))
  {}
  ~PgStore() override;

  const char *backend() const override { return "postgresql"; }
  void open(StoreCallback<Done> done) override;
  void close(StoreCallback<Done> done) override;

  bool supports_notify() const override { return true; }
  void notify(const std::string &channel, const std::string &payload,
              StoreCallback<Done> done) override;
  void listen(const std::string &channel, Listener on_notify, StoreCallback<Done> ready) override;

protected:
  void execute(std::unique_ptr<Script> script) override;

private:
  enum class State { closed, opening, open, closing };

  void opened(StoreResult<Done> outcome);
  void listen_again();
  void run_listen(std::vector<std::string> channels, StoreCallback<Done> ready);
  void delivered(const std::string &channel, const std::string &payload);
  void connection_down(const StoreError &error, bool &was_up);
  void connection_up(const char *which, bool &was_up);
  /* Gives script->done to the mailbox, so it runs later and outside libpq's handling. */
  std::unique_ptr<Script> answered_later(std::unique_ptr<Script> script);

  const std::string conninfo_;
  State state_ = State::closed;
  std::unique_ptr<PgConnection> work_;
  std::unique_ptr<PgConnection> listener_;
  bool work_was_up_ = false;
  bool listener_was_up_ = false;
  StoreCallback<Done> open_done_;
  std::map<std::string, std::vector<Listener>> listeners_;
};

PgStore::~PgStore()
{
  state_ = State::closed;
  /* Fail what the connections still hold, then deliver every answer now. */
  const StoreError gone{"the store was destroyed", false};
  if (work_)
    work_->disconnect(gone);
  if (listener_)
    listener_->disconnect(gone);
  if (open_done_)
    fail_later(std::move(open_done_), gone);
  mailbox_.drain_now();
  work_.reset();
  listener_.reset();
}

std::unique_ptr<Script> PgStore::answered_later(std::unique_ptr<Script> script)
{
  script->done = [this, done = std::move(script->done)](StoreResult<std::vector<Rows>> answer) {
    mailbox_.post([done, answer = std::move(answer)]() mutable { done(std::move(answer)); });
  };
  return script;
}

void PgStore::open(StoreCallback<Done> done)
{
  if (state_ != State::closed) {
    fail_later(std::move(done), {"open: the store is already open", false});
    return;
  }
  state_ = State::opening;
  open_done_ = std::move(done);
  GMainContext *context = mailbox_.context();

  work_ = std::make_unique<PgConnection>(
      context, conninfo_, "work",
      PgConnection::Events{
          .up =
              [this] {
                if (state_ == State::opening) {
                  auto script = migration_script(Dialect::postgresql, now_ms());
                  script->done = [this](StoreResult<std::vector<Rows>> answer) {
                    if (state_ != State::opening)
                      return;
                    if (!answer.ok())
                      return opened(StoreError{"open: migrating: " + answer.error().message,
                                               answer.error().retryable});
                    listener_->connect();
                  };
                  work_->run(answered_later(std::move(script)));
                }
                connection_up("work", work_was_up_);
              },
          .down = [this](const StoreError &error) { connection_down(error, work_was_up_); },
          .notification = nullptr});

  listener_ = std::make_unique<PgConnection>(
      context, conninfo_, "listen",
      PgConnection::Events{
          .up =
              [this] {
                if (state_ == State::opening)
                  mailbox_.post([this] { opened(Done{}); });
                else
                  listen_again();
                connection_up("listen", listener_was_up_);
              },
          .down = [this](const StoreError &error) { connection_down(error, listener_was_up_); },
          .notification =
              [this](const std::string &channel, const std::string &payload) {
                mailbox_.post([this, channel, payload] { delivered(channel, payload); });
              }});

  work_->connect();
}

void PgStore::connection_up(const char *which, bool &was_up)
{
  if (state_ == State::open && !was_up)
    g_message("store: PostgreSQL %s connection restored", which);
  was_up = true;
}

void PgStore::connection_down(const StoreError &error, bool &was_up)
{
  if (state_ == State::opening) {
    /* Not a daemon's lost link but a start-up that cannot reach the server:
     * the caller decides whether to try again. Later, outside libpq. */
    mailbox_.post([this, error] {
      if (state_ == State::opening)
        opened(StoreError{"open: " + error.message, error.retryable});
    });
    return;
  }
  if (state_ == State::open && was_up)
    g_warning("store: lost the connection to %s; calls fail as retryable until it is back, "
              "reconnecting",
              error.message.c_str());
  was_up = false;
}

void PgStore::opened(StoreResult<Done> outcome)
{
  if (state_ != State::opening)
    return;
  if (outcome.ok()) {
    state_ = State::open;
    work_->set_reconnect(true);
    listener_->set_reconnect(true);
  } else {
    state_ = State::closed;
    work_->disconnect(outcome.error());
    listener_->disconnect(outcome.error());
  }
  StoreCallback<Done> done = std::move(open_done_);
  open_done_ = nullptr;
  /* Both paths already run from the mailbox, or from libpq handling that
   * must not see the caller: post once more to be sure. */
  mailbox_.post([done = std::move(done), outcome = std::move(outcome)] {
    if (done)
      done(outcome);
  });
}

void PgStore::close(StoreCallback<Done> done)
{
  if (state_ == State::opening) {
    /* A daemon told to stop while it still waits for its database. */
    opened(StoreError{"open: the store was closed before it opened", false});
    mailbox_.post([done = std::move(done)] {
      if (done)
        done(Done{});
    });
    return;
  }
  if (state_ != State::open) {
    fail_later(std::move(done), {"close: the store is not open", false});
    return;
  }
  state_ = State::closing;
  /* An empty script: it finishes when everything queued before it has. */
  auto marker = Script::of({});
  marker->done = [this, done = std::move(done)](StoreResult<std::vector<Rows>>) {
    const StoreError closed{"the store was closed", false};
    work_->disconnect(closed);
    listener_->disconnect(closed);
    state_ = State::closed;
    if (done)
      done(Done{});
  };
  work_->run(answered_later(std::move(marker)));
}

void PgStore::execute(std::unique_ptr<Script> script)
{
  if (state_ != State::open) {
    auto done = std::move(script->done);
    fail_later<std::vector<Rows>>(
        std::move(done),
        {state_ == State::closing ? "the store is closing" : "the store is not open", false});
    return;
  }
  work_->run(answered_later(std::move(script)));
}

void PgStore::notify(const std::string &channel, const std::string &payload,
                     StoreCallback<Done> done)
{
  if (std::optional<StoreError> error = check_notify("notify", channel, payload)) {
    fail_later(std::move(done), std::move(*error));
    return;
  }
  /* pg_notify takes the channel as a value, so it is bound, not quoted. */
  auto script = Script::of({{"SELECT pg_notify($1, $2)", {channel, payload}}});
  script->done = answer_done("notify", std::move(done));
  execute(std::move(script));
}

void PgStore::listen(const std::string &channel, Listener on_notify, StoreCallback<Done> ready)
{
  if (std::optional<StoreError> error = check_notify("listen", channel, "")) {
    fail_later(std::move(ready), std::move(*error));
    return;
  }
  if (state_ != State::open) {
    fail_later(std::move(ready), {"listen: the store is not open", false});
    return;
  }
  listeners_[channel].push_back(std::move(on_notify));
  run_listen({channel}, std::move(ready));
}

void PgStore::listen_again()
{
  std::vector<std::string> channels;
  for (const auto &entry : listeners_)
    channels.push_back(entry.first);
  if (!channels.empty())
    run_listen(std::move(channels), nullptr);
}

void PgStore::run_listen(std::vector<std::string> channels, StoreCallback<Done> ready)
{
  std::vector<Statement> statements;
  for (const std::string &channel : channels)
    statements.push_back({"LISTEN " + PgConnection::quote_identifier(channel), {}});
  auto script = Script::of(std::move(statements));
  script->done = answer_done("listen", std::move(ready));
  /* When the listening connection is down this fails at once (retryable);
   * the channel stays in listeners_ and is listened to again on reconnect. */
  listener_->run(answered_later(std::move(script)));
}

void PgStore::delivered(const std::string &channel, const std::string &payload)
{
  if (state_ != State::open)
    return;
  auto found = listeners_.find(channel);
  if (found == listeners_.end())
    return;
  /* A copy: a listener may add listeners. */
  const std::vector<Listener> listeners = found->second;
  for (const Listener &listener : listeners)
    if (listener)
      listener(payload);
}

} // namespace

std::unique_ptr<Store> make_postgresql_store(const std::string &conninfo)
{
  return std::make_unique<PgStore>(conninfo);
}

} // namespace sugarcast::store
