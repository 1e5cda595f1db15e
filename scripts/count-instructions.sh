#!/usr/bin/env bash
# Counts the instructions an echo server executes for one workload, under valgrind's callgrind:
# a count, not a time, so it is the same from run to run whatever else the machine does, and
# an A/B of two builds needs no idle machine. The load generator runs natively in its own
# process; the server runs under callgrind, warmed up (64 connections × 20 round trips) before
# the count is zeroed, so that start-up (compiling the actor) is not counted.
#
#   bash scripts/count-instructions.sh [--server PATH|raw|hop] [--out FILE] [-- LOAD ARGS]
#
# Default: the release `theater-tcp serve` (built-in echo actor), and the load
# `--workload ping-pong --connections 64 --count 200` (12 800 round trips). Prints the total and
# the count per round trip (ping-pong) or per connection (churn); --out keeps the callgrind
# profile (read it with callgrind_annotate). Example: two builds, the second on top:
#   bash scripts/count-instructions.sh --server /tmp/theater-tcp-before
#   bash scripts/count-instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
server=ours
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "count-instructions: unknown argument $1 (see the head of this script)" >&2; exit 2 ;;
  esac
done
load=("$@")
[ ${#load[@]} -gt 0 ] || load=(--workload ping-pong --connections 64 --count 200)
command -v valgrind >/dev/null || { echo "count-instructions: valgrind is missing (bash scripts/setup.sh)" >&2; exit 1; }

cargo build --release -q -p theater-tcp-adapter -p theater-tcp-loadgen --bins
loadgen="$target/release/theater-tcp-loadgen"
case "$server" in
  ours) cmd=("$target/release/theater-tcp" serve --listen 127.0.0.1:0) ;;
  raw) cmd=("$loadgen" echo-server --listen 127.0.0.1:0) ;;
  hop) cmd=("$loadgen" echo-server --hop --listen 127.0.0.1:0) ;;
  *) cmd=("$server" serve --listen 127.0.0.1:0) ;;
esac

work=$(mktemp -d)
trap 'kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$work/profile" "${cmd[@]}" >"$work/stdout" 2>"$work/stderr" &
pid=$!
for _ in $(seq 600); do
  grep -q '^listening on ' "$work/stdout" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/stderr" >&2; exit 1; }
  sleep 0.5
done
address=$(awk '/^listening on /{print $3; exit}' "$work/stdout")
[ -n "$address" ] || { echo "count-instructions: the server did not start" >&2; exit 1; }

"$loadgen" load --address "$address" --workload ping-pong --connections 64 --count 20 >/dev/null
callgrind_control --zero "$pid" >/dev/null 2>&1
"$loadgen" load --address "$address" "${load[@]}"
callgrind_control --dump "$pid" >/dev/null 2>&1
profile=$(ls "$work"/profile.* 2>/dev/null | head -1)
[ -n "$profile" ] || { echo "count-instructions: callgrind wrote no profile" >&2; exit 1; }
total=$(callgrind_annotate "$profile" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')

# Units of work in the load: round trips (ping-pong) or connections (churn).
get() { local key=$1 default=$2 i; for ((i = 0; i < ${#load[@]}; i++)); do
  [ "${load[$i]}" = "$key" ] && { echo "${load[$((i + 1))]}"; return; }; done; echo "$default"; }
workload=$(get --workload "")
case "$workload" in
  ping-pong) units=$(( $(get --connections 1) * $(get --count 20000) )); unit="round trip" ;;
  churn) units=$(get --count 20000); unit="connection" ;;
  *) units=0; unit="" ;;
esac
echo "server: ${cmd[*]}"
echo "instructions: $total"
[ "$units" -gt 0 ] && echo "instructions per $unit: $(( total / units )) ($units ${unit}s)"
[ -n "$out" ] && cp "$profile" "$out" && echo "profile: $out"
exit 0
