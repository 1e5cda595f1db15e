#!/usr/bin/env bash
# Sweep speed per scenario: runs the catalogue over a seed range with one job and sums each
# scenario's per-seed wall and simulated times (a seed is two runs plus the replay of its
# trace). A measurement, not a test: nothing is asserted.
#   bash scripts/sweep-speed.sh [SEEDS] [PROFILE]      # defaults: 0..100, test
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-0..100}"
profile="${2:-test}"
# The binary where cargo put it (the target directory may be elsewhere: CARGO_TARGET_DIR,
# build.target-dir).
bin=$(cargo build -q --profile "$profile" -p theater-tcp-scenarios --bin theater-tcp-sim \
  --message-format=json | sed -n 's/.*"executable":"\([^"]*theater-tcp-sim\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "sweep-speed.sh: no theater-tcp-sim binary from cargo" >&2; exit 1; }
out=$(mktemp)
"$bin" --seeds "$seeds" --jobs 1 > "$out"
echo "| scenario | seeds | wall s | seeds per s | simulated s per wall s |"
echo "|---|---|---|---|---|"
awk '$2 == "seed" && $4 == "pass" { w[$1] += $NF + 0; s[$1] += $(NF - 2) + 0; n[$1]++; order[$1] = order[$1] ? order[$1] : ++k }
     END { for (name in n) { printf "%d| `%s` | %d | %.2f | %.0f | %.0f |\n", order[name], name, n[name], w[name], n[name] / w[name], s[name] / w[name]; N += n[name]; W += w[name]; S += s[name] }
           if (N) printf "%d| all | %d | %.2f | %.0f | %.0f |\n", k + 1, N, W, N / W, S / W }' "$out" |
  sort -n | cut -d'|' -f2- | sed 's/^/|/'
rm -f "$out"
