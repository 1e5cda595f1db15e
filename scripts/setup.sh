#!/usr/bin/env bash
# Installs what the project needs beyond the Rust toolchain, on a fresh Debian machine.
# Idempotent: a second run installs nothing.
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v cc >/dev/null 2>&1 || need+=(build-essential)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
