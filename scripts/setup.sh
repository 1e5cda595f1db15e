#!/usr/bin/env bash
# Installs what the project needs beyond the Rust toolchain, on a fresh Debian machine.
# Idempotent: a second run installs nothing.
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v cc >/dev/null 2>&1 || need+=(build-essential)
# libfuzzer-sys (fuzz/) compiles libFuzzer, which is C++.
command -v c++ >/dev/null 2>&1 || need+=(g++)
# The wasm test actors (tests/actors/) are C, compiled to wasm32 at test time: no wasm32 Rust
# target is needed. clang compiles, lld's wasm-ld links, wasi-libc gives malloc and string.h,
# libclang-rt-14-dev-wasm32 the compiler-rt builtins the link may need.
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v wasm-ld >/dev/null 2>&1 || need+=(lld)
dpkg -s wasi-libc >/dev/null 2>&1 || need+=(wasi-libc)
dpkg -s libclang-rt-14-dev-wasm32 >/dev/null 2>&1 || need+=(libclang-rt-14-dev-wasm32)
# The Pack ABI test actors of theater-handler/ are Rust, built for wasm32-unknown-unknown with
# Debian's toolchain (its sources make -Zbuild-std possible without a rustup target) and a
# wasm-ld new enough to define __heap_end (lld 14 does not).
[ -x /usr/bin/rustc ] && /usr/bin/rustc --version 2>/dev/null | grep -q '^rustc 1\.9[6-9]' || need+=(rustc-web)
[ -x /usr/bin/cargo ] && /usr/bin/cargo --version 2>/dev/null | grep -q '^cargo 1\.9[6-9]' || need+=(cargo-web)
dpkg -s rust-web-src >/dev/null 2>&1 || need+=(rust-web-src)
[ -x /usr/lib/llvm-22/bin/wasm-ld ] || need+=(lld-22)
# The guest build's --check reads export sections with a few lines of Python.
command -v python3 >/dev/null 2>&1 || need+=(python3)
# A client nobody here wrote, for the end-to-end echo test.
command -v nc >/dev/null 2>&1 || need+=(netcat-openbsd)
# Erlang/OTP, for the gen_tcp echo server the echo benchmark compares against.
command -v erl >/dev/null 2>&1 || need+=(erlang-base)
# perf, with which BENCHMARKS.md's profiles were taken (not needed by the tests).
command -v perf >/dev/null 2>&1 || need+=(linux-perf)
# valgrind, whose callgrind scripts/count-instructions.sh counts instructions with (not needed
# by the tests).
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
# /usr/bin/kill, with which the binary's tests send SIGINT and SIGTERM.
[ -x /usr/bin/kill ] || need+=(procps)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
