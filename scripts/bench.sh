#!/usr/bin/env bash
# Client benchmark: sets everything up, starts a private redis-server and runs
# benchmarks/client_bench beside redis-benchmark on the same server. Figures are printed only.
#   scripts/bench.sh [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/with-redis.sh --require -- ./build/benchmarks/client_bench "$@"
./build/benchmarks/resp_bench --benchmark_min_time=0.2
./build/benchmarks/metrics_bench --benchmark_min_time=0.3
./build/benchmarks/envelope_bench --benchmark_min_time=0.3
./build/benchmarks/tls_bench --runs 3 --seconds 2
