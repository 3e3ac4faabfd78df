# vae train's likelihood-literature options: --activation, --binarize,
# --warmup, --free-bits, --lr-decay and Adam's betas/eps are validated (exit
# 2, nothing written), stored in the checkpoint and metrics.csv, kept on
# --resume (a contradicting value is refused), and vae eval follows the
# checkpoint's binarization unless told otherwise.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 300 20 8 8
header() { perl -e 'open(my $f, "<:raw", $ARGV[0]) or die; read($f, my $b, 8); read($f, my $h, unpack("Q<", $b)); print $h' "$1"; }
meta() { header "$1" | grep -o "\"$2\":\"[^\"]*\"" | cut -d'"' -f4; }

for bad in "--binarize sometimes" "--warmup -1" "--warmup x" "--free-bits -0.5" "--adam-eps 0" \
           "--adam-beta1 1" "--adam-beta2 0" "--activation sigmoid"; do
    # shellcheck disable=SC2086
    usage_err "${bad%% *}" train --data "$T/d" --out "$WORK/r" $bad
done
usage_err "--activation: tanh applies to --arch mlp only" train --data "$T/d" --out "$WORK/r" --arch conv --activation tanh

ARGS=(--data "$T/d" --hidden 16 --zdim 3 --batch 32 --threads 1 --no-images --activation tanh --binarize dynamic
      --warmup 2 --free-bits 0.1 --lr-decay --adam-beta1 0.85 --adam-eps 1e-4)
run_vae train "${ARGS[@]}" --out "$T/r" --epochs 1
check "train with every option (exit $RC)" test "$RC" -eq 0
C="$T/r/model.safetensors"
check "checkpoint: activation tanh" test "$(meta "$C" activation)" = tanh
check "checkpoint: binarize dynamic" test "$(meta "$C" binarize)" = dynamic
check "checkpoint: warmup 2, free bits 0.1, lr_decay 1" test "$(meta "$C" warmup),$(meta "$C" free_bits),$(meta "$C" lr_decay)" = "2,0.100000001,1"
check "checkpoint: adam 0.85 / 0.999 / 1e-4" test "$(meta "$C" adam_beta1),$(meta "$C" adam_beta2),$(meta "$C" adam_eps)" = "0.850000024,0.999000013,9.99999975e-05"
check "the layer list has tanh hidden layers" sh -c "perl -e 'open(my \$f, \"<:raw\", \$ARGV[0]); read(\$f, my \$b, 8); read(\$f, my \$h, unpack(\"Q<\", \$b)); print \$h' '$C' | grep -q 'tanh'"
check "metrics.csv names the schedule columns" grep -q "lr,kl_weight,warmup,free_bits,binarize,lr_decay,adam_beta1,adam_beta2,adam_eps$" "$T/r/metrics.csv"
check "epoch 1 row: lr 0.001, warm-up below 0.5, the settings" grep -Eq "^1,.*,0\.001,0\.4[0-9]*,2,0\.1,dynamic,1,0\.85,0\.999,0\.0001$" "$T/r/metrics.csv"

# resume keeps the settings; a contradicting one is refused
usage_err "--warmup" train --resume "$C" --out "$T/r" --epochs 2 --warmup 3
usage_err "--activation" train --resume "$C" --out "$T/r" --epochs 2 --activation relu
usage_err "--binarize" train --resume "$C" --out "$T/r" --epochs 2 --binarize static
run_vae train --resume "$C" --out "$T/r" --epochs 2 --threads 1 --no-images
check "resume continues (exit $RC)" test "$RC" -eq 0
check "epoch 2 row: lr stage 1 (0.001 * 10^(-1/7)), warm-up near 1" grep -Eq "^2,.*,0\.000719685[0-9]*,0\.9[0-9]*,2,0\.1,dynamic,1,0\.85,0\.999,0\.0001$" "$T/r/metrics.csv"

# eval follows the checkpoint's binarization, unless told otherwise
expect 0 "" eval --model "$C" --json
check "eval of a binarized model uses the binarized test set" grep -q '"binarize":"dynamic"' "$OUT"
check "eval reports active units and KL per dimension" grep -Eq '"active_units":[0-3],"kl_dims":\[[-0-9.e,]*\],"var_mu":\[' "$OUT"
expect 0 "" eval --model "$C" --binarize none --json
check "--binarize none overrides it" grep -q '"binarize":"none"' "$OUT"
finish
