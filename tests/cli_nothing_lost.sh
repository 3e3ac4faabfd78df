# Nothing lost: a trained model is never overwritten by accident, and no input
# of a command is ever replaced by its output. Each block is one case of
# issue 9 and the family it belongs to.
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 200 50 8 8
TINY=(--hidden 16 --zdim 2 --batch 32 --threads 1 --no-images)

# ---- a model whose checkpoint could not be loaded again is refused before the first step ----
# 8x8 images, hidden 11000,11000: 243 M parameters, a 2.9 GB checkpoint (the loader reads 2 GiB)
expect 1 "more than the 2147483648-byte limit" train --data "$T/d" --out "$WORK/big" --hidden 11000,11000 --epochs 1 --no-images
check "nothing was created for the refused model" test ! -e "$WORK/big"

# ---- a data path of any length is recorded whole, never cut short ----
LONG="$T/$(printf 'a%.0s' $(seq 200))/$(printf 'b%.0s' $(seq 200))"
mkdir -p "$LONG"
cp "$T/d"/* "$LONG"/
run_vae train --data "$LONG" --out "$T/long" "${TINY[@]}" --epochs 1
check "training on a ${#LONG}-character data path succeeds (exit $RC)" test "$RC" -eq 0
expect 0 "" eval --model "$T/long/model.safetensors" --json
check "eval finds the data folder the checkpoint names" grep -qF "\"data\":\"$LONG\"" "$OUT"
expect 2 "--data: is 5000 bytes long" train --data "$(printf 'x%.0s' $(seq 5000))" --out "$WORK/x"

# ---- a run folder belongs to one run ----
hdr() { perl -e 'open(my $f, "<:raw", $ARGV[0]) or die; read($f, my $n, 8); read($f, my $h, unpack("Q<", $n)); print $h' "$1"; }
meta() { hdr "$1" | grep -oE "\"$2\":\"[^\"]*\"" | cut -d'"' -f4; }
# case 1: --resume without --out continues in the checkpoint's own folder,
# not in runs/default (which holds another model here)
(cd "$WORK" && "$VAE" train --data "$T/d" "${TINY[@]}" --epochs 1 >/dev/null 2>&1)
check "a default run wrote runs/default" test -s "$WORK/runs/default/model.safetensors"
cp "$WORK/runs/default/model.safetensors" "$T/default.ck"
cp "$WORK/runs/default/metrics.csv" "$T/default.csv"
run_vae train --data "$T/d" --out "$T/beta4" "${TINY[@]}" --beta 4 --epochs 1
check "the beta-4 run trained (exit $RC)" test "$RC" -eq 0
expect 0 "" train --resume "$T/beta4/model.safetensors" --epochs 2 --threads 1 --no-images
check "--resume without --out trained the checkpoint's own folder to epoch 2" test "$(meta "$T/beta4/model.safetensors" epoch)" = 2
check "its metrics.csv has both epochs" test "$(tail -n +2 "$T/beta4/metrics.csv" | wc -l)" -eq 2
check "runs/default's model is untouched" cmp -s "$WORK/runs/default/model.safetensors" "$T/default.ck"
check "runs/default's metrics.csv is untouched" cmp -s "$WORK/runs/default/metrics.csv" "$T/default.csv"

# case 2: a plain train into a folder holding a model refuses, and says how to go on
WATCH=("$WORK" "$T/beta4")
expect 1 "already holds a trained model" train --data "$T/d" --out "$T/beta4" "${TINY[@]}" --epochs 1
check "the refusal names --resume and --force" grep -qF -- "--resume $T/beta4/model.safetensors, or start over with --force" "$ERR"
expect 1 "already holds a trained model" train --data "$T/d" "${TINY[@]}" --epochs 1   # runs/default, from $WORK
# --resume of one model into a folder holding another is refused too
expect 1 "holds another checkpoint" train --resume "$T/default.ck" --out "$T/beta4" --epochs 2 --threads 1 --no-images
WATCH=("$WORK")
# --force starts over and replaces it
expect 0 "" train --data "$T/d" --out "$T/beta4" "${TINY[@]}" --epochs 1 --force
check "--force replaced the model (epoch 1, beta 1)" test "$(meta "$T/beta4/model.safetensors" epoch),$(meta "$T/beta4/model.safetensors" beta)" = "1,1"
check "--force restarted metrics.csv" test "$(tail -n +2 "$T/beta4/metrics.csv" | wc -l)" -eq 1

# case 2: two runs into one folder at once: the second exits 1 at once, naming the first's pid
make_data "$T/big" 6000 50 8 8
mkdir -p "$T/shared"
(cd "$WORK" && exec "$VAE" train --data "$T/big" --out "$T/shared" --hidden 64 --zdim 2 --batch 8 --threads 1 \
    --no-images --epochs 1000 >/dev/null 2>"$T/first.err") &
first=$!
# the first run locks the (existing) folder before it loads anything
for _ in $(seq 300); do grep -qE "FLOCK +ADVISORY +WRITE +$first " /proc/locks && break; sleep 0.1; done
check "the first run holds the folder's lock" grep -qE "FLOCK +ADVISORY +WRITE +$first " /proc/locks
# (the first run is writing there, so only $WORK is watched for changes)
t0=$(date +%s)
expect 1 "$T/shared: another vae train (pid $first) is using this run folder" train --data "$T/d" --out "$T/shared" "${TINY[@]}" --epochs 1
check "the second run gave up at once ($(( $(date +%s) - t0 )) s)" test $(( $(date +%s) - t0 )) -le 10
expect 1 "another vae train (pid $first)" train --data "$T/d" --out "$T/shared" "${TINY[@]}" --epochs 1 --force
check "the refused runs wrote no checkpoint of their own (still the big model's 6000-image data)" \
    test "$(meta "$T/shared/model.safetensors" dataset 2>/dev/null || echo none)" != "$T/d"
kill -INT "$first" 2>/dev/null
wait "$first"
rc=$?
check "the first run stopped cleanly on SIGINT (exit $rc)" test "$rc" -eq 130
check "and its checkpoint loads" "$VAE" eval --model "$T/shared/model.safetensors" --data "$T/big" --threads 1 >/dev/null 2>&1
# once it is gone, the folder can be resumed
expect 0 "" train --resume "$T/shared/model.safetensors" --epochs $(( $(meta "$T/shared/model.safetensors" epoch) + 1 )) --threads 1 --no-images

# ---- after a divergence the advice works: --resume may change --lr ----
run_vae train --data "$T/d" --out "$T/lr" "${TINY[@]}" --epochs 1 --lr 0.001
expect 0 "" train --resume "$T/lr/model.safetensors" --epochs 2 --lr 0.0005 --threads 1 --no-images
check "the resumed run trained with the new lr (metadata lr $(meta "$T/lr/model.safetensors" lr))" \
    test "$(meta "$T/lr/model.safetensors" lr)" = 0.000500000024
check "train --help says which settings --resume may change" grep -qF "With --resume, these may differ" <("$VAE" train --help)
# a different data set needs --new-data
make_data "$T/other" 100 50 8 8
usage_err "--data: conflicts with the checkpoint" train --resume "$T/lr/model.safetensors" --data "$T/other" --epochs 3 --threads 1 --no-images
check "and names --new-data" grep -qF -- "--new-data" "$ERR"
expect 0 "" train --resume "$T/lr/model.safetensors" --data "$T/other" --new-data --epochs 3 --threads 1 --no-images
check "the checkpoint now names the new data set" test "$(meta "$T/lr/model.safetensors" dataset)" = "$T/other"
usage_err "--new-data: only applies with --resume" train --data "$T/other" --new-data --out "$WORK/n"
# the same folder spelled differently is not a different data set
expect 0 "" train --resume "$T/lr/model.safetensors" --data "$T/other/" --epochs 4 --threads 1 --no-images

# ---- no output ever lands on an input (case 3 and its family) ----
M="$T/m3/model.safetensors"
run_vae train --data "$T/d" --out "$T/m3" "${TINY[@]}" --epochs 1
cp "$M" "$T/m3.orig"
cp -r "$T/d" "$T/d.orig"
WATCH=("$WORK" "$T/m3" "$T/d")
usage_err "--out: $M is the checkpoint this command reads" sample -m "$M" -o "$M"
(cd "$T/m3" && "$VAE" sample -m model.safetensors -o ./model.safetensors >/dev/null 2>"$ERR"); rc=$?
check "sample -o ./model.safetensors (another spelling) exits 2 ($rc)" test "$rc" -eq 2
ln -s "$M" "$WORK/link.png"
ln "$M" "$WORK/hard.png"
usage_err "--out: $WORK/link.png is the checkpoint" sample -m "$M" -o "$WORK/link.png"
usage_err "--out: $WORK/hard.png is the checkpoint" sample -m "$M" -o "$WORK/hard.png"
usage_err "--out: $T/d/t10k-images-idx3-ubyte is the data file" reconstruct -m "$M" --data "$T/d" -o "$T/d/t10k-images-idx3-ubyte"
usage_err "--out: $M is the checkpoint" reconstruct -m "$M" --data "$T/d" -o "$M"
usage_err "--out: $M is the checkpoint" latent -m "$M" --data "$T/d" -o "$M"
usage_err "--out: $T/d/t10k-labels-idx1-ubyte is the data file" latent -m "$M" --data "$T/d" -o "$T/d/t10k-labels-idx1-ubyte"
cp "$M" "$T/m3/ck.png"   # a checkpoint named like a picture
usage_err "--out: $T/m3/ck.png is the checkpoint" scatter -m "$T/m3/ck.png" --data "$T/d" -o "$T/m3/ck.png"
usage_err "--csv: $M is the checkpoint" scatter -m "$M" --data "$T/d" --csv "$M"
usage_err "--csv: $WORK/both.png is also the --out picture" scatter -m "$M" --data "$T/d" -o "$WORK/both.png" --csv "$WORK/both.png"
usage_err "--out: $M is the checkpoint" manifold -m "$M" --data "$T/d" -o "$M"
usage_err "--out: $T/d/train-images-idx3-ubyte is the data file" manifold -m "$M" --data "$T/d" -o "$T/d/train-images-idx3-ubyte"
usage_err "--out: $M is the checkpoint" interpolate -m "$M" --data "$T/d" -o "$M"
# the data folder the checkpoint names is an input too, without --data
usage_err "--out: $T/d/t10k-images-idx3-ubyte is the data file" reconstruct -m "$M" -o "$T/d/t10k-images-idx3-ubyte"
# train: a run-folder file that is a data file or the resumed checkpoint
mv "$T/m3/metrics.csv" "$T/metrics.keep"
ln -s "$T/d/train-labels-idx1-ubyte" "$T/m3/metrics.csv"
usage_err "--out: $T/m3/metrics.csv is the data file" train --resume "$M" --epochs 2 --threads 1 --no-images
rm "$T/m3/metrics.csv"
mv "$T/metrics.keep" "$T/m3/metrics.csv"
cp "$M" "$T/elsewhere.safetensors"
ln -s "$T/elsewhere.safetensors" "$T/m3/sample-02.png"
usage_err "--out: $T/m3/sample-02.png is the checkpoint" train --resume "$T/elsewhere.safetensors" --out "$T/m3" --force --epochs 2 --threads 1
rm "$T/m3/sample-02.png"
WATCH=("$WORK")
check "the checkpoint is unchanged by all of that" cmp -s "$M" "$T/m3.orig"
check "and the data files too" diff -r "$T/d" "$T/d.orig"
rm -f "$WORK/link.png" "$WORK/hard.png"

# ---- a symlinked output is replaced atomically in the link's target folder (case 4) ----
mkdir -p "$T/real" "$T/links"
run_vae train --data "$T/d" --out "$T/real" "${TINY[@]}" --epochs 1
cp "$T/real/model.safetensors" "$T/real.orig"
ln -s "$T/real/model.safetensors" "$T/links/model.safetensors"
cp "$T/real/metrics.csv" "$T/links/metrics.csv"
# a failed write (the file-size limit, with SIGXFSZ ignored so write() fails)
# leaves the old model whole; it used to be truncated in place through the link
(ulimit -f 16; trap '' XFSZ; exec "$VAE" train --resume "$T/links/model.safetensors" --out "$T/links" --epochs 2 --threads 1 --no-images) >/dev/null 2>"$ERR"
rc=$?
check "a checkpoint write over the file-size limit fails (exit $rc)" test "$rc" -eq 1
check "and says why" grep -qF "File too large" "$ERR"
check "the linked model is byte for byte the old one" cmp -s "$T/real/model.safetensors" "$T/real.orig"
check "the link is still a link" test -L "$T/links/model.safetensors"
check "no temp file is left in the target's folder" test -z "$(ls "$T/real" | grep -F .tmp-)"
# a good write replaces the target (a new file, by rename) and keeps the link
ino=$(stat -c %i "$T/real/model.safetensors")
expect 0 "" train --resume "$T/links/model.safetensors" --out "$T/links" --epochs 2 --threads 1 --no-images
check "the target was replaced by rename (inode $ino -> $(stat -c %i "$T/real/model.safetensors"))" \
    test "$(stat -c %i "$T/real/model.safetensors")" != "$ino"
check "the link still names it" test "$(readlink "$T/links/model.safetensors")" = "$T/real/model.safetensors"
check "and it loads at epoch 2" test "$(meta "$T/real/model.safetensors" epoch)" = 2
# a temp file left by a kill -9 (its pid gone) is removed by the next write into the folder
sh -c 'exit 0' & dead=$!
wait "$dead"
: >"$T/real/model.safetensors.tmp-$dead-Zz9zZ9"
expect 0 "" sample -m "$T/real/model.safetensors" -o "$T/real/s.png"
check "the stale temp file of pid $dead is gone" test ! -e "$T/real/model.safetensors.tmp-$dead-Zz9zZ9"

# ---- check before you allocate (case 10), with the limit in the message ----
# a 600x600-image model: 4096 samples would be a 38530-pixel-wide grid (5.9 GB of floats first)
make_data "$T/big600" 2 2 600 600
run_vae train --data "$T/big600" --out "$T/m600" --hidden 2 --zdim 1 --batch 2 --epochs 1 --threads 1 --no-images
check "a 600x600 model trained (exit $RC)" test "$RC" -eq 0
# AddressSanitizer reserves terabytes of address space for its shadow memory, so
# under it the refusal is checked without the address-space limit
vlimit=3000000
grep -q __asan_init "$VAE" && vlimit=unlimited
(ulimit -v "$vlimit"; exec "$VAE" sample -m "$T/m600/model.safetensors" -n 4096 -o "$WORK/big.png" --threads 1) >/dev/null 2>"$ERR"
rc=$?
check "sample -n 4096 on 600x600 images is refused (exit $rc) under a 3 GB address-space limit" test "$rc" -eq 1
check "with the grid limit in the message" grep -qF "(the limit is 32768 pixels a side" "$ERR"
check "and nothing written" test ! -e "$WORK/big.png"
# a t-SNE map of more points than the limit: refused before its n x n matrix
make_data "$T/many" 20 16400 2 2
run_vae train --data "$T/many" --out "$T/m2x2" --hidden 2 --zdim 3 --batch 20 --epochs 1 --threads 1 --no-images
usage_err "-n: an exact t-SNE map of 16400 points needs 1.1 GB" scatter -m "$T/m2x2/model.safetensors" -n 20000 --tsne exact -o "$WORK/t.png"
check "the message names the limit" grep -qF "the limit is 16384 points" "$ERR"
# a latent dump of more numbers than the limit: 16400 images x zdim 1100
run_vae train --data "$T/many" --out "$T/m2x2z" --hidden 2 --zdim 1100 --batch 20 --epochs 1 --threads 1 --no-images
expect 1 "more than the 16777216 a latent dump may hold" latent -m "$T/m2x2z/model.safetensors" -o "$WORK/l.csv"

# ---- no fixed-size buffer depends on a value from a file ----
# a valid checkpoint written elsewhere (NumPy, PyTorch) may have any zdim the
# loader accepts; manifold used a fixed float[4096] for the traversed mean
Z5000="${VAE_SOURCE_DIR:-.}/tests/fuzz/corpus/checkpoint/valid-weights-zdim5000"
if [ ! -f "$Z5000" ]; then
    bad "the zdim-5000 corpus checkpoint is missing ($Z5000)"
else
    make_data "$T/d2" 12 6 2 2
    # every dimension's KL is computed; two rows asked for, the first and the last dimension
    expect 0 "" manifold --model "$Z5000" --data "$T/d2" --steps 2 --index 5 --dims 0,4999 -o "$WORK/m5000.png"
    m5000=$(png_size "$WORK/m5000.png")
    check "manifold of a zdim-5000 model: 2 labelled rows of 2 tiles ($m5000)" test "${m5000#*x}" = 10 -a "${m5000%x*}" -gt 10
    expect 0 "" latent --model "$Z5000" --data "$T/d2" -o "$WORK/l5000.csv"
    check "latent of a zdim-5000 model: 5002 columns" test "$(head -1 "$WORK/l5000.csv" | tr ',' '\n' | wc -l)" -eq 5002
    expect 0 "" interpolate --model "$Z5000" --data "$T/d2" --steps 3 -o "$WORK/i5000.png"
    rm -f "$WORK"/*5000*
fi

finish
