"""bench/nginx_rtmp.py: a private nginx-rtmp on 127.0.0.1, the peer of the
Python benchmarks (bench/abr/latency.py, bench/record/bench.py): Debian's
nginx with libnginx-mod-rtmp, one process (master_process off, so that its
CPU is one /proc entry), one `live` application whose directives the caller
gives. bench/latency/latency.mjs writes its own (it also serves a page).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

CONF = """
daemon off;
master_process off;
pid {tmp}/nginx.pid;
load_module {module};
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    chunk_size 4096;
    application live {{
      live on;
      {application}
    }}
  }}
}}
"""


def available():
    return shutil.which("nginx") is not None and os.path.exists(MODULE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def writable_folder(tmp, name):
    """TMP/NAME, writable by nginx's worker (Debian's runs as nobody)."""
    folder = os.path.join(tmp, name)
    os.makedirs(folder)
    os.chmod(tmp, 0o755)
    os.chmod(folder, 0o777)
    return folder


def start(tmp, application):
    """Starts nginx in TMP with the `live` application's APPLICATION
    directives; returns (process, port) once it accepts connections."""
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(tmp=tmp, port=port, module=MODULE, application=application))
    proc = subprocess.Popen(["nginx", "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("nginx did not start; see " + os.path.join(tmp, "error.log"))


def stop(proc):
    """Stops what start() started: gracefully, then for good."""
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
