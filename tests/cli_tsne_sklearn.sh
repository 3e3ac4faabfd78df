#!/usr/bin/env bash
# vae's t-SNE against an independent implementation, scikit-learn's TSNE:
# a small model trained for 300 steps on real MNIST, the means of 2,000 test
# images mapped by `vae scatter` (Barnes-Hut) and by sklearn.manifold.TSNE,
# both scored by trustworthiness (k = 10) and 10-NN label accuracy in 2-D;
# vae's must be within 0.02 of scikit-learn's or better. The scorer must also
# reject a map with no structure. Skipped without /usr/bin/python3 +
# python3-sklearn or without MNIST in data/mnist.
. "$(dirname "$0")/cli_lib.sh"

PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import sklearn' 2>/dev/null; then
    echo "$PY has no scikit-learn (apt-get install python3-sklearn); skipping"
    exit 77
fi
MNIST="${VAE_SOURCE_DIR:-.}/data/mnist"
if ! [ -e "$MNIST/t10k-images-idx3-ubyte" ] && ! [ -e "$MNIST/t10k-images-idx3-ubyte.gz" ]; then
    echo "no MNIST in $MNIST (run scripts/get-data.sh mnist); skipping"
    exit 77
fi
COMPARE="${VAE_SOURCE_DIR:-.}/scripts/reference/tsne_compare.py"

# 300 steps: 38,400 images at batch 128, one epoch
expect 0 "" train --data "$MNIST" --out run --epochs 1 --limit 38400 --no-images
expect 0 "" latent --model run/model.safetensors -o latent.csv
expect 0 "" scatter --model run/model.safetensors -n 2000 --seed 1 --csv map.csv -o map.png --quiet
check "the map has 2,000 points" test "$(tail -n +2 "$WORK/map.csv" | wc -l)" -eq 2000

(cd "$WORK" && "$PY" "$COMPARE" latent.csv map.csv --seed 1 --k 10 --tol 0.02 --sklearn-map sk.csv) >"$OUT" 2>"$ERR"
rc=$?
cat "$OUT"
check "vae's map within 0.02 of scikit-learn's ($(cat "$ERR"))" test "$rc" -eq 0
check "the scores were printed" grep -q '"trustworthiness"' "$OUT"

# the same scorer on a map of random points (same indices and labels) must fail
awk -F, 'BEGIN { srand(7); OFS = "," } NR == 1 { print; next } { print $1, $2, rand(), rand() }' \
    "$WORK/map.csv" >"$WORK/random.csv"
(cd "$WORK" && "$PY" "$COMPARE" latent.csv random.csv --reference-map sk.csv) >"$OUT" 2>"$ERR"
check "a random map is rejected (exit 1, got $?)" test "$(grep -c 'more than 0.02 below' "$ERR")" -eq 1
finish
