#!/usr/bin/env bash
# The alpha/beta sweep: how the balance of reconstruction and KL shapes a VAE.
#   group "mse": loss = alpha * SSE + beta * KL, (alpha, beta) in (0.1, 0.9),
#                (0.5, 0.5), (0.9, 0.1), zdim 20;
#   group "bce": loss = BCE + beta * KL (beta-VAE), beta in 1, 2, 4, 8, zdim 20.
# Each run is trained, evaluated, reconstructed and sampled; results.csv and
# report.md go to the sweep folder. Run with --help for options, resuming and
# running the list on a cluster (shared code: scripts/sweep-lib.sh).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sweep-lib.sh"
sweep_init alpha-beta "Trains zdim-20 VAEs with loss = alpha*SSE + beta*KL for (alpha, beta) in
(0.1, 0.9), (0.5, 0.5), (0.9, 0.1), and loss = BCE + beta*KL for beta in 1, 2, 4, 8." "$@"
SWEEP_TITLE="alpha/beta sweep: reconstruction against KL"
for ab in "0.1 0.9" "0.5 0.5" "0.9 0.1"; do
    set -- $ab
    add_run "mse-a$1-b$2" "mse" 20 mse "$1" "$2"
done
for b in 1 2 4 8; do
    add_run "bce-b$b" "bce" 20 bce 1 "$b"
done
sweep_main
