#!/usr/bin/env bash
# Every command on every architecture: trains one epoch of each --arch (mlp,
# conv, resnet) at zdim 1, 2 and 3 on tiny non-square (12x16) blob data, then
# runs sample, reconstruct, eval, latent, scatter, manifold (zdim 1: a strip;
# zdim 2: the grid; zdim 3: traversals), interpolate and --resume on each, and
# checks picture sizes, row counts, that eval reproduces the test loss the
# training run printed, and that the sweeps pass --arch through.
. "$(dirname "$0")/cli_lib.sh"
SRC=${VAE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}

ROWS=12 COLS=16 NTEST=100
make_data "$T/data" 256 "$NTEST" "$ROWS" "$COLS"

# grid_size N_TILES NCOLS: "WxH" of a grid of ROWSxCOLS tiles with a 2-px border
grid_size() {
    local n=$1 nc=$2
    local nr=$(((n + nc - 1) / nc))
    echo "$((nc * (COLS + 2) + 2))x$((nr * (ROWS + 2) + 2))"
}
# pairs_size N NCOLS: "WxH" of N images above their N reconstructions, NCOLS a row
pairs_size() {
    local n=$1 nc=$2
    echo "$((nc * (COLS + 2) + 2))x$((2 * ((n + nc - 1) / nc) * (ROWS + 2) + 2))"
}

ARCHES="mlp conv resnet"
arch_args() {
    case "$1" in
    mlp) echo "--hidden 24" ;;
    *) echo "--arch $1 --channels 4,6 --hidden 24" ;;
    esac
}

for arch in $ARCHES; do
    for z in 1 2 3; do
        name="$arch-z$z" dir="$T/$arch-z$z" m="$T/$arch-z$z/model.safetensors"
        # shellcheck disable=SC2046
        expect 0 "" train --data "$T/data" --out "$dir" --epochs 1 --zdim "$z" --batch 32 --threads 1 --no-images \
            $(arch_args "$arch")
        [ "$RC" -eq 0 ] || continue
        # eval reproduces the test loss of the training run (same seed, same eps stream)
        expect 0 "" eval --model "$m" --json --threads 1
        check "$name: eval loss = the training run's test loss" \
            /usr/bin/env python3 -c '
import csv, json, sys
e = json.load(open(sys.argv[1]))
row = list(csv.DictReader(open(sys.argv[2])))[-1]
ref = float(row["test_loss"])
sys.exit(0 if abs(e["loss"] - ref) <= 1e-4 + 1e-4 * abs(ref) and e["images"] == int(sys.argv[3]) else 1)
' "$OUT" "$dir/metrics.csv" "$NTEST"

        expect 0 "" sample --model "$m" -n 10 -o "$dir/sample.png" --threads 1
        check "$name: sample grid size (filled: 5 columns)" test "$(png_size "$dir/sample.png")" = "$(grid_size 10 5)"

        expect 0 "" reconstruct --model "$m" -n 6 -o "$dir/recon.png" --json --threads 1
        check "$name: reconstruct grid size (filled: 6 columns)" test "$(png_size "$dir/recon.png")" = "$(pairs_size 6 6)"
        check "$name: reconstruct prints the metrics" grep -q '"recon_mu"' "$OUT"

        expect 0 "" latent --model "$m" -o "$dir/latent.csv" --threads 1
        check "$name: latent has a row per test image" test "$(tail -n +2 "$dir/latent.csv" | wc -l)" -eq "$NTEST"
        check "$name: latent has zdim columns" test "$(head -1 "$dir/latent.csv" | tr ',' '\n' | grep -c '^mu')" -eq "$z"

        expect 0 "" scatter --model "$m" -o "$dir/scatter.png" --iterations 50 --threads 1
        check "$name: scatter draws a PNG" test -n "$(png_size "$dir/scatter.png")"

        expect 0 "" manifold --model "$m" --steps 5 -o "$dir/manifold.png" --threads 1
        case $z in
        1) want=$(grid_size 5 5) ;;       # one strip of 5
        2) want=$(grid_size 25 5) ;;      # 5 x 5 grid
        *) want=$(grid_size $((5 * z)) 5) ;; # one traversal row per dimension (--dims below), labelled
        esac
        if [ "$z" -gt 2 ]; then
            expect 0 "" manifold --model "$m" --steps 5 --dims "$(seq -s, 0 $((z - 1)))" -o "$dir/manifold.png" --threads 1
            got=$(png_size "$dir/manifold.png")
            check "$name: manifold height ${want#*x}, wider than ${want%x*} by its labels ($got)" \
                test "${got#*x}" = "${want#*x}" -a "${got%x*}" -gt "${want%x*}"
        else
            check "$name: manifold size $want" test "$(png_size "$dir/manifold.png")" = "$want"
        fi

        expect 0 "" interpolate --model "$m" --from 3 --to 7 --steps 6 --originals -o "$dir/interp.png" --threads 1
        check "$name: interpolation strip size" test "$(png_size "$dir/interp.png")" = "$(grid_size 8 8)"

        if [ "$z" -eq 2 ]; then
            expect 0 "" train --resume "$m" --out "$dir" --epochs 2 --threads 1 --no-images
            check "$name: resume adds epoch 2" test "$(tail -1 "$dir/metrics.csv" | cut -d, -f1)" = 2
        fi
    done
done

# the sweeps pass --arch (and its channel list) through to every run
for s in sweep-zdim sweep-alpha-beta; do
    out="$T/$s"
    if bash "$SRC/scripts/$s.sh" --bin "$VAE" --data "$T/data" --out "$out" --epochs 1 --arch conv --list-only >/dev/null 2>&1; then
        n=$(wc -l < "$out/runs.txt")
        check "$s --arch conv lists runs" test "$n" -gt 0
        check "$s: every run has --arch conv" test "$(grep -c -- '--arch conv' "$out/runs.txt")" -eq "$n"
    else
        bad "$s --arch conv --list-only failed"
    fi
done
finish
