#!/usr/bin/env bash
# Builds the libFuzzer target with clang (address + undefined sanitizers, coverage on the decoder)
# and runs it for a bounded time: scripts/fuzz.sh [seconds, default 60]. The seed corpus in
# tests/fuzz/corpus is read, never written: new inputs go to a temporary directory, removed at the
# end. Over-allocation is a failure: inputs are at most 16 KiB, which can justify ~16.5 MB of
# output (deflate's 1032:1), so one allocation above 24 MiB (a decoder trusting a declared length
# up to the 64 MiB cap) or 1.5 GiB RSS stops the run, besides the target's own checks.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$dir" -Dfuzz=enabled -Dprometheus=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=disabled \
    -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$dir" tests/fuzz/envelope_fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fuzzing the envelope decoder for ${seconds} s"
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  "$dir/tests/fuzz/envelope_fuzz" "$work" tests/fuzz/corpus \
  -max_total_time="$seconds" -max_len=16384 -malloc_limit_mb=24 -rss_limit_mb=1536 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$dir/fuzz-" 2>&1 | tail -25
