/* sugarcastd store: the SQLite backend, the embedded default.
 *
 * One database file in WAL mode (its folder is created), opened on the main
 * thread; statements are prepared once and kept. Work runs from the main
 * loop in the order it was asked for, synchronously (a local file answers
 * in microseconds), and every callback is delivered later like
 * PostgreSQL's. There are no other daemons to notify.
 */
#pragma once

#include "store.h"

#include <memory>
#include <string>

namespace sugarcast::store {

std::unique_ptr<Store> make_sqlite_store(const std::string &path);

} // namespace sugarcast::store
