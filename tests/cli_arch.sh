#!/usr/bin/env bash
# --arch and `vae layers`: the parameter counts of the issue's conv and resnet
# models, the layer list as JSON, image sizes the convolutions cannot divide
# refused as usage errors, and a conv and a resnet model on non-square images
# through train, eval, sample, reconstruct, resume and `layers --model`.
. "$(dirname "$0")/cli_lib.sh"

expect 0 "" layers --arch conv
check "conv at 28x28, zdim 20: 1,691,369 parameters" grep -q ": 1691369 parameters" "$OUT"
expect 0 "" layers --arch resnet
check "resnet at 28x28, zdim 20: 1,876,073 parameters" grep -q ": 1876073 parameters" "$OUT"
expect 0 "" layers
check "mlp 784-400-20: 652,824 parameters" grep -q ": 652824 parameters" "$OUT"
expect 0 "" layers --arch resnet --json
check "--json prints the layer list" grep -q '"format":"vae-layers"' "$OUT"
check "--json names the residual convolutions" grep -q '"name":"enc.1.conv2.weight","shape":\[32,32,3,3\]' "$OUT"
check "--json shapes ConvTranspose2d weights (in, out, k, k)" grep -q '"name":"dec.5.weight","shape":\[32,1,4,4\]' "$OUT"
usage_err --channels layers --arch conv --rows 28 --cols 26
usage_err --channels layers --arch conv --channels 8,16,32 --rows 28 --cols 28
usage_err --arch layers --arch dense
usage_err --channels layers --arch conv --channels 32,0

# 8x12 images: two stride-2 convolutions fit, three do not
make_data "$T/d" 60 20 8 12
WATCH=("$WORK" "$T/d")
usage_err --channels train --data "$T/d" --out "$T/bad" --arch conv --channels 4,4,4 --epochs 1
check "a refused run leaves no folder" [ ! -e "$T/bad" ]

for arch in conv resnet; do
    R="$T/$arch"
    expect 0 "" train --data "$T/d" --out "$R" --arch "$arch" --channels 3,5 --hidden 8 --zdim 2 --epochs 1 \
        --batch 16 --threads 1 --no-images --json
    check "$arch: train writes a checkpoint" [ -s "$R/model.safetensors" ]
    expect 0 "" layers --model "$R/model.safetensors"
    check "$arch: layers --model describes the checkpoint" grep -q "arch $arch, images 8x12, zdim 2, hidden 8, channels 3,5" "$OUT"
    expect 0 "" eval --model "$R/model.safetensors" --data "$T/d" --json
    check "$arch: eval reports the 20 test images" grep -q '"images":20' "$OUT"
    expect 0 "" sample --model "$R/model.safetensors" -n 4 -o "$T/$arch-s.png"
    check "$arch: sample writes 2x2 tiles of 12x8 (got $(png_size "$T/$arch-s.png"))" [ "$(png_size "$T/$arch-s.png")" = 30x22 ]
    expect 0 "" reconstruct --model "$R/model.safetensors" --data "$T/d" -n 2 -o "$T/$arch-r.png"
    check "$arch: reconstruct writes a PNG" png_size "$T/$arch-r.png"
    expect 0 "" train --resume "$R/model.safetensors" --out "$R" --epochs 2 --no-images --threads 1
    expect 0 "" layers --model "$R/model.safetensors" --json
    check "$arch: resumed checkpoint keeps its layer list" grep -q "\"arch\":\"$arch\"" "$OUT"
done
usage_err --arch train --resume "$T/conv/model.safetensors" --out "$T/conv" --arch mlp --epochs 3
usage_err --channels train --resume "$T/conv/model.safetensors" --out "$T/conv" --channels 3,6 --epochs 3
usage_err --model layers --model "$T/conv/model.safetensors" --arch conv
finish
