#!/usr/bin/env bash
# Installs the Debian packages rcache needs (only the missing ones; apt-get update at most once)
# and configures + builds the requested build directories. Safe to re-run: a configured build
# directory is only rebuilt incrementally.
#
#   scripts/setup.sh               # release-ish build in ./build
#   scripts/setup.sh --all         # also ./build-asan (-fsanitize=address,undefined) and
#                                  # ./build-noprom (-Dprometheus=disabled), for the test command
# Progress is shown: the package installation step, then ninja's [n/N] lines per build.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  g++ pkg-config meson ninja-build cmake
  libhiredis-dev libuv1-dev zlib1g-dev libssl-dev openssl prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev locales
  redis-server redis-tools prometheus
  clang-format clang-tidy python3 clang libclang-rt-14-dev
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
  echo "setup: apt-get update"
  apt-get update -qq
  echo "setup: apt-get install (${#missing[@]} packages; this can take a few minutes)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" 2>&1 |
    grep -E '^(Setting up|Unpacking) ' | sed 's/^/setup:   /' || true
  # Debian starts a system redis-server on 6379 when the package is installed; rcache's tests and
  # demo never use it (each starts a private server on a free port).
fi

configure() {  # dir, extra meson args...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    echo "setup: meson setup $dir $*"
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
    rm -f "$dir.setup.log"
  fi
  echo "setup: building $dir"
  # ninja prints one [n/N] line per step when its output is not a terminal: that is the progress.
  set +e
  ninja -C "$dir" 2>&1 | grep --line-buffered -vE '^ninja: (Entering|no work)' |
    sed -u "s|^|setup: $dir |"
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}

configure build
case "${1:-}" in
  --asan|--all)
    configure build-asan -Db_sanitize=address,undefined -Dbenchmarks=disabled -Dbuildtype=debug
    ;;
esac
if [ "${1:-}" = "--all" ]; then
  configure build-noprom -Dprometheus=disabled -Dbenchmarks=disabled
fi
echo "setup: build ready"
