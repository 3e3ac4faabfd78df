# Stopping a run under mpirun. SIGTERM or SIGINT to the ranks (what Slurm's
# scancel and time limit send, and srun forwards) stops every rank at the
# same step; rank 0 saves the checkpoint, the run exits 143/130 and the
# checkpoint resumes in one process. SIGTERM to Open MPI's mpirun itself:
# mpirun passes SIGTERM on, kills the ranks a second later and exits 1 of
# its own accord; the checkpoint saved in that second resumes under 2
# ranks. A rank killed outright (SIGKILL) takes the others down: the run
# exits non-zero within seconds, never hangs.
. "$(dirname "$0")/cli_lib.sh"
mpi_or_skip

make_data "$T/d" 2000 60 28 28
# many small steps: a signal lands inside an epoch
ARGS=(train --data "$T/d" --hidden 128 --zdim 2 --batch 4 --epochs 500 --threads 1 --no-images)

# start_run DIR: mpirun -np 2 in the background ($pid: timeout's, whose
# child is mpirun, whose children are the ranks: $ranks); returns once the
# ranks have agreed to train (rank 0 has written DIR/config.ini)
start_run() {
    (cd "$WORK" && exec timeout 120 "${MPIRUN[@]}" -np 2 "$VAE" "${ARGS[@]}" --out "$1") >"$T/out" 2>"$T/err" &
    pid=$!
    for _ in $(seq 1 600); do [ -e "$1/config.ini" ] && break; sleep 0.05; done
    sleep 0.5
    launcher=$(pgrep -P "$pid" | head -n 1)
    ranks=$([ -n "$launcher" ] && pgrep -P "$launcher" -x vae)
}
# stopped_at: the epoch rank 0 said it stopped after (empty if it did not say)
stopped_at() { sed -n 's/.*stopped by signal [0-9]* after epoch \([0-9]*\) (step [0-9]*).*/\1/p' "$T/err" | head -n 1; }

# ---- SIGTERM / SIGINT to the ranks ----
for case in "TERM 143" "INT 130"; do
    set -- $case
    dir="$T/ranks-$1"
    start_run "$dir"
    check "SIG$1 to the ranks: found 2 ranks" test "$(echo $ranks | wc -w)" -eq 2
    kill -s "$1" $ranks
    wait "$pid"
    rc=$?
    check "SIG$1 to the ranks: exit $2 (got $rc)" test "$rc" -eq "$2"
    [ "$rc" -eq "$2" ] || sed 's/^/    stderr: /' "$T/err" | head -20
    check "SIG$1 to the ranks: rank 0 says where it stopped, once" \
        test "$(grep -cE "^vae: stopped by signal $(kill -l "$1") after epoch [0-9]+ \(step [0-9]+\)" "$T/err")" -eq 1
    e=$(stopped_at)
    check "SIG$1 to the ranks: a checkpoint" test -s "$dir/model.safetensors"
    expect 0 "" eval --model "$dir/model.safetensors" --threads 1
    run_vae train --resume "$dir/model.safetensors" --epochs $(( ${e:-0} + 1 )) --threads 1 --no-images
    check "SIG$1 to the ranks: the checkpoint resumes in one process (exit $RC)" test "$RC" -eq 0
    check "SIG$1 to the ranks: ... and finishes epoch $(( ${e:-0} + 1 ))" \
        test "$(grep -c "^$(( ${e:-0} + 1 ))," "$dir/metrics.csv")" -eq 1
done

# ---- SIGTERM to mpirun ----
dir="$T/mpirun-TERM"
start_run "$dir"
kill -s TERM "$launcher"
wait "$pid"
rc=$?
check "SIGTERM to mpirun: exit non-zero, not the time limit (got $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "SIGTERM to mpirun: rank 0 saved a checkpoint at the stop" grep -qE "stopped by signal 15 after epoch [0-9]+" "$T/err"
[ -s "$dir/model.safetensors" ] || sed 's/^/    stderr: /' "$T/err" | head -20
e=$(stopped_at)
mpi -np 2 "$VAE" train --resume "$dir/model.safetensors" --epochs $(( ${e:-0} + 1 )) --threads 1 --no-images
check "SIGTERM to mpirun: the checkpoint resumes under 2 ranks (exit $RC)" test "$RC" -eq 0
check "... and finishes epoch $(( ${e:-0} + 1 ))" test "$(grep -c "^$(( ${e:-0} + 1 ))," "$dir/metrics.csv")" -eq 1

# ---- one rank killed outright ----
dir="$T/k9"
start_run "$dir"
victim=$(echo $ranks | tr ' ' '\n' | tail -n 1)
check "found a rank to kill" test -n "$victim"
t0=$(date +%s)
[ -n "$victim" ] && kill -9 "$victim"
wait "$pid"
rc=$?
check "a rank killed: the run exits non-zero (got $rc), not by the time limit" test "$rc" -ne 0 -a "$rc" -ne 124
check "a rank killed: within 60 s ($(( $(date +%s) - t0 )) s)" test $(( $(date +%s) - t0 )) -lt 60
# (a rank that exited may linger as a zombie when mpirun left first: not running)
sleep 1
check "a rank killed: no rank left running" \
    test -z "$(for r in $ranks; do ps -o stat= -p "$r" 2>/dev/null | grep -qv Z && echo "$r"; done)"

finish
