#!/usr/bin/env bash
# Builds the test actors of theater-handler/ (Pack ABI core modules) from source with Debian's
# rustc-web (wasm32-unknown-unknown via -Zbuild-std; no rustup target needed) and copies them
# to theater-handler/tests/actors/. `--check` builds into a scratch dir and fails when a module
# differs from the committed one (bytes, or at least the exported names).
set -euo pipefail
cd "$(dirname "$0")/../theater-handler/guests"

check=false
[ "${1:-}" = "--check" ] && check=true

# Debian's toolchain, not the rustup one on PATH: it ships the sources -Zbuild-std needs.
export RUSTC=/usr/bin/rustc
export RUSTDOC=/usr/bin/rustdoc
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${GUESTS_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/handler-guests}"
# Reproducible output: no paths of this machine inside the modules.
export RUSTFLAGS="--remap-path-prefix=$HOME=/home --remap-path-prefix=$PWD=/guests -C linker=/usr/lib/llvm-22/bin/wasm-ld -C link-arg=--no-entry"

/usr/bin/cargo build --quiet --release --locked --target wasm32-unknown-unknown -Zbuild-std=core,alloc

out=../tests/actors
mkdir -p "$out"
status=0
for actor in echo acceptor probe; do
  built="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/tcp_${actor}_actor.wasm"
  if $check; then
    if cmp -s "$built" "$out/$actor.wasm"; then
      echo "$actor.wasm: same bytes"
    else
      echo "$actor.wasm: differs from the committed module" >&2
      status=1
    fi
  else
    cp "$built" "$out/$actor.wasm"
    echo "$out/$actor.wasm: $(wc -c < "$out/$actor.wasm") bytes"
  fi
done
exit $status
