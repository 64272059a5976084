#!/usr/bin/env python3
"""Uploads one clip to sugarcastd and follows its progress the way an
uploader's page does, over the clip's server-sent events, until `ready`.
Prints "WALL PROGRESS,PROGRESS,..." (seconds from the upload's first byte).

One process for the whole job: the shell loop it replaces started a curl and
two Python interpreters every 200 ms, which took about a quarter of a core
from the 2-core machine while the daemon was being measured (ffmpeg, the
peer, ran with nobody polling it)."""
import json
import os
import sys
import time
import urllib.parse
import urllib.request

api, token, path = sys.argv[1], sys.argv[2], sys.argv[3]
auth = {"Authorization": "Bearer " + token}
start = time.monotonic()
with open(path, "rb") as body:
    request = urllib.request.Request(
        api + "?filename=" + urllib.parse.quote(path.rsplit("/", 1)[-1]), data=body, method="POST",
        headers={**auth, "Content-Type": "video/mp4",
                 "Content-Length": str(os.path.getsize(path))})
    clip = json.load(urllib.request.urlopen(request))
seen = []
state = clip.get("state")
while state not in ("ready", "rejected", "failed"):
    events = urllib.request.urlopen(urllib.request.Request(api + "/" + clip["id"] + "/events", headers=auth))
    for raw in events:
        line = raw.decode().rstrip("\n")
        if not line.startswith("data: "):
            continue
        clip = json.loads(line[6:])
        state = clip.get("state")
        if clip.get("progress") is not None and (not seen or seen[-1] != clip["progress"]):
            seen.append(clip["progress"])
        if state in ("ready", "rejected", "failed"):
            break
wall = time.monotonic() - start
if state != "ready":
    sys.exit("clip %s ended %s: %s" % (clip.get("id"), state, json.dumps(clip)))
print("%.2f %s %s" % (wall, clip["id"], ",".join(str(p) for p in seen)))
