#!/usr/bin/env bash
# The latent-size sweep: zdim in 2, 5, 10, 20 with loss = 0.5 * SSE + 0.5 * KL.
# Each run is trained, evaluated, reconstructed and sampled (zdim 2 also gets
# the manifold); results.csv and report.md go to the sweep folder. Run with
# --help for options, resuming and running the list on a cluster (shared code:
# scripts/sweep-lib.sh).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep-lib.sh"
sweep_init zdim "Trains VAEs with loss = 0.5*SSE + 0.5*KL for latent sizes zdim in 2, 5, 10, 20." "$@"
SWEEP_TITLE="latent-size sweep: reconstruction against zdim"
for z in 2 5 10 20; do
    add_run "z$z" "zdim" "$z" mse 0.5 0.5
done
sweep_main
