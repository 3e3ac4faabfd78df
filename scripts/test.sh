#!/usr/bin/env bash
# The README's second command: install what is missing, build, fetch MNIST
# (offline fallback included) and run the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/get-data.sh mnist
bash scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
