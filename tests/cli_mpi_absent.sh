# A vae built without MPI (-DVAE_MPI=OFF, or no libopenmpi-dev) started by
# mpirun with 2 processes refuses to train, once, exit 1, writing nothing,
# rather than have 2 copies train alone into one run folder. Runs where
# mpirun exists and this vae has no MPI (CI's sanitizer build); skips (77)
# otherwise.
. "$(dirname "$0")/cli_lib.sh"
if ! "$VAE" --version | grep -q '^MPI: none'; then echo "this vae has MPI (tests/cli_mpi*.sh test it); skipping"; exit 77; fi
command -v mpirun >/dev/null || { echo "mpirun is not installed; skipping"; exit 77; }
export OMPI_MCA_btl_vader_single_copy_mechanism=none
MPIRUN=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" -ne 0 ] || MPIRUN+=(--allow-run-as-root)

make_data "$T/d" 100 20 8 8
before=$(snapshot "$WORK" "$T/run")
mpi -np 2 "$VAE" train --data "$T/d" --hidden 8 --zdim 2 --epochs 1 --threads 1 --out "$T/run"
check "2 copies of an MPI-less vae: exit 1 (got $RC)" test "$RC" -eq 1
check "... say so once" test "$(grep -c "built without MPI" "$ERR")" -eq 1
check "... write nothing" test "$before" = "$(snapshot "$WORK" "$T/run")"
# one copy under mpirun is an ordinary run
mpi -np 1 "$VAE" train --data "$T/d" --hidden 8 --zdim 2 --epochs 1 --threads 1 --no-images --out "$T/one"
check "1 copy under mpirun trains (exit $RC)" test "$RC" -eq 0 -a -s "$T/one/model.safetensors"
finish
