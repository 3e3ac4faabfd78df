# vae eval --iw: the importance-weighted NLL in text and JSON, rising with K,
# equal to the ELBO estimate at K = 1; refusals of an SSE model and of bad
# values (exit 2, nothing written); --iw-dump writes x, eps and the results;
# and, where Debian's python3-torch is installed, scripts/reference/
# iw_reference.py recomputes the dump independently and agrees to 1e-4.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 600 30 10 10
run_vae train --data "$T/d" --hidden 32 --zdim 3 --epochs 2 --seed 3 --threads 1 --no-images --out "$T/bce"
check "train a BCE model (exit $RC)" test "$RC" -eq 0
run_vae train --data "$T/d" --hidden 32 --zdim 3 --epochs 1 --loss mse --threads 1 --no-images --out "$T/mse"
check "train an SSE model (exit $RC)" test "$RC" -eq 0
M="$T/bce/model.safetensors"
num() { grep -o "\"$1\":[-0-9.e+]*" "$OUT" | head -1 | cut -d: -f2; }

expect 0 "" eval --model "$M" --iw 10 --binarize static --json --threads 2
check "JSON has nll, nll_se, iw_k, images/s" grep -q '"iw_k":10,"nll":[0-9.]*,"nll_se":[0-9.e-]*,"iw_elbo":-[0-9.]*,"iw_seconds":[0-9.e-]*,"iw_images_per_sec":[0-9.e+]*' "$OUT"
check "stdout is one line" test "$(wc -l <"$OUT")" -eq 1
check "a progress line on stderr" grep -q "^iw: 30/30 images" "$ERR"
nll10=$(num nll)
elbo10=$(num iw_elbo)
check "NLL ($nll10) <= -ELBO ($elbo10)" awk -v n="$nll10" -v e="$elbo10" 'BEGIN { exit !(n <= -e) }'
expect 0 "" eval --model "$M" --iw 1 --binarize static --json
nll1=$(num nll)
check "K = 1: NLL is -mean log w" awk -v n="$nll1" -v e="$(num iw_elbo)" 'BEGIN { exit !(n == -e) }'
check "K = 10 NLL ($nll10) < K = 1 NLL ($nll1)" awk -v a="$nll10" -v b="$nll1" 'BEGIN { exit !(a < b) }'
expect 0 "" eval --model "$M" --iw 10 --binarize static --threads 1 --json
check "the same numbers at 1 and 2 threads" awk -v a="$(num nll)" -v b="$nll10" 'BEGIN { d = a - b; exit !(d < 1e-6 * b && -d < 1e-6 * b) }'
expect 0 "" eval --model "$M" --iw 5
check "text output names the NLL" grep -q "^  NLL     [0-9.]* +- [0-9.]* nats" "$OUT"
check "grey-level test images get a note" grep -q "grey levels" "$ERR"

# refusals: exit 2 with the option named, nothing written
usage_err "--iw" eval --model "$T/mse/model.safetensors" --iw 10
check "the SSE refusal says why" grep -q "Bernoulli likelihood" "$ERR"
usage_err "--iw" eval --model "$M" --iw 0
usage_err "--iw" eval --model "$M" --iw x
usage_err "--iw-dump" eval --model "$M" --iw-dump "$WORK/d.st"
usage_err "--binarize" eval --model "$M" --binarize sometimes

# the dump for the PyTorch cross-check
expect 0 "" eval --model "$M" --iw 40 --limit 12 --binarize static --iw-dump "$T/dump.st" --json
check "--iw-dump wrote a file" test -s "$T/dump.st"
check "the dump is safetensors with x, eps (12, 40, 3), logp, elbo" \
    sh -c "head -c 400 '$T/dump.st' | grep -q '\"eps\":{\"dtype\":\"F32\",\"shape\":\[12,40,3\]'"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    check "PyTorch recomputes the same estimate (1e-4 relative)" \
        /usr/bin/python3 "$VAE_SOURCE_DIR/scripts/reference/iw_reference.py" --checkpoint "$M" --dump "$T/dump.st"
else
    echo "note: /usr/bin/python3 has no torch; the PyTorch cross-check of the dump is not run"
fi
finish
