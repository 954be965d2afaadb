#!/usr/bin/env bash
# The main job: sets everything up, then runs the demo service in front of a slow, rate-limited
# API stand-in, drives it with a Zipf load (a warm-up, then steady, redis killed with kill -9,
# after its restart), prints a table per phase and writes the run as an SVG timeline to
# build/demo-timeline.svg (open it in a browser).
# It starts a private redis-server on a free loopback port (unless REDIS_URL is set) and stops
# everything it started. Extra arguments go to the demo: --short, --clients N, --serve SECONDS,
# --svg PATH, --no-near-cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec ./build/examples/demo_service --svg build/demo-timeline.svg "$@"
