#!/usr/bin/env bash
# Installs the Debian packages rcache needs (only the missing ones; apt-get update at most once)
# and configures + builds the requested build directories. Safe to re-run: a configured build
# directory is only rebuilt incrementally.
#
#   scripts/setup.sh               # release-ish build in ./build
#   scripts/setup.sh --asan        # also ./build-asan with -fsanitize=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  g++ pkg-config meson ninja-build cmake
  libhiredis-dev libuv1-dev zlib1g-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  redis-server redis-tools prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages and not root; run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts a system redis-server on 6379 when the package is installed; rcache's tests and
  # demo never use it (each starts a private server on a free port).
fi

configure() {  # dir, extra meson args...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null
}

configure build
if [ "${1:-}" = "--asan" ]; then
  configure build-asan -Db_sanitize=address,undefined -Dbenchmarks=disabled -Dbuildtype=debug
fi
echo "setup: build ready"
