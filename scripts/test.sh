#!/usr/bin/env bash
# The whole test suite: sets everything up, checks the tree (layer rule, formatting, clang-tidy on
# lib/), then runs the unit and integration tests in the normal build, the address+undefined
# sanitizer build and a build without prometheus-cpp, and builds a consumer project against the
# installed library, and fuzzes the envelope decoder for a bounded time. Every integration test starts its own redis-server on a free loopback port
# and stops it by pid.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --all || exit 1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

passed=0
failed=0
status=0
failed_names=()
check() {  # name, command...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    status=1
    failed_names+=("$name")
    echo "=== $name: FAILED"
  fi
}

check "layer rule (scripts/check-layers.sh)" bash scripts/check-layers.sh
check "formatting (scripts/check-format.sh)" bash scripts/check-format.sh
check "clang-tidy on lib/ (scripts/check-tidy.sh)" bash scripts/check-tidy.sh build
check "no rcache::detail symbol exported" bash -c \
  'leaked=$(nm -D --defined-only build/lib/librcache.so | c++filt | grep "rcache::detail")
   [ -n "$leaked" ] && { echo "exported symbols naming rcache::detail (mark them RCACHE_LOCAL):"; echo "$leaked"; exit 1; }
   echo "exported symbols: $(nm -D --defined-only build/lib/librcache.so | wc -l)"'

for dir in build build-asan build-noprom; do
  echo "=== meson test -C $dir"
  out=$(meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1)
  rc=$?
  echo "$out" | grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Timeout|Skipped):' || true
  [ $rc -ne 0 ] && { echo "$out" | tail -200; status=1; failed_names+=("meson test -C $dir"); }
  ok=$(echo "$out" | awk '/^Ok:/ {print $2}')
  bad=$(echo "$out" | awk '/^(Fail|Timeout|Unexpected Pass):/ {s+=$NF} END {print s+0}')
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${bad:-0}))
  [ -z "$ok" ] && status=1
done
check "consumer project against the installed library" bash scripts/consumer-check.sh
check "libFuzzer on the envelope decoder, ${FUZZ_SECONDS:-60} s (scripts/fuzz.sh)" \
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
echo "${passed} passed, ${failed} failed"
# Repeated at the end: a CI log is often read from its tail.
for name in "${failed_names[@]}"; do echo "FAILED: $name"; done
exit $status
