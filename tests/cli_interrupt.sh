# Interrupted training: SIGINT/SIGTERM/SIGHUP in the first epoch still save a
# resumable checkpoint and exit 130/143/129 (an ignored SIGHUP, as under nohup,
# stays ignored); kill -9 at any moment leaves the last
# completed checkpoint intact and loadable (saves are temp file + rename).
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 3000 100 28 28

# ---- a signal in the very first epoch ----
for case in "INT 130" "TERM 143" "HUP 129"; do
    set -- $case
    dir="$T/first-$1"
    # SIGHUP at its default whatever this shell inherited (a CI job under nohup)
    (cd "$WORK" && exec perl -e '$SIG{HUP} = "DEFAULT"; exec @ARGV or exit 127' "$VAE" train --data "$T/d" --out "$dir" --hidden 256 --zdim 2 --batch 2 --epochs 50 \
        --threads 1 --no-images) 2>"$T/err" &
    pid=$!
    # the run folder appears once training has started (handlers are installed
    # before that), so the signal never lands in start-up, however slow the build
    for _ in $(seq 1 200); do [ -d "$dir" ] && break; sleep 0.05; done
    sleep 0.2
    kill -s "$1" "$pid"
    wait "$pid"
    rc=$?
    check "SIG$1 in epoch 1: exit $2 (got $rc)" test "$rc" -eq "$2"
    check "SIG$1 in epoch 1: says after epoch 0" grep -qE "stopped by signal [0-9]+ after epoch 0 \(step [0-9]+\)" "$T/err"
    check "SIG$1 in epoch 1: says how to resume" grep -qF "resume with: vae train --resume $dir/model.safetensors --out $dir" "$T/err"
    check "SIG$1 in epoch 1: no metrics row yet" test ! -e "$dir/metrics.csv"
    expect 0 "" eval --model "$dir/model.safetensors"
    # and it resumes (for one more epoch only, to keep this quick)
    run_vae train --resume "$dir/model.safetensors" --out "$dir" --epochs 1 --threads 1 --no-images
    check "SIG$1 in epoch 1: --resume --epochs 1 finishes the epoch (exit $RC)" test "$RC" -eq 0
    check "SIG$1 in epoch 1: one metrics row after the resume" test "$(grep -c '^1,' "$dir/metrics.csv")" -eq 1
done

# ---- a hang-up the user chose to ignore (nohup) does not stop training ----
dir="$T/nohup"
(cd "$WORK" && exec perl -e '$SIG{HUP} = "IGNORE"; exec @ARGV or exit 127' "$VAE" train --data "$T/d" --out "$dir" \
    --hidden 256 --zdim 2 --batch 2 --epochs 50 --threads 1 --no-images) 2>"$T/err" &
pid=$!
for _ in $(seq 1 200); do [ -d "$dir" ] && break; sleep 0.05; done
sleep 0.2
kill -s HUP "$pid"
sleep 0.5
check "ignored SIGHUP: still training 0.5 s later" kill -0 "$pid"
kill -s INT "$pid"
wait "$pid"
rc=$?
check "ignored SIGHUP, then SIGINT: exit 130 (got $rc: $(head -c 200 "$T/err"))" test "$rc" -eq 130

# ---- signals never land on a computing thread ----
# oneDNN 2.x's JIT sgemm kernels run with rsp pointing into the heap, so a
# handler run on a thread inside one corrupts the heap (glibc then aborts,
# exit 134, about one interrupt in ten): the training threads block SIGINT and
# SIGTERM and a watcher thread takes them. The main thread computes (worker 0)
dir="$T/mask"
(cd "$WORK" && exec "$VAE" train --data "$T/d" --out "$dir" --hidden 256 --zdim 2 --batch 2 --epochs 50 \
    --threads 2 --no-images) 2>"$T/err" &
pid=$!
for _ in $(seq 1 200); do [ -d "$dir" ] && break; sleep 0.05; done
sleep 0.2
blk=$(awk '/^SigBlk:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
kill -s INT "$pid"
wait "$pid"
rc=$?
check "SIGINT, 2 threads: exit 130 (got $rc)" test "$rc" -eq 130
# SIGINT is signal 2 (mask bit 1), SIGTERM 15 (bit 14)
check "training: the main thread blocks SIGINT and SIGTERM (SigBlk ${blk:-unreadable})" \
    test -n "$blk" -a $(( (0x${blk:-0} >> 1) & 1 )) -eq 1 -a $(( (0x${blk:-0} >> 14) & 1 )) -eq 1
# and many interrupts at random moments of the steps all stop cleanly
RANDOM=777
for i in 1 2 3 4 5 6 7 8 9 10; do
    dir="$T/many-$i"
    (cd "$WORK" && exec "$VAE" train --data "$T/d" --out "$dir" --hidden 256 --zdim 2 --batch 2 --epochs 50 \
        --threads $((i % 2 + 1)) --no-images) 2>"$T/err" &
    pid=$!
    for _ in $(seq 1 200); do [ -d "$dir" ] && break; sleep 0.05; done
    sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
    sig=INT; [ $((i % 3)) -eq 0 ] && sig=TERM
    kill -s "$sig" "$pid"
    wait "$pid"
    rc=$?
    check "SIG$sig #$i at a random step: exit 130/143, no abort (got $rc: $(head -c 200 "$T/err"))" \
        test "$rc" -eq 130 -o "$rc" -eq 143
done

# ---- a signal during the last epoch's evaluation ----
# one step of training, then a resnet evaluates 3,000 test images (seconds):
# the run is complete and saved, and still exits as interrupted
make_data "$T/ev" 128 3000 28 28
dir="$T/last-eval"
(cd "$WORK" && exec "$VAE" train --data "$T/ev" --out "$dir" --arch resnet --epochs 1 --threads 1 --no-images) \
    2>"$T/err" &
pid=$!
for _ in $(seq 1 200); do [ -d "$dir" ] && break; sleep 0.05; done
sleep 0.8   # one step takes ~0.3 s here, the evaluation until ~2.8 s; any moment before the end must exit 130
kill -s INT "$pid"
wait "$pid"
rc=$?
check "SIGINT in the last evaluation: exit 130 (got $rc: $(head -c 300 "$T/err"))" test "$rc" -eq 130
if grep -q "after the last epoch" "$T/err"; then
    check "SIGINT in the last evaluation: the epoch's row is written" test "$(grep -c '^1,' "$dir/metrics.csv")" -eq 1
    expect 0 "" eval --model "$dir/model.safetensors"
fi

# ---- kill -9 at random moments ----
# one optimizer step per epoch and a large model, so most of the time goes to
# evaluating and writing a ~20 MB checkpoint: kills land inside saves too
dir="$T/k9"
ARGS=(--data "$T/d" --hidden 1024 --zdim 2 --batch 3000 --threads 1 --no-images)
RANDOM=12345
loaded=0
# a first completed epoch, so every kill below lands on a run that has a
# checkpoint to lose (slow builds, ASan, would otherwise never reach one)
run_vae train "${ARGS[@]}" --out "$dir" --epochs 1
check "kill -9: the first epoch completes (exit $RC)" test "$RC" -eq 0
for i in 1 2 3 4 5 6 7 8; do
    (cd "$WORK" && exec "$VAE" train --resume "$dir/model.safetensors" --out "$dir" --epochs 1000 --threads 1 --no-images) 2>/dev/null &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    if [ -e "$dir/model.safetensors" ]; then
        expect 0 "" eval --model "$dir/model.safetensors"
        [ "$RC" -eq 0 ] && loaded=$((loaded + 1))
        e=$(perl -e 'open(my $f, "<:raw", $ARGV[0]); read($f, my $b, 8); read($f, my $h, unpack("Q<", $b)); print $1 if $h =~ /"epoch":"(\d+)"/' "$dir/model.safetensors")
        rows=$(grep -c '^[0-9]' "$dir/metrics.csv")
        # metrics.csv is written just before the checkpoint, so it may be one row ahead
        check "kill -9 #$i: checkpoint epoch $e agrees with metrics.csv ($rows rows)" test "$rows" -eq "$e" -o "$rows" -eq $((e + 1))
    fi
done
check "kill -9: at least one checkpoint existed and loaded ($loaded)" test "$loaded" -ge 1
# the run continues normally from whatever was left (temp files of killed saves aside)
run_vae train --resume "$dir/model.safetensors" --out "$dir" --epochs $(( $(grep -c '^[0-9]' "$dir/metrics.csv") + 1 )) --threads 1 --no-images
check "kill -9: resuming afterwards works (exit $RC)" test "$RC" -eq 0

finish
