#!/usr/bin/env bash
# Figures that say something: a zdim-1 model's scatter is per-label
# histograms of its code (no t-SNE of one-dimensional points); a zdim > 2
# manifold traverses the dimensions that carry information, ranked by their
# KL over the test set (or those of --dims), each row labelled; --range widens
# the values.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 400 60 8 8
expect 0 "" train --data "$T/d" --out "$T/z1" --zdim 1 --hidden 32 --epochs 2 --batch 50 --threads 1 --no-images
expect 0 "" train --data "$T/d" --out "$T/z4" --zdim 4 --hidden 32 --epochs 2 --batch 50 --threads 1 --no-images
expect 0 "" train --data "$T/d" --out "$T/z2" --zdim 2 --hidden 32 --epochs 2 --batch 50 --threads 1 --no-images

# ---- scatter of a zdim-1 model ----
expect 0 "" scatter --model "$T/z1/model.safetensors" -o "$T/h.png" --csv "$T/h.csv"
check "zdim 1: no t-SNE is run" sh -c '! grep -q "t-SNE" "$0"' "$ERR"
check "zdim 1: a picture is drawn ($(png_size "$T/h.png"))" test "$(png_size "$T/h.png")" = 800x640
check "zdim 1: --csv has the code itself, one row per test image" \
    test "$(head -1 "$T/h.csv")" = "index,label,mu0" -a "$(tail -n +2 "$T/h.csv" | wc -l)" -eq 60
expect 0 "" scatter --model "$T/z1/model.safetensors" -o "$T/h2.png" --method hist
check "--method hist is the zdim-1 default" cmp -s "$T/h.png" "$T/h2.png"
usage_err "--method: 'hist' needs a model with zdim 1" scatter --model "$T/z4/model.safetensors" --method hist -o "$WORK/x.png"

# ---- manifold of a zdim-4 model ----
expect 0 "" manifold --model "$T/z4/model.safetensors" --steps 5 -o "$T/m.png"
rows=$(grep -o ' z[0-9]* ([0-9.]*)' "$ERR" | wc -l)
check "the rows are listed with their KL ($rows)" test "$rows" -ge 1 -a "$rows" -le 4
check "... by decreasing KL" sh -c 'grep -o " z[0-9]* ([0-9.]*)" "$0" | tr -d "()" | awk "NR > 1 && \$2 > prev { exit 1 } { prev = \$2 }"' "$ERR"
s=$(png_size "$T/m.png")
check "one labelled row per listed dimension: height $((rows * 10 + 2)) ($s)" test "${s#*x}" = $((rows * 10 + 2)) -a "${s%x*}" -gt 52
expect 0 "" manifold --model "$T/z4/model.safetensors" --steps 5 --top 1 -o "$T/m1.png"
s=$(png_size "$T/m1.png")
check "--top 1: one row ($s)" test "${s#*x}" = 12
first=$(grep -o ' z[0-9]*' "$ERR" | head -1 | tr -d ' z')
expect 0 "" manifold --model "$T/z4/model.safetensors" --steps 5 --dims "$first" -o "$T/md.png"
check "--top 1 is the dimension with the most KL (--dims $first draws the same)" cmp -s "$T/m1.png" "$T/md.png"
expect 0 "" manifold --model "$T/z4/model.safetensors" --steps 5 --dims 3,0,1,2 -o "$T/m4.png"
s=$(png_size "$T/m4.png")
check "--dims 3,0,1,2: four rows ($s)" test "${s#*x}" = 42
check "--dims rows are labelled in that order" grep -q "rows: z3 (.*) z0 (.*) z1 (.*) z2 (" "$ERR"
expect 0 "" manifold --model "$T/z4/model.safetensors" --steps 5 --dims "$first" --range 3 -o "$T/mr.png"
check "--range 3 draws other values" sh -c '! cmp -s "$0" "$1"' "$T/md.png" "$T/mr.png"
usage_err "--dims: '9': 9 is not a dimension of this model (0..3)" manifold --model "$T/z4/model.safetensors" --dims 9 -o "$WORK/x.png"
usage_err "--dims: '1,1' names 1 twice" manifold --model "$T/z4/model.safetensors" --dims 1,1 -o "$WORK/x.png"
usage_err "--dims" manifold --model "$T/z4/model.safetensors" --dims 1,,2 -o "$WORK/x.png"

# ---- --range on a zdim-2 grid: the same size, wider values ----
expect 0 "" manifold --model "$T/z2/model.safetensors" --steps 5 -o "$T/g.png"
expect 0 "" manifold --model "$T/z2/model.safetensors" --steps 5 --range 3 -o "$T/g3.png"
check "--range 3 keeps the grid size" test "$(png_size "$T/g3.png")" = "$(png_size "$T/g.png")"
check "--range 3 draws other values" sh -c '! cmp -s "$0" "$1"' "$T/g.png" "$T/g3.png"
finish
