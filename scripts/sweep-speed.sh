#!/usr/bin/env bash
# Sweep speed per scenario: runs the catalogue over a seed range with one job and sums each
# scenario's per-seed wall and simulated times (a seed is two runs plus the replay of its
# trace). A measurement, not a test: nothing is asserted.
#   bash scripts/sweep-speed.sh [SEEDS] [PROFILE]      # defaults: 0..100, test
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-0..100}"
profile="${2:-test}"
cargo build -q --profile "$profile" -p theater-tcp-scenarios --bin theater-tcp-sim
dir=debug
[ "$profile" = release ] && dir=release
out=$(mktemp)
"target/$dir/theater-tcp-sim" --seeds "$seeds" --jobs 1 > "$out"
echo "| scenario | seeds | wall s | seeds per s | simulated s per wall s |"
echo "|---|---|---|---|---|"
awk '$2 == "seed" && $4 == "pass" { w[$1] += $NF + 0; s[$1] += $(NF - 2) + 0; n[$1]++; order[$1] = order[$1] ? order[$1] : ++k }
     END { for (name in n) printf "%d| `%s` | %d | %.2f | %.0f | %.0f |\n", order[name], name, n[name], w[name], n[name] / w[name], s[name] / w[name] }' "$out" |
  sort -n | cut -d'|' -f2- | sed 's/^/|/'
rm -f "$out"
