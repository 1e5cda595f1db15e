#!/usr/bin/env bash
# The project's test command: installs prerequisites, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --workspace "$@"
cargo test -p theater-tcp-sim --features planted-bug --test planted_bug  # the simulation must catch a planted core bug
