#!/bin/sh
# The lint's own test: on tests/lint-fixtures/unguarded, check-nothrow.sh
# must fail, report each of the five unguarded registrations in
# unguarded.cpp and none of the guarded ones in guarded.cpp.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=$(sh "$here/check-nothrow.sh" "$here/lint-fixtures/unguarded" 2>&1) && {
  echo "check-nothrow.sh passed a file of unguarded callbacks" >&2
  exit 1
}
reported=$(printf '%s\n' "$out" | grep -c 'daemon/unguarded.cpp: ')
if [ "$reported" -ne 5 ] || printf '%s\n' "$out" | grep -q 'guarded.cpp: .*SUGARCAST_GUARD'; then
  printf 'expected the 5 registrations of unguarded.cpp, got:\n%s\n' "$out" >&2
  exit 1
fi
echo "check-nothrow.sh refuses all 5 unguarded callbacks and accepts the guarded ones"
