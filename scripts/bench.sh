#!/usr/bin/env bash
# Speed benchmark: vae against an independent PyTorch reference of the same
# model (784-400-20, BCE, batch 128, one epoch of MNIST), alternating A B runs,
# each at its best setting (PyTorch's includes OPENBLAS_CORETYPE: Debian's
# PyTorch links the same OpenBLAS), plus a GEMM-only bound with the kernel set
# vae uses (tests/bench/gemm_probe.c), load/sample times and a batch-size
# curve. Speeds are training images/s as each program measures its own
# training loop, not whole-process time (which mostly measures Python's
# start-up). With --precision bf16 every pair also runs both trainers in bf16
# (vae train --precision bf16; PyTorch under torch.autocast bf16) beside fp32.
# Prints a table; writes <out>/results.json and every raw run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
TORCH_SCRIPT="$ROOT/scripts/reference/train_torch.py"

DATA=""
OUT="$ROOT/runs/bench"
BUILD="$ROOT/build"
VAE=""
PROBE=""
PAIRS=3
SEED=1
CURVE="32 128 512 2048"
TORCH_CURVE=1
QUICK=0
FIX_VAE_T=""      # --vae-threads: skip the vae thread selection
FIX_TORCH_T=""    # --torch-threads T:B[:CORE]: skip the PyTorch setting selection
ARCH=""           # --arch: passed to both trainers (conv/resnet models)
PRECISION=fp32    # --precision bf16: bf16 runs of both trainers beside the fp32 ones
LIMIT=""          # --limit: train on the first N images (both trainers)
NPROC=$(nproc 2>/dev/null || echo 1)

usage() {
    cat <<EOF
usage: scripts/bench.sh [options]
  Trains the default model (784-400-20, BCE, batch 128) for one epoch on MNIST
  with vae and with PyTorch (scripts/reference/train_torch.py), A B A B ...,
  each at its fastest setting, and reports medians of training images/s (each
  trainer's own timing of its training loop), the ratio per pair and its
  spread (the noise of the machine), process wall time and peak RSS, the
  GEMM-only bound from gemm_probe with the kernel set vae uses, MNIST load
  times, 'vae sample -n 128' time and a batch-size curve.
  PyTorch's setting is picked from {1, cores} intra-op threads x {1, cores}
  OpenBLAS threads x OPENBLAS_CORETYPE {OpenBLAS's default, SkylakeX (on
  AVX-512 CPUs)}; vae's from --threads {1, cores} (vae picks its kernel set
  itself, see README "BLAS kernels"). An OPENBLAS_CORETYPE already set in the
  environment is used for both and not varied.

  --data DIR       MNIST IDX files (default data/mnist; fetched with
                   scripts/get-data.sh when that default is missing)
  --out DIR        results folder (default runs/bench): results.json, table.txt, raw/
  --build DIR      build folder holding vae and gemm_probe (default build;
                   configured and built there when they are missing)
  --vae PATH       vae binary (default <build>/vae)
  --probe PATH     gemm_probe binary (default <build>/gemm_probe)
  --pairs N        A/B pairs, N >= 1 (default 3)
  --seed S         seed for both trainers (default 1)
  --curve "B ..."  batch sizes of the curve (default "$CURVE"; "" to skip)
  --no-torch-curve measure the batch-size curve for vae only
  --vae-threads T  use 'vae train --threads T' instead of picking the faster of
                   1 and all cores with one trial epoch each
  --torch-threads T:B[:CORE]  PyTorch set_num_threads(T) with
                   OPENBLAS_NUM_THREADS=B (and OPENBLAS_CORETYPE=CORE; "default"
                   leaves it unset), instead of picking the fastest setting
  --arch A         model architecture passed to both trainers (mlp, conv,
                   resnet; default: the trainers' default, mlp). The GEMM-only
                   bound is measured for the MLP only; every architecture gets
                   achieved GFLOP/s (FLOP per image from 'vae layers --json')
                   against one 1024^3 sgemm on all cores (gemm_probe --square).
  --precision P    fp32 (default) or bf16: each pair then runs vae fp32, vae
                   --precision bf16, PyTorch fp32 and PyTorch autocast bf16, at
                   the fp32 settings, and gemm_probe measures the bf16 bound
                   too (needs 'vae --version' to say "bf16: available")
  --limit N        train every run on the first N training images only (a
                   shorter benchmark for slow models or a busy machine;
                   images/s are still each trainer's own training-loop rate)
  --quick          1 pair, vae-only curve, fewer repetitions (about a minute)
  -h, --help       this text
Example: scripts/bench.sh --quick --out /tmp/bench
EOF
}

die() { echo "bench.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --data) DATA=${2:?--data needs a folder}; shift 2 ;;
        --out) OUT=${2:?--out needs a folder}; shift 2 ;;
        --build) BUILD=${2:?--build needs a folder}; shift 2 ;;
        --vae) VAE=${2:?--vae needs a path}; shift 2 ;;
        --probe) PROBE=${2:?--probe needs a path}; shift 2 ;;
        --pairs) PAIRS=${2:?--pairs needs a number}; shift 2 ;;
        --seed) SEED=${2:?--seed needs a number}; shift 2 ;;
        --curve) CURVE=${2?--curve needs a list}; shift 2 ;;
        --no-torch-curve) TORCH_CURVE=0; shift ;;
        --vae-threads) FIX_VAE_T=${2:?--vae-threads needs a number}; shift 2 ;;
        --torch-threads) FIX_TORCH_T=${2:?--torch-threads needs T:B[:CORE]}; shift 2 ;;
        --arch) ARCH=${2:?--arch needs a name}; shift 2 ;;
        --precision) PRECISION=${2:?--precision needs fp32 or bf16}; shift 2 ;;
        --limit) LIMIT=${2:?--limit needs a number}; shift 2 ;;
        --quick) QUICK=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option '$1'" ;;
    esac
done
[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || die "--pairs: '$PAIRS' is not an integer >= 1"
[[ "$SEED" =~ ^[0-9]+$ ]] || die "--seed: '$SEED' is not a non-negative integer"
[ -z "$FIX_VAE_T" ] || [[ "$FIX_VAE_T" =~ ^[1-9][0-9]*$ ]] || die "--vae-threads: '$FIX_VAE_T' is not an integer >= 1"
[ -z "$FIX_TORCH_T" ] || [[ "$FIX_TORCH_T" =~ ^[1-9][0-9]*:[1-9][0-9]*(:[A-Za-z0-9]+)?$ ]] || die "--torch-threads: '$FIX_TORCH_T' is not T:B or T:B:CORE (e.g. 2:1:SkylakeX)"
[ -z "$ARCH" ] || [[ "$ARCH" =~ ^[a-z0-9_-]+$ ]] || die "--arch: '$ARCH' is not an architecture name"
[ -z "$LIMIT" ] || [[ "$LIMIT" =~ ^[1-9][0-9]*$ ]] || die "--limit: '$LIMIT' is not an integer >= 1"
for b in $CURVE; do [[ "$b" =~ ^[1-9][0-9]*$ ]] || die "--curve: '$b' is not a batch size"; done
[ "$PRECISION" = fp32 ] || [ "$PRECISION" = bf16 ] || die "--precision: '$PRECISION' is not fp32 or bf16"
if [ "$QUICK" = 1 ]; then PAIRS=1; TORCH_CURVE=0; fi
REPS=3; [ "$QUICK" = 1 ] && REPS=1

# ---------------------------------------------------------------- prerequisites
need_pkg() {   # need_pkg PACKAGE WHAT: install a Debian package when root, else explain
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bench.sh: installing Debian package $1 ($2)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >&2; } ||
            die "could not install $1"
    else
        die "$2 is missing: install it with 'sudo apt-get install $1'"
    fi
}
[ -x /usr/bin/time ] || need_pkg time "/usr/bin/time (GNU time, for peak RSS)"
[ -x "$PY" ] || need_pkg python3 "$PY"
"$PY" -c 'import torch, numpy' 2>/dev/null || need_pkg python3-torch "PyTorch for $PY"
"$PY" -c 'import torch, numpy' 2>/dev/null || die "$PY still cannot import torch and numpy"

if [ -z "$DATA" ]; then
    DATA="$ROOT/data/mnist"
    if ! ls "$DATA"/train-images*idx3-ubyte* >/dev/null 2>&1; then
        [ -x "$ROOT/scripts/get-data.sh" ] || [ -f "$ROOT/scripts/get-data.sh" ] ||
            die "$DATA has no MNIST and scripts/get-data.sh is missing; pass --data DIR"
        echo "bench.sh: $DATA is empty; running scripts/get-data.sh" >&2
        (cd "$ROOT" && bash scripts/get-data.sh) >&2 || die "scripts/get-data.sh failed"
    fi
fi
ls "$DATA"/train-images*idx3-ubyte* >/dev/null 2>&1 || die "$DATA: no train-images-idx3-ubyte[.gz] there"
ls "$DATA"/t10k-images*idx3-ubyte* >/dev/null 2>&1 || die "$DATA: no t10k-images-idx3-ubyte[.gz] there"
DATA=$(cd "$DATA" && pwd)

VAE=${VAE:-$BUILD/vae}
PROBE=${PROBE:-$BUILD/gemm_probe}
if [ ! -x "$VAE" ] || [ ! -x "$PROBE" ]; then
    echo "bench.sh: building vae and gemm_probe in $BUILD" >&2
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >&2 || die "cmake configure failed"
    cmake --build "$BUILD" -j"$NPROC" --target vae gemm_probe >&2 || die "build failed"
fi
[ -x "$VAE" ] || die "$VAE: not an executable"
[ -x "$PROBE" ] || die "$PROBE: not an executable"
if [ "$PRECISION" = bf16 ]; then
    bf16_line=$("$VAE" --version | grep '^bf16:' || true)
    [[ "$bf16_line" == "bf16: available"* ]] || die "--precision bf16: ${bf16_line:-this vae says nothing about bf16 (rebuild it)}"
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RAW="$OUT/raw"
rm -rf "$RAW"
mkdir -p "$RAW"
MANIFEST="$RAW/manifest.tsv"   # kind <TAB> parameter <TAB> run name
: >"$MANIFEST"

# ---------------------------------------------------------------- helpers
now_ns() { date +%s%N; }

# run_timed KIND PARAM NAME CMD...: stdout -> NAME.out, stderr -> NAME.err,
# GNU time -> NAME.time, wall seconds (ns clock) -> NAME.wall
run_timed() {
    local kind=$1 param=$2 name=$3; shift 3
    local t0 t1 rc=0
    t0=$(now_ns)
    /usr/bin/time -v -o "$RAW/$name.time" "$@" >"$RAW/$name.out" 2>"$RAW/$name.err" || rc=$?
    t1=$(now_ns)
    echo "$t0 $t1" | awk '{printf "%.4f\n", ($2 - $1) / 1e9}' >"$RAW/$name.wall"
    if [ "$rc" != 0 ]; then
        echo "bench.sh: '$*' failed (exit $rc); last lines of its stderr:" >&2
        tail -n 15 "$RAW/$name.err" >&2
        exit 1
    fi
    printf '%s\t%s\t%s\n' "$kind" "$param" "$name" >>"$MANIFEST"
}

# jget FILE KEY: a value from the last JSON object line of FILE
jget() {
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip().startswith("{")]
v = json.loads(lines[-1]).get(sys.argv[2]) if lines else None
print("" if v is None else v)
EOF
}

progress() { echo "bench.sh: $*" >&2; }

VAE_OUTS="$RAW/vae-out"
mkdir -p "$VAE_OUTS"
ARCH_ARGS=(); [ -n "$ARCH" ] && ARCH_ARGS=(--arch "$ARCH")
LIMIT_ARGS=(); [ -n "$LIMIT" ] && LIMIT_ARGS=(--limit "$LIMIT")
# PyTorch's twin takes --arch only once it has the other architectures
TORCH_ARCH_ARGS=()
if [ -n "$ARCH" ] && [ "$ARCH" != mlp ]; then
    "$PY" "$TORCH_SCRIPT" --help 2>/dev/null | grep -q -- '--arch' ||
        die "--arch $ARCH: $TORCH_SCRIPT has no --arch option yet"
    TORCH_ARCH_ARGS=(--arch "$ARCH")
fi
vae_train() {   # vae_train KIND PARAM NAME THREADS BATCH [extra...]
    local kind=$1 param=$2 name=$3 th=$4 batch=$5; shift 5
    run_timed "$kind" "$param" "$name" "$VAE" train --data "$DATA" --out "$VAE_OUTS/$name" --epochs 1 \
        --batch "$batch" --threads "$th" --seed "$SEED" --no-images --json "${ARCH_ARGS[@]}" "${LIMIT_ARGS[@]}" "$@"
}
TORCH_EVAL=--eval
# torch_train KIND PARAM NAME THREADS BLAS_THREADS CORE BATCH [extra...]; CORE "default" = unset
torch_train() {
    local kind=$1 param=$2 name=$3 th=$4 bt=$5 core=$6 batch=$7; shift 7
    local envs=()
    [ "$core" != default ] && envs=(OPENBLAS_CORETYPE="$core")
    run_timed "$kind" "$param" "$name" env "${envs[@]}" "$PY" "$TORCH_SCRIPT" --data "$DATA" --epochs 1 \
        --batch "$batch" --threads "$th" --blas-threads "$bt" --seed "$SEED" --json "${TORCH_ARCH_ARGS[@]}" "${LIMIT_ARGS[@]}" "$@"
}

# The kernel sets: vae picks its own (README "BLAS kernels"); the GEMM bound
# is measured with the same one. A user's OPENBLAS_CORETYPE holds for all.
VAE_CORE=$("$VAE" --version | sed -n 's/^kernels: \([A-Za-z0-9_]*\).*/\1/p')
[ -n "$VAE_CORE" ] || die "'$VAE --version' names no kernel set"
CORES="default"
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    CORES="$OPENBLAS_CORETYPE"
    progress "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE is set: both trainers use it"
elif grep -q ' avx512f ' /proc/cpuinfo 2>/dev/null && grep -q ' avx512bw ' /proc/cpuinfo &&
     grep -q ' avx512dq ' /proc/cpuinfo && grep -q ' avx512vl ' /proc/cpuinfo; then
    CORES="default SkylakeX"
fi

# The model's arithmetic, from its layer list: multiply-adds of every linear,
# conv2d and conv_transpose2d layer, times 2 FLOP, times 3 for forward +
# backward (input and weight gradients), as the issue counts it.
"$VAE" layers "${ARCH_ARGS[@]}" --json >"$RAW/layers.json" || die "'$VAE layers --json' failed"
"$PY" - "$RAW/layers.json" >"$RAW/flops.json" <<'EOF'
import json, sys
lay = json.load(open(sys.argv[1]))
macs = 0
for l in lay["layers"]:
    i, o = l["in_shape"], l["out_shape"]
    if l["kind"] == "linear":
        macs += i[0] * o[0]
    elif l["kind"] == "conv2d":
        macs += o[0] * i[0] * l["kernel"] ** 2 * o[1] * o[2]
    elif l["kind"] == "conv_transpose2d":
        macs += i[0] * o[0] * l["kernel"] ** 2 * i[1] * i[2]
print(json.dumps({"forward_flop_per_image": 2 * macs, "train_flop_per_image": 6 * macs}))
EOF

T_START=$(now_ns)

# the machine's sgemm rate (one 1024^3 sgemm on all cores, vae's kernel set):
# what the achieved FLOP/s of both trainers are compared with
square() { run_timed probe_square "$NPROC" "$1" env OPENBLAS_CORETYPE="$VAE_CORE" "$PROBE" --square 1024 --threads "$NPROC" --json; }
square square-start

# ---------------------------------------------------------------- 1. GEMM-only bound
THREAD_SET="1"; [ "$NPROC" -gt 1 ] && THREAD_SET="1 $NPROC"
probe() {   # probe PARAM NAME BATCH THREADS: the bound with vae's kernel set
    run_timed probe "$1" "$2" env OPENBLAS_CORETYPE="$VAE_CORE" "$PROBE" --batch "$3" --threads "$4" --json
}
MLP=1; [ -n "$ARCH" ] && [ "$ARCH" != mlp ] && MLP=0
if [ "$MLP" = 1 ]; then
    progress "gemm_probe (batch 128, 1 and $NPROC threads, $VAE_CORE kernels)"
    for t in $THREAD_SET; do probe "128:$t" "probe-b128-t$t" 128 "$t"; done
    # the same GEMMs as vae's workers issue them: each thread on its share of the batch
    if [ "$NPROC" -gt 1 ]; then
        run_timed probe_split "128:$NPROC" "probe-split-b128-t$NPROC" env OPENBLAS_CORETYPE="$VAE_CORE" \
            "$PROBE" --batch 128 --threads "$NPROC" --split --json
    fi
    if [ "$PRECISION" = bf16 ]; then
        progress "gemm_probe in bf16 (oneDNN)"
        run_timed probe_bf16 "128:1" "probe-bf16-b128-t1" "$PROBE" --batch 128 --threads 1 --precision bf16 --json
        if [ "$NPROC" -gt 1 ]; then
            run_timed probe_bf16 "128:$NPROC:split" "probe-bf16-split-b128-t$NPROC" "$PROBE" --batch 128 \
                --threads "$NPROC" --split --precision bf16 --json
        fi
    fi
fi

# ---------------------------------------------------------------- 2. settings
# Each trainer is measured at its best setting. PyTorch: intra-op threads
# (torch.set_num_threads) x OpenBLAS threads, 1 or all cores each, x kernel
# set; vae: --threads.
progress "choosing settings (vae --threads: $THREAD_SET; PyTorch: threads x BLAS threads x kernels {$CORES})"
best_vae_t=1; best_vae_ips=0
# two trials per setting, best kept: one run disturbed by the shared machine
# must not decide the setting of the whole benchmark
for t in ${FIX_VAE_T:-$THREAD_SET}; do
    for trial in 1 2; do
        vae_train sel_vae "$t" "select-vae-t$t-$trial" "$t" 128
        ips=$(jget "$RAW/select-vae-t$t-$trial.out" train_images_per_sec)
        [ -n "$ips" ] || die "vae train --json printed no train_images_per_sec (see $RAW/select-vae-t$t-$trial.out)"
        if awk -v a="$ips" -v b="$best_vae_ips" 'BEGIN{exit !(a > b)}'; then best_vae_t=$t; best_vae_ips=$ips; fi
    done
done
# vae evaluates on the test set after each epoch if its JSON has test metrics (loss_mu or
# test_loss): then so does PyTorch, so that whole-process wall times compare like with like
sel_json="$RAW/select-vae-t$best_vae_t-1.out"
if [ -n "$(jget "$sel_json" loss_mu)$(jget "$sel_json" test_loss)" ]; then TORCH_EVAL=--eval; else TORCH_EVAL=--no-eval; fi

best_torch="1:1:default"; best_torch_ips=0
SEL_LIMIT=30000; [ "$QUICK" = 1 ] && SEL_LIMIT=15000
[ -n "$LIMIT" ] && [ "$LIMIT" -lt "$SEL_LIMIT" ] && SEL_LIMIT=$LIMIT
TORCH_SET=$(for th in $THREAD_SET; do for bt in $THREAD_SET; do for c in $CORES; do echo "$th:$bt:$c"; done; done; done)
if [ -n "$FIX_TORCH_T" ]; then
    TORCH_SET=$FIX_TORCH_T
    [[ "$TORCH_SET" =~ ^[0-9]+:[0-9]+$ ]] && TORCH_SET="$TORCH_SET:${OPENBLAS_CORETYPE:-default}"
fi
for tbc in $TORCH_SET; do
    IFS=: read -r th bt c <<<"$tbc"
    for trial in 1 2; do
        torch_train sel_torch "$th:$bt:$c" "select-torch-t$th-b$bt-$c-$trial" "$th" "$bt" "$c" 128 --no-eval --limit "$SEL_LIMIT"
        ips=$(jget "$RAW/select-torch-t$th-b$bt-$c-$trial.out" train_images_per_sec)
        if awk -v a="$ips" -v b="$best_torch_ips" 'BEGIN{exit !(a > b)}'; then best_torch="$th:$bt:$c"; best_torch_ips=$ips; fi
    done
done
IFS=: read -r TT TB TC <<<"$best_torch"
progress "chosen: vae --threads $best_vae_t ($VAE_CORE kernels); PyTorch set_num_threads($TT), OPENBLAS_NUM_THREADS=$TB, OPENBLAS_CORETYPE=$TC"

# ---------------------------------------------------------------- 3. A/B pairs
for i in $(seq 1 "$PAIRS"); do
    progress "pair $i/$PAIRS: vae"
    vae_train pair_vae "$i" "pair$i-vae" "$best_vae_t" 128
    if [ "$PRECISION" = bf16 ]; then
        progress "pair $i/$PAIRS: vae --precision bf16"
        vae_train pair_vae_bf16 "$i" "pair$i-vae-bf16" "$best_vae_t" 128 --precision bf16
    fi
    progress "pair $i/$PAIRS: PyTorch"
    torch_train pair_torch "$i" "pair$i-torch" "$TT" "$TB" "$TC" 128 "$TORCH_EVAL"
    if [ "$PRECISION" = bf16 ]; then
        progress "pair $i/$PAIRS: PyTorch autocast bf16"
        torch_train pair_torch_bf16 "$i" "pair$i-torch-bf16" "$TT" "$TB" "$TC" 128 "$TORCH_EVAL" --precision bf16
    fi
    # the bound again beside each pair: on a shared machine it drifts with the load
    if [ "$MLP" = 1 ]; then probe "128:$best_vae_t" "probe-b128-t$best_vae_t-pair$i" 128 "$best_vae_t"; fi
    square "square-pair$i"
done

# ---------------------------------------------------------------- 4. load and sample times
progress "MNIST load time (raw and .gz), vae sample -n 128"
# the same files once raw and once gzip-compressed, whichever form --data holds
GZ="$OUT/mnist-gz"
RAWDIR="$OUT/mnist-raw"
rm -rf "$GZ" "$RAWDIR"
mkdir -p "$GZ" "$RAWDIR"
for s in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ -f "$DATA/$s" ]; then
        cp "$DATA/$s" "$RAWDIR/$s"
        gzip -c "$DATA/$s" >"$GZ/$s.gz"
    elif [ -f "$DATA/$s.gz" ]; then
        gzip -dc "$DATA/$s.gz" >"$RAWDIR/$s"
        cp "$DATA/$s.gz" "$GZ/$s.gz"
    fi
done
for r in $(seq 1 "$REPS"); do
    run_timed load_raw "$r" "load-raw-$r" "$VAE" data --data "$RAWDIR" --json
    run_timed load_gz "$r" "load-gz-$r" "$VAE" data --data "$GZ" --json
done

# the model written by the first pair's vae run
MODEL=$(jget "$RAW/pair1-vae.out" checkpoint)
if [ -z "$MODEL" ] || [ ! -f "$MODEL" ]; then
    MODEL=$(find "$VAE_OUTS/pair1-vae" -maxdepth 1 -type f \
        \( -name '*.safetensors' -o -name '*.vae' -o -name '*.ckpt' -o -name 'model*' -o -name '*.bin' \) | sort | head -n 1)
fi
if [ -n "$MODEL" ] && [ -f "$MODEL" ]; then
    for r in $(seq 1 "$REPS"); do
        run_timed sample "$r" "sample-$r" "$VAE" sample --model "$MODEL" -n 128 -o "$RAW/sample-$r.png"
    done
else
    progress "no model file found in $VAE_OUTS/pair1-vae; skipping the sample timing"
fi

# ---------------------------------------------------------------- 5. batch-size curve
for b in $CURVE; do
    if [ "$b" != 128 ]; then   # batch 128 comes from the pairs
        progress "curve: vae batch $b"
        vae_train curve_vae "$b" "curve-vae-b$b" "$best_vae_t" "$b"
        if [ "$TORCH_CURVE" = 1 ]; then
            progress "curve: PyTorch batch $b"
            torch_train curve_torch "$b" "curve-torch-b$b" "$TT" "$TB" "$TC" "$b" --no-eval
        fi
    fi
    if [ "$MLP" = 1 ]; then probe "$b:$best_vae_t" "probe-b$b-t$best_vae_t" "$b" "$best_vae_t"; fi
done

T_END=$(now_ns)

# ---------------------------------------------------------------- 6. summary
"$PY" - "$RAW" "$OUT" "$PAIRS" "$CURVE" "$T_START" "$T_END" "$VAE" "$DATA" "$VAE_CORE" "${ARCH:-mlp}" <<'EOF'
import json, os, platform, re, statistics, subprocess, sys, time

raw, out, pairs, curve, t_start, t_end, vae_bin, data, vae_core, arch = sys.argv[1:11]
curve = [int(b) for b in curve.split()]
runs = [l.rstrip("\n").split("\t") for l in open(os.path.join(raw, "manifest.tsv")) if l.strip()]

def last_json(name):
    with open(os.path.join(raw, name + ".out")) as f:
        lines = [l for l in f if l.strip().startswith("{")]
    return json.loads(lines[-1]) if lines else {}

def gnu_time(name):
    rss_kb = None
    for l in open(os.path.join(raw, name + ".time")):
        if "Maximum resident set size" in l:
            rss_kb = int(l.rsplit(":", 1)[1])
    return rss_kb

def wall(name):
    return float(open(os.path.join(raw, name + ".wall")).read())

def normalise(j):
    """vae train --json names the test metrics loss/recon/kl/loss_mu and the
    training ones train_*; train_torch.py names them test_* and loss/recon/kl.
    Map both onto train_loss, test_loss, test_loss_mu, train_images."""
    if "train_loss" in j:
        j.setdefault("test_loss", j.get("loss") if "loss_mu" in j else None)
        j.setdefault("test_loss_mu", j.get("loss_mu"))
    else:
        j.setdefault("train_loss", j.get("loss"))
    j.setdefault("train_images", j.get("images"))
    return j

def rec(kind, param, name):
    j = normalise(last_json(name))
    return {"kind": kind, "param": param, "name": name, "json": j,
            "wall_s": wall(name), "peak_rss_mb": gnu_time(name) / 1024.0}

R = [rec(*r) for r in runs]
def of(kind):
    return [r for r in R if r["kind"] == kind]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def summary(rs):
    ips = [r["json"].get("train_images_per_sec") for r in rs]
    return {"train_images_per_sec": med(ips), "train_images_per_sec_all": ips,
            "train_seconds": med([r["json"].get("train_seconds") for r in rs]),
            "wall_seconds": med([r["wall_s"] for r in rs]),
            "wall_seconds_all": [r["wall_s"] for r in rs],
            "peak_rss_mb": med([r["peak_rss_mb"] for r in rs]),
            "train_loss": med([r["json"].get("train_loss") for r in rs]),
            "test_loss": med([r["json"].get("test_loss") for r in rs]),
            "test_loss_mu": med([r["json"].get("test_loss_mu") for r in rs])}

pv, pt = of("pair_vae"), of("pair_torch")
vae_s, torch_s = summary(pv), summary(pt)
pvb, ptb = of("pair_vae_bf16"), of("pair_torch_bf16")
def ratios(a_runs, b_runs):
    return [a["json"]["train_images_per_sec"] / b["json"]["train_images_per_sec"] for a, b in zip(a_runs, b_runs)]
bf16 = None
if pvb:
    bf16 = {"vae": summary(pvb), "torch": summary(ptb) if ptb else None,
            "vae_bf16_over_fp32_per_pair": ratios(pvb, pv),
            "torch_bf16_over_fp32_per_pair": ratios(ptb, pt) if ptb else [],
            "vae_bf16_over_torch_bf16_per_pair": ratios(pvb, ptb) if ptb else [],
            "probe": {r["param"]: r["json"] for r in of("probe_bf16")}}
pair_ratios = [a["json"]["train_images_per_sec"] / b["json"]["train_images_per_sec"] for a, b in zip(pv, pt)]
def best_by_param(kind):
    """each setting's best trial (the shell picks the same way)"""
    out = {}
    for r in of(kind):
        v = r["json"].get("train_images_per_sec")
        if v is not None and (r["param"] not in out or v > out[r["param"]]):
            out[r["param"]] = v
    return out
sel_vae = best_by_param("sel_vae")
sel_torch = best_by_param("sel_torch")
vae_threads = int(max(sel_vae, key=lambda k: sel_vae[k]))
tt, tb, tc = max(sel_torch, key=lambda k: sel_torch[k]).split(":")
# several probe runs of one (batch, threads): keep the median run's numbers
probes = {}
for r in of("probe"):
    probes.setdefault(r["param"], []).append(r["json"])
for k, js in probes.items():
    js.sort(key=lambda j: j["ms_per_step"])
    probes[k] = dict(js[(len(js) - 1) // 2], runs=len(js))
bound = probes.get("128:%d" % vae_threads, {})
flops = json.load(open(os.path.join(raw, "flops.json")))
sq = [r["json"].get("gflops") for r in of("probe_square")]
sgemm_rate = med(sq)
def achieved(ips):
    return ips * flops["train_flop_per_image"] / 1e9 if ips else None
split_probes = {r["param"]: r["json"] for r in of("probe_split")}

def curve_point(kind_v, kind_t, b):
    if b == 128:
        return vae_s["train_images_per_sec"], torch_s["train_images_per_sec"]
    v = [r["json"].get("train_images_per_sec") for r in of(kind_v) if r["param"] == str(b)]
    t = [r["json"].get("train_images_per_sec") for r in of(kind_t) if r["param"] == str(b)]
    return med(v), med(t)
curve_rows = []
for b in curve:
    v, t = curve_point("curve_vae", "curve_torch", b)
    p = probes.get("%d:%d" % (b, vae_threads), {})
    curve_rows.append({"batch": b, "vae_images_per_sec": v, "torch_images_per_sec": t,
                       "gemm_bound_images_per_sec": p.get("images_per_sec"),
                       "vae_pct_of_bound": 100.0 * v / p["images_per_sec"] if v and p else None})

def load_stats(kind):
    rs = of(kind)
    return {"load_seconds": med([r["json"].get("load_seconds") for r in rs]),
            "process_wall_seconds": med([r["wall_s"] for r in rs])}
load_raw, load_gz = load_stats("load_raw"), load_stats("load_gz")
samp = of("sample")
sample_s = {"process_wall_seconds": med([r["wall_s"] for r in samp]),
            "peak_rss_mb": med([r["peak_rss_mb"] for r in samp])} if samp else None

def cpu_model():
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                return l.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
def blas_config():
    # gemm_probe reports it for the MLP; for --arch runs ask vae itself
    if bound.get("openblas_config"):
        return bound["openblas_config"]
    try:
        out = subprocess.run([vae_bin, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return None
    for l in out.splitlines():
        if l.startswith("BLAS: "):
            return l[len("BLAS: "):].strip()
    return None
def git_rev():
    try:
        return subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(vae_bin)), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or None
    except OSError:
        return None

ratio = (vae_s["train_images_per_sec"] / torch_s["train_images_per_sec"]
         if vae_s["train_images_per_sec"] and torch_s["train_images_per_sec"] else None)
res = {
    "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "openblas": blas_config()},
    "arch": arch, "vae_kernels": vae_core, "torch_kernels": tc,
    "git": git_rev(), "vae_binary": vae_bin, "data": data,
    "torch_version": (pt[0]["json"].get("torch_version") if pt else None),
    "pairs": int(pairs), "batch": 128, "epochs": 1,
    "threads": {"vae": vae_threads, "torch_intra_op": int(tt), "torch_blas": int(tb), "torch_coretype": tc,
                "selection_vae": sel_vae, "selection_torch": sel_torch},
    "torch_eval": any(r["json"].get("test_loss") is not None for r in pt),
    "vae_eval": any(r["json"].get("test_loss") is not None for r in pv),
    "vae": vae_s, "torch": torch_s,
    "ratio_train_images_per_sec": ratio, "ratio_per_pair": pair_ratios,
    "ratio_median_of_pairs": med(pair_ratios), "ratio_min": min(pair_ratios) if pair_ratios else None,
    "ratio_max": max(pair_ratios) if pair_ratios else None,
    "gemm_probe": probes, "gemm_probe_split": split_probes,
    "train_flop_per_image": flops["train_flop_per_image"],
    "sgemm_1024_gflops": sgemm_rate, "sgemm_1024_gflops_all": sq,
    "vae_gflops": achieved(vae_s["train_images_per_sec"]), "torch_gflops": achieved(torch_s["train_images_per_sec"]),
    "vae_pct_of_sgemm": (100.0 * achieved(vae_s["train_images_per_sec"]) / sgemm_rate
                         if sgemm_rate and vae_s["train_images_per_sec"] else None),
    "torch_pct_of_sgemm": (100.0 * achieved(torch_s["train_images_per_sec"]) / sgemm_rate
                           if sgemm_rate and torch_s["train_images_per_sec"] else None),
    "vae_pct_of_gemm_bound": (100.0 * vae_s["train_images_per_sec"] / bound["images_per_sec"]
                              if bound and vae_s["train_images_per_sec"] else None),
    "torch_pct_of_gemm_bound": (100.0 * torch_s["train_images_per_sec"] / bound["images_per_sec"]
                                if bound and torch_s["train_images_per_sec"] else None),
    "load_raw": load_raw, "load_gz": load_gz, "torch_load_seconds_raw_or_as_given": med([r["json"].get("load_seconds") for r in pt]),
    "sample_128": sample_s,
    "curve": curve_rows,
    "bf16": bf16,
    "bench_seconds": (int(t_end) - int(t_start)) / 1e9,
}
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(res, f, indent=2)

def fmt(x, spec="{:,.0f}", none="-"):
    return none if x is None else spec.format(x)
L = []
L.append("vae speed benchmark, %s, %s (%d cores), %s, torch %s"
         % (res["date"], res["machine"]["cpu"], res["machine"]["cores"], res["machine"]["openblas"], res["torch_version"]))
L.append("one epoch of %s MNIST images, %s, BCE, batch 128; medians of %d A/B pair(s)"
         % (fmt(pv[0]["json"].get("train_images") if pv else None),
            "784-400-20" if arch == "mlp" else "--arch " + arch, res["pairs"]))
L.append("")
L.append("%-30s %14s %14s %9s" % ("", "vae", "PyTorch", "vae/PT"))
L.append("%-30s %14s %14s" % ("threads", "%d" % vae_threads, "%s (BLAS %s)" % (tt, tb)))
L.append("%-30s %14s %14s" % ("BLAS kernels", vae_core, "OpenBLAS's own" if tc == "default" else tc))
L.append("%-30s %14s %14s %9s" % ("train images/s", fmt(vae_s["train_images_per_sec"]), fmt(torch_s["train_images_per_sec"]),
                                  fmt(ratio, "{:.2f}x")))
L.append("%-30s %14s %14s" % ("achieved GFLOP/s", fmt(res["vae_gflops"], "{:.0f}"), fmt(res["torch_gflops"], "{:.0f}")))
L.append("%-30s %14s %14s" % ("% of the 1024^3 sgemm rate", fmt(res["vae_pct_of_sgemm"], "{:.0f}%"),
                              fmt(res["torch_pct_of_sgemm"], "{:.0f}%")))
L.append("%-30s %14s %14s" % ("train seconds", fmt(vae_s["train_seconds"], "{:.2f}"), fmt(torch_s["train_seconds"], "{:.2f}")))
wr = vae_s["wall_seconds"] / torch_s["wall_seconds"] if vae_s["wall_seconds"] and torch_s["wall_seconds"] else None
L.append("%-30s %14s %14s %9s" % ("process wall s%s" % (" (incl. test eval)" if res["vae_eval"] else ""),
                                  fmt(vae_s["wall_seconds"], "{:.2f}"), fmt(torch_s["wall_seconds"], "{:.2f}"), fmt(wr, "{:.2f}x")))
rr = vae_s["peak_rss_mb"] / torch_s["peak_rss_mb"] if vae_s["peak_rss_mb"] and torch_s["peak_rss_mb"] else None
L.append("%-30s %14s %14s %9s" % ("peak RSS MB", fmt(vae_s["peak_rss_mb"], "{:.1f}"), fmt(torch_s["peak_rss_mb"], "{:.1f}"), fmt(rr, "{:.2f}x")))
L.append("%-30s %14s %14s" % ("train loss (epoch 1)", fmt(vae_s["train_loss"], "{:.2f}"), fmt(torch_s["train_loss"], "{:.2f}")))
if vae_s["test_loss"] is not None or torch_s["test_loss"] is not None:
    L.append("%-30s %14s %14s" % ("test loss (sampled z)", fmt(vae_s["test_loss"], "{:.2f}"), fmt(torch_s["test_loss"], "{:.2f}")))
    L.append("%-30s %14s %14s" % ("test loss (z = mu)", fmt(vae_s["test_loss_mu"], "{:.2f}"), fmt(torch_s["test_loss_mu"], "{:.2f}")))
if bf16:
    vb, tb16 = bf16["vae"], bf16["torch"]
    rv, rt = med(bf16["vae_bf16_over_fp32_per_pair"]), med(bf16["torch_bf16_over_fp32_per_pair"])
    L.append("%-30s %14s %14s %9s" % ("bf16 train images/s", fmt(vb["train_images_per_sec"]),
                                      fmt(tb16["train_images_per_sec"] if tb16 else None),
                                      fmt(med(bf16["vae_bf16_over_torch_bf16_per_pair"]), "{:.2f}x")))
    L.append("%-30s %14s %14s" % ("bf16 / fp32 (median of pairs)", fmt(rv, "{:.2f}x"), fmt(rt, "{:.2f}x")))
    if vb["test_loss"] is not None:
        L.append("%-30s %14s %14s" % ("bf16 test loss (sampled z)", fmt(vb["test_loss"], "{:.2f}"),
                                      fmt(tb16["test_loss"] if tb16 else None, "{:.2f}")))
    L.append("bf16/fp32 per pair  vae: %s;  PyTorch: %s"
             % (", ".join("%.2f" % r for r in bf16["vae_bf16_over_fp32_per_pair"]),
                ", ".join("%.2f" % r for r in bf16["torch_bf16_over_fp32_per_pair"])))
L.append("per pair images/s  vae: %s" % ", ".join(fmt(x) for x in vae_s["train_images_per_sec_all"]))
L.append("                   PyTorch: %s" % ", ".join(fmt(x) for x in torch_s["train_images_per_sec_all"]))
if pair_ratios:
    L.append("per pair vae/PyTorch: %s (median %.2fx, spread %.2f-%.2fx: the machine's noise)"
             % (", ".join("%.2f" % r for r in pair_ratios), med(pair_ratios), min(pair_ratios), max(pair_ratios)))
L.append("setting selection (images/s)  vae --threads: %s;  PyTorch threads:BLAS:kernels: %s"
         % (", ".join("%s=%s" % (k, fmt(v)) for k, v in sel_vae.items()),
            ", ".join("%s=%s" % (k, fmt(v)) for k, v in sel_torch.items())))
L.append("model: %.1f MFLOP per image (forward + backward, 3x the forward multiply-adds x 2); "
         "one 1024^3 sgemm on %d threads (%s kernels): %s GFLOP/s (median of %d: %s)"
         % (flops["train_flop_per_image"] / 1e6, int(os.cpu_count() or 1), vae_core, fmt(sgemm_rate, "{:.0f}"), len(sq),
            ", ".join(fmt(x, "{:.0f}") for x in sq)))
L.append("")
L.append("GEMM-only bound (gemm_probe, the step's 11 cblas_sgemm calls, batch 128, %s kernels):" % vae_core
         if probes else "GEMM-only bound: measured for the MLP only (this run: --arch %s)" % arch)
for k in sorted(probes):
    b, t = k.split(":")
    if b == "128":
        p = probes[k]
        L.append("  %s thread(s): %.2f ms/step -> %s images/s (%.0f GFLOP/s), median of %d run(s)"
                 % (t, p["ms_per_step"], fmt(p["images_per_sec"]), p["gflops"], p["runs"]))
for k, p in sorted(split_probes.items()):
    L.append("  %s threads, batch split across them (as vae's workers run): %.2f ms/step -> %s images/s (%.0f GFLOP/s)"
             % (k.split(":")[1], p["ms_per_step"], fmt(p["images_per_sec"]), p["gflops"]))
if bf16:
    for k, p in sorted(bf16["probe"].items()):
        L.append("  bf16 (oneDNN), %s thread(s)%s: %.2f ms/step -> %s images/s (%.0f GFLOP/s)"
                 % (k.split(":")[1], ", batch split" if k.endswith(":split") else "", p["ms_per_step"],
                    fmt(p["images_per_sec"]), p["gflops"]))
    gps = next(iter(bf16["probe"].values()), {}).get("gflop_per_step")
    if gps and bf16["vae"]["train_images_per_sec"] and arch == "mlp":
        L.append("  vae train: %.0f GFLOP/s of GEMMs in fp32, %.0f in bf16 (images/s x %.4f GFLOP / 128 images)"
                 % (vae_s["train_images_per_sec"] * gps / 128, bf16["vae"]["train_images_per_sec"] * gps / 128, gps))
if probes: L.append("  vae reaches %s of the %d-thread bound; PyTorch %s"
         % (fmt(res["vae_pct_of_gemm_bound"], "{:.0f}%"), vae_threads, fmt(res["torch_pct_of_gemm_bound"], "{:.0f}%")))
L.append("")
L.append("MNIST load (vae data --json, median of %d): raw %s s, .gz %s s (process wall %s / %s s)"
         % (len(of("load_raw")), fmt(load_raw["load_seconds"], "{:.3f}"), fmt(load_gz["load_seconds"], "{:.3f}"),
            fmt(load_raw["process_wall_seconds"], "{:.3f}"), fmt(load_gz["process_wall_seconds"], "{:.3f}")))
if sample_s:
    L.append("vae sample -n 128: %s s process wall, peak RSS %s MB"
             % (fmt(sample_s["process_wall_seconds"], "{:.3f}"), fmt(sample_s["peak_rss_mb"], "{:.1f}")))
if curve_rows:
    L.append("")
    L.append("batch-size curve, training images/s (one run per point; 128 = pair median):")
    L.append("%8s %12s %12s %16s %10s" % ("batch", "vae", "PyTorch", "GEMM bound", "vae/bound"))
    for c in curve_rows:
        L.append("%8d %12s %12s %16s %10s" % (c["batch"], fmt(c["vae_images_per_sec"]), fmt(c["torch_images_per_sec"]),
                                             fmt(c["gemm_bound_images_per_sec"]), fmt(c["vae_pct_of_bound"], "{:.0f}%")))
L.append("")
L.append("benchmark took %.0f s; raw runs in %s; summary in %s" % (res["bench_seconds"], raw, os.path.join(out, "results.json")))
text = "\n".join(L)
print(text)
with open(os.path.join(out, "table.txt"), "w") as f:
    f.write(text + "\n")
EOF

# ---------------------------------------------------------------- 7. eval --iw throughput
# (a separate block, kept apart from the benchmark above; README "Log-likelihood")
# `vae eval --iw 5000` on the first BENCH_IW_IMAGES test images (default 200;
# 0 skips) of a Burda-sized model (784-200-200-50, tanh) trained for one short
# epoch: the weights do not change the work per image. Writes <out>/iw.json.
IW_N=${BENCH_IW_IMAGES:-200}
if [ "$IW_N" != 0 ]; then
    progress "eval --iw 5000 on $IW_N test images"
    "$VAE" train --data "$DATA" --out "$RAW/iw-model" --hidden 200,200 --zdim 50 --activation tanh \
        --binarize dynamic --batch 100 --epochs 1 --limit 6000 --no-images --threads "$NPROC" >/dev/null 2>&1 &&
    "$VAE" eval --model "$RAW/iw-model/model.safetensors" --iw 5000 --limit "$IW_N" --threads "$NPROC" --json \
        >"$OUT/iw.json" 2>"$RAW/iw.err" &&
    echo "vae eval --iw 5000 (784-200-200-50 tanh, $IW_N images, $NPROC threads): $(jget "$OUT/iw.json" iw_images_per_sec) images/s" ||
    progress "the eval --iw block failed (see $RAW/iw.err)"
fi
