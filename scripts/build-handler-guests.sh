#!/usr/bin/env bash
# Builds the test actors of theater-handler/ (Pack ABI core modules) from source with Debian's
# rustc-web (wasm32-unknown-unknown via -Zbuild-std; no rustup target needed) and copies them
# to theater-handler/tests/actors/. `--check` leaves them alone and compares: the same bytes
# pass; different bytes with the same exports (names and kinds) pass with a note (a newer
# Debian rustc-web may lay code out differently); different exports fail.
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

# The export section of a wasm module, one `kind name` per line.
exports() {
  python3 - "$1" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
def leb(i):
    n = shift = 0
    while True:
        b = data[i]; i += 1
        n |= (b & 0x7F) << shift; shift += 7
        if b < 0x80:
            return n, i
i = 8
while i < len(data):
    section, size, start = data[i], *leb(i + 1)
    if section == 7:
        count, j = leb(start)
        for _ in range(count):
            length, j = leb(j)
            name = data[j:j + length].decode(); j += length
            kind = data[j]; _, j = leb(j + 1)
            print(kind, name)
    i = start + size
PY
}

status=0
for actor in echo acceptor probe; do
  built="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/tcp_${actor}_actor.wasm"
  if $check; then
    if cmp -s "$built" "$out/$actor.wasm"; then
      echo "$actor.wasm: same bytes"
    elif [ "$(exports "$built" | sort)" = "$(exports "$out/$actor.wasm" | sort)" ]; then
      echo "$actor.wasm: different bytes, same exports ($(/usr/bin/rustc --version))"
    else
      echo "$actor.wasm: its exports differ from the committed module's" >&2
      diff <(exports "$out/$actor.wasm") <(exports "$built") >&2 || true
      status=1
    fi
  else
    cp "$built" "$out/$actor.wasm"
    echo "$out/$actor.wasm: $(wc -c < "$out/$actor.wasm") bytes"
  fi
done
exit $status
