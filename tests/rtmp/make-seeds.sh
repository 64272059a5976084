#!/usr/bin/env bash
# Remakes the fuzzing seeds in fuzz-corpus/ from real publishes: ffmpeg
# (digest handshake, H.264 + AAC) and GStreamer's rtmp2sink, recorded by
# capture.py on their way to rtmpserversrc. The first byte of each seed
# picks the parser (see tests/rtmp/fuzz_rtmp.cpp). Run after a build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus=$here/fuzz-corpus
export GST_PLUGIN_PATH=$root/build/plugins
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Until something listens on 127.0.0.1:PORT (at most 10 s), seen by ss(8)
# without connecting: a probe connection would be a publisher to the
# server and the one client the relay takes.
listening() {
  local i
  for i in $(seq 200); do
    [ -n "$(ss -Hltn "sport = :$1")" ] && return 0
    sleep 0.05 # polling the condition
  done
  echo "nothing listens on port $1" >&2
  return 1
}

record() { # NAME COMMAND... (the command pushes to rtmp://127.0.0.1:$relay/live/seed)
  local name=$1; shift
  local server relay
  server=$(port); relay=$(port)
  timeout 30 gst-launch-1.0 -q rtmpserversrc address=127.0.0.1 port="$server" ! fakesink &
  local gst=$!
  listening "$server"
  /usr/bin/python3 "$here/capture.py" "$relay" "$server" "$tmp/$name" &
  local cap=$!
  listening "$relay"
  relay=$relay "$@"
  wait "$cap"; wait "$gst" || true
}

record ffmpeg bash -c 'ffmpeg -hide_banner -loglevel error -nostdin -re -f lavfi -i testsrc2=size=160x120:rate=15 \
  -f lavfi -i sine=sample_rate=22050 -t 1 -c:v libx264 -preset ultrafast -g 15 -b:v 100k -c:a aac -b:a 32k \
  -f flv rtmp://127.0.0.1:$relay/live/seed?exp=1&sig=00'
record rtmp2sink bash -c 'gst-launch-1.0 -q videotestsrc num-buffers=10 ! video/x-raw,width=160,height=120 ! \
  x264enc speed-preset=ultrafast ! flvmux streamable=true ! rtmp2sink location=rtmp://127.0.0.1:$relay/live/seed'

seed() { # NAME MODE-BYTE FILE SKIP COUNT
  /usr/bin/python3 -c 'import sys; d = open(sys.argv[3], "rb").read()[int(sys.argv[4]):][:int(sys.argv[5])]
open(sys.argv[1], "wb").write(bytes([int(sys.argv[2], 16)]) + d)' "$corpus/$1" "$2" "$3" "$4" "$5"
}
seed ffmpeg-publish 00 "$tmp/ffmpeg" 0 65536
seed rtmp2sink-publish 00 "$tmp/rtmp2sink" 0 65536
seed ffmpeg-handshake 03 "$tmp/ffmpeg" 0 3073
seed ffmpeg-chunks 01 "$tmp/ffmpeg" 3073 16384
seed rtmp2sink-chunks 01 "$tmp/rtmp2sink" 3073 16384
# AMF0: ffmpeg's connect command and an onMetaData array, as ffmpeg sends them
printf '\x02\x02\x00\x07connect\x00\x3f\xf0\x00\x00\x00\x00\x00\x00\x03\x00\x03app\x02\x00\x04live\x00\x04type\x02\x00\x0anonprivate\x00\x08flashVer\x02\x00\x24FMLE/3.0 (compatible; Lavf59.27.100)\x00\x05tcUrl\x02\x00\x15rtmp://127.0.0.1/live\x00\x00\x09' >"$corpus/amf-connect"
printf '\x02\x02\x00\x0aonMetaData\x08\x00\x00\x00\x03\x00\x05width\x00\x40\x64\x00\x00\x00\x00\x00\x00\x00\x06stereo\x01\x01\x00\x07encoder\x02\x00\x0dLavf59.27.100\x00\x00\x09\x0a\x00\x00\x00\x02\x05\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' >"$corpus/amf-metadata"
ls -l "$corpus"
