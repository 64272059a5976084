# bench/lib.sh: what the benchmark scripts share. Source it from bash:
#   . "$root/bench/lib.sh"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# need_packages PKG...: installs the Debian packages that are missing, without
# letting a package start its system service (nginx would take port 80 and
# compete for the cores).
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]}"
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" </dev/null || { as_root rm -f /usr/sbin/policy-rc.d; return 1; }
  as_root rm -f /usr/sbin/policy-rc.d
}

# stop_system_nginx: a system nginx would only compete for the cores.
stop_system_nginx() {
  local pidfile
  for pidfile in /run/nginx.pid /var/run/nginx.pid; do
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "stopping the system nginx (pid $(cat "$pidfile"))"
      as_root nginx -s quit 2>/dev/null || as_root kill -TERM "$(cat "$pidfile")" || true
    fi
  done
}

# make_push FILE WIDTHxHEIGHT SECONDS KBPS: an encoder's push, made once:
# testsrc2 at 30 frames/s in H.264 (veryfast, zerolatency, CBR-like VBV, a
# keyframe every second, as OBS is told to) with a 440 Hz AAC tone.
make_push() {
  local file=$1 size=$2 seconds=$3 kbps=$4
  [ -f "$file" ] && return 0
  echo "making $file (testsrc2 $size 30 fps H.264 ${kbps} kb/s, keyframe every second, AAC, ${seconds} s)"
  mkdir -p "$(dirname "$file")"
  ffmpeg -hide_banner -loglevel error -nostdin -y \
    -f lavfi -i "testsrc2=size=$size:rate=30:duration=$seconds" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$seconds" \
    -c:v libx264 -preset veryfast -tune zerolatency -b:v "${kbps}k" -maxrate "${kbps}k" -bufsize "${kbps}k" \
    -g 30 -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 128k "$file.part.mp4"
  mv "$file.part.mp4" "$file"
}
