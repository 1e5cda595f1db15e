#!/usr/bin/env bash
# The project's test command: installs prerequisites, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace "$@"
cargo test -p theater-tcp-sim --features planted-bug --test planted_bug  # the simulation must catch a planted core bug
cargo test -p kv-server --features planted-bug --test planted_bug  # the check API must catch the example's planted framing bug
# Every scenario of the catalogue over 200 seeds, with the test profile's build (exit 1 on a failing seed).
cargo run --profile test -q -p theater-tcp-scenarios --bin theater-tcp-sim -- --seeds 0..200 | grep -v ' pass hash '
# The benchmark as a user runs it, in its quick mode (tiny sizes, one round): each server starts
# in its own process and every workload runs against it; no timing is asserted, but a server that
# does not start or a workload that fails is an error (a few seconds after the build).
cargo build --profile test -q -p theater-tcp-adapter -p theater-tcp-loadgen --bins
cargo run --profile test -q -p theater-tcp-loadgen -- compare --quick
