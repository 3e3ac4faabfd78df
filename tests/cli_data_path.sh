#!/usr/bin/env bash
# A checkpoint records its data folder as an absolute path (resolved at train
# time), so eval, latent and --resume work from any folder; --data overrides
# it; a folder given through a symbolic link is recorded resolved.
. "$(dirname "$0")/cli_lib.sh"

mkdir -p "$WORK/data" "$T/elsewhere"
make_data "$WORK/data/tiny" 64 20 6 6
ln -s "$WORK/data/tiny" "$WORK/data/link"
abs=$(cd "$WORK/data/tiny" && pwd -P)

expect 0 "" train --data data/tiny --out run --epochs 1 --batch 16 --zdim 2 --hidden 8 --no-images --threads 1
check "the run was written" test -s "$WORK/run/model.safetensors"
# from another folder, the relative path the run was trained with would not resolve
(cd "$T/elsewhere" && "$VAE" eval --model "$WORK/run/model.safetensors" --json --threads 1) >"$OUT" 2>"$ERR"
check "eval from another folder finds the data (exit 0)" test $? -eq 0
check "eval reports the absolute data folder" grep -qF "\"data\":\"$abs\"" "$OUT"
(cd "$T/elsewhere" && "$VAE" latent --model "$WORK/run/model.safetensors" -o lat.csv --threads 1) 2>"$ERR"
check "latent from another folder: one row per test image" test "$(wc -l <"$T/elsewhere/lat.csv")" -eq 21
# --data still overrides: a copy of the data somewhere else
cp -r "$WORK/data/tiny" "$T/copy"
(cd "$T/elsewhere" && "$VAE" eval --model "$WORK/run/model.safetensors" --data "$T/copy" --json --threads 1) >"$OUT" 2>"$ERR"
check "--data overrides the checkpoint's folder" grep -qF "\"data\":\"$T/copy\"" "$OUT"
# --resume from another folder continues with the recorded data
(cd "$T/elsewhere" && "$VAE" train --resume "$WORK/run/model.safetensors" --out "$WORK/run" --epochs 2 --no-images --threads 1) >"$OUT" 2>"$ERR"
check "resume from another folder (exit 0)" test $? -eq 0
check "resume trained the second epoch" grep -q "^epoch 2/2" "$ERR"
# a symbolic link is recorded resolved
expect 0 "" train --data data/link --out run2 --epochs 1 --batch 16 --zdim 2 --hidden 8 --no-images --threads 1
(cd "$T/elsewhere" && "$VAE" eval --model "$WORK/run2/model.safetensors" --json --threads 1) >"$OUT" 2>"$ERR"
check "a linked folder is recorded as its real path" grep -qF "\"data\":\"$abs\"" "$OUT"
finish
