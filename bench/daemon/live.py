#!/usr/bin/python3
"""bench/daemon/live.py: sugarcastd's live path, end to end, against nginx-rtmp.

latency  One push released in real time (frame t leaves at W0 + t, as if
         captured then) goes, through a tee, to sugarcastd (RTMP in, decode,
         the default 4-rung abrladder, hlsabrsink) and to a private nginx-rtmp
         writing HLS without transcoding, both with 1 s segments. For every
         segment: the wall time it first appears in a playlist (polled every
         5 ms; for sugarcastd the last of its variants) minus the capture time
         of its first frame.

streams  How many single-rung 360p streams sugarcastd keeps up with: N pushers
         (ffmpeg -re -stream_loop, -c copy: encoders are not measured) for
         N = 1, 2, 3, 4, 6, 8, 12, ... ; a step passes when every stream's playlist gained at
         least 95 % of the wall time in media over the measuring window.

Usage: bench/daemon/live.py latency SOURCE_1080P.mp4 [--seconds 30]
       bench/daemon/live.py streams SOURCE_360P.mp4 [--window 15] [--max 32]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "abr"))
from latency import (PlaylistPoller, first_video_pts, free_port, run_push,  # noqa: E402
                     start_nginx, start_push, stop_nginx, summary)

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TOKEN = "bench-admin-token"


class Daemon:
    """A sugarcastd on free loopback ports with its own data folder."""

    def __init__(self, tmp, config):
        self.http = free_port()
        self.rtmp = free_port()
        self.data = os.path.join(tmp, "sugarcastd")
        os.makedirs(self.data)
        config = dict(config)
        config.update({"admin_token": TOKEN, "log_level": "warning",
                       "http": {"address": "127.0.0.1", "port": self.http},
                       "rtmp": {"address": "127.0.0.1", "port": self.rtmp}})
        path = os.path.join(tmp, "sugarcastd.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.log = open(os.path.join(tmp, "sugarcastd.log"), "w")
        self.proc = subprocess.Popen([os.path.join(ROOT, "build/daemon/sugarcastd"), "--config",
                                      path, "--data-dir", self.data],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        sys.exit("sugarcastd did not start; see " + self.log.name)

    def create_stream(self, title):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}/api/streams",
                                     data=json.dumps({"title": title}).encode(),
                                     headers={"Authorization": "Bearer " + TOKEN,
                                              "Content-Type": "application/json"})
        s = json.load(urllib.request.urlopen(req, timeout=10))
        return s["id"], f"rtmp://127.0.0.1:{self.rtmp}/live/{s['key']}"

    def hls(self, stream_id):
        return os.path.join(self.data, "hls", stream_id)

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def listed_seconds(playlist):
    """Media seconds a playlist lists, counting segments that left its window."""
    try:
        with open(playlist) as f:
            text = f.read()
    except OSError:
        return 0.0
    seq = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
    durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+)", text)]
    if not durations:
        return 0.0
    # Segments before the window lasted about as long as those in it.
    return sum(durations) + (int(seq.group(1)) if seq else 0) * (sum(durations) / len(durations))


def latency(args):
    Gst.init(None)
    tmp = tempfile.mkdtemp(prefix="daemon-latency-")
    os.chmod(tmp, 0o755)
    nginx_port = free_port()
    nginx, nginx_hls = start_nginx(tmp, nginx_port)
    daemon = Daemon(tmp, {"hls": {"segment_duration": 1, "playlist_length": 30}})
    try:
        stream_id, url = daemon.create_stream("latency")
        pusher, w0 = start_push(
            args.source, "tee name=t "
            f"t. ! queue ! rtmp2sink location=rtmp://127.0.0.1:{nginx_port}/live/bench "
            f"t. ! queue ! rtmp2sink location={url}")
        nginx_poll = PlaylistPoller(os.path.join(nginx_hls, "bench.m3u8"))
        nginx_poll.start()
        # Every variant of ours: a segment counts once all of them list it.
        ours_polls = []
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(os.path.join(daemon.hls(stream_id), "master.m3u8")):
            time.sleep(0.005)
        variants = sorted(p for p in os.listdir(daemon.hls(stream_id)) if re.match(r"video_\d+\.m3u8$", p))
        for v in variants:
            poll = PlaylistPoller(os.path.join(daemon.hls(stream_id), v))
            poll.start()
            ours_polls.append(poll)
        run_push(pusher, args.seconds)
        time.sleep(1.5)
        for p in [nginx_poll] + ours_polls:
            p.stop = True

        def latencies(poll_listed, folder, offset):
            rows, first = [], None
            for uri, when in sorted(poll_listed.items(), key=lambda kv: kv[1]):
                pts = first_video_pts(os.path.join(folder, uri))
                if pts is None:
                    continue
                if first is None:
                    first = pts
                rows.append((uri, when - (w0 + pts - first - offset)))
            return rows[args.skip:]

        nginx_lat = [lat for _, lat in latencies(nginx_poll.listed, nginx_hls, 0.0)]
        # A segment is listed for viewers once the last variant lists it.
        per_variant = [dict(latencies(p.listed, daemon.hls(stream_id), 0.0)) for p in ours_polls]
        ours_lat = []
        if per_variant:
            for uri in per_variant[0]:
                index = uri.split("-")[-1]
                values = [pv.get(next((u for u in pv if u.endswith(index)), ""), None) for pv in per_variant]
                if all(v is not None for v in values):
                    ours_lat.append(max(values))
        print(f"push: {os.path.basename(args.source)}, {args.seconds:.0f} s, released in real time to both; 1 s segments")
        print(f"  nginx-rtmp hls (no transcode), capture -> listed:                        {summary(nginx_lat)}")
        print(f"  sugarcastd (RTMP, decode, {len(variants)}-rung ladder), capture -> listed in every variant: {summary(ours_lat)}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"nginx": nginx_lat, "ours": ours_lat, "variants": len(variants)}, f)
    finally:
        daemon.stop()
        stop_nginx(nginx)
        shutil.rmtree(tmp, ignore_errors=True)


def streams(args):
    tmp = tempfile.mkdtemp(prefix="daemon-streams-")
    daemon = Daemon(tmp, {"hls": {"segment_duration": 2, "playlist_length": 10, "ladder": "360p:800"},
                          "streams": {"max_live": 200, "grace_period_ms": 1000}})
    best = 0
    try:
        n = 1
        while n <= args.max:
            ids, pushers = [], []
            for i in range(n):
                stream_id, url = daemon.create_stream(f"load {n}.{i}")
                ids.append(stream_id)
                pushers.append(subprocess.Popen(
                    ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                     "-stream_loop", "-1", "-i", args.source, "-c", "copy", "-f", "flv", url],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(args.warmup)
            start = [listed_seconds(os.path.join(daemon.hls(s), "video_0.m3u8")) for s in ids]
            cpu0, t0 = daemon.cpu_seconds(), time.time()
            time.sleep(args.window)
            wall = time.time() - t0
            cpu = (daemon.cpu_seconds() - cpu0) / wall
            gained = [listed_seconds(os.path.join(daemon.hls(s), "video_0.m3u8")) - s0 for s, s0 in zip(ids, start)]
            worst = min(gained) / wall if gained else 0
            ok = worst >= 0.95
            print(f"  {n:3d} streams: slowest stream {worst:.2f}x real time, sugarcastd CPU {cpu:.2f} cores -> {'keeps up' if ok else 'falls behind'}")
            for p in pushers:
                p.send_signal(signal.SIGINT)
            for p in pushers:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            time.sleep(3)  # the streams end after the grace period; keep the steps apart
            if not ok:
                break
            best = n
            n = n + 1 if n < 4 else n + 2 if n < 8 else n + 4
        print(f"  sugarcastd sustains {best} single-rung 360p streams in real time on this machine "
              f"({os.cpu_count()} cores)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"streams": best}, f)
    finally:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="part", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("source")
    lat.add_argument("--seconds", type=float, default=30)
    lat.add_argument("--skip", type=int, default=2)
    lat.add_argument("--json")
    st = sub.add_parser("streams")
    st.add_argument("source")
    st.add_argument("--window", type=float, default=15)
    st.add_argument("--warmup", type=float, default=6)
    st.add_argument("--max", type=int, default=48)
    st.add_argument("--json")
    args = ap.parse_args()
    latency(args) if args.part == "latency" else streams(args)


if __name__ == "__main__":
    main()
