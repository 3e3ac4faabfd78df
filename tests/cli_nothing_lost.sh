# Nothing lost: a trained model is never overwritten by accident, and no input
# of a command is ever replaced by its output. Each block is one case of
# issue 9 and the family it belongs to.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 200 50 8 8
TINY=(--hidden 16 --zdim 2 --batch 32 --threads 1 --no-images)

# ---- a model whose checkpoint could not be loaded again is refused before the first step ----
# 8x8 images, hidden 11000,11000: 243 M parameters, a 2.9 GB checkpoint (the loader reads 2 GiB)
expect 1 "more than the 2147483648-byte limit" train --data "$T/d" --out "$WORK/big" --hidden 11000,11000 --epochs 1 --no-images
check "nothing was created for the refused model" test ! -e "$WORK/big"

# ---- a data path of any length is recorded whole, never cut short ----
LONG="$T/$(printf 'a%.0s' $(seq 200))/$(printf 'b%.0s' $(seq 200))"
mkdir -p "$LONG"
cp "$T/d"/* "$LONG"/
run_vae train --data "$LONG" --out "$T/long" "${TINY[@]}" --epochs 1
check "training on a ${#LONG}-character data path succeeds (exit $RC)" test "$RC" -eq 0
expect 0 "" eval --model "$T/long/model.safetensors" --json
check "eval finds the data folder the checkpoint names" grep -qF "\"data\":\"$LONG\"" "$OUT"
expect 2 "--data: is 5000 bytes long" train --data "$(printf 'x%.0s' $(seq 5000))" --out "$WORK/x"

# ---- no fixed-size buffer depends on a value from a file ----
# a valid checkpoint written elsewhere (NumPy, PyTorch) may have any zdim the
# loader accepts; manifold used a fixed float[4096] for the traversed mean
Z5000="${VAE_SOURCE_DIR:-.}/tests/fuzz/corpus/checkpoint/valid-weights-zdim5000"
if [ ! -f "$Z5000" ]; then
    bad "the zdim-5000 corpus checkpoint is missing ($Z5000)"
else
    make_data "$T/d2" 12 6 2 2
    # every dimension's KL is computed; two rows asked for, the first and the last dimension
    expect 0 "" manifold --model "$Z5000" --data "$T/d2" --steps 2 --index 5 --dims 0,4999 -o "$WORK/m5000.png"
    m5000=$(png_size "$WORK/m5000.png")
    check "manifold of a zdim-5000 model: 2 labelled rows of 2 tiles ($m5000)" test "${m5000#*x}" = 10 -a "${m5000%x*}" -gt 10
    expect 0 "" latent --model "$Z5000" --data "$T/d2" -o "$WORK/l5000.csv"
    check "latent of a zdim-5000 model: 5002 columns" test "$(head -1 "$WORK/l5000.csv" | tr ',' '\n' | wc -l)" -eq 5002
    expect 0 "" interpolate --model "$Z5000" --data "$T/d2" --steps 3 -o "$WORK/i5000.png"
    rm -f "$WORK"/*5000*
fi

finish
