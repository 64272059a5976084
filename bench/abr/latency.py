#!/usr/bin/python3
"""bench/abr/latency.py: push-to-listed latency, Sugarcast against nginx-rtmp.

One RTMP push (a 1080p30 H.264 + AAC file released in real time by a
GStreamer pusher: frame t leaves it at wall time W0 + t, as if captured then)
goes to a private nginx-rtmp on 127.0.0.1. nginx writes HLS from it (hls on,
1 s fragments), and our pipeline plays the same stream from nginx (rtmp2src),
decodes it, runs abrladder's four rungs and writes HLS with hlsabrsink (1 s
target duration).

For every segment: latency = the wall time its playlist was renamed into place
(nginx: first seen by polling every 5 ms; ours: hlsabrsink's message, in every
variant) minus the time its first frame was captured. Ours also reports the
time from that frame entering abrladder.

Usage: bench/abr/latency.py SOURCE.mp4 [--seconds 30] [--preset superfast] [--tune zerolatency]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import nginx_rtmp  # noqa: E402  (bench/nginx_rtmp.py)


class PlaylistPoller(threading.Thread):
    """Notes the wall time each segment first appears in a playlist."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.listed = {}
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                with open(self.path) as f:
                    text = f.read()
            except OSError:
                text = ""
            now = time.time()
            for uri in re.findall(r"^[^#\s].*$", text, re.M):
                self.listed.setdefault(uri, now)
            time.sleep(0.005)


def first_video_pts(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts_time", "-read_intervals", "%+#1", "-of", "csv=p=0", path],
                         capture_output=True, text=True).stdout.split()
    return float(out[0].strip(",")) if out else None


def wall_at_running_time_zero(pipeline):
    clock = pipeline.get_clock()
    return time.time() - (clock.get_time() - pipeline.get_base_time()) / 1e9


def start_push(source, sinks):
    """Plays `source` (an MP4 with H.264 and AAC) as FLV into `sinks` (a
    pipeline description), released in real time: frame t leaves at W0 + t,
    as if captured then. Returns the pusher and W0."""
    pusher = Gst.parse_launch(
        f"filesrc location={source} ! qtdemux name=d "
        "d.video_0 ! queue ! h264parse ! clocksync ! queue ! m. "
        "d.audio_0 ! queue ! aacparse ! clocksync ! queue ! m. "
        f"flvmux name=m streamable=true ! {sinks}")
    pusher.set_state(Gst.State.PLAYING)
    pusher.get_state(Gst.CLOCK_TIME_NONE)
    return pusher, wall_at_running_time_zero(pusher)


def run_push(pusher, seconds):
    """Runs the (playing) pusher for `seconds` or until it ends, then stops it."""
    loop = GLib.MainLoop()
    GLib.timeout_add(int(seconds * 1000), loop.quit)
    pusher.get_bus().add_watch(GLib.PRIORITY_DEFAULT,
                               lambda b, m: (loop.quit() if m.type == Gst.MessageType.EOS else None) or True)
    loop.run()
    pusher.set_state(Gst.State.NULL)


def summary(values):
    values = sorted(values)
    if not values:
        return "n/a"
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return f"median {statistics.median(values):.3f} s, p90 {p90:.3f} s, max {values[-1]:.3f} s (n={len(values)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--preset", default="superfast")
    ap.add_argument("--tune", default=None, help="x264 tune (default: abrladder's, zerolatency)")
    ap.add_argument("--skip", type=int, default=2, help="segments ignored at the start")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    Gst.init(None)
    tmp = tempfile.mkdtemp(prefix="abr-latency-")
    # The worker runs as nobody; hls_cleanup empties this folder, which is ours alone.
    nginx_hls = nginx_rtmp.writable_folder(tmp, "nginx-hls")
    nginx, port = nginx_rtmp.start(
        tmp, f"record off; wait_key on; wait_video on; hls on; hls_path {nginx_hls}; "
        "hls_fragment 1s; hls_playlist_length 20s;")
    ours_hls = os.path.join(tmp, "ours")
    url = f"rtmp://127.0.0.1:{port}/live/bench"
    try:
        # Ours plays the stream from nginx, as a second subscriber of the same push.
        ours = Gst.parse_launch(
            f"rtmp2src location={url} ! flvdemux name=d "
            "d.video ! queue ! h264parse ! avdec_h264 ! identity name=enter ! "
            f"abrladder name=l preset={args.preset} "
            + (f"tune=\"{args.tune}\" " if args.tune is not None else "") +
            "l.src_0 ! queue ! hls.video_0 l.src_1 ! queue ! hls.video_1 "
            "l.src_2 ! queue ! hls.video_2 l.src_3 ! queue ! hls.video_3 "
            "d.audio ! queue ! aacparse ! hls.audio "
            f"hlsabrsink name=hls location={ours_hls} target-duration=1 playlist-length=10")
        entered = {}  # our running time -> (stream time of the push, wall)

        def on_enter(pad, info):
            buf = info.get_buffer()
            seg = pad.get_sticky_event(Gst.EventType.SEGMENT, 0).parse_segment()
            rt = seg.to_running_time(Gst.Format.TIME, buf.pts)
            entered[rt] = (buf.pts, time.time())
            return Gst.PadProbeReturn.OK

        ours.get_by_name("enter").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_enter)
        listed = {}  # (sequence) -> [(rendition, running time, listed wall)]

        def on_message(bus, msg):
            s = msg.get_structure()
            if msg.type == Gst.MessageType.ELEMENT and s and s.get_name() == "hlsabrsink-segment":
                listed.setdefault(s.get_value("sequence"), []).append(
                    (s.get_value("rendition"), s.get_value("running-time"), s.get_value("listed-time") / 1e6))
            elif msg.type == Gst.MessageType.ERROR:
                err, dbg = msg.parse_error()
                print("our pipeline:", err.message, dbg, file=sys.stderr)
            return True

        ours.get_bus().add_watch(GLib.PRIORITY_DEFAULT, on_message)
        ours.set_state(Gst.State.PLAYING)
        time.sleep(1.0)

        pusher, w0 = start_push(args.source, f"rtmp2sink location={url}")
        poller = PlaylistPoller(os.path.join(nginx_hls, "bench.m3u8"))
        poller.start()

        run_push(pusher, args.seconds)
        time.sleep(1.5)
        poller.stop = True
        ours.set_state(Gst.State.NULL)

        # nginx: a segment's first frame, in the push's time, from its PTS.
        nginx_latency = []
        first = None
        for uri, when in sorted(poller.listed.items(), key=lambda kv: kv[1]):
            pts = first_video_pts(os.path.join(nginx_hls, uri))
            if pts is None:
                continue
            if first is None:
                first = pts  # the push's first frame, at its time 0
            nginx_latency.append((uri, when - (w0 + pts - first)))
        nginx_latency = [lat for _, lat in nginx_latency[args.skip:]]

        first_pts = min(pts for pts, _ in entered.values())
        ours_latency, ours_from_entry, ours_top = [], [], []
        for seq in sorted(listed)[args.skip:]:
            rows = listed[seq]
            if len(rows) < 4:
                continue  # not listed in every variant before the end
            rt = rows[0][1]
            if rt not in entered:
                continue
            pts, wall_in = entered[rt]
            capture = w0 + (pts - first_pts) / 1e9
            last_listed = max(r[2] for r in rows)
            top = [r[2] for r in rows if r[0] == "video_0"][0]
            ours_latency.append(last_listed - capture)
            ours_top.append(top - capture)
            ours_from_entry.append(last_listed - wall_in)

        print(f"push: {args.source}, {args.seconds:.0f} s; nginx-rtmp hls_fragment 1s; "
              f"ours: abrladder preset={args.preset} tune={'zerolatency (default)' if args.tune is None else args.tune or 'none'} 4 rungs, hlsabrsink target-duration=1")
        print(f"nginx-rtmp (no transcode), capture -> listed:        {summary(nginx_latency)}")
        print(f"sugarcast (decode + 4-rung ladder), capture -> listed in every variant: {summary(ours_latency)}")
        print(f"sugarcast, capture -> listed in video_0 (1080p):     {summary(ours_top)}")
        print(f"sugarcast, entering abrladder -> listed everywhere:  {summary(ours_from_entry)}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"nginx": nginx_latency, "ours": ours_latency, "ours_top": ours_top,
                           "ours_from_entry": ours_from_entry}, f)
    finally:
        nginx_rtmp.stop(nginx)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
