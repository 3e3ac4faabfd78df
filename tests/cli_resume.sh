# Resume is exact: at --threads 1, a run stopped at an epoch boundary, or by
# SIGINT/SIGTERM in the middle of an epoch, and continued with --resume ends
# with the same checkpoint (parameters, Adam moments, RNG, every byte) and the
# same metrics.csv rows (timings aside) as the run that was never interrupted.
. "$(dirname "$0")/cli_lib.sh"

# epochs of 8,000 small steps: about half a second of an optimised build, so
# a signal lands mid-epoch, and a small model, so the sanitizer build (whose
# Adam and element-wise loops run ~10x slower) is not most of CI's time
make_data "$T/d" 16000 100 14 14
ARGS=(--data "$T/d" --hidden 32 --zdim 2 --batch 2 --seed 7 --threads 1 --no-images)
metrics() { cut -d, -f1-10 "$1"; }   # drop the timing columns
# the checkpoint's JSON header
header() { perl -e 'open(my $f, "<:raw", $ARGV[0]) or die; read($f, my $b, 8); read($f, my $h, unpack("Q<", $b)); print $h' "$1"; }
meta() { header "$1" | grep -o "\"$2\":\"[^\"]*\"" | cut -d'"' -f4; }

# the reference: 3 epochs in one go
run_vae train "${ARGS[@]}" --out "$T/ref" --epochs 3
check "the uninterrupted run succeeds (exit $RC)" test "$RC" -eq 0
check "it has 3 metrics rows" test "$(metrics "$T/ref/metrics.csv" | grep -c '^[0-9]')" -eq 3

# 1. stopped at an epoch boundary (--epochs 1, then --resume up to 3)
run_vae train "${ARGS[@]}" --out "$T/b" --epochs 1
check "boundary: first part succeeds" test "$RC" -eq 0
run_vae train --resume "$T/b/model.safetensors" --out "$T/b" --epochs 3 --threads 1 --no-images
check "boundary: resumed part succeeds (exit $RC)" test "$RC" -eq 0
check "boundary: final checkpoint is byte-identical to the uninterrupted run's" cmp "$T/b/model.safetensors" "$T/ref/model.safetensors"
check "boundary: metrics.csv rows match" test "$(metrics "$T/b/metrics.csv")" = "$(metrics "$T/ref/metrics.csv")"

# 2. SIGINT / SIGTERM mid-epoch, then --resume (twice over for good measure)
interrupt() {   # interrupt SIGNAL EXPECTED_RC DIR FRACTION
    local sig=$1 want=$2 dir=$3 frac=$4
    local t0
    t0=$(date +%s%N)
    (cd "$WORK" && exec "$VAE" train "${ARGS[@]}" --out "$dir" --epochs 3) 2>"$T/int.err" &
    local pid=$!
    # wait for the first epoch's checkpoint, then FRACTION of the time that
    # took into the next epoch: a fixed delay outran both remaining epochs
    # once they took 0.17 s each (optimised build, quiet machine)
    for _ in $(seq 1 300); do
        [ -s "$dir/metrics.csv" ] && break
        sleep 0.02
    done
    sleep "$(awk -v ns=$(($(date +%s%N) - t0)) -v f="$frac" 'BEGIN { printf "%.3f", ns * 1e-9 * f }')"
    kill -s "$sig" "$pid"
    wait "$pid"
    local rc=$?
    check "$sig: exit $want (got $rc)" test "$rc" -eq "$want"
    check "$sig: says where the checkpoint is" grep -qF "checkpoint saved to $dir/model.safetensors" "$T/int.err"
    check "$sig: says how to resume" grep -qF "resume with: vae train --resume $dir/model.safetensors" "$T/int.err"
    [ "$rc" -eq "$want" ] || sed 's/^/    stderr: /' "$T/int.err" | tail -3
    expect 0 "" eval --model "$dir/model.safetensors"
}
for case in "INT 130 0.3" "TERM 143 0.5" "INT 130 0.05"; do
    set -- $case
    dir="$T/sig-$1-$3"
    interrupt "$1" "$2" "$dir" "$3"
    # where it stopped: mid-epoch checkpoints carry the epoch's data order
    if header "$dir/model.safetensors" | grep -q '"train.order"'; then
        mid=1
        check "$1: a mid-epoch checkpoint records the steps done in the epoch" test "$(meta "$dir/model.safetensors" epoch_step)" -gt 0
    else
        mid=0
        echo "note: the SIG$1 landed at an epoch boundary this time"
    fi
    run_vae train --resume "$dir/model.safetensors" --out "$dir" --threads 1 --no-images
    check "$1 (mid-epoch=$mid): resume succeeds (exit $RC)" test "$RC" -eq 0
    check "$1 (mid-epoch=$mid): final checkpoint is byte-identical to the uninterrupted run's" cmp "$dir/model.safetensors" "$T/ref/model.safetensors"
    check "$1 (mid-epoch=$mid): metrics.csv rows match" test "$(metrics "$dir/metrics.csv")" = "$(metrics "$T/ref/metrics.csv")"
done

# 3. resuming a mid-epoch checkpoint on a data set of another size is refused
dir="$T/sig-INT-0.3"
cp "$T/ref/model.safetensors" "$T/finished.safetensors"
interrupt INT 130 "$T/again" 0.3
if header "$T/again/model.safetensors" | grep -q '"train.order"'; then
    make_data "$T/d2" 2000 100 14 14
    expect 1 "data order covers 16000 images but this run has 2000" train --resume "$T/again/model.safetensors" --out "$WORK/x" --data "$T/d2" --new-data --threads 1 --no-images
fi

finish
