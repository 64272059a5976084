/* sugarcastd — the Sugarcast daemon.
 *
 *   sugarcastd [--config FILE] [--data-dir DIR] [--print-config]
 *   sugarcastd token --user U --role R [--name N] [--ttl SECONDS] [--config FILE]
 *     prints a chat token (HS256 JWT) signed with chat.jwt_secret, for development
 *
 * Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when start-up
 * fails or a pipeline would not stop at shutdown, 2 when the command line or the configuration is
 * wrong. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "chat/jwt.h"
#include "daemon.h"
#include "log.h"

#include <glib-unix.h>
#include <gst/gst.h>

#include <cstdio>

#include <sys/stat.h>

namespace {

int token_command(int argc, char **argv)
{
  g_autofree gchar *config_file = nullptr;
  g_autofree gchar *user = nullptr;
  g_autofree gchar *name = nullptr;
  g_autofree gchar *role = nullptr;
  g_autofree gchar *stream = nullptr;
  gint64 ttl = 3600;
  const GOptionEntry entries[] = {
      {"user", 'u', 0, G_OPTION_ARG_STRING, &user, "User id (the token's sub)", "ID"},
      {"role", 'r', 0, G_OPTION_ARG_STRING, &role, "viewer, creator, moderator, streamer or admin",
       "ROLE"},
      {"name", 'n', 0, G_OPTION_ARG_STRING, &name, "Name shown in chat (default: the id)", "NAME"},
      {"stream", 's', 0, G_OPTION_ARG_STRING, &stream,
       "The stream a moderator's or streamer's role holds in", "ID"},
      {"ttl", 't', 0, G_OPTION_ARG_INT64, &ttl, "Seconds until it expires (default 3600)", "S"},
      {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file,
       "Configuration file with chat.jwt_secret", "FILE"},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- mint a chat token for development");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_autoptr(GError) error = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    std::fprintf(stderr, "sugarcastd token: %s\n", error->message);
    return 2;
  }
  sugarcast::chat::Role r = sugarcast::chat::Role::Viewer;
  if (!user || !*user || !role || !sugarcast::chat::parse_role(role, r)) {
    std::fprintf(stderr, "sugarcastd token: needs --user ID and --role "
                         "viewer|creator|moderator|streamer|admin\n");
    return 2;
  }
  if (ttl <= 0) {
    std::fprintf(stderr, "sugarcastd token: --ttl must be positive\n");
    return 2;
  }
  std::string problem;
  auto config = sugarcast::load_config({config_file ? config_file : "", ""}, problem);
  if (!config) {
    std::fprintf(stderr, "sugarcastd: the configuration is not valid:\n%s\n", problem.c_str());
    return 2;
  }
  if (const std::string weak = sugarcast::check_secret_lengths(*config); !weak.empty()) {
    std::fprintf(stderr, "sugarcastd token: %s\n", weak.c_str());
    return 2;
  }
  if (config->chat.jwt_secret.empty()) {
    std::fprintf(stderr, "sugarcastd token: no secret to sign with: set chat.jwt_secret in the "
                         "configuration or SUGARCAST_JWT_SECRET\n");
    return 2;
  }
  std::printf("%s\n",
              sugarcast::chat::mint_token(config->chat.jwt_secret, user, name ? name : "", r,
                                          g_get_real_time() / 1000000 + ttl, stream ? stream : "",
                                          {config->chat.jwt_audience, config->chat.jwt_issuer})
                  .c_str());
  return 0;
}

} // namespace

int main(int argc, char **argv)
{
  if (argc > 1 && g_strcmp0(argv[1], "token") == 0)
    return token_command(argc - 1, argv + 1);

  g_autofree gchar *config_file = nullptr;
  g_autofree gchar *data_dir = nullptr;
  gboolean print_config = FALSE;
  const GOptionEntry entries[] = {
      {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file,
       "Configuration file (JSON, see schemas/config.schema.json)", "FILE"},
      {"data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir,
       "Data folder (overrides data_dir in the file)", "DIR"},
      {"print-config", 0, 0, G_OPTION_ARG_NONE, &print_config,
       "Print the effective configuration and exit", nullptr},
      {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- the Sugarcast daemon");
  g_option_context_add_main_entries(ctx, entries, nullptr);
  g_option_context_add_group(ctx, gst_init_get_option_group());
  g_autoptr(GError) error = nullptr;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    std::fprintf(stderr, "sugarcastd: %s\n", error->message);
    return 2;
  }

  std::string problem;
  auto config =
      sugarcast::load_config({config_file ? config_file : "", data_dir ? data_dir : ""}, problem);
  if (!config) {
    std::fprintf(stderr, "sugarcastd: the configuration is not valid:\n%s\n", problem.c_str());
    return 2;
  }
  if (print_config) {
    std::printf("%s\n", config->effective_json.c_str());
    return 0;
  }
  const std::string weak = sugarcast::check_secret_lengths(*config);
  if (!weak.empty()) {
    std::fprintf(stderr, "sugarcastd: the configuration is not valid:\n%s\n", weak.c_str());
    return 2;
  }
  /* What the daemon writes under the data folder (the store, the admin
   * token, HLS output, uploads, clips) is for its own user only. */
  umask(077);
  sugarcast::install_log_writer(config->log_level);

  g_autoptr(GMainLoop) loop = g_main_loop_new(nullptr, FALSE);
  sugarcast::Daemon daemon(std::move(*config));
  int status = 0;
  daemon.start([&](const std::string &failure) {
    if (!failure.empty()) {
      g_critical("start-up failed: %s", failure.c_str());
      status = 1;
      g_main_loop_quit(loop);
    }
  });

  struct Stop
  {
    sugarcast::Daemon *daemon;
    GMainLoop *loop;
    int *status;
    bool stopping = false;
  } stop{&daemon, loop, &status};
  auto on_signal = [](gpointer data) -> gboolean {
    auto *s = static_cast<Stop *>(data);
    if (!s->stopping) {
      s->stopping = true;
      g_message("shutting down: ending streams, finishing outputs, flushing the store");
      s->daemon->shutdown([s](bool clean) {
        if (!clean)
          *s->status = 1;
        g_main_loop_quit(s->loop);
      });
    }
    return G_SOURCE_CONTINUE;
  };
  guint term = g_unix_signal_add(SIGTERM, on_signal, &stop);
  guint intr = g_unix_signal_add(SIGINT, on_signal, &stop);
  if (status == 0)
    g_main_loop_run(loop);
  g_source_remove(term);
  g_source_remove(intr);
  return status;
}
