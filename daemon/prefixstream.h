/* sugarcastd — a connection handed to libsoup after some of it was read.
 *
 * The media fast path reads requests off a socket; when one turns out not to
 * be its own, the bytes it has read must still reach libsoup first. The
 * stream made here reads those bytes, then the connection's; it is pollable
 * (libsoup needs that), writes go straight to the connection, and closing it
 * closes the connection. */
#pragma once

#include <gio/gio.h>

#include <string>

namespace sugarcast {

/* A new stream over CONNECTION (a reference is taken) that first yields
 * ALREADY_READ. */
GIOStream *prefixed_io_stream_new(GIOStream *connection, std::string already_read);

} // namespace sugarcast
