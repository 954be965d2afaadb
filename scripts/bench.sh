#!/usr/bin/env bash
# Issue 11's comparison: rcache beside hiredis sync, a pool of one blocking hiredis connection per
# thread, hiredis async + libuv and redis-benchmark, every workload in the same run on the same
# private redis-server, with CPU placement pinned by taskset. Prints a markdown table per
# placement (medians of interleaved runs, rcache / peer ratios, target met or not). Figures are
# printed only.
#
#   scripts/bench.sh [--placement S|C|U|all] [--runs N] [--seconds S] [--spin-us N]
#                    [--only 1,2,...] [--build DIR] [--micro]
#
#   S   redis-server on CPU 0, the whole client process (and redis-benchmark) on CPU 1
#   C   server and client both on CPU 0
#   U   unpinned (default placement: all, i.e. S then C then U)
# Defaults: --runs 5 --seconds 2 (about 4 minutes per placement on 2 cores).
# --spin-us N   Config::blocking_spin for the rcache clients (default: the library's)
# --only LIST   workloads of issue 11 to run (1 caller, 2 threads, 3 async, 4 JSON SET,
#               5 random SET, 6 ceiling); others: see benchmarks/compare_bench.cpp
# --build DIR   use an existing build directory (else scripts/setup.sh builds ./build)
# --micro       afterwards also run the older benchmarks (client_bench, resp, metrics, envelope,
#               tls) as this script did before
# BENCH_LOCK=FILE  run each placement's benchmark under `flock FILE` (to share a machine)
set -euo pipefail
cd "$(dirname "$0")/.."

placement=all runs=5 seconds=2 build="" micro=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --placement) placement=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --spin-us|--only|--ceiling-threads|--ceiling-depth|--ceiling-pool) extra+=("$1" "$2"); shift 2 ;;
    --build) build=$2; shift 2 ;;
    --micro) micro=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$placement" in
  all) placements=(S C U) ;;
  S|C|U) placements=("$placement") ;;
  *) echo "bench: --placement S, C, U or all" >&2; exit 2 ;;
esac

if [ -z "$build" ]; then
  bash scripts/setup.sh
  build=build
fi
bin=$build/benchmarks/compare_bench
[ -x "$bin" ] || { echo "bench: $bin not built (ninja -C $build benchmarks/compare_bench)" >&2; exit 1; }
for tool in redis-server redis-benchmark taskset; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }
done
ncpu=$(nproc)
all_cpus="0-$((ncpu - 1))"
lock=()
[ -n "${BENCH_LOCK:-}" ] && lock=(flock "$BENCH_LOCK")

# ---- the private redis-server, stopped by its pid whatever happens ----
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
dir=$(mktemp -d /tmp/rcache-bench-XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=""
for _ in $(seq 1 20); do
  p=$(( 20000 + RANDOM % 25000 ))
  port_busy "$p" && continue
  redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$dir" --logfile "$dir/redis.log" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    port_busy "$p" && { port=$p; break; }
    sleep 0.05
  done
  [ -n "$port" ] && break
  kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
done
[ -n "$port" ] || { echo "bench: could not start redis-server" >&2; exit 1; }
echo "bench: private redis-server pid $pid on 127.0.0.1:$port ($(redis-server --version | grep -o 'v=[0-9.]*'))"
buildtype=$(grep -o '"buildtype", "value": "[a-z]*"' "$build/meson-info/intro-buildoptions.json" 2>/dev/null |
            grep -o '[a-z]*"$' | tr -d '"' || true)
echo "bench: $bin (buildtype ${buildtype:-unknown}), $runs runs x $seconds s, placements ${placements[*]}, $ncpu CPUs"

tables=()
for pl in "${placements[@]}"; do
  case "$pl" in
    S) server_cpus=0 client_cpus=1 ;;
    C) server_cpus=0 client_cpus=0 ;;
    U) server_cpus=$all_cpus client_cpus=$all_cpus ;;
  esac
  if [ "$pl" = S ] && [ "$ncpu" -lt 2 ]; then
    echo "bench: placement S needs 2 CPUs; skipped" >&2
    continue
  fi
  # Every thread of the server (taskset -a), then the client process, which redis-benchmark
  # inherits as its child.
  taskset -a -p -c "$server_cpus" "$pid" >/dev/null
  echo "bench: placement $pl: server on CPUs $server_cpus, client on CPUs $client_cpus"
  out="$dir/table.$pl.md"
  "${lock[@]}" taskset -c "$client_cpus" "$bin" --port "$port" --placement "$pl" \
    --runs "$runs" --seconds "$seconds" "${extra[@]}" >"$out"
  echo
  cat "$out"
  echo
  tables+=("$out")
done

if [ ${#tables[@]} -gt 1 ]; then
  echo "bench: all placements"
  echo
  for t in "${tables[@]}"; do cat "$t"; echo; done
fi

if [ $micro -eq 1 ]; then
  taskset -a -p -c "$all_cpus" "$pid" >/dev/null
  REDIS_URL="redis://127.0.0.1:$port/0" "$build/benchmarks/client_bench" --seconds "$seconds"
  "$build/benchmarks/resp_bench" --benchmark_min_time=0.2
  if [ -x "$build/benchmarks/metrics_bench" ]; then
    "$build/benchmarks/metrics_bench" --benchmark_min_time=0.3
  fi
  "$build/benchmarks/envelope_bench" --benchmark_min_time=0.3
  if [ -x "$build/benchmarks/tls_bench" ]; then
    "$build/benchmarks/tls_bench" --runs 3 --seconds 2
  fi
fi
