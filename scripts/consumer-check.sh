#!/usr/bin/env bash
# Installs a built tree into a temporary root, moves the install elsewhere (everything must be
# relocatable), then builds tests/consumer against it four ways and runs what it built:
#   1. pkg-config + c++: a shared and a static (Libs.private) link; the flags must name rcache only
#   2. meson, dependency('rcache') found through pkg-config
#   3. CMake, find_package(rcache CONFIG): rcache::rcache, and rcache::prometheus (a second
#      program calling rcache::metrics_text and prometheus-cpp itself) when Prometheus was built
#   4. meson subproject: a throwaway parent with subprojects/rcache -> this repo, which must get
#      the library and nothing else (its only test is its own)
# Quiet on success (one line per way); on failure, says which step failed and shows its output.
# Usage: scripts/consumer-check.sh [BUILD_DIR]   (default: build, in the repo)
# shellcheck disable=SC2030,SC2031  # each way sets its environment in a subshell of its own
set -euo pipefail
if [ $# -gt 0 ]; then
  build=$(realpath "$1")
fi
cd "$(dirname "$0")/.."
repo=$PWD
build=${build:-$repo/build}
[ -f "$build/build.ninja" ] || { echo "consumer-check: $build is not a meson build directory" >&2; exit 2; }

root=$(mktemp -d /tmp/rcache-consumer-XXXXXX)
trap 'rm -rf "$root"' EXIT
log="$root/step.log"

fail() {  # what went wrong; shows the last step's output
  echo "consumer-check: FAILED: $*" >&2
  if [ -s "$log" ]; then
    echo "--- output of the failed step (last 60 lines):" >&2
    tail -60 "$log" >&2
  fi
  exit 1
}
step() {  # description, command...: runs the command quietly, fails with its output
  local what=$1
  shift
  : >"$log"
  "$@" >"$log" 2>&1 || fail "$what"
}
say() { printf 'consumer-check: %-24s ok  %s\n' "$1" "$2"; }

# --- install, then move the install: nothing may remember where it was installed
step "meson install -C $build" meson install -C "$build" --destdir "$root/dest" --quiet
pc=$(find "$root/dest" -name rcache.pc | head -1)
[ -n "$pc" ] || fail "no rcache.pc in the install"
prefix=$(sed -n 's/^prefix=//p' "$pc")
inst="$root/inst"
mv "$root/dest$prefix" "$inst"
pc=$(find "$inst" -name rcache.pc | head -1)
libdir=$(dirname "$(find "$inst" -name 'librcache.so' | head -1)")
incdir="$inst/include"
[ -f "$incdir/rcache/rcache.hpp" ] || fail "no rcache/rcache.hpp under $incdir"
prometheus=OFF
[ -f "$incdir/rcache/prometheus.hpp" ] && prometheus=ON

# The installed headers include only the standard library and each other: that is what lets the
# .pc and the CMake package leave hiredis, libuv, zlib and OpenSSL out of a consumer's build.
# The one exception: rcache/json_codec.hpp (opt-in, installed only with nlohmann_json) includes
# <nlohmann/json.hpp>; a consumer that includes it uses nlohmann itself.
: >"$log"
grep -rHE '^[[:space:]]*#[[:space:]]*include' "$incdir/rcache" |
  grep -vE ':[[:space:]]*#[[:space:]]*include[[:space:]]*(<[a-z_]+>|"rcache/[a-z_]+\.hpp"|<rcache/[a-z_]+\.hpp>)' |
  grep -vE '/rcache/json_codec\.hpp:[[:space:]]*#[[:space:]]*include[[:space:]]*<nlohmann/json\.hpp>$' \
  >"$log" || true
[ -s "$log" ] && fail "installed headers include something other than the standard library and rcache"

# The .pc says prefix=/usr/local: a copy pointing at the moved install.
mkdir -p "$root/pc"
sed "s|^prefix=.*|prefix=$inst|" "$pc" >"$root/pc/rcache.pc"

# --- 1. pkg-config + c++
(
  export PKG_CONFIG_PATH="$root/pc"
  cflags=$(pkg-config --cflags rcache | xargs)
  libs=$(pkg-config --libs rcache | xargs)
  : >"$log"
  [ "$cflags" = "-I$incdir" ] || fail "pkg-config --cflags rcache is '$cflags', expected '-I$incdir'"
  [ "$libs" = "-L$libdir -lrcache" ] ||
    fail "pkg-config --libs rcache is '$libs', expected '-L$libdir -lrcache'"
  # shellcheck disable=SC2086  # the flags are meant to split
  step "pkg-config: c++ (shared)" c++ -std=c++20 tests/consumer/main.cpp -o "$root/consumer-pc" $cflags $libs
  step "pkg-config: run (shared)" env LD_LIBRARY_PATH="$libdir" "$root/consumer-pc"
  # A static link takes librcache.a and the private dependencies from Libs.private.
  static_libs=$(pkg-config --static --libs rcache | sed 's/-lrcache\b/-l:librcache.a/')
  # shellcheck disable=SC2086
  step "pkg-config: c++ (static librcache.a)" \
    c++ -std=c++20 tests/consumer/main.cpp -o "$root/consumer-static" $cflags $static_libs
  step "pkg-config: run (static librcache.a)" "$root/consumer-static"
  say "pkg-config + c++" "cflags '-I<prefix>/include', libs '-L<libdir> -lrcache'; shared and static link ran"
)

# --- 2. meson, dependency('rcache') through pkg-config
(
  export PKG_CONFIG_PATH="$root/pc"
  step "meson: setup" meson setup "$root/meson-build" tests/consumer
  grep -q "Run-time dependency rcache found: YES" "$log" || fail "meson did not find rcache with pkg-config"
  version=$(sed -n 's/.*Run-time dependency rcache found: YES \([^ ]*\).*/\1/p' "$log")
  step "meson: build" ninja -C "$root/meson-build"
  step "meson: run" env LD_LIBRARY_PATH="$libdir" "$root/meson-build/consumer"
  say "meson dependency()" "rcache $version through pkg-config; ran"
)

# --- 3. CMake, find_package(rcache CONFIG REQUIRED)
(
  unset PKG_CONFIG_PATH
  step "cmake: configure" cmake -S tests/consumer -B "$root/cmake-build" \
    -DCMAKE_PREFIX_PATH="$inst" -DRCACHE_CONSUMER_PROMETHEUS=$prometheus \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
  grep -q "rcache .* from $inst/" "$log" || fail "CMake found an rcache package other than the one under $inst"
  step "cmake: build" cmake --build "$root/cmake-build"
  : >"$log"
  if grep -E 'hiredis|_FILE_OFFSET_BITS' "$root/cmake-build/compile_commands.json" >"$log"; then
    fail "rcache::rcache leaks a private dependency into the consumer's compile flags"
  fi
  step "cmake: run consumer" "$root/cmake-build/consumer"
  targets="rcache::rcache"
  if [ $prometheus = ON ]; then
    step "cmake: run consumer_prometheus (rcache::prometheus)" "$root/cmake-build/consumer_prometheus"
    targets="rcache::rcache, rcache::prometheus + metrics_text"
  fi
  say "cmake find_package()" "$targets; relocated install; ran"
)

# --- 4. meson subproject of a throwaway parent: the library, nothing else
(
  unset PKG_CONFIG_PATH
  parent="$root/parent"
  mkdir -p "$parent/subprojects"
  cp tests/consumer/meson.build tests/consumer/main.cpp "$parent/"
  ln -s "$repo" "$parent/subprojects/rcache"
  # --force-fallback-for: an rcache installed on this machine must not stand in for the subproject.
  step "subproject: setup" meson setup "$root/parent-build" "$parent" \
    --force-fallback-for=rcache --wrap-mode=nodownload
  grep -q "Executing subproject rcache" "$log" || fail "the parent did not use subprojects/rcache"
  : >"$log"
  counts=$(cd "$root/parent-build" && python3 - <<'EOF'
import json, subprocess
def intro(what):
    return json.loads(subprocess.check_output(['meson', 'introspect', '.', '--' + what]))
targets = intro('targets')
tests = [t['name'] for t in intro('tests')]
benchmarks = [b['name'] for b in intro('benchmarks')]
def some(names):  # a count and the first few names
    names = sorted(names)
    return '%d (%s%s)' % (len(names), ', '.join(names[:5]), ', ...' if len(names) > 5 else '')
sub = [t for t in targets if t['subproject'] == 'rcache']
own = [t['name'] for t in targets if t['subproject'] is None]
problems = []
if sorted((t['name'], t['type']) for t in sub) != [('rcache', 'shared library'), ('rcache', 'static library')]:
    problems.append('targets from rcache: %s' % some('%s (%s)' % (t['name'], t['type']) for t in sub))
if own != ['consumer']:
    problems.append("the parent's own targets: %s" % some(own))
if tests != ['consumer']:
    problems.append('tests: %s' % some(tests))
if benchmarks:
    problems.append('benchmarks: %s' % some(benchmarks))
print('; '.join(problems) if problems else
      '%d targets (librcache.so, librcache.a, consumer), %d test' % (len(targets), len(tests)))
raise SystemExit(1 if problems else 0)
EOF
  ) || fail "the parent gets more than the library from the subproject: $counts"
  step "subproject: build (compiles the library)" ninja -C "$root/parent-build"
  step "subproject: meson test" meson test -C "$root/parent-build" --print-errorlogs
  say "meson subproject" "parent has $counts; ran"
)
