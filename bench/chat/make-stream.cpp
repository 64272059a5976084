/* chat-bench-stream — creates the stream bench/chat talks in, in the store
 * a sugarcastd configuration names, so that the real daemon can be measured
 * before the streams API exists on this branch. Exits 0 when the stream
 * exists afterwards.
 *
 *   chat-bench-stream CONFIG STREAM_ID */
#include "config.h"
#include "store/store.h"

#include <glib.h>

#include <cstdio>

using namespace sugarcast;

int main(int argc, char **argv)
{
  if (argc != 3) {
    std::fprintf(stderr, "usage: chat-bench-stream CONFIG STREAM_ID\n");
    return 2;
  }
  std::string error;
  auto config = load_config({argv[1], ""}, error);
  if (!config) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  g_mkdir_with_parents(config->data_dir.c_str(), 0700);
  auto store = make_store({config->store.sqlite_path, config->store.database_url});
  int status = 1;
  bool done = false;
  store->open([&](StoreResult<Done> opened) {
    if (!opened.ok()) {
      std::fprintf(stderr, "store: %s\n", opened.error().message.c_str());
      done = true;
      return;
    }
    const int64_t now = g_get_real_time() / 1000;
    store->create_stream({argv[2], argv[2], "", now, now}, [&](StoreResult<StreamRecord>) {
      store->get_stream(argv[2], [&](StoreResult<std::optional<StreamRecord>> found) {
        status = found.ok() && found.value() ? 0 : 1;
        done = true;
      });
    });
  });
  while (!done)
    g_main_context_iteration(nullptr, TRUE);
  done = false;
  store->close([&](StoreResult<Done>) { done = true; });
  while (!done)
    g_main_context_iteration(nullptr, TRUE);
  return status;
}
