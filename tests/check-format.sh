#!/bin/sh
# Fails when any C or C++ file in the repository differs from .clang-format.
set -eu
cd "$1"
files=$(git ls-files '*.c' '*.cpp' '*.h' 2>/dev/null || find plugins daemon tests bench -name '*.[ch]' -o -name '*.cpp')
[ -n "$files" ] || exit 0
exec clang-format --dry-run -Werror $files
