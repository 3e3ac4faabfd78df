#!/usr/bin/env bash
# The pictures: vae train's per-epoch grids, vae sample and vae reconstruct
# write real PNGs whose size follows the grid layout (tiles of rows x cols,
# 2-pixel borders, near-square for sample), and the same seed gives the same
# sample file.
. "$(dirname "$0")/cli_lib.sh"

# 10x6 images (rows != cols, so a swapped width/height shows)
make_data "$T/d" 300 23 10 6
run_vae train --data "$T/d" --out "$T/run" --epochs 1 --hidden 16 --zdim 3 --batch 50 --threads 1
check "train exits 0" [ "$RC" -eq 0 ]
# 64 samples in 8 columns: 8*(6+2)+2 wide, 8*(10+2)+2 high
check "sample-01.png is 66x98 (got $(png_size "$T/run/sample-01.png"))" [ "$(png_size "$T/run/sample-01.png")" = 66x98 ]
# 23 test images (fewer than 32): rows of 8 originals then 8 reconstructions -> 6 tile rows
check "recon-01.png is 66x74 (got $(png_size "$T/run/recon-01.png"))" [ "$(png_size "$T/run/recon-01.png")" = 66x74 ]

M="$T/run/model.safetensors"
# -n 10: a filled grid, 5 columns and 2 rows, not 4+4+2
run_vae sample --model "$M" -n 10 -o "$T/s10.png" --seed 3
check "sample -n 10 exits 0" [ "$RC" -eq 0 ]
check "sample -n 10 is 5x2 tiles = 42x26 (got $(png_size "$T/s10.png"))" [ "$(png_size "$T/s10.png")" = 42x26 ]
check "sample prints the path it wrote on stdout" grep -qxF "wrote $T/s10.png" "$OUT"
# --cols 4: 4 columns, 3 rows (the last one short)
run_vae sample --model "$M" --count 10 --cols 4 -o "$T/s10c4.png" --seed 3
check "sample --count 10 --cols 4 is 4x3 tiles = 34x38 (got $(png_size "$T/s10c4.png"))" [ "$(png_size "$T/s10c4.png")" = 34x38 ]
# the old spelling --n still works (not shown in --help)
run_vae sample --model "$M" --n 10 -o "$T/s10n.png" --seed 3
check "sample --n 10 (old spelling) gives the same file as -n 10" cmp -s "$T/s10.png" "$T/s10n.png"
run_vae sample --help
check "--help names --count, not --n" sh -c 'grep -q -- "-n, --count N" "$0" && ! grep -q -- "--n " "$0"' "$OUT"
run_vae sample --model "$M" -n 1 -o "$T/s1.png"
check "sample -n 1 is one tile = 10x14 (got $(png_size "$T/s1.png"))" [ "$(png_size "$T/s1.png")" = 10x14 ]
run_vae sample --model "$M" -n 10 -o "$T/s10b.png" --seed 3
check "the same seed gives the same file" cmp -s "$T/s10.png" "$T/s10b.png"
run_vae sample --model "$M" -n 10 -o "$T/s10c.png" --seed 4
check "another seed gives another file" sh -c '! cmp -s "$0" "$1"' "$T/s10.png" "$T/s10c.png"

# reconstruct -n 5: one row of 5 originals above their 5 reconstructions
run_vae reconstruct --model "$M" --data "$T/d" -n 5 -o "$T/r5.png" --json
check "reconstruct exits 0" [ "$RC" -eq 0 ]
check "reconstruct -n 5 is 5 columns, 2 rows = 42x26 (got $(png_size "$T/r5.png"))" [ "$(png_size "$T/r5.png")" = 42x26 ]
check "reconstruct --json reports the test set" grep -q '"images":23' "$OUT"
check "reconstruct --json: stdout is one JSON object" [ "$(wc -l < "$OUT")" -eq 1 ]
check "reconstruct prints the path it wrote on stderr (stdout has the metrics)" grep -qxF "wrote $T/r5.png" "$ERR"
# -n 12: 6 columns, 2 pairs of rows, no ragged row (ceil(sqrt(24)) = 5 would leave one)
run_vae reconstruct --model "$M" --data "$T/d" -n 12 -o "$T/r12.png"
check "reconstruct -n 12 is 6 columns, 4 rows = 50x50 (got $(png_size "$T/r12.png"))" [ "$(png_size "$T/r12.png")" = 50x50 ]
run_vae reconstruct --model "$M" --data "$T/d" -n 12 --cols 3 -o "$T/r12c3.png"
check "reconstruct -n 12 --cols 3 is 3 columns, 8 rows = 26x98 (got $(png_size "$T/r12c3.png"))" [ "$(png_size "$T/r12c3.png")" = 26x98 ]
# more than the test set: clamped to its 23 images
run_vae reconstruct --model "$M" --data "$T/d" -n 1000 -o "$T/rall.png"
check "reconstruct -n 1000 exits 0" [ "$RC" -eq 0 ]
check "reconstruct -n 1000 writes a PNG" png_size "$T/rall.png"
finish
