#!/usr/bin/env bash
# Resume is exact for the convolutional models too (tests/cli_resume.sh covers
# the mlp): a conditional conv, a resnet on two threads, an eae (one buffer,
# its batch norm's running statistics in the checkpoint) and a bf16 conv run,
# each stopped by SIGINT in the middle of its second epoch and continued with
# --resume, end with the same checkpoint, byte for byte, and the same
# metrics.csv rows as the run that was never interrupted (same seed, same
# thread count, same code path).
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 4000 40 8 8
# the eae's steps are the fastest (one buffer, no workers): more of them
make_data "$T/d6" 6000 40 8 8
metrics() { cut -d, -f1-10 "$1"; }   # drop the timing columns
header() { perl -e 'open(my $f, "<:raw", $ARGV[0]) or die; read($f, my $b, 8); read($f, my $h, unpack("Q<", $b)); print $h' "$1"; }

BF16=0
"$VAE" --version | grep -q '^bf16: available' && BF16=1

# case NAME THREADS ARGS...
resume_case() {
    local name=$1 threads=$2
    shift 2
    local args=(--data "$T/d" --zdim 2 --hidden 8 --batch 2 --seed 5 --threads "$threads" --no-images "$@")
    local ref="$T/$name-ref" dir="$T/$name-int"
    run_vae train "${args[@]}" --out "$ref" --epochs 2
    check "$name: the uninterrupted run succeeds (exit $RC)" test "$RC" -eq 0
    # the signal lands about half an epoch after the first epoch's row is
    # written, whatever the build's speed: half the reference's second epoch
    # (train_seconds, column 12 of metrics.csv; the first has the warm-up)
    local delay
    delay=$(awk -F, 'NR == 3 { printf "%.3f", $12 / 2 }' "$ref/metrics.csv")
    (cd "$WORK" && exec "$VAE" train "${args[@]}" --out "$dir" --epochs 2) 2>"$T/$name.err" &
    local pid=$!
    for _ in $(seq 1 1000); do
        [ -s "$dir/metrics.csv" ] && break
        sleep 0.01
    done
    sleep "$delay"
    kill -s INT "$pid" 2>/dev/null
    wait "$pid"
    local rc=$?
    check "$name: SIGINT stops the run with exit 130, or it had finished (got $rc)" test "$rc" -eq 130 -o "$rc" -eq 0
    [ "$rc" -eq 130 ] || [ "$rc" -eq 0 ] || sed 's/^/    stderr: /' "$T/$name.err" | tail -5
    if header "$dir/model.safetensors" | grep -q '"train.order"'; then
        check "$name: the checkpoint is inside epoch 2" grep -qF "after epoch 1" "$T/$name.err"
    else
        echo "note: $name: the signal did not land inside an epoch this time (exit $rc)"
    fi
    run_vae train --resume "$dir/model.safetensors" --threads "$threads" --no-images
    check "$name: the resumed run succeeds (exit $RC)" test "$RC" -eq 0
    check "$name: final checkpoint is byte-identical to the uninterrupted run's" \
        cmp "$dir/model.safetensors" "$ref/model.safetensors"
    check "$name: metrics.csv rows match" test "$(metrics "$dir/metrics.csv")" = "$(metrics "$ref/metrics.csv")"
}

resume_case cond-conv 1 --arch conv --channels 2,3 --conditional
resume_case resnet 2 --arch resnet --channels 2,3
resume_case eae-conv 1 --arch conv --channels 2 --model eae --loss mse --knn 1 --data "$T/d6"
if [ "$BF16" = 1 ]; then
    resume_case bf16-conv 1 --arch conv --channels 2,3 --precision bf16
else
    skip_part "bf16 is not available here ($("$VAE" --version | grep '^bf16:'))"
fi

finish
