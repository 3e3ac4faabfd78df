# Shared code of the sweep scripts (sourced, not run): option parsing, the run
# list (a plain file of `vae train` command lines), running it with GNU
# parallel / xargs / a plain loop, the per-run evaluation and figures, and the
# report (scripts/report.py). A sweep script declares its runs with add_run
# and calls sweep_main. See sweep_usage for the options and cluster use.

SWEEP_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SWEEP_ROOT="$(cd "$SWEEP_HERE/.." && pwd)"

sweep_usage() {
    local arch_help=""
    [ "${SWEEP_ALLOW_ARCH:-1}" -eq 0 ] || arch_help="\
  --arch A          mlp, conv or resnet: the architecture of every run (default mlp)
  --channels LIST   conv/resnet channel list, e.g. 32,64 (default: vae's, 32,64)
"
    cat <<EOF
usage: $SWEEP_CMD [options]

$SWEEP_ABOUT

Options:
  --epochs N        epochs per run (default ${SWEEP_DEFAULT_EPOCHS:-15})
  --data NAME|DIR   mnist, fashion-mnist or a data folder (default mnist = data/mnist)
  --out DIR         sweep folder (default runs/${SWEEP_DIR_PREFIX:-sweep-$SWEEP_NAME}-<data>)
  -j, --jobs N      training runs at once (default 1); each gets --threads max(1, cores/N)
  --limit N         train on the first N training images (quick trials)
$arch_help  --lr LR           Adam learning rate of every run (default ${SWEEP_DEFAULT_LR:-0.001})
  --threads N       CPU threads of each run, and of the evaluation and t-SNE after
                    (default: max(1, cores / jobs) for training, all cores after)
  --oversubscribe   allow jobs x threads to exceed the cores (refused otherwise)
  --retrain         train anew the finished or started runs whose settings differ
                    from this command's (the old folder is kept as <run>.replaced-<time>)
  --bin PATH        the vae binary (default \$VAE_BIN, else build/vae, else vae on PATH)
  --list-only       write DIR/runs.txt (the runs still to do) and stop
  --report-only     no training: evaluate the finished runs and write the report
  --no-views        skip the latent scatter figures (t-SNE takes ~15 s a run; the
                    zdim-1 strip and zdim-2 manifold are drawn anyway)
  --tsne-n N        test images in each t-SNE scatter (default 2000)
  -h, --help        this help

Every run trains into DIR/<run>/ and is skipped when DIR/<run>/model.safetensors
and a metrics.csv row for the last epoch exist, so an interrupted sweep is
continued by running the same command again (a run stopped mid-way continues
from its last checkpoint with --resume). A run is reused only when every
setting that shapes it (data, --limit, epochs, architecture, loss, alpha,
beta, zdim, lr, batch, seed) matches this command, as read from its
checkpoint; otherwise the sweep lists the differences and stops (exit 1),
unless --retrain is given. The report states the settings each run really had,
from its checkpoint, and marks runs of 3 epochs or fewer as not a result. Then each finished run is evaluated
(eval.json), reconstructed (recon.png: rows of test images, each followed by
their reconstructions) and sampled (sample.png), and DIR/results.csv and
DIR/report.md are written.

The runs are listed in DIR/runs.txt, one \`vae train\` command line each, so
any scheduler can run them:
  GNU parallel (used automatically for -j > 1 when installed; else xargs -P):
      parallel -j 2 < DIR/runs.txt
  Slurm job array, one run per task, on machines sharing the folder:
      $SWEEP_CMD --out DIR --epochs 15 --list-only
      sbatch --array=1-\$(wc -l < DIR/runs.txt) --cpus-per-task=4 \\
          --wrap 'sed -n "\${SLURM_ARRAY_TASK_ID}p" DIR/runs.txt | bash'
      # when the array is done:
      $SWEEP_CMD --out DIR --epochs 15 --report-only
  (each line carries its own --threads; edit it to match --cpus-per-task).

Example:
  $SWEEP_CMD --epochs 15 -j 2
EOF
}

die_usage() {
    echo "$SWEEP_CMD: $*" >&2
    echo "Try '$SWEEP_CMD --help'." >&2
    exit 2
}

need_int() { # need_int OPTION VALUE MIN
    [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] || die_usage "$1: '$2' must be an integer >= $3"
}

# sweep_init NAME "ABOUT" ARGS...: parses the common options into SWEEP_* variables
sweep_init() {
    SWEEP_NAME=$1
    SWEEP_ABOUT=$2
    shift 2
    # a study that is not named sweep-*.sh sets SWEEP_SCRIPT and SWEEP_DIR_PREFIX first
    SWEEP_CMD=${SWEEP_SCRIPT:-scripts/sweep-$SWEEP_NAME.sh}
    SWEEP_DIR_PREFIX=${SWEEP_DIR_PREFIX:-sweep-$SWEEP_NAME}
    SWEEP_EPOCHS=${SWEEP_DEFAULT_EPOCHS:-15} SWEEP_DATA=mnist SWEEP_OUT="" SWEEP_JOBS=1 SWEEP_LIMIT="" SWEEP_BIN=""
    SWEEP_LIST_ONLY=0 SWEEP_REPORT_ONLY=0 SWEEP_VIEWS=1 SWEEP_TSNE_N=2000
    SWEEP_ARCH="" SWEEP_CHANNELS="" SWEEP_LR="" SWEEP_THREADS_GIVEN="" SWEEP_RETRAIN=0 SWEEP_OVERSUBSCRIBE=0
    while [ $# -gt 0 ]; do
        case "$1" in
        -h | --help) sweep_usage; exit 0 ;;
        --arch | --channels)
            [ "${SWEEP_ALLOW_ARCH:-1}" -eq 1 ] || die_usage "$1: this study sets the architecture of each run itself"
            [ $# -ge 2 ] && [ -n "$2" ] || die_usage "$1: needs a value"
            case "$1" in
            --arch)
                case "$2" in mlp | conv | resnet) SWEEP_ARCH=$2 ;; *) die_usage "$1: '$2' is not one of mlp, conv, resnet" ;; esac ;;
            --channels)
                [[ "$2" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die_usage "$1: '$2' is not a comma list of positive integers"
                SWEEP_CHANNELS=$2 ;;
            esac
            shift 2 ;;
        --lr)
            [ $# -ge 2 ] && [ -n "$2" ] || die_usage "$1: needs a value"
            [[ "$2" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]] && awk -v x="$2" 'BEGIN { exit !(x > 0) }' ||
                die_usage "$1: '$2' must be a positive number"
            SWEEP_LR=$2
            shift 2 ;;
        --epochs | --data | --out | -j | --jobs | --limit | --bin | --tsne-n | --threads)
            [ $# -ge 2 ] && [ -n "$2" ] || die_usage "$1: needs a value"
            case "$1" in
            --epochs) need_int "$1" "$2" 1; SWEEP_EPOCHS=$2 ;;
            --data) SWEEP_DATA=$2 ;;
            --out) SWEEP_OUT=$2 ;;
            -j | --jobs) need_int "$1" "$2" 1; SWEEP_JOBS=$2 ;;
            --limit) need_int "$1" "$2" 1; SWEEP_LIMIT=$2 ;;
            --bin) SWEEP_BIN=$2 ;;
            --tsne-n) need_int "$1" "$2" 100; SWEEP_TSNE_N=$2 ;;
            --threads) need_int "$1" "$2" 1; SWEEP_THREADS_GIVEN=$2 ;;
            esac
            shift 2 ;;
        -j[0-9]*) need_int -j "${1#-j}" 1; SWEEP_JOBS=${1#-j}; shift ;;
        --list-only) SWEEP_LIST_ONLY=1; shift ;;
        --report-only) SWEEP_REPORT_ONLY=1; shift ;;
        --no-views) SWEEP_VIEWS=0; shift ;;
        --retrain) SWEEP_RETRAIN=1; shift ;;
        --oversubscribe) SWEEP_OVERSUBSCRIBE=1; shift ;;
        *) die_usage "$1: unknown option" ;;
        esac
    done
    case "$SWEEP_DATA" in
    mnist | fashion-mnist) SWEEP_DATA_NAME=$SWEEP_DATA; SWEEP_DATA_DIR="$SWEEP_ROOT/data/$SWEEP_DATA" ;;
    *) SWEEP_DATA_NAME=$(basename "$SWEEP_DATA"); SWEEP_DATA_DIR=$SWEEP_DATA ;;
    esac
    [ -d "$SWEEP_DATA_DIR" ] || { echo "$SWEEP_CMD: $SWEEP_DATA_DIR: no such data folder (fetch it with scripts/get-data.sh)" >&2; exit 1; }
    SWEEP_DATA_DIR="$(cd "$SWEEP_DATA_DIR" && pwd)"
    [ -n "$SWEEP_OUT" ] || SWEEP_OUT="runs/$SWEEP_DIR_PREFIX-$SWEEP_DATA_NAME"
    mkdir -p "$SWEEP_OUT" || exit 1
    SWEEP_OUT="$(cd "$SWEEP_OUT" && pwd)"
    if [ -z "$SWEEP_BIN" ]; then
        if [ -n "${VAE_BIN:-}" ]; then SWEEP_BIN=$VAE_BIN
        elif [ -x "$SWEEP_ROOT/build/vae" ]; then SWEEP_BIN="$SWEEP_ROOT/build/vae"
        else SWEEP_BIN=$(command -v vae) || { echo "$SWEEP_CMD: no vae binary: build it or pass --bin" >&2; exit 1; }
        fi
    fi
    [ -x "$SWEEP_BIN" ] || { echo "$SWEEP_CMD: $SWEEP_BIN: not an executable" >&2; exit 1; }
    SWEEP_BIN="$(cd "$(dirname "$SWEEP_BIN")" && pwd)/$(basename "$SWEEP_BIN")"
    SWEEP_CORES=$(nproc 2>/dev/null || echo 1)
    SWEEP_THREADS=$((SWEEP_CORES / SWEEP_JOBS))
    [ "$SWEEP_THREADS" -ge 1 ] || SWEEP_THREADS=1
    [ -z "$SWEEP_THREADS_GIVEN" ] || SWEEP_THREADS=$SWEEP_THREADS_GIVEN
    # more threads than cores only slows every run down, and makes the timings meaningless
    if [ $((SWEEP_JOBS * SWEEP_THREADS)) -gt "$SWEEP_CORES" ] && [ "$SWEEP_OVERSUBSCRIBE" -eq 0 ]; then
        die_usage "-j $SWEEP_JOBS x --threads $SWEEP_THREADS = $((SWEEP_JOBS * SWEEP_THREADS)) threads on $SWEEP_CORES core(s); lower them, or pass --oversubscribe"
    fi
    # evaluation and t-SNE run one at a time after training: all cores unless --threads says otherwise
    SWEEP_POST_THREADS=${SWEEP_THREADS_GIVEN:-$SWEEP_CORES}
    [ -n "$SWEEP_LR" ] || SWEEP_LR=${SWEEP_DEFAULT_LR:-}
    # options every run of the sweep gets (a run's own add_run options come after)
    SWEEP_COMMON=""
    [ -z "$SWEEP_ARCH" ] || SWEEP_COMMON+=" --arch $SWEEP_ARCH"
    [ -z "$SWEEP_CHANNELS" ] || SWEEP_COMMON+=" --channels $SWEEP_CHANNELS"
    [ -z "$SWEEP_LR" ] || SWEEP_COMMON+=" --lr $SWEEP_LR"
    SWEEP_RUNS=()
    declare -gA SWEEP_ARGS=() SWEEP_ZDIM=()
    : > "$SWEEP_OUT/runs.tsv.tmp"
    printf 'run\tgroup\tzdim\tloss\talpha\tbeta\tepochs\tlimit\tarch\thidden\tlr\n' > "$SWEEP_OUT/runs.tsv.tmp"
}

# add_run NAME GROUP ZDIM LOSS ALPHA BETA [ARCH [HIDDEN]]: one training run of
# the sweep; ARCH and HIDDEN (a comma list) default to the sweep's --arch and
# vae's default layers
add_run() {
    local arch=${7:-${SWEEP_ARCH:-mlp}} hidden=${8:-}
    SWEEP_RUNS+=("$1")
    SWEEP_ARGS[$1]="--zdim $3 --loss $4 --alpha $5 --beta $6$SWEEP_COMMON"
    [ -z "${7:-}" ] || SWEEP_ARGS[$1]+=" --arch $7"
    [ -z "$hidden" ] || SWEEP_ARGS[$1]+=" --hidden $hidden"
    SWEEP_ZDIM[$1]=$3
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$SWEEP_EPOCHS" \
        "${SWEEP_LIMIT:-all}" "$arch" "${hidden:-default}" "${SWEEP_LR:-0.001}" >> "$SWEEP_OUT/runs.tsv.tmp"
}

# epochs completed according to DIR/metrics.csv (0 if none)
epochs_done() {
    [ -f "$1/metrics.csv" ] && [ -f "$1/model.safetensors" ] || { echo 0; return; }
    awk -F, 'NR > 1 && $1 + 0 > m { m = $1 + 0 } END { print m + 0 }' "$1/metrics.csv"
}

# Writes DIR/runs.txt: a `vae train` line for every run not finished yet, its
# output appended to DIR/<run>/train.log (report.py reads why a run stopped).
# A run folder that already has a checkpoint is reused (skipped when finished,
# resumed when not) only when its checkpoint's settings match what this
# command asks for: vae itself resolves the defaults (--print-config) and
# scripts/run_settings.py compares. A mismatch stops the sweep with the list
# of differences, unless --retrain moves the old folder aside.
write_run_list() {
    local list="$SWEEP_OUT/runs.txt" name dir qdir limit="" bin data want diffs stale=()
    local mismatch="$SWEEP_OUT/settings-mismatch.tsv"
    rm -f "$mismatch"
    [ -z "$SWEEP_LIMIT" ] || limit=" --limit $SWEEP_LIMIT"
    bin=$(printf '%q' "$SWEEP_BIN")
    data=$(printf '%q' "$SWEEP_DATA_DIR")
    : > "$list.tmp"
    for name in "${SWEEP_RUNS[@]}"; do
        dir="$SWEEP_OUT/$name"
        qdir=$(printf '%q' "$dir")
        local fresh="$bin train --data $data --out $qdir --epochs $SWEEP_EPOCHS ${SWEEP_ARGS[$name]}$limit --threads $SWEEP_THREADS --no-images"
        if [ -f "$dir/model.safetensors" ]; then
            want="$SWEEP_OUT/.want-$name.ini"
            bash -c "$fresh --print-config" > "$want" ||
                { echo "$SWEEP_CMD: $name: vae could not resolve the run's settings" >&2; rm -f "$want"; exit 1; }
            diffs=$(/usr/bin/python3 "$SWEEP_HERE/run_settings.py" compare "$dir/model.safetensors" "$want")
            local crc=$?
            rm -f "$want"
            if [ "$crc" -eq 2 ]; then
                echo "$SWEEP_CMD: $name: cannot read its checkpoint's settings (see above)" >&2
                exit 1
            elif [ "$crc" -ne 0 ]; then
                # what report.py marks in the report (it reads the real settings itself)
                printf '%s\t%s\n' "$name" "$(echo "$diffs" | paste -sd ';' | sed 's/;/; /g')" >> "$mismatch"
                if [ "$SWEEP_REPORT_ONLY" -eq 1 ]; then
                    echo "$name: warning: trained with other settings than this command asks for ($(echo "$diffs" | paste -sd ';' | sed 's/;/; /g')); the report says so" >&2
                    continue
                elif [ "$SWEEP_RETRAIN" -eq 1 ]; then
                    local aside
                    aside="$dir.replaced-$(date +%Y%m%d-%H%M%S)"
                    mv "$dir" "$aside" || exit 1
                    sed -i "/^$name\t/d" "$mismatch"
                    echo "$name: settings differ ($(echo "$diffs" | paste -sd ';' | sed 's/;/; /g')); retraining (old run kept in $aside)" >&2
                else
                    stale+=("$name: $(echo "$diffs" | paste -sd ';' | sed 's/;/; /g')")
                    continue
                fi
            fi
        fi
        if [ -f "$dir/model.safetensors" ] && [ "$(epochs_done "$dir")" -ge "$SWEEP_EPOCHS" ]; then
            continue
        elif [ -f "$dir/model.safetensors" ]; then
            # started before with the same settings: continue from its checkpoint
            echo "$bin train --resume $qdir/model.safetensors --out $qdir --epochs $SWEEP_EPOCHS --threads $SWEEP_THREADS --no-images >> $qdir/train.log 2>&1" >> "$list.tmp"
        else
            echo "mkdir -p $qdir && $fresh >> $qdir/train.log 2>&1" >> "$list.tmp"
        fi
    done
    if [ "${#stale[@]}" -gt 0 ]; then
        rm -f "$list.tmp"
        {
            echo "$SWEEP_CMD: ${#stale[@]} run(s) in $SWEEP_OUT were trained with other settings than this command asks for:"
            printf '  %s\n' "${stale[@]}"
            echo "Rerun with --retrain to train them anew (the old folders are kept), or pick another --out."
        } >&2
        exit 1
    fi
    mv "$list.tmp" "$list"
}

# Runs DIR/runs.txt: GNU parallel when installed, else xargs -P (or a plain loop for -j 1).
run_list() {
    local list="$SWEEP_OUT/runs.txt" n
    n=$(wc -l < "$list")
    if [ "$n" -eq 0 ]; then
        echo "all ${#SWEEP_RUNS[@]} runs already finished"
        return 0
    fi
    echo "training $n run(s), $SWEEP_JOBS at a time, $SWEEP_THREADS thread(s) each (list: $list)"
    local t0=$SECONDS rc=0
    if command -v parallel >/dev/null 2>&1 && [ "$SWEEP_JOBS" -gt 1 ]; then
        parallel --will-cite -j "$SWEEP_JOBS" --joblog "$SWEEP_OUT/joblog.txt" < "$list" || rc=$?
    elif [ "$SWEEP_JOBS" -gt 1 ]; then
        tr '\n' '\0' < "$list" | xargs -0 -P "$SWEEP_JOBS" -I{} bash -c {} || rc=$?
    else
        local line
        while IFS= read -r line; do bash -c "$line" || rc=$?; done < "$list"
    fi
    echo "training took $((SECONDS - t0)) s"
    [ "$rc" -eq 0 ] || echo "$SWEEP_CMD: some runs failed (exit $rc); rerun to retry them" >&2
    return 0
}

# Evaluation and figures of one finished run; each output is redone only when
# missing or older than the checkpoint.
post_run() {
    local name=$1 dir="$SWEEP_OUT/$1" model="$SWEEP_OUT/$1/model.safetensors" t="--threads $SWEEP_POST_THREADS"
    stale() { ! { [ -s "$dir/$1" ] && [ "$dir/$1" -nt "$model" ]; }; }
    if stale eval.json; then
        "$SWEEP_BIN" eval --model "$model" --json $t > "$dir/eval.json.tmp" && mv "$dir/eval.json.tmp" "$dir/eval.json" ||
            { echo "$name: eval failed" >&2; return 1; }
    fi
    if stale recon.png; then
        "$SWEEP_BIN" reconstruct --model "$model" -n 32 -o "$dir/recon.png" $t > /dev/null ||
            { echo "$name: reconstruct failed" >&2; return 1; }
    fi
    if stale sample.png; then
        "$SWEEP_BIN" sample --model "$model" -n 64 --seed 1 -o "$dir/sample.png" $t ||
            { echo "$name: sample failed" >&2; return 1; }
    fi
    # the strip (zdim 1) or grid (zdim 2) over the latent space: cheap, always drawn
    if [ "${SWEEP_ZDIM[$name]}" -le 2 ] && stale manifold.png; then
        "$SWEEP_BIN" manifold --model "$model" --steps 20 -o "$dir/manifold.png" $t ||
            { echo "$name: manifold failed" >&2; return 1; }
    fi
    [ "$SWEEP_VIEWS" -eq 1 ] || return 0
    if stale scatter.png; then
        local n=()   # zdim 2 plots every test mean; t-SNE a subsample
        [ "${SWEEP_ZDIM[$name]}" -eq 2 ] || n=(-n "$SWEEP_TSNE_N")
        "$SWEEP_BIN" scatter --model "$model" "${n[@]}" --seed 1 -o "$dir/scatter.png" \
            --title "$name: test-set means" $t || { echo "$name: scatter failed" >&2; return 1; }
    fi
    return 0
}

sweep_main() {
    mv "$SWEEP_OUT/runs.tsv.tmp" "$SWEEP_OUT/runs.tsv"
    write_run_list
    if [ "$SWEEP_LIST_ONLY" -eq 1 ]; then
        echo "$(wc -l < "$SWEEP_OUT/runs.txt") run(s) to do, listed in $SWEEP_OUT/runs.txt"
        return 0
    fi
    [ "$SWEEP_REPORT_ONLY" -eq 1 ] || run_list
    local name done=0 t0=$SECONDS
    for name in "${SWEEP_RUNS[@]}"; do
        if [ "$(epochs_done "$SWEEP_OUT/$name")" -ge "$SWEEP_EPOCHS" ]; then
            post_run "$name" && done=$((done + 1))
        else
            echo "$name: not finished ($(epochs_done "$SWEEP_OUT/$name")/$SWEEP_EPOCHS epochs); left out of the figures" >&2
        fi
    done
    echo "evaluated $done run(s) and drew their figures in $((SECONDS - t0)) s"
    if [ "$SWEEP_EPOCHS" -le 3 ]; then
        echo "$SWEEP_CMD: warning: --epochs $SWEEP_EPOCHS: these models have barely begun to learn; their figures are grey blobs, not results (report.md says so)" >&2
    fi
    local opts=" --epochs $SWEEP_EPOCHS --data $SWEEP_DATA${SWEEP_LIMIT:+ --limit $SWEEP_LIMIT}"
    opts+="${SWEEP_ARCH:+ --arch $SWEEP_ARCH}${SWEEP_CHANNELS:+ --channels $SWEEP_CHANNELS}${SWEEP_LR:+ --lr $SWEEP_LR}"
    /usr/bin/python3 "$SWEEP_HERE/report.py" "$SWEEP_OUT" --title "$SWEEP_TITLE" --data "$SWEEP_DATA_DIR" \
        --command "$SWEEP_CMD$opts" --bin "$SWEEP_BIN" || return 1
    echo "report: $SWEEP_OUT/report.md (table: $SWEEP_OUT/results.csv)"
    [ "$done" -eq "${#SWEEP_RUNS[@]}" ]
}
