#!/usr/bin/env bash
# Runs clang-tidy (the repo's .clang-tidy, warnings as errors) over every lib/ source, using the
# compile commands of a configured build directory (default: build).
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
command -v clang-tidy >/dev/null || { echo "check-tidy: clang-tidy not found" >&2; exit 1; }
[ -f "$dir/compile_commands.json" ] || { echo "check-tidy: no $dir/compile_commands.json" >&2; exit 1; }
runner=$(command -v run-clang-tidy || command -v run-clang-tidy-14 || true)
log=$(mktemp /tmp/rcache-tidy-XXXXXX)
# The compile commands are GCC's: a GCC-only warning flag (lib/meson.build's -Wno-restrict) is
# not an error for clang-tidy.
extra=-extra-arg=-Wno-unknown-warning-option
trap 'rm -f "$log"' EXIT
if [ -n "$runner" ]; then
  "$runner" -p "$dir" -j "$(nproc)" -quiet "$extra" "$(pwd)/lib/.*\.cpp" >"$log" 2>&1
  rc=$?
else
  rc=0
  for f in lib/*/*.cpp; do clang-tidy -p "$dir" --quiet "$extra" "$f" >>"$log" 2>&1 || rc=1; done
fi
findings=$(grep -cE '(warning|error): .*\[[a-z0-9.,-]+\]' "$log")
if [ "$rc" -ne 0 ] || [ "$findings" -gt 0 ]; then
  grep -E '(warning|error): .*\[' "$log" | sed 's/\x1b\[[0-9;]*m//g' | sort -u
  echo "check-tidy: $findings finding(s) in lib/"
  exit 1
fi
echo "check-tidy: lib/ clean ($(ls lib/*/*.cpp | wc -l) files)"
