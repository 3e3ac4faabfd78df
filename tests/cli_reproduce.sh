# scripts/reproduce-iwae-table.sh end to end on a tiny data set: trains the
# Burda-sized model for 2 epochs (one per invocation of vae train, resumed),
# keeps and evaluates the epoch-1 checkpoint for the curve, runs the final
# --iw evaluation and writes report.md beside the published numbers; a second
# run continues nothing and rewrites the same report; bad options exit 2.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 200 12 28 28
S="$VAE_SOURCE_DIR/scripts/reproduce-iwae-table.sh"
R="$T/run"
run() { bash "$S" --bin "$VAE" --data "$T/d" --out "$R" --batch 50 --threads 1 "$@" >"$OUT" 2>"$ERR"; RC=$?; }
run --epochs 2 --k 20 --eval-images 12 --curve-k 5 --curve-images 12 --curve-at 1
check "the script succeeds (exit $RC)" test "$RC" -eq 0
check "two epochs trained" grep -q '"epoch":"2"' "$R/model.safetensors"
check "the model is Burda's: tanh, 200,200, zdim 50, dynamic binarization, lr stages, eps 1e-4" \
    sh -c "grep -q '\"activation\":\"tanh\"' '$R/model.safetensors' && grep -q '\"hidden\":\"200,200\"' '$R/model.safetensors' &&
           grep -q '\"zdim\":\"50\"' '$R/model.safetensors' && grep -q '\"binarize\":\"dynamic\"' '$R/model.safetensors' &&
           grep -q '\"lr_decay\":\"1\"' '$R/model.safetensors' && grep -q '\"adam_eps\":\"9.99999975e-05\"' '$R/model.safetensors'"
check "the epoch-1 checkpoint is kept" test -s "$R/ckpt-1.safetensors"
check "curve.csv has the epoch-1 point" grep -Eq '^1,5,12,[0-9.]+,' "$R/curve.csv"
check "the final evaluation ran with K = 20" grep -q '"iw_k":20' "$R/final-epoch2-k20.json"
check "report.md has the published row" grep -q '| VAE, Burda et al. 2015 (published, k = 1 training) | 3280 | 86.76 | 5000 | 10000 |' "$R/report.md"
check "report.md has this run's row" grep -Eq '^\| VAE, vae \(this run\) \| 2 \| [0-9.]+ ± [0-9.]+ \| 20 \| 12 \|$' "$R/report.md"
cp "$R/report.md" "$T/report1.md"
run --epochs 2 --k 20 --eval-images 12
check "a second run has nothing left to do and succeeds (exit $RC)" test "$RC" -eq 0
check "... and writes the same report" cmp -s "$R/report.md" "$T/report1.md"
run --k x
check "a bad number exits 2 (exit $RC)" test "$RC" -eq 2
check "... naming the option" grep -q -- "--k needs a whole number" "$ERR"
run --frobnicate
check "an unknown option exits 2 (exit $RC)" test "$RC" -eq 2
finish
