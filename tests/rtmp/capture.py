#!/usr/bin/python3
"""Records the bytes a real publisher sends, to make fuzzing seeds.

  capture.py LISTEN_PORT SERVER_PORT OUT_FILE

Relays 127.0.0.1:LISTEN_PORT to 127.0.0.1:SERVER_PORT (a running
rtmpserversrc) for one connection and writes what the client sent to
OUT_FILE. Push with e.g.
  ffmpeg -re -i in.flv -c copy -f flv rtmp://127.0.0.1:LISTEN_PORT/live/key
make-seeds.sh (beside this file) does all of it.
"""
import selectors
import socket
import sys

listen_port, server_port, out_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
listener = socket.create_server(("127.0.0.1", listen_port))
listener.settimeout(30)
client, _ = listener.accept()
server = socket.create_connection(("127.0.0.1", server_port))
sel = selectors.DefaultSelector()
sel.register(client, selectors.EVENT_READ, server)
sel.register(server, selectors.EVENT_READ, client)
recorded = bytearray()
open_ends = 2
while open_ends:
    events = sel.select(timeout=30)
    if not events:
        break
    for key, _ in events:
        data = key.fileobj.recv(65536)
        if not data:
            sel.unregister(key.fileobj)
            open_ends -= 1
            try:
                key.data.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            continue
        if key.fileobj is client:
            recorded += data
        key.data.sendall(data)
with open(out_file, "wb") as f:
    f.write(recorded)
print(f"{out_file}: {len(recorded)} bytes")
