# Usage errors: every option of every command (read from `vae <cmd> --help`, so
# commands added later are covered too) refuses malformed values with exit 2,
# a message naming the option, and nothing written; plus the per-option range
# limits, unknown options and commands, --help and --version.
. "$(dirname "$0")/cli_lib.sh"

# join_help FILE: the help with wrapped option help joined onto its option's line
join_help() {
    awk '/^                          / && prev != "" { sub(/^ +/, ""); prev = prev " " $0; next }
         { if (prev != "") print prev; prev = $0 } END { if (prev != "") print prev }' "$1"
}

# ---- the top level ----
expect 2 "Usage: vae <command>"
expect 2 "unknown command" frobnicate
expect 2 "frobnicate" frobnicate --help
expect 0 "" --version
check "--version prints 'vae X.Y.Z'" grep -qE '^vae [0-9]+\.[0-9]+' "$OUT"
expect 0 "" --help
check "--help lists commands on stdout" grep -q "Commands:" "$OUT"

COMMANDS=$(sed -n '/^Commands:/,/^$/p' "$OUT" | awk 'NF >= 2 && $1 != "Commands:" { print $1 }')
check "help lists the five base commands" test "$(echo "$COMMANDS" | grep -cxE 'data|train|sample|reconstruct|eval')" -eq 5

# values no option of a given type accepts
INT_BAD=(abc 1.5 12x "" 99999999999999999999999 nan inf 0x10 " 5" "5 " 1e3)
NUM_BAD=(abc nan NaN inf -inf Infinity 1e999 -1e999 "" 1,5 0.5x " 1")
LIST_BAD=("" a 0 -1 "1,,2" "1," ",1" "1,2,3,4,5,6,7,8,9" 99999999 "16;8")
CHOICE_BAD=(nope "" BCE_X)

for cmd in $COMMANDS; do
    expect 0 "" "$cmd" --help
    cp "$OUT" "$T/help-$cmd"
    check "vae $cmd --help shows usage" grep -q "^Usage: vae $cmd" "$T/help-$cmd"
    check "vae $cmd --help shows an example" grep -q "^Example:" "$T/help-$cmd"
    expect 0 "" "$cmd" -h
    check "vae $cmd -h equals --help" cmp -s "$OUT" "$T/help-$cmd"
    # the option table fits 79 columns, and an option never runs into its help:
    # at least two spaces between them, or the help on the next line
    check "vae $cmd --help: option lines fit 79 columns" \
        sh -c '! sed -n "/^Options:/,\$p" "$0" | grep -qE "^.{80}"' "$T/help-$cmd"
    check "vae $cmd --help: every option is set apart from its help" \
        sh -c '! sed -n "/^Options:/,\$p" "$0" | grep -E "^(  -|      --)" | grep -vE "^  (-., )? *--?[a-z0-9-]+( [^ ]+)?(  |$)"' "$T/help-$cmd"
    # generic: unknown options, stray arguments
    usage_err "--no-such-option" "$cmd" --no-such-option
    usage_err "--no-such-option" "$cmd" --no-such-option=3
    usage_err "-Q" "$cmd" -Q
    case $cmd in
    plot) ;;   # takes run folders as operands (tests/cli_plot.sh)
    *)
        usage_err "unexpected argument 'stray'" "$cmd" stray
        usage_err "unexpected argument '-'" "$cmd" - ;;
    esac
    # every option in the help table: "  -x, --name META   help [type, default D]"
    n_opts=0
    while IFS='|' read -r short name type; do
        [ "$name" = help ] && continue
        n_opts=$((n_opts + 1))
        case $type in
        integer) vals=("${INT_BAD[@]}") ;;
        number) vals=("${NUM_BAD[@]}") ;;
        list) vals=("${LIST_BAD[@]}") ;;
        choice) vals=("${CHOICE_BAD[@]}") ;;
        string) vals=("") ;;
        flag)
            usage_err "--$name" "$cmd" "--$name=1"
            continue
            ;;
        *)
            bad "vae $cmd --help: option --$name has unknown type '$type'"
            continue
            ;;
        esac
        for v in "${vals[@]}"; do
            usage_err "--$name" "$cmd" "--$name" "$v"
        done
        usage_err "--$name" "$cmd" "--$name=${vals[0]}"
        # missing value: at the end, or followed by another option
        usage_err "--$name: needs a value" "$cmd" "--$name"
        usage_err "--$name: needs a value" "$cmd" "--$name" --help-not
        if [ -n "$short" ]; then
            usage_err "-$short" "$cmd" "-$short"
            usage_err "-$short" "$cmd" "-$short" "${vals[0]}"
        fi
    done < <(join_help "$T/help-$cmd" | sed -nE 's/^  (-(.), )? *--([a-z0-9-]+)( [^ ]+)? .*\[([a-z]+)(, default .*)?\]$/\2|\3|\5/p')
    check "vae $cmd --help lists its options" test "$n_opts" -gt 0
done

# every option each base command is documented to take appears in its help
for spec in \
    "data: --data --json" \
    "train: --data --out --zdim --hidden --loss --alpha --beta --lr --batch --epochs --seed --threads --limit --resume --no-images --json" \
    "sample: --model --count --cols --out --seed --threads" \
    "reconstruct: --model --data --count --cols --out --seed --json --threads" \
    "eval: --model --data --seed --json --threads"; do
    cmd=${spec%%:*}
    for o in ${spec#*:}; do
        check "vae $cmd --help lists $o" grep -qE -- "$o( |$)" "$T/help-$cmd"
    done
done

# ---- ranges: zero, negative and absurdly large values where they make no sense ----
for a in "--zdim 0" "--zdim -1" "--zdim 4097" "-z 0" "--batch 0" "--batch -1" "--batch 65537" "-b 0" \
    "--epochs 0" "--epochs -3" "--epochs 100001" "-e 0" "--threads 0" "--threads -2" "--threads 1025" \
    "--limit 0" "--limit -1" "--limit 4294967297" "--lr 0" "--lr -0.1" "--lr 11" "--lr 1e-50" \
    "--alpha -1" "--alpha 1e7" "--beta -0.5" "--beta 1e7" "--seed -1" "--seed +3" \
    "--seed 18446744073709551616" "--seed 1.5" "--hidden 0" "--hidden 65537" "--hidden 16,0" \
    "--loss BCE" "--loss l1"; do
    set -- $a
    usage_err "$1" train --out "$WORK/run" "$@"
done
usage_err "--seed" train --out "$WORK/run" --seed " -1"
usage_err "--no-images" train --out "$WORK/run" --no-images=yes
for a in "-n 0" "-n -1" "-n 65537" "--n 0" "--threads 0" "--seed -1"; do
    set -- $a
    usage_err "$1" sample -o "$WORK/s.png" "$@"
done
for a in "-n 0" "-n -5" "-n 10001" "--threads 0" "--seed -1"; do
    set -- $a
    usage_err "$1" reconstruct -o "$WORK/r.png" "$@"
done
for a in "--threads 0" "--seed -1"; do
    set -- $a
    usage_err "$1" eval "$@"
done
# the commands that visualise a model, when this build has them
has_cmd() { echo "$COMMANDS" | grep -qx "$1"; }
range_cases() {   # range_cases CMD "OPT VALUE"...
    local cmd=$1 a
    shift
    has_cmd "$cmd" || return 0
    for a in "$@"; do
        set -- $a
        usage_err "$1" "$cmd" -o "$WORK/x.png" "$@"
    done
}
range_cases latent "--threads 0" "-t 1025"
range_cases scatter "-n 1" "-n 0" "-n 1048577" "--perplexity 0" "--perplexity -1" "--perplexity 1001" \
    "--iterations 0" "--iterations 100001" "--width 299" "--width 8193" "--height 299" "--height 9000" \
    "--radius -1" "--radius 21" "--seed -1" "--threads 0" "--threads 65" "--method pca" \
    "--tsne fast" "--theta -0.1" "--theta 1.5"
range_cases manifold "--steps 1" "-s 201" "--index -1" "-i 4294967297" "--top 0" "--top 4097" "--range 0" "--range -1" \
    "--range 51" "--threads 0"
range_cases interpolate "--from -1" "--to -1" "--from 4294967297" "--steps 1" "-s 1001" "--threads 0"

# the error says how to get help
usage_err "Try 'vae train --help'" train --epochs 0
# a value that looks like an option is a missing value, not a file name
usage_err "--out: needs a value" train --out --epochs 3
usage_err "--model: needs a value" sample --model --n 3
# inline values work and are checked the same way
usage_err "--epochs" train --epochs=0
usage_err "--zdim" train --zdim=

finish
