/* sugarcastd store: the PostgreSQL backend, for production and for several
 * daemons sharing one database.
 *
 * Two libpq connections on the main loop (pg_connection.h): one runs every
 * query in the order asked (so a caller reads what it wrote), one only
 * LISTENs, so notifications arrive however busy the first one is. While the
 * server is unreachable calls fail at once with a retryable error and both
 * connections reconnect by themselves; LISTEN is issued again on reconnect.
 */
#pragma once

#include "store.h"

#include <memory>
#include <string>

namespace sugarcast::store {

std::unique_ptr<Store> make_postgresql_store(const std::string &conninfo);

} // namespace sugarcast::store
