#!/usr/bin/env bash
# The architecture study of the course report in one command: a simple MLP
# (784-400-Z), a deeper MLP (512-256-128), a convolutional and a residual VAE,
# each at latent sizes 1 and 2, trained with BCE + KL and Adam (lr 0.01, 50
# epochs by default, as in the report). Each run is trained, evaluated,
# reconstructed, sampled and drawn as its 1-D strip or 2-D manifold;
# results.csv and report.md (total / reconstruction / KL per image and per
# 128-image batch) go to the study folder. --help for options, resuming and
# running the list on a cluster (shared code: scripts/sweep-lib.sh).
set -uo pipefail
SWEEP_SCRIPT=scripts/study-architectures.sh
SWEEP_DIR_PREFIX=study-architectures
SWEEP_DEFAULT_EPOCHS=50
SWEEP_DEFAULT_LR=0.01
SWEEP_ALLOW_ARCH=0
source "$(dirname "${BASH_SOURCE[0]}")/sweep-lib.sh"
sweep_init architectures "Trains four encoder/decoder families (simple MLP 400, deeper MLP 512,256,128, conv,
resnet) at zdim 1 and 2 with loss = BCE + KL, and compares their test losses and latent spaces." "$@"
SWEEP_TITLE="architecture study: four encoder/decoder families at latent sizes 1 and 2"
for z in 1 2; do add_run "mlp-z$z" study "$z" bce 1 1 "" 400; done
for z in 1 2; do add_run "deep-z$z" study "$z" bce 1 1 "" 512,256,128; done
for z in 1 2; do add_run "conv-z$z" study "$z" bce 1 1 conv; done
for z in 1 2; do add_run "resnet-z$z" study "$z" bce 1 1 resnet; done
sweep_main
