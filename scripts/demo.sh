#!/usr/bin/env bash
# The main job: sets everything up, then runs the demo service in front of a slow, rate-limited
# API stand-in, drives it with a Zipf load, kills redis-server mid-load and shows the recovery.
# It starts a private redis-server on a free loopback port (unless REDIS_URL is set) and stops
# everything it started. Extra arguments go to the demo: --short, --clients N, --serve SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec ./build/examples/demo_service "$@"
