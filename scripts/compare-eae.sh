#!/usr/bin/env bash
# VAE against the entropic autoencoder (EAE) at the same architecture and
# latent sizes: test reconstruction (SSE per image), a sample grid of each,
# and how Gaussian the codes of the test set are — per-dimension mean and
# variance, and the KL divergence of the fitted diagonal Gaussian from
# N(0, I), KL = 1/2 sum_j (s2_j + m_j^2 - 1 - log s2_j). Sampling decodes
# z ~ N(0, I) for both models, so codes far from N(0, I) make poor samples.
# The VAE's codes are its posterior means.
#
#   scripts/compare-eae.sh [--epochs N] [--zdims "8 20"] [--arch mlp|conv|resnet]
#                          [--data DIR] [--out DIR] [--threads N] [--lambda L] [--knn K]
#
# Writes OUT/results.csv and OUT/report.md (default OUT: runs/compare-eae);
# a finished run (OUT/<name>/model.safetensors at the requested epochs) is
# reused. Needs /usr/bin/python3 with numpy for the statistics.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VAE=${VAE:-$here/../build/vae}
epochs=10 zdims="8 20" arch=mlp data=data/mnist out=runs/compare-eae threads=$(nproc) lambda=1 knn=5
while [ $# -gt 0 ]; do
    case $1 in
    --epochs) epochs=$2; shift 2 ;;
    --zdims) zdims=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --lambda) lambda=$2; shift 2 ;;
    --knn) knn=$2; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare-eae: $1: unknown option (see --help)" >&2; exit 2 ;;
    esac
done
case $epochs in '' | *[!0-9]*) echo "compare-eae: --epochs: '$epochs' is not a positive integer" >&2; exit 2 ;; esac
mkdir -p "$out"
stats() {   # stats CSV -> "mean_abs_mean mean_var kl_diag"
    /usr/bin/python3 - "$1" <<'EOF'
import sys
import numpy as np
a = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)[:, 2:]
m, v = a.mean(0), a.var(0)
v = np.maximum(v, 1e-12)
kl = 0.5 * np.sum(v + m * m - 1 - np.log(v))
print("%.4f %.4f %.4f" % (np.abs(m).mean(), v.mean(), kl))
EOF
}
echo "model,zdim,arch,epochs,test_recon_sse,mean_abs_code_mean,mean_code_var,kl_fitted_gaussian_vs_prior" >"$out/results.csv.tmp"
for z in $zdims; do
    for kind in vae eae; do
        name="$kind-z$z"
        run="$out/$name"
        extra=()
        [ "$kind" = eae ] && extra=(--model eae --lambda "$lambda" --knn "$knn")
        if [ -s "$run/model.safetensors" ]; then
            "$VAE" train --resume "$run/model.safetensors" --out "$run" --epochs "$epochs" --threads "$threads" --no-images >/dev/null
        else
            "$VAE" train --data "$data" --out "$run" --arch "$arch" --zdim "$z" --loss mse --epochs "$epochs" \
                --threads "$threads" "${extra[@]}" >/dev/null
        fi
        recon=$("$VAE" eval --model "$run/model.safetensors" --data "$data" --json --threads "$threads" |
            /usr/bin/python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["recon_mu"])')
        "$VAE" latent --model "$run/model.safetensors" --data "$data" -o "$run/codes.csv" --threads "$threads"
        "$VAE" sample --model "$run/model.safetensors" -n 64 -o "$out/$name-samples.png" >/dev/null
        read -r mabs mvar kl <<<"$(stats "$run/codes.csv")"
        echo "$kind,$z,$arch,$epochs,$recon,$mabs,$mvar,$kl" >>"$out/results.csv.tmp"
        echo "compare-eae: $name: recon $recon, |mean| $mabs, var $mvar, KL(fit || N(0,I)) $kl" >&2
    done
done
mv "$out/results.csv.tmp" "$out/results.csv"
{
    echo "# VAE vs entropic autoencoder ($arch, SSE reconstruction, $epochs epochs, data $data)"
    echo
    echo "EAE: lambda $lambda, k $knn. Codes: the test set's posterior means (VAE) or batch-normalised codes (EAE)."
    echo
    echo "| model | zdim | test SSE per image (z = mu) | mean abs code mean | mean code variance | KL(fitted diag Gaussian, N(0,I)) |"
    echo "|---|---|---|---|---|---|"
    tail -n +2 "$out/results.csv" | while IFS=, read -r k z a e r m v kl; do
        echo "| $k | $z | $r | $m | $v | $kl |"
    done
    echo
    for z in $zdims; do echo "zdim $z samples: ![vae](vae-z$z-samples.png) ![eae](eae-z$z-samples.png)"; done
} >"$out/report.md"
echo "compare-eae: wrote $out/results.csv and $out/report.md" >&2
