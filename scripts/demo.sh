#!/usr/bin/env bash
# The main job: sets everything up, then runs the slow-API demo through rcache on a private
# redis-server (or degraded, if none can run) and prints hits, misses and latency.
# Extra arguments go to the demo, e.g. scripts/demo.sh --requests 1000 --latency-ms 100
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bash scripts/with-redis.sh -- ./build/examples/slow_api_demo "$@"
