/* sugarcastd — how a service reports what happens without knowing who
 * listens: it calls an EventSink with the event's type and fields, and
 * daemon.cpp wires the sink to the transports (the control WebSocket's
 * Events::publish). A service never includes a transport. */
#pragma once

#include <json-glib/json-glib.h>

#include <functional>
#include <string>

namespace sugarcast {

/* Takes ownership of `fields` (may be nullptr). */
using EventSink = std::function<void(const std::string &type, JsonObject *fields)>;

} // namespace sugarcast
