#!/usr/bin/env bash
# Checks that every C++ file of the project is formatted by the repo's .clang-format
# (clang-format --dry-run --Werror); prints the files that are not. Fix with: scripts/check-format.sh --fix
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format not found" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.hpp.in' 2>/dev/null | grep -v '\.in$' ||
                     find lib include tests benchmarks examples -name '*.[ch]pp')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  printf 'check-format: not formatted: %s\n' "${bad[@]}"
  echo "check-format: ${#bad[@]} of ${#files[@]} files differ from .clang-format (fix: scripts/check-format.sh --fix)"
  exit 1
fi
echo "check-format: ${#files[@]} files ok"
