#!/usr/bin/python3
"""giftoverlay driven from Python through GObject introspection, the way an
application embeds it: push-gift from the application, gift-shown back on the
bus, the properties readable."""
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

Gst.init(None)
pipeline = Gst.parse_launch(
    "videotestsrc num-buffers=30 ! video/x-raw,format=NV12,width=854,height=480,framerate=30/1 "
    "! giftoverlay name=gifts ! fakesink")
overlay = pipeline.get_by_name("gifts")
assert overlay.get_property("max-concurrent") == 3
assert overlay.emit("push-gift", '{"id":"py-1","gift":"castle","user":"민준","count":2}')
assert not overlay.emit("push-gift", '{"gift":"castle"}')

pipeline.set_state(Gst.State.PLAYING)
bus = pipeline.get_bus()
shown = []
while True:
    msg = bus.timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.ELEMENT | Gst.MessageType.EOS
                                 | Gst.MessageType.ERROR)
    if msg is None:
        print("no EOS within 60 s", file=sys.stderr)
        sys.exit(1)
    if msg.type == Gst.MessageType.ERROR:
        print("error:", msg.parse_error(), file=sys.stderr)
        sys.exit(1)
    if msg.type == Gst.MessageType.EOS:
        break
    s = msg.get_structure()
    if s.get_name() == "gift-shown":
        shown.append((s.get_string("id"), s.get_string("user"), s.get_value("count")))
pipeline.set_state(Gst.State.NULL)
assert shown == [("py-1", "민준", 2)], shown
print("ok", shown)
