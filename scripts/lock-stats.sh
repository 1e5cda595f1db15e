#!/usr/bin/env bash
# How the driver's one lock is used under each workload of the echo benchmark (issue 15: "the
# one driver lock that every input takes: measure how long it is held and how often it is
# contended"). For each round and workload: a fresh `theater-tcp serve` (built-in echo actor),
# the load generator in its own process, then SIGINT; the server logs its `LockStats` as it
# stops (`driver lock over ... s of serving: ...`), and this script prints them with the share
# of the load's wall time the lock was held and waited for.
#
#   bash scripts/lock-stats.sh [--rounds N] [--server PATH]
#
# Default: 3 rounds, the release build. The hold time is estimated from one acquisition in 16
# (LockStats::SAMPLE) timed with the real clock; waits are timed only when they happen.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
rounds=3
server=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --server) server="$2"; shift 2 ;;
    *) echo "lock-stats: unknown argument $1 (see the head of this script)" >&2; exit 2 ;;
  esac
done
case "$rounds" in ''|*[!0-9]*|0) echo "lock-stats: --rounds wants a positive number" >&2; exit 2 ;; esac

cargo build --release -q -p theater-tcp-adapter -p theater-tcp-loadgen --bins
loadgen="$target/release/theater-tcp-loadgen"
[ -n "$server" ] || server="$target/release/theater-tcp"
[ -x "$server" ] || { echo "lock-stats: $server is not an executable" >&2; exit 2; }

workloads=(
  "bulk|--workload bulk --size 1024"
  "ping-pong 1|--workload ping-pong --connections 1 --count 20000"
  "ping-pong 64|--workload ping-pong --connections 64 --count 2000"
  "churn|--workload churn --connections 32 --count 4000"
)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for round in $(seq "$rounds"); do
  for entry in "${workloads[@]}"; do
    name="${entry%%|*}"
    read -r -a args <<<"${entry#*|}"
    RUST_LOG=info "$server" serve --listen 127.0.0.1:0 >"$scratch/out" 2>"$scratch/err" &
    pid=$!
    for _ in $(seq 100); do grep -q "listening on" "$scratch/out" && break; sleep 0.05; done
    address=$(sed -n 's/^listening on //p' "$scratch/out")
    if [ -z "$address" ]; then
      kill "$pid" 2>/dev/null || true
      echo "lock-stats: the server did not start: $(cat "$scratch/err")" >&2
      exit 1
    fi
    start=$(date +%s.%N)
    result=$("$loadgen" load --address "$address" "${args[@]}")
    end=$(date +%s.%N)
    kill -INT "$pid"
    wait "$pid"
    line=$(grep -o 'driver lock over .*' "$scratch/err" | sed 's/\x1b\[[0-9;]*m//g')
    [ -n "$line" ] || { echo "lock-stats: no lock line from the server" >&2; exit 1; }
    python3 - "$round" "$name" "$result" "$start" "$end" "$line" <<'EOF'
import re, sys
round_, name, result, start, end, line = sys.argv[1:]
wall = float(end) - float(start)
acq = int(re.search(r'(\d+) acquisitions', line).group(1))
cont = re.search(r'(\d+) contended \(([0-9.]+) %, ([0-9.]+) s waited', line)
held = float(re.search(r'held ([0-9.]+) s in all', line).group(1))
mean = int(re.search(r'mean (\d+) ns', line).group(1))
print(f"round {round_} {name:13} {result.strip():60} | {acq} acquisitions, "
      f"held {100 * held / wall:.1f} % of the load's {wall:.2f} s (mean {mean} ns), "
      f"{cont.group(2)} % contended, waited {100 * float(cont.group(3)) / wall:.1f} %")
EOF
  done
done
