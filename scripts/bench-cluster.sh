#!/usr/bin/env bash
# Cluster benchmark: a 3-master Redis Cluster against a single node (throughput, client CPU per
# op, routing cost) and the recovery time after kill -9 of a master. cluster_bench starts and
# stops (by pid) its own servers on free loopback ports; about 2.5 minutes with the defaults.
# Figures are printed only.
#   scripts/bench-cluster.sh [cluster_bench options]      e.g. --placement C, --only recovery
#   BUILD_DIR=/path/to/build scripts/bench-cluster.sh      an already configured build (release)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BUILD_DIR:-}" ]; then
  bash scripts/setup.sh
  BUILD_DIR=build
fi
ninja -C "$BUILD_DIR" benchmarks/cluster_bench
echo "machine before the run: $(uptime)"
"$BUILD_DIR"/benchmarks/cluster_bench "$@"
