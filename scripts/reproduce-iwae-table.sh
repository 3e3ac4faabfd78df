#!/usr/bin/env bash
# Reproduces the VAE row of Burda, Grosse & Salakhutdinov (2015), Table 1:
# the one-stochastic-layer VAE (encoder 784-200-200 with tanh -> 50 latents,
# mirrored decoder, Bernoulli output) on dynamically binarized MNIST, Adam
# (eps 1e-4) with Burda's learning-rate stages, evaluated by importance
# sampling with K = 5000 on the whole binarized test set. Trains one epoch at a
# time under a time budget, evaluates checkpoints along the way for an
# NLL-vs-epoch curve, and writes OUT/report.md beside the published numbers.
# Resumable: run the same command again to continue a stopped run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/runs/iwae-table"
DATA="$ROOT/data/mnist"
VAE="${VAE_BIN:-}"
BUDGET=3600
EPOCHS=3280
BATCH=20
ACT=tanh
K=5000
EVAL_N=10000
CURVE_K=1000
CURVE_N=1000
CURVE_AT="1 2 3 5 8 13 20 30 40 50 60 70 80 100 130 160 200 250 300 400 500 700 1000 1500 2000 3000 3280"
THREADS=$(nproc 2>/dev/null || echo 1)
TRAIN_THREADS=1
SEED=1
REPORT_ONLY=0
FINAL=1

usage() {
    cat <<EOF
usage: scripts/reproduce-iwae-table.sh [options]

Trains Burda et al.'s one-stochastic-layer VAE with vae and reports its test
NLL (K = 5000 importance samples) next to the published 86.76 nats.

  --time-budget S   seconds of training before no new epoch starts (default $BUDGET;
                    evaluations are not counted)
  --epochs N        at most N epochs in all (default $EPOCHS, the paper's schedule)
  --batch N         mini-batch (default $BATCH, as the paper)
  --activation A    tanh (the paper) or relu (default $ACT)
  --k K             importance samples of the final evaluation (default $K)
  --eval-images N   test images of the final evaluation (default all $EVAL_N)
  --curve-k K       importance samples of the along-the-way evaluations (default $CURVE_K)
  --curve-images N  test images of the along-the-way evaluations (default $CURVE_N)
  --curve-at LIST   epochs whose checkpoints are kept and evaluated (default: $CURVE_AT)
  --threads N       CPU threads of the evaluations (default: all $THREADS)
  --train-threads N CPU threads of training (default 1: batch-20 GEMMs are too small to share)
  --seed S          training seed (default $SEED)
  --data DIR        MNIST IDX folder (default data/mnist)
  --out DIR         run folder (default runs/iwae-table)
  --bin PATH        the vae binary (default \$VAE_BIN, else build/vae)
  --no-final        skip the final K evaluation (curve only)
  --report-only     write report.md from what is there
  -h, --help        this help

Settings passed to vae train: --hidden 200,200 --zdim 50 --activation A
--binarize dynamic --batch N --lr 0.001 --lr-decay --adam-eps 1e-4 (Burda's code;
beta1 0.9, beta2 0.999). The paper trains on 59,600 images (400 held out for
validation); this script trains on all 60,000.
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
        --time-budget) BUDGET=$2; shift 2 ;;
        --epochs) EPOCHS=$2; shift 2 ;;
        --batch) BATCH=$2; shift 2 ;;
        --activation) ACT=$2; shift 2 ;;
        --k) K=$2; shift 2 ;;
        --eval-images) EVAL_N=$2; shift 2 ;;
        --curve-k) CURVE_K=$2; shift 2 ;;
        --curve-images) CURVE_N=$2; shift 2 ;;
        --curve-at) CURVE_AT=$(echo "$2" | tr ',' ' '); shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --train-threads) TRAIN_THREADS=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --bin) VAE=$2; shift 2 ;;
        --no-final) FINAL=0; shift ;;
        --report-only) REPORT_ONLY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "reproduce-iwae-table: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in BUDGET EPOCHS BATCH K EVAL_N CURVE_K CURVE_N THREADS TRAIN_THREADS; do
    case ${!v} in ''|*[!0-9]*) echo "reproduce-iwae-table: --$(echo "$v" | tr 'A-Z_' 'a-z-') needs a whole number, not '${!v}'" >&2; exit 2 ;; esac
done
case $ACT in tanh|relu) ;; *) echo "reproduce-iwae-table: --activation must be tanh or relu" >&2; exit 2 ;; esac
[ -n "$VAE" ] || VAE="$ROOT/build/vae"
[ -x "$VAE" ] || { echo "reproduce-iwae-table: $VAE is not an executable vae binary (build it, or --bin PATH)" >&2; exit 1; }
mkdir -p "$OUT"
CKPT="$OUT/model.safetensors"
LOG="$OUT/train.log"
CURVE="$OUT/curve.csv"
STATE="$OUT/budget.txt"   # training seconds used so far (survives restarts)

# completed epochs of the checkpoint (0 without one)
epochs_done() {
    [ -s "$CKPT" ] || { echo 0; return; }
    perl -e 'open(my $f, "<:raw", $ARGV[0]) or die; read($f, my $b, 8); read($f, my $h, unpack("Q<", $b));
             print $h =~ /"epoch":"(\d+)"/ ? $1 : 0' "$CKPT"
}
in_curve() { case " $CURVE_AT " in *" $1 "*) return 0 ;; esac; return 1; }
json_num() { grep -o "\"$2\":[-0-9.e+]*" "$1" | head -1 | cut -d: -f2; }

curve_point() {   # curve_point EPOCH: evaluate the kept checkpoint of that epoch
    local e=$1 ck="$OUT/ckpt-$1.safetensors" js="$OUT/curve-$1.json"
    [ -s "$js" ] || "$VAE" eval --model "$ck" --iw "$CURVE_K" --limit "$CURVE_N" --threads "$THREADS" --json \
        >"$js.tmp" 2>>"$LOG" && mv "$js.tmp" "$js"
    [ -s "$CURVE" ] || echo "epoch,iw_k,images,nll,nll_se,iw_elbo,loss_sampled_z,active_units,eval_seconds" >"$CURVE"
    grep -q "^$e," "$CURVE" || echo "$e,$CURVE_K,$CURVE_N,$(json_num "$js" nll),$(json_num "$js" nll_se),$(json_num "$js" iw_elbo),$(json_num "$js" loss),$(json_num "$js" active_units),$(json_num "$js" iw_seconds)" >>"$CURVE"
}

if [ "$REPORT_ONLY" -eq 0 ]; then
    used=$( [ -s "$STATE" ] && cat "$STATE" || echo 0 )
    while :; do
        e=$(epochs_done)
        [ "$e" -lt "$EPOCHS" ] || break
        [ "$used" -lt "$BUDGET" ] || { echo "reproduce-iwae-table: time budget of $BUDGET s used after $e epochs" >&2; break; }
        t0=$(date +%s)
        if [ "$e" -eq 0 ]; then
            "$VAE" train --data "$DATA" --out "$OUT" --hidden 200,200 --zdim 50 --activation "$ACT" \
                --binarize dynamic --batch "$BATCH" --lr 0.001 --lr-decay --adam-eps 1e-4 --seed "$SEED" \
                --epochs 1 --threads "$TRAIN_THREADS" --no-images 2>>"$LOG"
        else
            "$VAE" train --resume "$CKPT" --out "$OUT" --epochs $((e + 1)) --threads "$TRAIN_THREADS" --no-images 2>>"$LOG"
        fi
        used=$((used + $(date +%s) - t0))
        echo "$used" >"$STATE"
        e=$((e + 1))
        if in_curve "$e"; then
            cp "$CKPT" "$OUT/ckpt-$e.safetensors"
            curve_point "$e"
            echo "epoch $e: NLL $(json_num "$OUT/curve-$e.json" nll) (K = $CURVE_K, first $CURVE_N test images), $used s of training" >&2
        fi
    done
    if [ "$FINAL" -eq 1 ] && [ -s "$CKPT" ]; then
        e=$(epochs_done)
        fj="$OUT/final-epoch$e-k$K.json"
        [ -s "$fj" ] || { "$VAE" eval --model "$CKPT" --iw "$K" --limit "$EVAL_N" --threads "$THREADS" --json \
            >"$fj.tmp" 2>>"$LOG" && mv "$fj.tmp" "$fj"; }
    fi
fi

# ---- report ----
e=$(epochs_done)
used=$( [ -s "$STATE" ] && cat "$STATE" || echo 0 )
fj=$(ls -t "$OUT"/final-epoch*-k*.json 2>/dev/null | head -1 || true)
{
    echo "# Burda et al. (2015), Table 1, VAE row: reproduction with vae"
    echo
    echo "Model: encoder 784-200-200 ($ACT) -> 50 latents, mirrored decoder, Bernoulli output;"
    echo "dynamically binarized MNIST (60,000 training images), batch $BATCH, Adam lr 1e-3 with"
    echo "Burda's stages (--lr-decay), eps 1e-4. Test set binarized once with vae's fixed seed."
    echo "Training time used: $used s over $e epochs (the paper: 3,280 epochs)."
    echo
    echo "| model | epochs | test NLL (nats) | K | images |"
    echo "|---|---|---|---|---|"
    echo "| VAE, Burda et al. 2015 (published, k = 1 training) | 3280 | 86.76 | 5000 | 10000 |"
    echo "| IWAE k = 50, Burda et al. 2015 (published) | 3280 | 84.78 | 5000 | 10000 |"
    if [ -n "$fj" ]; then
        fe=$(basename "$fj" | sed 's/final-epoch\([0-9]*\)-k.*/\1/')
        echo "| VAE, vae (this run) | $fe | $(printf %.2f "$(json_num "$fj" nll)") ± $(printf %.2f "$(json_num "$fj" nll_se)") | $(json_num "$fj" iw_k) | $(json_num "$fj" images) |"
    fi
    echo
    if [ -s "$CURVE" ]; then
        echo "NLL along the way (the first test images; ± one standard error over images):"
        echo
        echo "| epoch | K | images | NLL | -ELBO (-mean log w, same samples) | active units |"
        echo "|---|---|---|---|---|---|"
        tail -n +2 "$CURVE" | sort -t, -k1,1n | awk -F, '{ printf "| %d | %d | %d | %.2f ± %.2f | %.2f | %s |\n", $1, $2, $3, $4, $5, -$6, $8 }'
        echo
    fi
    [ -n "$fj" ] && echo "Final evaluation: $(printf %.0f "$(json_num "$fj" iw_seconds)") s, $(printf %.1f "$(json_num "$fj" iw_images_per_sec)") images/s with $(json_num "$fj" threads) threads (wall clock; the machine's load shows in it)."
    true
} >"$OUT/report.md"
echo "reproduce-iwae-table: wrote $OUT/report.md" >&2
