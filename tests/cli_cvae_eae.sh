#!/usr/bin/env bash
# Conditional VAEs and entropic autoencoders end to end on a tiny data set:
# train (mlp and conv), the class count read from the labels and stored in
# the checkpoint, sample --label / --per-label grids, manifold --label,
# interpolate, reconstruct, eval (an EAE reports its entropy), resume, and
# the usage errors: --label on an unconditional model, a label outside the
# classes, EAE-only options on a VAE, --knn not below the batch.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 64 20 8 8          # labels 0..9
WATCH=("$WORK" "$T/d")

C="$T/cvae"
expect 0 "" train --data "$T/d" --out "$C" --conditional --hidden 16 --zdim 2 --epochs 1 --batch 16 --threads 1 --no-images
expect 0 "" layers --model "$C/model.safetensors" --json
check "the checkpoint records 10 classes (max label + 1)" grep -q '"n_classes":10' "$OUT"
check "the label joins the encoder's input and z" [ "$(grep -o '"kind":"concat"' "$OUT" | wc -l)" -eq 2 ]

expect 0 "" sample --model "$C/model.safetensors" --per-label 3 -o "$T/pl.png"
check "--per-label 3: 10 rows of 3 (got $(png_size "$T/pl.png"))" [ "$(png_size "$T/pl.png")" = 32x102 ]
expect 0 "" sample --model "$C/model.safetensors" --label 3 -n 4 -o "$T/l3.png"
check "--label 3 -n 4 writes a grid" [ "$(png_size "$T/l3.png")" = 22x22 ]
# the label changes the picture: class 3 and class 5 from the same z differ
expect 0 "" sample --model "$C/model.safetensors" --label 5 -n 4 -o "$T/l5.png"
check "different labels decode the same z differently" sh -c '! cmp -s "$0" "$1"' "$T/l3.png" "$T/l5.png"
usage_err --label sample --model "$C/model.safetensors" --label 10 -o "$T/x.png"
usage_err --per-label sample --model "$C/model.safetensors" --per-label 2 -n 4 -o "$T/x.png"
expect 0 "" manifold --model "$C/model.safetensors" --label 7 --steps 3 -o "$T/m7.png"
check "manifold --label 7 on zdim 2: a 3x3 grid" [ "$(png_size "$T/m7.png")" = 32x32 ]
usage_err --label manifold --model "$C/model.safetensors" --label 12 -o "$T/x.png"
expect 0 "" interpolate --model "$C/model.safetensors" --data "$T/d" --steps 4 -o "$T/i.png"
check "interpolate on a conditional model" [ -n "$(png_size "$T/i.png")" ]
expect 0 "" reconstruct --model "$C/model.safetensors" --data "$T/d" -n 4 -o "$T/r.png" --json
check "reconstruct reports the classes" grep -q '"classes":10' "$OUT"
expect 0 "" train --resume "$C/model.safetensors" --out "$C" --epochs 2 --no-images --threads 1
expect 0 "" layers --model "$C/model.safetensors" --json
check "resume keeps the conditional model" grep -q '"n_classes":10' "$OUT"

# a test label the model has no slot for is refused, naming the label file
mkdir -p "$T/d11"
cp "$T/d"/*images* "$T/d11/"
cp "$T/d/train-labels-idx1-ubyte" "$T/d11/"
perl -e 'open(my $f, ">:raw", $ARGV[0]) or die; print $f pack("NN", 0x801, 20); print $f pack("C*", (10) x 20);' \
    "$T/d11/t10k-labels-idx1-ubyte"
expect 1 "t10k-labels-idx1-ubyte" eval --model "$C/model.safetensors" --data "$T/d11"

# conv: labels joined after flattening
expect 0 "" train --data "$T/d" --out "$T/cconv" --conditional --arch conv --channels 3 --hidden 8 --zdim 2 \
    --epochs 1 --batch 16 --threads 1 --no-images
expect 0 "" sample --model "$T/cconv/model.safetensors" --label 1 -n 2 -o "$T/cc.png"
check "conditional conv model samples" [ -n "$(png_size "$T/cc.png")" ]

# an unconditional model refuses --label
expect 0 "" train --data "$T/d" --out "$T/plain" --hidden 8 --zdim 2 --epochs 1 --batch 16 --threads 1 --no-images
usage_err --label sample --model "$T/plain/model.safetensors" --label 1 -o "$T/x.png"
usage_err --per-label sample --model "$T/plain/model.safetensors" --per-label 2 -o "$T/x.png"
usage_err --label manifold --model "$T/plain/model.safetensors" --label 1 -o "$T/x.png"

# entropic autoencoder
E="$T/eae"
expect 0 "" train --data "$T/d" --out "$E" --model eae --loss mse --knn 3 --lambda 0.5 --hidden 16 --zdim 3 \
    --epochs 1 --batch 16 --threads 1 --no-images
expect 0 "" layers --model "$E/model.safetensors" --json
check "an EAE has the latent batch norm" grep -q '"kind":"latent_bn"' "$OUT"
check "its running statistics are tensors" grep -q '"name":"latent_bn.running_var"' "$OUT"
expect 0 "" eval --model "$E/model.safetensors" --data "$T/d" --json
check "eval reports the entropy of an EAE" grep -q '"entropy":' "$OUT"
check "and no KL" sh -c '! grep -q "\"kl\":" "$0"' "$OUT"
expect 0 "" sample --model "$E/model.safetensors" -n 4 -o "$T/es.png"
check "an EAE samples" [ "$(png_size "$T/es.png")" = 22x22 ]
expect 0 "" latent --model "$E/model.safetensors" --data "$T/d"
check "latent prints an EAE's codes" [ "$(grep -c . "$OUT")" -ge 20 ]
expect 0 "" train --resume "$E/model.safetensors" --out "$E" --epochs 2 --no-images --threads 1
usage_err --model train --resume "$E/model.safetensors" --out "$E" --model vae --epochs 3
usage_err --knn train --data "$T/d" --out "$T/x" --model eae --knn 16 --batch 16
usage_err --lambda train --data "$T/d" --out "$T/x" --lambda 2
usage_err --beta train --data "$T/d" --out "$T/x" --model eae --beta 2
finish
