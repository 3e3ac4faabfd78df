# Bad data folders at the command level: every command that reads data
# (data, train, eval, reconstruct) exits 1 with "vae: <path>: <problem>" for
# missing files, a folder where a file belongs, files the loader rejects,
# train/test images of different sizes and a model trained on another size;
# nothing is written.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 200 50 8 8
run_vae train --data "$T/d" --out "$T/m" --hidden 16 --zdim 2 --batch 32 --epochs 1 --threads 1 --no-images
check "a tiny training run succeeds (exit $RC)" test "$RC" -eq 0
MODEL="$T/m/model.safetensors"
expect 0 "" data --data "$T/d"
check "vae data reports 200 training images" grep -q "^train: 200 images of 8x8" "$OUT"
expect 0 "" data --data "$T/d" --json
check "vae data --json prints one JSON object" grep -q '^{"data":' "$OUT"

# each data-reading command with the folder DIR; the failure must name PATH
try_all() {
    local dir=$1 path=$2 words=$3
    expect 1 "vae: $path" data --data "$dir"
    [ -n "$words" ] && check "vae data --data $dir: names '$words'" grep -qiF -- "$words" "$ERR"
    expect 1 "vae: $path" train --data "$dir" --out "$WORK/run" --hidden 16 --zdim 2 --epochs 1 --no-images
    expect 1 "vae: $path" eval --model "$MODEL" --data "$dir"
    expect 1 "vae: $path" reconstruct --model "$MODEL" --data "$dir" -o "$WORK/r.png"
}
# fresh copy of the good folder
copy() {
    rm -rf "$T/c"
    cp -r "$T/d" "$T/c"
}
FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

try_all "$T/nowhere" "$T/nowhere/" "missing"
# commands added later that read the test split, when this build has them
run_vae --help
for cmd in $(sed -n '/^Commands:/,/^$/p' "$OUT" | awk 'NF >= 2 { print $1 }' | grep -xE 'latent|scatter|interpolate'); do
    expect 1 "vae: $T/nowhere/t10k-images-idx3-ubyte: missing" "$cmd" --model "$MODEL" --data "$T/nowhere" -o "$WORK/x.png"
    make_data "$T/nine" 200 50 9 9
    expect 1 "images are 9x9 but the model was trained on 8x8" "$cmd" --model "$MODEL" --data "$T/nine" -o "$WORK/x.png"
done
: >"$T/plainfile"
try_all "$T/plainfile" "$T/plainfile" ""
for f in $FILES; do
    # train-only commands never look at the test split's files and vice versa:
    # data and train read both, eval and reconstruct only the test split
    copy
    rm "$T/c/$f"
    expect 1 "vae: $T/c/$f: missing" data --data "$T/c"
    expect 1 "vae: $T/c/$f: missing" train --data "$T/c" --out "$WORK/run" --epochs 1 --no-images
    case $f in t10k-*)
        expect 1 "vae: $T/c/$f: missing" eval --model "$MODEL" --data "$T/c"
        expect 1 "vae: $T/c/$f: missing" reconstruct --model "$MODEL" --data "$T/c" -o "$WORK/r.png" ;;
    esac
    # a folder where the file belongs
    mkdir "$T/c/$f"
    expect 1 "vae: $T/c/$f: is a directory" data --data "$T/c"
    expect 1 "vae: $T/c/$f: is a directory" train --data "$T/c" --out "$WORK/run" --epochs 1 --no-images
    # (an unreadable file: tests/cli_data_unreadable.sh, which reports a skip as root)
    copy
done

# files the loader rejects, each in the place of the test images (read by every command)
TI="$T/c/t10k-images-idx3-ubyte"
reject() {
    local words=$1
    try_all "$T/c" "$TI" "$words"
}
copy; : >"$TI"; reject "empty"
copy; printf 'P5\n8 8\n255\n' >"$TI"; reject "not an IDX file"
copy; head -c 10 "$T/d/t10k-images-idx3-ubyte" >"$TI"; reject "truncated header"
copy; head -c 1000 "$T/d/t10k-images-idx3-ubyte" >"$TI"; reject "truncated"
copy; printf 'xx' >>"$TI"; reject "trailing"
copy; cp "$T/d/t10k-labels-idx1-ubyte" "$TI"; reject "label file"
copy; perl -e 'print pack("NNNN", 0x803, 0, 8, 8)' >"$TI"; reject "0 images"
copy; perl -e 'print pack("NNNN", 0x803, 50, 0, 8)' >"$TI"; reject "zero rows"
copy; perl -e 'print pack("NNNN", 0x803, 0xffffffff, 0xffffffff, 0xffffffff)' >"$TI"; reject "overflow"
copy; perl -e 'print pack("NNNN", 0x0d03, 50, 8, 8)' >"$TI"; tail -c +17 "$T/d/t10k-images-idx3-ubyte" >>"$TI"; reject "unsigned byte"
copy; gzip -c "$T/d/t10k-images-idx3-ubyte" | head -c 200 >"$TI"; reject "gzip"
copy; gzip -c "$T/d/t10k-images-idx3-ubyte" | perl -0777 -pe 'substr($_, 40, 4) = "XXXX"' >"$TI"; reject "gzip"
# labels that do not match the images in count
copy; make_labels "$T/c/t10k-labels-idx1-ubyte" 49; try_all "$T/c" "$TI" "labels"
# gzip files are fine when intact (control case)
copy; gzip "$T/c/t10k-images-idx3-ubyte"; expect 0 "" data --data "$T/c"

# train and test images of different sizes
make_data "$T/mixed" 200 50 8 8 9 9
expect 1 "vae: $T/mixed: training images are 8x8 but test images are 9x9" train --data "$T/mixed" --out "$WORK/run" --epochs 1 --no-images
expect 1 "vae: $T/mixed: training images are 8x8 but test images are 9x9" data --data "$T/mixed"
check "vae data still prints the summary when the splits differ in size" grep -q "9x9" "$OUT"
# a model trained on 8x8 against 9x9 data
make_data "$T/nine" 200 50 9 9
expect 1 "vae: $T/nine/t10k-images-idx3-ubyte: images are 9x9 but the model was trained on 8x8" eval --model "$MODEL" --data "$T/nine"
expect 1 "vae: $T/nine/t10k-images-idx3-ubyte: images are 9x9 but the model was trained on 8x8" reconstruct --model "$MODEL" --data "$T/nine" -o "$WORK/r.png"
cp -r "$T/m" "$T/m2"
WATCH=("$WORK" "$T/m2")
expect 1 "vae: $T/m2/model.safetensors: the model was trained on 8x8 images but $T/nine has 9x9" train --resume "$T/m2/model.safetensors" --out "$T/m2" --data "$T/nine" --new-data --epochs 2 --no-images
WATCH=("$WORK")
# the data folder stored in the checkpoint is used when --data is not given, and is checked the same way
mv "$T/d" "$T/d-moved"
expect 1 "vae: $T/d/t10k-images-idx3-ubyte: missing" eval --model "$MODEL"
mv "$T/d-moved" "$T/d"
expect 0 "" eval --model "$MODEL"
# --limit beyond the training set
expect 1 "--limit 201 exceeds the 200 training images" train --data "$T/d" --out "$WORK/run" --limit 201 --epochs 1 --no-images

# the real MNIST folder: tests/cli_data_mnist.sh (reports a skip when it is missing)

finish
