#!/usr/bin/env bash
# A sweep reuses a finished run only when every setting that shapes it matches
# the command, read from the run's checkpoint: a trial with --limit is not
# taken for the real thing. Otherwise the sweep lists the differences and
# stops (exit 1, nothing trained), unless --retrain, which keeps the old
# folders aside. A matching unfinished run is continued. results.csv and
# report.md state each run's real settings, mark runs whose settings differ
# and runs of 3 epochs or fewer. -j x --threads beyond the cores is refused
# unless --oversubscribe.
. "$(dirname "$0")/cli_lib.sh"
SRC=${VAE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
SWEEP="$SRC/scripts/sweep-zdim.sh"
[ -x /usr/bin/python3 ] || { echo "/usr/bin/python3 is needed by the sweep scripts; skipping"; exit 77; }

make_data "$T/d" 240 60 8 8
S="$T/s"
sweep() { bash "$SWEEP" --bin "$VAE" --data "$T/d" --out "$S" --no-views --threads 1 "$@" >"$T/out" 2>"$T/err"; }
col() { # col RUN COLUMN: a value from results.csv
    /usr/bin/python3 -c 'import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    if r["run"] == sys.argv[2]: print(r[sys.argv[3]])' "$S/results.csv" "$1" "$2"
}

# a quick trial: 1 epoch on the first 100 images
sweep --epochs 1 --limit 100
check "the trial sweep succeeds (exit $?)" test -f "$S/z20/model.safetensors"
check "results.csv: the trial's limit, from the checkpoint" test "$(col z2 limit)" = 100
check "report.md marks a 1-epoch sweep as not a result" grep -q "Not a result" "$S/report.md"
check "the sweep warns about a 1-epoch sweep" grep -q "barely begun to learn" "$T/err"
snap=$(snapshot "$S"/z*)

# the same without --limit: the trial must not pass for the real thing
sweep --epochs 1
check "without --limit the sweep stops (exit 1)" test "$?" -eq 1
check "it names each run and the difference" test "$(grep -c 'limit: the run has 100, asked for all' "$T/err")" -eq 4
check "it says how to go on" grep -q -- "--retrain" "$T/err"
check "nothing was trained or rewritten" test "$(snapshot "$S"/z*)" = "$snap"
# another setting that shapes a run: the learning rate
sweep --epochs 1 --limit 100 --lr 0.01
check "another --lr stops the sweep too (exit 1)" test "$?" -eq 1
check "it names the learning rate" grep -q "lr: the run has 0.001, asked for 0.01" "$T/err"

# --report-only does not train: it reports the real settings and marks the difference
sweep --epochs 1 --report-only
check "--report-only on a mismatched folder writes the report (exit $?)" grep -q "settings differ" "$S/report.md"
check "results.csv keeps the limit the runs had (100), not the command's" test "$(col z5 limit)" = 100
check "results.csv says what differs" grep -q "limit: the run has 100" "$S/results.csv"

# a matching sweep with more epochs continues the runs it finds
sweep --epochs 2 --limit 100
check "more epochs with the same settings continue the runs (exit $?)" test "$(col z2 epochs_done)" = 2
check "... from their checkpoints (metrics.csv keeps epoch 1)" test "$(awk -F, '$1 == 1' "$S/z2/metrics.csv" | wc -l)" -eq 1

# --retrain trains the mismatched runs anew and keeps the old ones
sweep --epochs 1 --retrain
check "--retrain succeeds (exit $?)" test "$(col z2 limit)" = all
check "the retrained runs have 1 epoch on all images" test "$(col z10 epochs_done)" = 1
check "the old folders are kept aside" test "$(ls -d "$S"/z*.replaced-* | wc -l)" -eq 4
check "no mismatch is reported any more" sh -c '! grep -q "settings differ" "$0"' "$S/report.md"

# threads: -j x --threads may not exceed the cores unless asked
cores=$(nproc)
bash "$SWEEP" --bin "$VAE" --data "$T/d" --out "$T/o" -j 1 --threads $((cores + 1)) --list-only >/dev/null 2>"$T/err"
check "more threads than cores is refused (exit 2)" test $? -eq 2
check "the refusal names --oversubscribe" grep -q -- "--oversubscribe" "$T/err"
bash "$SWEEP" --bin "$VAE" --data "$T/d" --out "$T/o" -j $((cores + 1)) --list-only >/dev/null 2>"$T/err"
check "more jobs than cores is refused (exit 2)" test $? -eq 2
bash "$SWEEP" --bin "$VAE" --data "$T/d" --out "$T/o" -j 1 --threads $((cores + 1)) --oversubscribe --list-only >/dev/null 2>"$T/err"
check "--oversubscribe allows it" test $? -eq 0
check "... and the runs get the threads asked for" test "$(grep -c -- "--threads $((cores + 1)) " "$T/o/runs.txt")" -eq 4
finish
