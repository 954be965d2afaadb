#!/usr/bin/env bash
# Installs the built library into a temporary root and builds tests/consumer against it three
# ways (pkg-config + c++, meson dependency('rcache'), CMake through pkg-config), then runs each.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d /tmp/rcache-consumer-XXXXXX)
trap 'rm -rf "$root"' EXIT
meson install -C build --destdir "$root/dest" --quiet >/dev/null
pc=$(find "$root/dest" -name rcache.pc | head -1)
libdir=$(dirname "$(find "$root/dest" -name 'librcache.so' | head -1)")
# The .pc says prefix=/usr/local; the files are under dest: point a copy at them.
mkdir -p "$root/pc"
prefix=$(sed -n 's/^prefix=//p' "$pc")
sed "s|^prefix=.*|prefix=$root/dest$prefix|" "$pc" > "$root/pc/rcache.pc"
export PKG_CONFIG_PATH="$root/pc"
export LD_LIBRARY_PATH="$libdir"

# 1. plain pkg-config
c++ -std=c++20 tests/consumer/main.cpp -o "$root/consumer-pc" $(pkg-config --cflags --libs rcache)
"$root/consumer-pc"
# 2. meson
meson setup "$root/meson-build" tests/consumer >/dev/null
ninja -C "$root/meson-build" >/dev/null
"$root/meson-build/consumer"
# 3. CMake via pkg-config
cmake -S tests/consumer -B "$root/cmake-build" >/dev/null
cmake --build "$root/cmake-build" >/dev/null
"$root/cmake-build/consumer"
echo "consumer: built and ran against the installed library with pkg-config, meson and CMake"
