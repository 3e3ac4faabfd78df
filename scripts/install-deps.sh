#!/usr/bin/env bash
# Installs what vae needs to build and test on Debian/Ubuntu (idempotent:
# does nothing when every package is already there). Extra packages can be
# passed as arguments (e.g. clang valgrind for CI).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-dev zlib1g-dev libstb-dev libcjson-dev libcairo2-dev fonts-dejavu-core libinih-dev libdnnl-dev protobuf-compiler python3-protobuf libopenmpi-dev openmpi-bin "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
