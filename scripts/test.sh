#!/usr/bin/env bash
# The whole test suite: sets everything up, then runs the unit and integration tests in the normal
# build and again in the address+undefined sanitizer build. Every integration test starts its own
# redis-server on a free loopback port and stops it by pid.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --asan || exit 1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

passed=0
failed=0
status=0
for dir in build build-asan; do
  echo "=== meson test -C $dir"
  out=$(meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1)
  rc=$?
  echo "$out" | grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Timeout|Skipped):' || true
  [ $rc -ne 0 ] && { echo "$out" | tail -200; status=1; }
  ok=$(echo "$out" | awk '/^Ok:/ {print $2}')
  bad=$(echo "$out" | awk '/^(Fail|Timeout|Unexpected Pass):/ {s+=$NF} END {print s+0}')
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${bad:-0}))
  [ -z "$ok" ] && status=1
done
echo "=== consumer project against the installed library"
if bash scripts/consumer-check.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi
echo "${passed} passed, ${failed} failed"
exit $status
