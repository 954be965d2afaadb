#!/usr/bin/env bash
# The main job: sets everything up, then runs the demo service in front of a slow, rate-limited
# API stand-in, drives it with a Zipf load (a warm-up, then steady, redis killed with kill -9,
# after its restart), prints a table per phase and writes the run as an SVG timeline to
# build/demo-timeline.svg (open it in a browser).
# It starts a private redis-server on a free loopback port (unless REDIS_URL is set) and stops
# everything it started. Extra arguments go to the demo: --short, --cluster, --clients N,
# --serve SECONDS, --svg PATH, --dump DIR, --no-near-cache (--help lists them).
# --cluster: a private Redis Cluster instead (3 masters with a replica each, 127.0.0.1 only, on
# free port pairs: port and bus port + 10000); phase 2 kills -9 one master and shows its replica
# taking over its slots while the other masters go on, phase 3 restarts it as a replica:
#   bash scripts/demo.sh --cluster
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec ./build/examples/demo_service --svg build/demo-timeline.svg "$@"
