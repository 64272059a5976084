#!/bin/sh
# Fails when the C++ that GStreamer, GLib and libsoup call into (plugins/ and
# daemon/) uses a call that throws on bad input: std::sto*, .at(), std::regex,
# std::any_cast, throw. Those run inside pad functions, vfuncs and main-loop
# callbacks, where an exception cannot be caught by the C caller and ends in
# std::terminate (one crafted RTMP token aborted gst-launch that way). Use
# std::from_chars / g_ascii_strtoll with a check, find() or a bounds check,
# and return an error instead. std::bad_alloc from std::string and containers
# is accepted (see docs/testing.md). Comment lines are not searched.
#
# It also fails when a function is handed to C without SUGARCAST_GUARD
# (plugins/common/guard.h: catches, logs, posts a GStreamer error or answers
# 500, returns the failure value): vfuncs, pad functions, probes, signal
# handlers (G_CALLBACK), GSource callbacks, soup handlers, async callbacks.
# tests/check-callbacks.awk knows the registering calls.
#
# An exception that is really safe is listed in tests/nothrow-allowed.txt as
# "PATH: TEXT  # why", where TEXT is the rest of the line as written (for a
# registration, its first line).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$1"
allowed=tests/nothrow-allowed.txt
# Outside a git checkout (the fresh-root copy, the lint's own fixtures) the
# folders that exist are walked.
files=$(git ls-files 'plugins/*.cpp' 'plugins/*.h' 'daemon/*.cpp' 'daemon/*.h' 2>/dev/null ||
  for d in plugins daemon; do [ -d "$d" ] && find "$d" -name '*.cpp' -o -name '*.h'; done || true)
[ -n "$files" ] || exit 0
hits=$(grep -nE 'std::sto(i|l|ll|ul|ull|f|d|ld)[[:space:]]*\(|\.at[[:space:]]*\(|std::(w?regex|any_cast)|(^|[^_[:alnum:]])throw([^_[:alnum:]]|$)' \
  $files |
  grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)' |
  sed -E 's#^([^:]+):[0-9]+:[[:space:]]*#\1: #' || true)
unguarded=$(awk -f "$here/check-callbacks.awk" $files | sed -E 's#^([^:]+):[0-9]+:[[:space:]]*#\1: #')
hits=$(printf '%s\n%s\n' "$hits" "$unguarded" | sed '/^$/d')
# Drop the allowed ones: the allow file's lines without their "  # why".
if [ -f "$allowed" ]; then
  hits=$(printf '%s\n' "$hits" |
    grep -F -x -v -f "$(sed -E 's/[[:space:]]+#[^#]*$//' "$allowed" >"${TMPDIR:-/tmp}/nothrow.$$" &&
      echo "${TMPDIR:-/tmp}/nothrow.$$")" || true)
  rm -f "${TMPDIR:-/tmp}/nothrow.$$"
fi
if [ -n "$hits" ]; then
  printf 'throwing call, or callback without SUGARCAST_GUARD, reachable from C: %s\n' "$hits" |
    sed '2,$s/^/throwing call, or callback without SUGARCAST_GUARD, reachable from C: /' >&2
  echo "fix it (see docs/testing.md, \"No exception crosses into C\") or list it in $allowed" >&2
  exit 1
fi
echo "no throwing calls and no unguarded callbacks in plugins/ and daemon/ outside $allowed"
