# Output errors: a missing folder, a folder in the way, a full disk (/dev/full)
# give exit 1 with a message naming the path and leave no partial file under
# the requested name; existing non-regular targets (a pipe, /dev/stdout as a
# pipe) are written in place and stay what they were.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 200 50 8 8
run_vae train --data "$T/d" --out "$T/m" --hidden 16 --zdim 2 --batch 32 --epochs 1 --threads 1 --no-images
check "a tiny training run succeeds (exit $RC)" test "$RC" -eq 0
MODEL="$T/m/model.safetensors"
is_png() { [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' ')" = 89504e47 ]; }

# ---- PNG outputs (sample, reconstruct) ----
for c in "sample" "reconstruct --data $T/d"; do
    set -- $c
    expect 1 "vae: $WORK/no/such/dir/x.png: No such file or directory" "$@" --model "$MODEL" -o "$WORK/no/such/dir/x.png"
    mkdir -p "$WORK/adir"
    expect 1 "vae: $WORK/adir: is a directory" "$@" --model "$MODEL" -o "$WORK/adir"
    : >"$WORK/afile"
    expect 1 "vae: $WORK/afile/x.png: Not a directory" "$@" --model "$MODEL" -o "$WORK/afile/x.png"
    rm -rf "$WORK/adir" "$WORK/afile"
    # a full device: written in place, and the write error is reported
    expect 1 "vae: /dev/full: No space left on device" "$@" --model "$MODEL" -o /dev/full
    check "/dev/full is still a character device" test -c /dev/full
    # a good run replaces an existing file atomically and leaves no temp files
    echo old >"$WORK/out.png"
    expect 0 "" "$@" --model "$MODEL" -o "$WORK/out.png"
    check "$1 -o FILE writes a PNG" is_png "$WORK/out.png"
    check "$1 leaves no temp files" test "$(ls "$WORK" | wc -l)" -eq 1
    rm -f "$WORK/out.png"
    # a pipe: written directly (a rename over it would replace the pipe)
    mkfifo "$WORK/fifo"
    cat "$WORK/fifo" >"$T/from-fifo.png" &
    reader=$!
    expect 0 "" "$@" --model "$MODEL" -o "$WORK/fifo"
    wait "$reader"
    check "$1 -o FIFO: the fifo is still a fifo" test -p "$WORK/fifo"
    check "$1 -o FIFO: the reader got a PNG" is_png "$T/from-fifo.png"
    rm -f "$WORK/fifo" "$T/from-fifo.png"
    # /dev/stdout when stdout is a pipe
    (cd "$WORK" && "$VAE" "$@" --model "$MODEL" -o /dev/stdout | cat >"$T/piped.png")
    check "$1 -o /dev/stdout | cat: a PNG comes through the pipe" is_png "$T/piped.png"
    check "/dev/stdout is not a regular file (nothing renamed over it)" test ! -f /dev/stdout -o -L /dev/stdout
    rm -f "$T/piped.png"
done

# the visualisation commands, listed here rather than scraped from --help: a
# command that disappears fails the test instead of silently dropping its cases
VIEWS=(latent scatter manifold interpolate)
run_vae --help
for cmd in "${VIEWS[@]}"; do
    check "vae --help lists $cmd" grep -qE "^  $cmd " "$OUT"
done
for cmd in "${VIEWS[@]}"; do
    expect 1 "vae: $WORK/no/such/dir/x.png: No such file or directory" "$cmd" --model "$MODEL" --data "$T/d" -o "$WORK/no/such/dir/x.png"
    expect 1 "vae: /dev/full: No space left on device" "$cmd" --model "$MODEL" --data "$T/d" -o /dev/full
    mkdir -p "$WORK/adir"
    expect 1 "vae: $WORK/adir: is a directory" "$cmd" --model "$MODEL" --data "$T/d" -o "$WORK/adir"
    rmdir "$WORK/adir"
done

# ---- reports on stdout: a full device or closed pipe is an error, not a silent loss ----
expect 0 "" eval --model "$MODEL" --data "$T/d"
run_full() { (cd "$WORK" && "$VAE" "$@") >/dev/full 2>"$ERR"; RC=$?; }
run_full data --data "$T/d"
check "vae data >/dev/full exits 1 (got $RC)" test "$RC" -eq 1
check "and says stdout: No space left" grep -qF "stdout: No space left on device" "$ERR"
run_full eval --model "$MODEL" --data "$T/d" --json
check "vae eval --json >/dev/full exits 1 (got $RC)" test "$RC" -eq 1
check "and says stdout: No space left" grep -qF "stdout: No space left on device" "$ERR"
run_full reconstruct --model "$MODEL" --data "$T/d" -o "$T/r.png"
check "vae reconstruct >/dev/full exits 1 (got $RC)" test "$RC" -eq 1
rm -f "$T/r.png"

# ---- the training run folder ----
: >"$WORK/plain"
expect 1 "vae: $WORK/plain: " train --data "$T/d" --out "$WORK/plain" --epochs 1 --no-images
expect 1 "vae: $WORK/plain" train --data "$T/d" --out "$WORK/plain/run" --epochs 1 --no-images
rm -f "$WORK/plain"
# a full disk under metrics.csv or the checkpoint: exit 1 naming the file; the
# checkpoint of the last finished epoch survives
R="$T/run"
run_vae train --data "$T/d" --out "$R" --hidden 16 --zdim 2 --batch 32 --epochs 1 --threads 1 --no-images
check "first epoch trained" test "$RC" -eq 0
cp "$R/model.safetensors" "$T/epoch1.safetensors"
cp "$R/metrics.csv" "$T/epoch1.csv"
rm "$R/metrics.csv"
ln -s /dev/full "$R/metrics.csv"
expect 1 "vae: $R/metrics.csv: No space left on device" train --resume "$R/model.safetensors" --out "$R" --epochs 2 --no-images
check "the epoch-1 checkpoint is unchanged after a failed metrics write" cmp -s "$R/model.safetensors" "$T/epoch1.safetensors"
check "/dev/full is still a character device" test -c /dev/full
rm "$R/metrics.csv"
cp "$T/epoch1.csv" "$R/metrics.csv"
mv "$R/model.safetensors" "$T/ck"
ln -s /dev/full "$R/model.safetensors"
expect 1 "vae: $R/model.safetensors: No space left on device" train --resume "$T/ck" --out "$R" --epochs 2 --no-images
rm "$R/model.safetensors"
# the checkpoint's name taken by a folder: refused when saving, resume file intact
mkdir "$R/model.safetensors"
expect 1 "vae: $R/model.safetensors: is a directory" train --resume "$T/ck" --out "$R" --epochs 2 --no-images
check "the resumed-from checkpoint is unchanged" cmp -s "$T/ck" "$T/epoch1.safetensors"
rmdir "$R/model.safetensors"
check "no temp files left in the run folder" test -z "$(ls "$R" | grep -v -e '^metrics.csv$' -e '^model.safetensors$' -e '^config.ini$')"

finish
