# vae train under mpirun: rank 0 alone writes (each rank runs in its own
# folder here, so a write by rank 1 would show) and reports once; a rank
# that fails at start-up (a bad data path, a damaged or different data file,
# another --seed) makes every rank exit 1 with that rank's message, with no
# hang and nothing written; --model eae under 2 ranks is a usage error; a
# divergence is reported once; an error on rank 0 after start-up (it cannot
# write metrics.csv) ends every rank through MPI_Abort.
. "$(dirname "$0")/cli_lib.sh"
mpi_or_skip

make_data "$T/d" 300 60 12 12
A="$T/rank0"
B="$T/rank1"
mkdir -p "$A" "$B"
# train_args DATA: the same small run, on the data folder given
train_args() { echo train --data "$1" --hidden 16 --zdim 2 --batch 40 --epochs 2 --threads 1; }

# ---- rank 0 writes the run folder; rank 1 writes nothing ----
mpi -np 1 --wdir "$A" "$VAE" $(train_args "$T/d") --json --out run : -np 1 --wdir "$B" "$VAE" $(train_args "$T/d") --json --out run
check "2 ranks train (exit $RC)" test "$RC" -eq 0
[ "$RC" -eq 0 ] || sed 's/^/    stderr: /' "$ERR" | head -20
check "rank 0 wrote the checkpoint, metrics, settings and grids" \
    test -s "$A/run/model.safetensors" -a -s "$A/run/metrics.csv" -a -s "$A/run/config.ini" -a -s "$A/run/sample-02.png"
check "two epochs in metrics.csv" test "$(grep -c '^[12],' "$A/run/metrics.csv")" -eq 2
check "rank 1 wrote nothing" test -z "$(ls -A "$B")"
check "one JSON report, saying 2 ranks" test "$(grep -c '"ranks":2' "$OUT")" -eq 1
check "one line per epoch on stderr" test "$(grep -c '^epoch ' "$ERR")" -eq 2
expect 0 "" eval --model "$A/run/model.safetensors" --data "$T/d" --threads 1
# both ranks in one folder: rank 1 takes no lock on the run folder
mpi -np 2 "$VAE" $(train_args "$T/d") --out "$T/same"
check "2 ranks in one folder train (exit $RC)" test "$RC" -eq 0

# ---- start-up failures on one rank stop every rank, with its message ----
# refused SUBSTRING DATA1 [EXTRA1...]: rank 1 reads DATA1 (and gets EXTRA1);
# exit 1, the message once, nothing written by either rank
refused() {
    local msg=$1 data1=$2
    shift 2
    local before after
    before=$(snapshot "$A" "$B")
    mpi -np 1 --wdir "$A" "$VAE" $(train_args "$T/d") --out bad : -np 1 --wdir "$B" "$VAE" $(train_args "$data1") "$@" --out bad
    after=$(snapshot "$A" "$B")
    check "rank 1 with $data1 $*: exit 1 (got $RC)" test "$RC" -eq 1
    check "rank 1 with $data1 $*: says '$msg' once" test "$(grep -cF -- "$msg" "$ERR")" -eq 1
    check "rank 1 with $data1 $*: names rank 1" grep -qF "rank 1" "$ERR"
    check "rank 1 with $data1 $*: nothing written" test "$before" = "$after"
    [ "$RC" -eq 1 ] || sed 's/^/    stderr: /' "$ERR" | head -20
}
refused "$T/nope" "$T/nope"
# a damaged file: truncated in the middle of the pixels
cp -r "$T/d" "$T/trunc"
head -c 20000 "$T/d/train-images-idx3-ubyte" >"$T/trunc/train-images-idx3-ubyte"
refused "$T/trunc/train-images-idx3-ubyte" "$T/trunc"
# a valid file with one pixel changed: the data differ between the ranks
cp -r "$T/d" "$T/other"
printf '\x7f' | dd of="$T/other/train-images-idx3-ubyte" bs=1 seek=1000 conv=notrunc 2>/dev/null
refused "differ from rank 0's" "$T/other"
# the same data but other settings on one rank
refused "settings" "$T/d" --seed 9

# ---- the EAE couples its batch: one process only ----
WATCH=("$WORK" "$A" "$B")
before=$(snapshot "${WATCH[@]}")
mpi -np 2 "$VAE" train --data "$T/d" --model eae --zdim 2 --batch 40 --epochs 1 --threads 1 --out "$T/eae"
check "--model eae under 2 ranks: exit 2 (got $RC)" test "$RC" -eq 2
check "--model eae under 2 ranks: names --model, once" test "$(grep -c -- "--model: eae couples" "$ERR")" -eq 1
check "--model eae under 2 ranks: nothing written" test "$before" = "$(snapshot "${WATCH[@]}")"

# ---- a divergence after start-up (here in rank 0's test-set evaluation): reported once ----
# (tests/cli_nonfinite.sh's run: one step per epoch, diverging within a few)
make_data "$T/nf" 200 50 8 8
mpi -np 2 "$VAE" train --data "$T/nf" --hidden 16 --zdim 2 --batch 200 --threads 1 --no-images --lr 10 --seed 1 \
    --epochs 100 --out "$T/diverge"
check "a divergence under 2 ranks: exit 1 (got $RC)" test "$RC" -eq 1
check "a divergence under 2 ranks: the message once" test "$(grep -c "lower learning rate" "$ERR")" -eq 1

# ---- an error on one rank after start-up (rank 0 cannot write its run folder's
# metrics.csv, a folder in its place): MPI_Abort ends every rank, no hang ----
mkdir -p "$T/nowrite/metrics.csv"
mpi -np 2 "$VAE" train --data "$T/d" --hidden 16 --zdim 2 --batch 40 --epochs 1 --threads 1 --no-images --out "$T/nowrite"
check "rank 0 fails to write after start-up: exit non-zero (got $RC), not the time limit" test "$RC" -ne 0 -a "$RC" -ne 124
check "rank 0 fails to write after start-up: its message names the file and the rank" \
    grep -qF "$T/nowrite/metrics.csv" "$ERR"
check "rank 0 fails to write after start-up: says it stops every rank (MPI_Abort)" grep -qF "(rank 0 of 2; stopping every rank)" "$ERR"

finish
