#!/usr/bin/env bash
# Options and checkpoint values that the architecture or model kind has no
# use for: --channels for an mlp, --activation tanh for conv, the eae's
# options for a vae are usage errors (train and layers), not dropped in
# silence; --resume compares --channels, --knn, --lambda and --bn-momentum
# with the checkpoint whatever --arch and --model say; an eae's --knn is
# checked against the images trained on (--val holds some out); eval refuses
# a model whose test loss overflows (as reconstruct does); a checkpoint with
# a negative running variance (eae) is refused by name.
. "$(dirname "$0")/cli_lib.sh"

D="$T/d"
make_data "$D" 64 16 8 8
WATCH=("$WORK" "$D")
TINY=(--data "$D" --hidden 8 --zdim 2 --batch 16 --epochs 1 --threads 1 --no-images)

# ---- options that do not apply are refused, naming the option ----
usage_err "--channels: applies to --arch conv and resnet only" train "${TINY[@]}" --out "$T/x" --channels 2,3
usage_err "--channels: applies to --arch conv and resnet only" train "${TINY[@]}" --out "$T/x" --arch mlp --channels 2,3
usage_err "--activation: tanh applies to --arch mlp only" train "${TINY[@]}" --out "$T/x" --arch conv --activation tanh
usage_err "--knn: applies to --model eae only" train "${TINY[@]}" --out "$T/x" --knn 3
usage_err "--warmup: weights a KL term" train "${TINY[@]}" --out "$T/x" --model eae --loss mse --knn 3 --warmup 2
usage_err "--free-bits: weights a KL term" train "${TINY[@]}" --out "$T/x" --model eae --loss mse --knn 3 --free-bits 1
check "no run folder after the refusals" test ! -e "$T/x"
usage_err "--channels: applies to --arch conv and resnet only" layers --channels 3
usage_err "--lambda: applies to --model eae only" layers --lambda 3
expect 0 "" layers --arch conv --channels 3 --rows 8 --cols 8
# the layer list of a model too large to allocate here (1.85e9 parameters, 30 GB
# with gradients and Adam's moments) is still printed: layers lays it out only
expect 0 "" layers --arch resnet --channels 4096,4096
check "layers counts the large model's parameters" grep -q ": 1847983657 parameters" "$OUT"
# a model whose checkpoint could not be loaded again is refused before the first step, naming its channels
expect 1 "a conv model of 8x8 images, hidden 8, channels 4096,4096,4096, zdim 2 has" \
    train "${TINY[@]}" --out "$T/huge" --arch conv --channels 4096,4096,4096
check "no run folder for the refused model" test ! -e "$T/huge"

# ---- --resume: an option is compared with the checkpoint, not with --arch's default ----
C="$T/conv"
expect 0 "" train "${TINY[@]}" --out "$C" --arch conv --channels 2,3
M="$T/mlp"
expect 0 "" train "${TINY[@]}" --out "$M"
E="$T/eae"
expect 0 "" train "${TINY[@]}" --out "$E" --model eae --loss mse --knn 3
# the checkpoint's own channel list, given again without --arch, is no conflict
expect 0 "" train --resume "$C/model.safetensors" --channels 2,3 --epochs 2 --threads 1 --no-images
usage_err "--channels: conflicts with the checkpoint $C/model.safetensors (channels 2,3)" \
    train --resume "$C/model.safetensors" --channels 2,4 --epochs 3 --threads 1 --no-images
# an mlp has no channels: a list given on resume is not ignored
usage_err "--channels: conflicts with the checkpoint $M/model.safetensors (channels none (mlp))" \
    train --resume "$M/model.safetensors" --channels 2,3 --epochs 2 --threads 1 --no-images
# the eae's options on resume of an eae without --model eae: compared, not refused
expect 0 "" train --resume "$E/model.safetensors" --knn 3 --epochs 2 --threads 1 --no-images
usage_err "--bn-momentum: conflicts with the checkpoint $E/model.safetensors (bn-momentum 0.1)" \
    train --resume "$E/model.safetensors" --bn-momentum 0.5 --epochs 3 --threads 1 --no-images
usage_err "--knn: conflicts with the checkpoint $C/model.safetensors (a vae" \
    train --resume "$C/model.safetensors" --knn 3 --epochs 3 --threads 1 --no-images

# ---- the commands' options that the model or the other options leave without a use ----
for o in "--index 3" "--top 2" "--dims 0,1"; do
    # shellcheck disable=SC2086
    usage_err "${o%% *}: applies to models with zdim > 2 only" manifold --model "$C/model.safetensors" $o -o "$T/mf.png"
done
Z3="$T/z3"
expect 0 "" train "${TINY[@]}" --out "$Z3" --zdim 3
usage_err "--top: cannot be combined with --dims" manifold --model "$Z3/model.safetensors" --top 2 --dims 0,1 -o "$T/mf.png"
expect 0 "" manifold --model "$Z3/model.safetensors" --dims 0,1 --steps 3 -o "$T/mf.png"
usage_err "--iw-rows: needs --iw K" eval --model "$C/model.safetensors" --iw-rows 64
expect 0 "" train "${TINY[@]}" --out "$T/cond" --conditional
usage_err "--per-label: cannot be combined with --cols" sample --model "$T/cond/model.safetensors" --per-label 2 --cols 3 -o "$T/s.png"

# ---- eae: k below the number of images trained on, not only below the data set ----
# 64 images, --val 60 leaves 4: no batch has a 5th neighbour, the entropy term would vanish
expect 1 "knn 5 needs batches of more than 5 images (this run trains on 4 images" \
    train "${TINY[@]}" --out "$T/eae-val" --model eae --loss mse --knn 5 --val 60
check "no run folder after the refusal" test ! -e "$T/eae-val"

# ---- conditional: the class count comes from every training label, not the first --limit ----
# the first three training labels 0, 1, 2; later ones (and the test set's) up to 9
L="$T/dl"
cp -r "$D" "$L"
perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; seek($f, 8, 0); print $f pack("C*", 0, 1, 2); close $f' \
    "$L/train-labels-idx1-ubyte"
expect 0 "" train "${TINY[@]}" --data "$L" --out "$T/cl" --conditional --limit 3 --batch 3
expect 0 "" sample --model "$T/cl/model.safetensors" --label 9 -n 2 -o "$T/nine.png"

# ---- checkpoint values: ck_set IN OUT TENSOR VALUE sets every element and fixes the CRC ----
ck_set() {
    CK_NAME=$3 CK_VAL=$4 FIXCRC=1 ck_rewrite "$1" "$2" '
        my ($name, $val) = ($ENV{CK_NAME}, $ENV{CK_VAL});
        $h =~ /"\Q$name\E":\{"dtype":"F32","shape":\[[0-9,]+\],"data_offsets":\[(\d+),(\d+)\]\}/ or die "no $name";
        substr($d, $1, $2 - $1) = pack("f<*", ($val) x (($2 - $1) / 4));'
}
ck_set "$E/model.safetensors" "$T/var1.safetensors" latent_bn.running_var 1
expect 0 "" eval --model "$T/var1.safetensors" --data "$D" --threads 1
ck_set "$E/model.safetensors" "$T/var-neg.safetensors" latent_bn.running_var -1
NEG="tensor 'latent_bn.running_var' holds -1 at element 0; a running variance must be finite and >= 0"
expect 1 "$NEG" eval --model "$T/var-neg.safetensors" --data "$D" --threads 1
expect 1 "$NEG" sample --model "$T/var-neg.safetensors" -o "$T/s.png" --threads 1
expect 1 "$NEG" latent --model "$T/var-neg.safetensors" --data "$D" -o "$T/l.csv" --threads 1
# finite weights whose products overflow float32: eval says so and exits 1, like reconstruct
ck_set "$C/model.safetensors" "$T/huge.safetensors" enc.0.weight 1e30
expect 1 "the model's test-set loss is not finite" eval --model "$T/huge.safetensors" --data "$D" --threads 1 --json
check "eval prints no report of a non-finite loss" test ! -s "$OUT"
expect 1 "the model's test-set loss is not finite" reconstruct --model "$T/huge.safetensors" --data "$D" -o "$T/r.png" --threads 1
# weights of 1e38: the codes or the decoded images are NaN; every command that
# would write or draw them says so, exits 1 and writes nothing
ck_set "$M/model.safetensors" "$T/enc38.safetensors" enc.0.weight 1e38
ck_set "$M/model.safetensors" "$T/dec38.safetensors" dec.0.weight 1e38
ENC="$T/enc38.safetensors: the latent mean of test image 0 is not finite"
expect 1 "$ENC" latent --model "$T/enc38.safetensors" --data "$D" -o "$T/o38.csv" --threads 1
expect 1 "$ENC" interpolate --model "$T/enc38.safetensors" --data "$D" -o "$T/o38-i.png" --threads 1
expect 1 "$ENC" scatter --model "$T/enc38.safetensors" --data "$D" -o "$T/o38-s.png" --threads 1
expect 1 "$T/dec38.safetensors: decoded image" sample --model "$T/dec38.safetensors" -n 64 -o "$T/o38-d.png" --threads 1
check "no output of a model that overflows" test -z "$(ls "$T" | grep o38)"

finish
