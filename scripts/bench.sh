#!/usr/bin/env bash
# The echo benchmark as a user runs it: builds the release binaries, then starts each server in
# its own process in turn and writes the table to BENCHMARKS.md (and stdout).
# Arguments go to `theater-tcp-loadgen compare` (--quick, --rounds N, --no-erlang, --scale-only,
# --no-scale, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p theater-tcp-adapter -p theater-tcp-loadgen --bins
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/theater-tcp-loadgen" compare --out BENCHMARKS.md "$@"
