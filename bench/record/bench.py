#!/usr/bin/python3
"""bench/record: what recording costs, how fast a stop is finalised, how fast a
2-hour recording is repaired.

  GST_PLUGIN_PATH=build/plugins /usr/bin/python3 bench/record/bench.py [build]

1. CPU: a pre-encoded 1080p30 H.264 stream at 6 Mb/s with AAC, played in real
   time (identity sync=true) into fakesink, and the same into recordsink
   (sync-mode=piece); process CPU time (getrusage) per second of media, both
   runs in this one process, one after the other. No encoding in either run.
2. Stop -> finalised: recording=false set from the application, until the
   recordsink-recording-finished message (manifest state complete and VOD
   playlist renamed into place), RUNS times.
3. Repair: a synthetic 2-hour recording (1800 listed 4 s segments, hard links
   of one real segment, plus a torn open one) finalised by
   `sugarcast-record repair`, RUNS times.
4. The peer, in the same run: nginx-rtmp (Debian nginx + libnginx-mod-rtmp,
   one process, master_process off) receiving the same stream as an FLV push
   (ffmpeg -re -c copy) with `record off` and with `record all`: the nginx
   process's CPU time (/proc/PID/stat) per second of media, and the time from
   the publisher's disconnect until the FLV is closed and complete (its size
   stops changing; nginx-rtmp writes no index and no playlist). Skipped, and
   said so, when nginx or its RTMP module is not installed (bench/record/run
   installs them).
"""
import json, os, resource, shutil, subprocess, sys, tempfile, time

import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst, GLib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import nginx_rtmp  # noqa: E402  (bench/nginx_rtmp.py)

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
RUNS = int(os.environ.get("RUNS", "3"))
SECONDS = int(os.environ.get("SECONDS_OF_MEDIA", "20"))
Gst.init(None)
work = tempfile.mkdtemp(prefix="bench-record-")
source = os.path.join(work, "source.ts")
subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                f"testsrc2=size=1920x1080:rate=30:duration={SECONDS}", "-f", "lavfi", "-i",
                f"sine=frequency=440:sample_rate=48000:duration={SECONDS}", "-c:v", "libx264",
                "-preset", "veryfast", "-b:v", "6M", "-maxrate", "6M", "-bufsize", "12M", "-g",
                "60", "-c:a", "aac", "-b:a", "128k", source], check=True)


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def play(recordsink, on_message=None, control=None):
    """Plays the source in real time into RECORDSINK (a description with name=r),
    or into two fakesinks when it is None."""
    video, audio = ("r.video", "r.audio") if recordsink else ("fakesink sync=false",) * 2
    desc = (f"{recordsink or ''} filesrc location={source} ! tsdemux name=d d. ! queue ! "
            f"h264parse ! identity sync=true ! {video} d. ! queue ! aacparse ! "
            f"identity sync=true ! {audio}")
    p = Gst.parse_launch(desc)
    bus = p.get_bus()
    p.set_state(Gst.State.PLAYING)
    t0 = cpu()
    started = time.monotonic()
    while True:
        msg = bus.timed_pop((5 if control else 100) * Gst.MSECOND)
        if control:
            control(p, time.monotonic() - started)
        if msg is None:
            continue
        if msg.type in (Gst.MessageType.EOS, Gst.MessageType.ERROR):
            if msg.type == Gst.MessageType.ERROR:
                print("error:", msg.parse_error()[0].message)
            break
        if on_message:
            on_message(msg)
    used = cpu() - t0
    p.set_state(Gst.State.NULL)
    return used


print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {SECONDS} s of 1080p30 "
      "6 Mb/s + AAC per run")
rec_dir = os.path.join(work, "rec")
cpu_plain = []
cpu_rec = []
for i in range(RUNS):
    cpu_plain.append(play(None))
    cpu_rec.append(play(f"recordsink name=r location={rec_dir} sync-mode=piece"))
plain_pct = min(cpu_plain) / SECONDS * 100
rec_pct = min(cpu_rec) / SECONDS * 100
print(f"CPU, % of one core: without recording {plain_pct:.2f}, with recordsink {rec_pct:.2f}, "
      f"recording adds {rec_pct - plain_pct:.2f} (best of {RUNS})")
size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(rec_dir) for f in fs)
print(f"written: {size / RUNS / SECONDS * 8 / 1e6:.2f} Mb/s per run")

# Stop -> finalised.
stops = []
for i in range(RUNS):
    state = {"stop_at": None, "done": None}

    def control(p, elapsed):
        if state["stop_at"] is None and elapsed > 6:
            state["stop_at"] = time.monotonic()
            p.get_by_name("r").set_property("recording", False)

    def on_message(msg):
        s = msg.get_structure()
        if (msg.type == Gst.MessageType.ELEMENT and s and
                s.get_name() == "recordsink-recording-finished" and state["stop_at"] and
                state["done"] is None):
            state["done"] = time.monotonic()

    play(f"recordsink name=r location={os.path.join(work, 'stop')}", on_message, control)
    if state["done"]:
        stops.append((state["done"] - state["stop_at"]) * 1000)
print("stop -> finalised (manifest complete, VOD playlist): " +
      ", ".join(f"{s:.1f}" for s in stops) + " ms (bus polled every 5 ms)")

# Repair of a synthetic 2-hour recording.
tool = os.path.join(BUILD, "plugins/record/sugarcast-record")
sample_dir = os.path.join(rec_dir, os.listdir(rec_dir)[0])
sample = os.path.join(sample_dir, "seg00001.ts")
manifest = json.load(open(os.path.join(sample_dir, "manifest.json")))
seg = manifest["segments"][1]
times = []
for i in range(RUNS):
    big = os.path.join(work, f"twohours{i}")
    os.makedirs(big)
    segments = []
    for n in range(1800):
        name = f"seg{n:05d}.ts"
        os.link(sample, os.path.join(big, name))
        segments.append({"uri": name, "start_ns": n * 4_000_000_000,
                         "duration_ns": 4_000_000_000, "bytes": seg["bytes"],
                         "keyframes": [[n * 4_000_000_000 + k * 2_000_000_000, o]
                                       for k, (_, o) in enumerate(seg["keyframes"][:2])]})
    manifest.update({"state": "recording", "segments": segments, "ended_us": 0})
    json.dump(manifest, open(os.path.join(big, "manifest.json"), "w"))
    torn = os.path.join(big, "seg01800.ts")
    with open(sample, "rb") as f:
        data = f.read()
    with open(torn, "wb") as f:
        f.write(data[: len(data) * 2 // 3 + 77])
    t0 = time.monotonic()
    subprocess.run([tool, "repair", big], check=True, stdout=subprocess.DEVNULL)
    times.append((time.monotonic() - t0) * 1000)
    assert json.load(open(os.path.join(big, "manifest.json")))["state"] == "interrupted"
print("repair of a 2-hour recording (1801 segments, the last torn), whole process: " +
      ", ".join(f"{t:.1f}" for t in times) + " ms")

# The peer: nginx-rtmp, record off and record all, on the same stream.
def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nginx_run(record):
    tmp = tempfile.mkdtemp(prefix="nginx-", dir=work)
    rec = nginx_rtmp.writable_folder(tmp, "rec")
    nginx, port = nginx_rtmp.start(tmp, f"record all; record_path {rec};" if record else "record off;")
    t0 = proc_cpu(nginx.pid)
    subprocess.run(["ffmpeg", "-v", "error", "-re", "-i", flv, "-c", "copy", "-f", "flv",
                    f"rtmp://127.0.0.1:{port}/live/bench"], check=True)
    ended = time.monotonic()
    closed_ms = None
    if record:
        # Complete once nginx has written what it received: the size stops changing.
        path, last, since = os.path.join(rec, "bench.flv"), -1, time.monotonic()
        while time.monotonic() - ended < 10:
            size = os.path.getsize(path) if os.path.exists(path) else -1
            if size != last:
                last, since = size, time.monotonic()
            elif size > 0 and time.monotonic() - since > 0.5:
                closed_ms = (since - ended) * 1000
                break
            time.sleep(0.002)
    used = proc_cpu(nginx.pid) - t0
    nginx_rtmp.stop(nginx)
    return used, closed_ms


if nginx_rtmp.available():
    flv = os.path.join(work, "source.flv")
    subprocess.run(["ffmpeg", "-v", "error", "-i", source, "-c", "copy", flv], check=True)
    off, on, closes = [], [], []
    for i in range(RUNS):
        off.append(nginx_run(False)[0])
        used, closed = nginx_run(True)
        on.append(used)
        if closed is not None:
            closes.append(closed)
    off_pct = min(off) / SECONDS * 100
    on_pct = min(on) / SECONDS * 100
    print(f"nginx-rtmp CPU, % of one core: record off {off_pct:.2f}, record all {on_pct:.2f}, "
          f"recording adds {on_pct - off_pct:.2f} (best of {RUNS})")
    added_ours, added_peer = rec_pct - plain_pct, on_pct - off_pct
    if added_peer > 0:
        print(f"ratio, CPU added by recording, recordsink / nginx-rtmp: {added_ours / added_peer:.2f}")
    print("nginx-rtmp publisher gone -> FLV complete (size settled; no index, no playlist): " +
          ", ".join(f"{c:.1f}" for c in closes) + " ms (polled every 2 ms, 0.5 s to settle)")
else:
    print("nginx-rtmp not measured: nginx or " + nginx_rtmp.MODULE + " is not installed "
          "(bench/record/run installs them)")
shutil.rmtree(work)
