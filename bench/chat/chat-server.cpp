/* chat-bench-server — sugarcastd's chat as bench/chat measures it: the same
 * modules sugarcastd wires (HttpServer, the SQLite store, ChatService), with
 * one stream "bench" created at start. Runs until SIGTERM/SIGINT.
 *
 *   chat-bench-server PORT DATA_DIR THREADS */
#include "chat/chat_service.h"
#include "http.h"
#include "metrics.h"
#include "store/store.h"

#include <glib-unix.h>

#include <cstdio>
#include <cstdlib>

using namespace sugarcast;

int main(int argc, char **argv)
{
  if (argc != 4) {
    std::fprintf(stderr, "usage: chat-bench-server PORT DATA_DIR THREADS\n");
    return 2;
  }
  std::string error;
  auto config = load_config({"", argv[2]}, error);
  if (!config) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  config->http.address = "127.0.0.1";
  config->http.port = std::atoi(argv[1]);
  config->chat.threads = std::atoi(argv[3]);
  config->chat.rate_per_second = 1000;
  config->chat.rate_burst = 1000;
  if (config->chat.jwt_secret.empty())
    config->chat.jwt_secret = "bench-secret";
  g_mkdir_with_parents(config->data_dir.c_str(), 0700);

  g_autoptr(GMainLoop) loop = g_main_loop_new(nullptr, FALSE);
  Metrics metrics;
  HttpServer http(config->http, metrics);
  auto store = make_store({config->store.sqlite_path, config->store.database_url});
  chat::ChatService chat(*config, *store, http, metrics, nullptr);
  int status = 0;
  store->open([&](StoreResult<Done> opened) {
    if (!opened.ok()) {
      std::fprintf(stderr, "store: %s\n", opened.error().message.c_str());
      status = 1;
      g_main_loop_quit(loop);
      return;
    }
    StreamRecord s{"bench", "bench", "", g_get_real_time() / 1000, g_get_real_time() / 1000};
    store->create_stream(s, [&](StoreResult<StreamRecord>) {
      std::string err;
      if (!chat.start(err) || !http.listen(err)) {
        std::fprintf(stderr, "%s\n", err.c_str());
        status = 1;
        g_main_loop_quit(loop);
        return;
      }
      std::printf("LISTENING %d\n", http.port());
      std::fflush(stdout);
    });
  });
  auto stop = [](gpointer data) -> gboolean {
    g_main_loop_quit(static_cast<GMainLoop *>(data));
    return G_SOURCE_REMOVE;
  };
  g_unix_signal_add(SIGTERM, stop, loop);
  g_unix_signal_add(SIGINT, stop, loop);
  g_main_loop_run(loop);
  if (status == 0) {
    bool done = false;
    chat.shutdown([&] { done = true; });
    while (!done)
      g_main_context_iteration(nullptr, TRUE);
    bool closed = false;
    store->close([&](StoreResult<Done>) { closed = true; });
    while (!closed)
      g_main_context_iteration(nullptr, TRUE);
  }
  return status;
}
