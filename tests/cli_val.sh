#!/usr/bin/env bash
# --val N and --early-stop P: N training images (picked from the seed) are
# held out and evaluated each epoch (metrics.csv val_* columns); training
# stops once the validation loss has not improved for P epochs, keeping the
# best model in best.safetensors beside the last. Both are recorded in the
# checkpoint, so a resumed run continues to the same result, and a run that
# stopped early stays stopped.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 120 40 8 8
# a big model on 80 images overfits within a few dozen epochs
ARGS=(--data "$T/d" --val 40 --early-stop 3 --hidden 256 --zdim 8 --batch 16 --lr 0.01 --threads 1 --no-images)
# meta FILE KEY: a value from a checkpoint's __metadata__
meta() { perl -e 'open(my $f, "<:raw", $ARGV[0]) or exit 1; local $/; my $b = <$f>; my $n = unpack("Q<", substr($b, 0, 8));
    my $h = substr($b, 8, $n); print $1 if $h =~ /"\Q$ARGV[1]\E"\s*:\s*"([^"]*)"/' "$1" "$2"; }

expect 0 "stopped early" train "${ARGS[@]}" --epochs 80 --out "$T/a"
M="$T/a/metrics.csv"
col() { awk -F, -v c="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next } { print $k }' "$M"; }
last=$(col epoch | tail -1)
best=$(paste -d, <(col epoch) <(col val_loss) | sort -t, -k2,2g | head -1 | cut -d, -f1)
check "it stopped before the 80 epochs asked for (at $last)" test "$last" -lt 80
check "every epoch has a validation loss" test "$(col val_loss | grep -c '^[0-9]')" -eq "$last"
check "it stopped 3 epochs after the best validation loss (best $best, last $last)" test "$last" -eq $((best + 3))
check "the message names the best epoch" grep -q "the best (epoch $best," "$ERR"
check "best.safetensors is the best epoch's ($(meta "$T/a/best.safetensors" epoch))" test "$(meta "$T/a/best.safetensors" epoch)" = "$best"
check "model.safetensors is the last epoch's" test "$(meta "$T/a/model.safetensors" epoch)" = "$last"
check "the checkpoint records --val and --early-stop" test "$(meta "$T/a/model.safetensors" val),$(meta "$T/a/model.safetensors" early_stop)" = "40,3"
# 120 - 40 = 80 training images in batches of 16: 5 steps an epoch, not 8
check "the held-out images are not trained on: 5 steps an epoch" test "$(col step | head -1)" -eq 5
run_vae eval --model "$T/a/best.safetensors" --json
check "best.safetensors loads and evaluates" grep -q '"loss":' "$OUT"

# interrupted (here: a shorter run) and resumed: the same run
expect 0 "" train "${ARGS[@]}" --epochs 4 --out "$T/b"
expect 0 "stopped early" train --resume "$T/b/model.safetensors" --out "$T/b" --epochs 80 --threads 1 --no-images
check "a resumed run ends like the uninterrupted one (metrics.csv)" \
    cmp -s <(cut -d, -f1-10,13- "$T/a/metrics.csv") <(cut -d, -f1-10,13- "$T/b/metrics.csv")
check "... with the same best epoch" test "$(meta "$T/b/best.safetensors" epoch)" = "$best"
# a run that stopped early stays stopped
rows=$(wc -l < "$M")
expect 0 "already stopped early" train --resume "$T/a/model.safetensors" --out "$T/a" --epochs 90 --threads 1 --no-images
check "resuming a stopped run trains nothing" test "$(wc -l < "$M")" -eq "$rows"

# the split follows the seed: the same seed holds out the same images
expect 0 "" train "${ARGS[@]}" --epochs 1 --early-stop 0 --out "$T/c1"
expect 0 "" train "${ARGS[@]}" --epochs 1 --early-stop 0 --out "$T/c2"
check "the same seed gives the same validation loss" cmp -s <(cut -d, -f13- "$T/c1/metrics.csv") <(cut -d, -f13- "$T/c2/metrics.csv")
expect 0 "" train "${ARGS[@]}" --epochs 1 --early-stop 0 --seed 2 --out "$T/c3"
check "another seed holds out other images" sh -c '! cmp -s "$0" "$1"' <(cut -d, -f13 "$T/c1/metrics.csv") <(cut -d, -f13 "$T/c3/metrics.csv")
# without --val the columns are there and empty
expect 0 "" train --data "$T/d" --hidden 8 --zdim 2 --epochs 1 --threads 1 --no-images --out "$T/n"
check "without --val the val_* columns are empty" test "$(tail -1 "$T/n/metrics.csv" | cut -d, -f13-17)" = ",,,,"

# refused
usage_err "--early-stop: needs a validation split" train --data "$T/d" --early-stop 2 --out "$WORK/x"
expect 1 "--val 120 leaves no training images" train --data "$T/d" --val 120 --out "$WORK/x" --no-images
usage_err "--val: conflicts with the checkpoint" train --resume "$T/a/model.safetensors" --out "$T/a" --val 10
usage_err "--early-stop: conflicts with the checkpoint" train --resume "$T/a/model.safetensors" --out "$T/a" --early-stop 9
finish
