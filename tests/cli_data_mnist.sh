# The real MNIST folder (data/mnist, fetched by scripts/get-data.sh): what the
# loader sees, and a tiny training run on its first images. Without the
# folder this test reports itself skipped (exit 77).
. "$(dirname "$0")/cli_lib.sh"

MNIST="${VAE_SOURCE_DIR:-.}/data/mnist"
if [ ! -e "$MNIST/train-images-idx3-ubyte" ] && [ ! -e "$MNIST/train-images-idx3-ubyte.gz" ]; then
    echo "$MNIST holds no MNIST (run scripts/get-data.sh mnist); skipping"
    exit 77
fi
expect 0 "" data --data "$MNIST"
check "MNIST has 60000 training images of 28x28" grep -q "^train: 60000 images of 28x28" "$OUT"
check "MNIST has 10000 test images" grep -q "^test: 10000 images of 28x28" "$OUT"
expect 0 "" train --data "$MNIST" --out "$T/mnist-run" --limit 256 --epochs 1 --hidden 16 --zdim 2 --batch 64 --threads 1 --no-images
check "a --limit run on MNIST writes a checkpoint" test -s "$T/mnist-run/model.safetensors"
finish
