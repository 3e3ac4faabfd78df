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
# -n 10: ceil(sqrt(10)) = 4 columns, 3 rows
run_vae sample --model "$M" -n 10 -o "$T/s10.png" --seed 3
check "sample -n 10 exits 0" [ "$RC" -eq 0 ]
check "sample -n 10 is 4x3 tiles = 34x38 (got $(png_size "$T/s10.png"))" [ "$(png_size "$T/s10.png")" = 34x38 ]
run_vae sample --model "$M" -n 1 -o "$T/s1.png"
check "sample -n 1 is one tile = 10x14 (got $(png_size "$T/s1.png"))" [ "$(png_size "$T/s1.png")" = 10x14 ]
run_vae sample --model "$M" -n 10 -o "$T/s10b.png" --seed 3
check "the same seed gives the same file" cmp -s "$T/s10.png" "$T/s10b.png"
run_vae sample --model "$M" -n 10 -o "$T/s10c.png" --seed 4
check "another seed gives another file" sh -c '! cmp -s "$0" "$1"' "$T/s10.png" "$T/s10c.png"

# reconstruct -n 5: 10 tiles, 4 columns -> rows: 4 originals, 4 reconstructions, 1, 1
run_vae reconstruct --model "$M" --data "$T/d" -n 5 -o "$T/r5.png" --json
check "reconstruct exits 0" [ "$RC" -eq 0 ]
check "reconstruct -n 5 is 34x50 (got $(png_size "$T/r5.png"))" [ "$(png_size "$T/r5.png")" = 34x50 ]
check "reconstruct --json reports the test set" grep -q '"images":23' "$OUT"
# more than the test set: clamped to its 23 images
run_vae reconstruct --model "$M" --data "$T/d" -n 1000 -o "$T/rall.png"
check "reconstruct -n 1000 exits 0" [ "$RC" -eq 0 ]
check "reconstruct -n 1000 writes a PNG" png_size "$T/rall.png"
finish
