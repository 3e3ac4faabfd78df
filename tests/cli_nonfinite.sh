# A diverging run (--lr 10) stops with exit 1 and a message naming the epoch,
# the step and the term that went non-finite, and a command to go on with a
# lower learning rate that works (--resume may change --lr); the checkpoint of
# the last good epoch stays as it was, and metrics.csv holds no row for the
# bad epoch.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 200 50 8 8
# one step per epoch, so the first epochs finish before the blow-up
ARGS=(--data "$T/d" --hidden 16 --zdim 2 --batch 200 --threads 1 --no-images --lr 10 --seed 1)
R="$T/run"
expect 1 "lower learning rate" train "${ARGS[@]}" --out "$R" --epochs 100
check "the message names epoch, step and term" grep -qE "epoch [0-9]+, step [0-9]+: the (test-set )?(reconstruction|KL|gradient) term is not finite" "$ERR"
check "the message says the last checkpoint is kept" grep -qF "the last checkpoint is kept" "$ERR"
bad_epoch=$(grep -oE "epoch [0-9]+, step" "$ERR" | grep -oE "[0-9]+")
good=$((bad_epoch - 1))
echo "note: diverged in epoch $bad_epoch"
if [ "$good" -ge 1 ]; then
    # the checkpoint is the last good epoch's, identical in its data to a run that stopped there
    check "metrics.csv ends at the last good epoch" test "$(tail -n 1 "$R/metrics.csv" | cut -d, -f1)" -eq "$good"
    check "metrics.csv has no non-finite values" test -z "$(grep -iE 'nan|inf' "$R/metrics.csv")"
    expect 0 "" eval --model "$R/model.safetensors" --json
    check "the kept checkpoint evaluates to a finite loss" grep -qE '"loss":[-0-9.e+]+,' "$OUT"
    run_vae train "${ARGS[@]}" --out "$T/good" --epochs "$good"
    check "a run of $good epochs succeeds" test "$RC" -eq 0
    data_section() { perl -e 'open(my $f, "<:raw", $ARGV[0]) or die; local $/; my $a = <$f>; print substr($a, 8 + unpack("Q<", substr($a, 0, 8)))' "$1"; }
    check "the kept checkpoint's tensors equal those of a run stopped at epoch $good" \
        cmp -s <(data_section "$R/model.safetensors") <(data_section "$T/good/model.safetensors")
    # resuming the kept checkpoint fails the same way again rather than training on garbage
    expect 1 "epoch $bad_epoch, step" train --resume "$R/model.safetensors" --out "$R" --threads 1 --no-images
    # the advice is a command that works: follow it (a tenth of the rate each
    # time) until the run gets through; it must never be refused as a conflict
    for try in 1 2 3 4 5; do
        advice=$(grep -oE "vae train --resume [^ ]+ --lr [0-9.e+-]+" "$ERR" | head -1)
        check "try $try: the message gives a command ($advice)" test -n "$advice"
        [ -n "$advice" ] || break
        set -- ${advice#vae }
        run_vae "$@" --threads 1 --no-images --epochs $((bad_epoch + 1))
        check "try $try: the advised command is not refused as a usage error (exit $RC)" test "$RC" -ne 2
        [ "$RC" -eq 0 ] && break
    done
    check "following the advice, the run trained past epoch $bad_epoch (exit $RC)" test "$RC" -eq 0
else
    # diverged in epoch 1: nothing good to keep, so nothing is written
    check "no checkpoint when epoch 1 already diverged" test ! -e "$R/model.safetensors"
    check "the message says to start again with a lower --lr" grep -qF "start again with a lower learning rate, e.g. --lr 1" "$ERR"
fi
# a stable learning rate on the same data trains fine (control)
expect 0 "" train --data "$T/d" --hidden 16 --zdim 2 --batch 200 --threads 1 --no-images --lr 0.001 --out "$T/ok" --epochs 3

finish
