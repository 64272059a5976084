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
Not measured here: nginx-rtmp's `record all` (no nginx-rtmp module on this
machine's Debian build at the time of writing).
"""
import json, os, resource, shutil, subprocess, sys, tempfile, time

import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst, GLib

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
shutil.rmtree(work)
