#!/usr/bin/env bash
# The README's first command: install dependencies, build, fetch MNIST, train
# the default model (784-400-20, BCE, 15 epochs) and write a sample grid;
# prints the command that installs vae (cmake --install) without running it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
bash scripts/get-data.sh mnist
# a second run continues the model already there (vae train never replaces one unasked)
if [ -f runs/default/model.safetensors ]; then
    build/vae train --resume runs/default/model.safetensors --epochs "${EPOCHS:-15}"
else
    build/vae train --zdim 20 --epochs "${EPOCHS:-15}" --out runs/default
fi
build/vae sample -n 128 -o runs/default/grid.png
echo "done: runs/default/ holds the checkpoint, metrics.csv and grids; runs/default/grid.png has 128 samples"
# offered, not done: an install outside the repository is the user's choice
echo "to install vae, its man page and bash completion for your user:"
echo "  cmake --install build --prefix ~/.local    # then: man vae"
