#!/usr/bin/env bash
# The layer rule of lib/ (see scripts/layer_rule.py for the table and every rule it checks).
#   scripts/check-layers.sh               check this tree
#   scripts/check-layers.sh --root DIR    check another tree (the checker's own test)
set -euo pipefail
exec python3 "$(dirname "$0")/layer_rule.py" "$@"
