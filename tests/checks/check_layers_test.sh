#!/usr/bin/env bash
# The layer checker catches what it must: an upward include, a sibling include, libuv outside
# transport/, the facade header below client/, a bare include, a missing opening comment and an
# over-long file; and it passes a tree that follows the rules.
set -uo pipefail
checker="$(cd "$(dirname "$0")/../../scripts" && pwd)/check-layers.sh"
tmp=$(mktemp -d /tmp/rcache-layers-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

tree() {  # a minimal clean tree
  rm -rf "$tmp/t"; mkdir -p "$tmp/t/lib/base" "$tmp/t/lib/transport" "$tmp/t/lib/client" \
    "$tmp/t/lib/protocol" "$tmp/t/lib/codec" "$tmp/t/include/rcache"
  printf '// Base things for the test tree.\n#pragma once\n' > "$tmp/t/lib/base/a.hpp"
  printf '// Transport things for the test tree.\n#include <uv.h>\n#include "base/a.hpp"\n' \
    > "$tmp/t/lib/transport/t.cpp"
  printf '// Client things for the test tree.\n#include "rcache/client.hpp"\n#include "transport/t.cpp"\n' \
    > "$tmp/t/lib/client/c.cpp"
  printf '// Protocol things for the test tree.\n#pragma once\n' > "$tmp/t/lib/protocol/p.hpp"
  printf '// Public header of the test tree.\n#pragma once\n#include "rcache/other.hpp"\n' \
    > "$tmp/t/include/rcache/client.hpp"
}

expect() {  # want-exit, expected text, description
  local out rc
  out=$(bash "$checker" --root "$tmp/t" 2>&1); rc=$?
  if [ "$rc" -ne "$1" ] || ! grep -qF -- "$2" <<<"$out"; then
    echo "FAIL: $3 (exit $rc, wanted $1 and '$2')"; echo "$out"; fail=1
  else
    echo "ok: $3"
  fi
}

tree; expect 0 "check-layers: ok" "a tree that follows the rules passes"
tree; echo '#include "client/c.cpp"' >> "$tmp/t/lib/base/a.hpp"
expect 1 "a layer may include only layers below it" "an upward include is refused"
tree; echo '#include "protocol/p.hpp"' >> "$tmp/t/lib/codec/e.cpp"; sed -i '1i // Codec file of the test tree.' "$tmp/t/lib/codec/e.cpp"
expect 1 "codec/ (floor 2) includes" "a sibling include (codec -> protocol) is refused"
tree; printf '// Base file using libuv.\n#include <uv.h>\n' > "$tmp/t/lib/base/u.cpp"
expect 1 "includes libuv <uv.h>" "libuv outside transport/ is refused"
tree; printf '// Transport using the facade.\n#include "rcache/client.hpp"\n' > "$tmp/t/lib/transport/f.cpp"
expect 1 "the Client facade header" "the facade header below client/ is refused"
tree; printf '// Bare include.\n#include "a.hpp"\n' > "$tmp/t/lib/base/b.cpp"
expect 1 "must name its layer folder" "a bare include is refused"
tree; printf '#pragma once\n' > "$tmp/t/lib/base/n.hpp"
expect 1 "must open with a one-line // comment" "a file without its opening comment is refused"
tree; { echo '// A long file.'; for i in $(seq 1 501); do echo "int v$i = $i;"; done; } > "$tmp/t/lib/base/l.cpp"
expect 1 "over the 500-line ceiling" "a file over 500 lines is refused"
tree; printf '// Public header with an internal include.\n#pragma once\n#include "base/a.hpp"\n' > "$tmp/t/include/rcache/bad.hpp"
expect 1 "public headers include only rcache/ headers" "a public header including lib/ is refused"
exit $fail
