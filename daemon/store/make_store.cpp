/* sugarcastd store: the backend the configuration names. See store.h. */
#include "pg_store.h"
#include "sqlite_store.h"
#include "store.h"

namespace sugarcast {

std::unique_ptr<Store> make_store(const StoreConfig &config)
{
  if (!config.database_url.empty())
    return store::make_postgresql_store(config.database_url);
  return store::make_sqlite_store(config.sqlite_path);
}

} // namespace sugarcast
