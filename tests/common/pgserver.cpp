/* Sugarcast test support: a private PostgreSQL server. See pgserver.h. */
#include "pgserver.h"

#include "testenv.h"

#include <gio/gio.h>
#include <libpq-fe.h>

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace sugarcast::test {

namespace {

std::string postgres_bindir()
{
  if (const char *dir = g_getenv("SUGARCAST_PG_BINDIR"))
    return dir;
  std::vector<fs::path> found;
  if (fs::exists("/usr/lib/postgresql"))
    for (const auto &entry : fs::directory_iterator("/usr/lib/postgresql"))
      if (fs::exists(entry.path() / "bin" / "postgres"))
        found.push_back(entry.path() / "bin");
  if (found.empty())
    throw std::runtime_error("PostgreSQL server binaries not found under /usr/lib/postgresql "
                             "(apt-get install postgresql, or set SUGARCAST_PG_BINDIR)");
  std::sort(found.begin(), found.end());
  return found.back().string();
}

} // namespace

struct PgServer::Impl
{
  std::string root; /* temporary folder: data/, socket, log */
  std::string bindir;
  std::vector<std::string> as_owner; /* prefix that runs a command as the server's owner */
  GSubprocess *server = nullptr;
  int databases = 0;
};

PgServer::PgServer() : impl_(std::make_unique<Impl>())
{
  Impl &d = *impl_;
  d.bindir = postgres_bindir();
  g_autofree gchar *root = g_dir_make_tmp("sugarcast-pg-XXXXXX", nullptr);
  if (!root)
    throw std::runtime_error("cannot make a temporary folder for PostgreSQL");
  d.root = root;

  /* setpriv execs the program itself, so the parent-death signal lands on
   * postgres: a crashed test binary never leaves a server behind. */
  d.as_owner = {"setpriv", "--pdeathsig", "SIGINT"};
  if (geteuid() == 0) {
    struct passwd *pw = getpwnam("postgres");
    if (!pw)
      throw std::runtime_error("running as root, but there is no `postgres` user to run the "
                               "server as (Debian's postgresql package creates it)");
    if (chown(d.root.c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("cannot hand " + d.root + " to the postgres user");
    d.as_owner.insert(d.as_owner.end(), {"--reuid=" + std::to_string(pw->pw_uid),
                                         "--regid=" + std::to_string(pw->pw_gid), "--init-groups"});
  }
  d.as_owner.push_back("--");

  std::vector<std::string> initdb = d.as_owner;
  initdb.insert(initdb.end(),
                {d.bindir + "/initdb", "--pgdata=" + d.root + "/data", "--username=postgres",
                 "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"});
  ProcessResult r = run_process(initdb, std::chrono::seconds(120));
  if (!r.ok())
    throw std::runtime_error("initdb failed in " + d.root + ": " + r.err);

  for (int attempt = 0; attempt < 5 && !d.server; ++attempt) {
    port_ = free_tcp_port();
    launch();
  }
  if (!d.server)
    throw std::runtime_error("PostgreSQL did not start in " + d.root);
}

bool PgServer::launch()
{
  Impl &d = *impl_;
  std::vector<std::string> argv = d.as_owner;
  argv.insert(argv.end(), {d.bindir + "/postgres", "-D", d.root + "/data", "-h", "127.0.0.1", "-p",
                           std::to_string(port_), "-k", d.root, "-c", "fsync=off", "-c",
                           "synchronous_commit=off", "-c", "full_page_writes=off", "-c",
                           "max_connections=200"});
  std::vector<const gchar *> args;
  for (const auto &a : argv)
    args.push_back(a.c_str());
  args.push_back(nullptr);
  g_autoptr(GError) error = nullptr;
  GSubprocess *proc = g_subprocess_newv(args.data(), G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
  if (!proc)
    throw std::runtime_error(std::string("cannot start postgres: ") + error->message);

  const std::string conn = conninfo() + " connect_timeout=2";
  bool up = false;
  eventually(
      [&] {
        /* or exited: the port taken, say */
        return (up = PQping(conn.c_str()) == PQPING_OK) || !g_subprocess_get_identifier(proc);
      },
      std::chrono::seconds(15));
  if (up) {
    d.server = proc;
    return true;
  }
  g_subprocess_force_exit(proc);
  g_subprocess_wait(proc, nullptr, nullptr);
  g_object_unref(proc);
  return false;
}

void PgServer::stop()
{
  Impl &d = *impl_;
  if (!d.server)
    return;
  /* SIGINT is PostgreSQL's "fast shutdown". */
  g_subprocess_send_signal(d.server, SIGINT);
  g_subprocess_wait(d.server, nullptr, nullptr);
  g_object_unref(d.server);
  d.server = nullptr;
}

void PgServer::start()
{
  if (impl_->server)
    return;
  if (!launch())
    throw std::runtime_error("PostgreSQL did not start again on port " + std::to_string(port_) +
                             " in " + impl_->root);
}

bool PgServer::running() const
{
  return impl_->server != nullptr;
}

PgServer::~PgServer()
{
  Impl &d = *impl_;
  stop();
  std::error_code ignored;
  fs::remove_all(d.root, ignored);
}

PgServer &PgServer::shared()
{
  static PgServer server;
  return server;
}

std::string PgServer::conninfo(const std::string &dbname) const
{
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + dbname;
}

void PgServer::exec(const std::string &sql, const std::string &dbname) const
{
  PGconn *conn = PQconnectdb(conninfo(dbname).c_str());
  std::string failure;
  if (PQstatus(conn) != CONNECTION_OK) {
    failure = PQerrorMessage(conn);
  } else {
    PGresult *res = PQexec(conn, sql.c_str());
    ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      failure = PQresultErrorMessage(res);
    PQclear(res);
  }
  PQfinish(conn);
  if (!failure.empty())
    throw std::runtime_error("SQL failed (" + sql + "): " + failure);
}

std::string PgServer::create_database(const std::string &prefix, const std::string &options)
{
  std::string name =
      prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(++impl_->databases);
  exec("CREATE DATABASE " + name + (options.empty() ? "" : " " + options));
  return name;
}

} // namespace sugarcast::test
