# Shared helpers for the CLI tests (tests/cli_*.sh): find the binary, make
# tiny IDX data sets, run a command and check its exit status, its message
# and that it left no files behind; count and report "N passed, N failed".
# Source it: . "$(dirname "$0")/cli_lib.sh"

set -u

VAE=${VAE_BIN:-}
if [ -z "$VAE" ] || [ ! -x "$VAE" ]; then
    echo "VAE_BIN is not set to an executable vae binary; skipping"
    exit 77
fi
case "$VAE" in /*) ;; *) VAE="$PWD/$VAE" ;; esac
command -v perl >/dev/null || { echo "perl is needed to write test files; skipping"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/vae-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
WORK="$T/work"          # commands run here, so default paths (data/mnist, sample.png) land here
mkdir -p "$WORK"

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); }
bad() {
    FAILED=$((FAILED + 1))
    echo "FAIL: $*"
}
# check DESCRIPTION CONDITION...: passes when the command succeeds
check() {
    local what=$1
    shift
    if "$@"; then ok; else bad "$what"; fi
}
# skip_part WHY: a part of the test that cannot run here; finish then exits
# 77 (skipped) when nothing failed, so a skipped part is never a pass
SKIPPED=0
skip_part() {
    SKIPPED=$((SKIPPED + 1))
    echo "skipped part: $*"
}
finish() {
    echo "$(basename "$0" .sh): $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] || exit 1
    [ "$SKIPPED" -eq 0 ] || { echo "$SKIPPED part(s) skipped: reported as skipped"; exit 77; }
    exit 0
}

# ---- tiny IDX files, deterministic for a given seed ----
# make_images PATH COUNT ROWS COLS [SEED]: blobs of ink on a dark background,
# so a VAE has something to learn; values 0..255
make_images() {
    perl -e '
        my ($path, $n, $r, $c, $seed) = @ARGV;
        srand($seed);
        open(my $f, ">:raw", $path) or die "$path: $!";
        print $f pack("NNNN", 0x00000803, $n, $r, $c);
        for my $i (1 .. $n) {
            my ($cy, $cx, $s) = (rand($r), rand($c), 1 + rand($r / 3));
            my @px;
            for my $y (0 .. $r - 1) {
                for my $x (0 .. $c - 1) {
                    my $d = (($y - $cy) ** 2 + ($x - $cx) ** 2) / ($s * $s);
                    my $v = int(255 * exp(-$d) + rand(8));
                    push @px, $v > 255 ? 255 : $v;
                }
            }
            print $f pack("C*", @px);
        }
        close($f) or die "$path: $!";
    ' "$1" "$2" "$3" "$4" "${5:-1}"
}
# make_labels PATH COUNT [SEED]: labels 0..9
make_labels() {
    perl -e '
        my ($path, $n, $seed) = @ARGV;
        srand($seed);
        open(my $f, ">:raw", $path) or die "$path: $!";
        print $f pack("NN", 0x00000801, $n);
        print $f pack("C*", map { int(rand(10)) } 1 .. $n);
        close($f) or die "$path: $!";
    ' "$1" "$2" "${3:-1}"
}
# ck_rewrite IN OUT PERL: writes the safetensors file IN to OUT with PERL
# applied to $h (the JSON header text) and $d (the data section); the header
# length is recomputed. With FIXCRC=1 the crc32 in the header is recomputed
# the way vae writes it: CRC-32 of the whole file with the crc32 value's 8 hex
# digits read as '0' (plain perl, so no module is needed and no case is ever
# skipped).
ck_rewrite() {
    FIXCRC=${FIXCRC:-0} perl -e '
        my ($in, $out, $code) = @ARGV;
        open(my $f, "<:raw", $in) or die; local $/; my $all = <$f>; close $f;
        my $n = unpack("Q<", substr($all, 0, 8));
        our $h = substr($all, 8, $n);
        our $d = substr($all, 8 + $n);
        eval $code; die $@ if $@;
        if ($ENV{FIXCRC}) {
            my @t = map { my $c = $_; $c = $c & 1 ? 0xEDB88320 ^ ($c >> 1) : $c >> 1 for 1 .. 8; $c } 0 .. 255;
            $h =~ s/"crc32":"[0-9a-f]+"/"crc32":"00000000"/ or die "no crc32";
            my $c = 0xffffffff;
            $c = $t[($c ^ $_) & 0xff] ^ ($c >> 8) for unpack("C*", pack("Q<", length $h) . $h . $d);
            $c = sprintf("%08x", $c ^ 0xffffffff);
            $h =~ s/"crc32":"00000000"/"crc32":"$c"/;
        }
        open(my $g, ">:raw", $out) or die; print $g pack("Q<", length $h), $h, $d; close $g;
    ' "$1" "$2" "$3"
}

# make_data DIR NTRAIN NTEST ROWS COLS [TEST_ROWS TEST_COLS]: a standard data folder
make_data() {
    local dir=$1 ntr=$2 nte=$3 r=$4 c=$5
    local tr=${6:-$4} tc=${7:-$5}
    mkdir -p "$dir"
    make_images "$dir/train-images-idx3-ubyte" "$ntr" "$r" "$c" 11
    make_labels "$dir/train-labels-idx1-ubyte" "$ntr" 12
    make_images "$dir/t10k-images-idx3-ubyte" "$nte" "$tr" "$tc" 13
    make_labels "$dir/t10k-labels-idx1-ubyte" "$nte" 14
}

# ---- running commands ----
# run_vae ARGS...: runs the binary in $WORK; leaves $RC, $OUT (stdout file), $ERR (stderr file)
OUT="$T/stdout"
ERR="$T/stderr"
run_vae() {
    (cd "$WORK" && "$VAE" "$@") >"$OUT" 2>"$ERR"
    RC=$?
}
# snapshot DIR...: a listing of every path, size and mtime under the folders
snapshot() {
    local d
    for d in "$@"; do
        [ -e "$d" ] && find "$d" -printf '%p %s %T@\n'
    done | LC_ALL=C sort
}
# Folders whose contents must not change when a command fails; tests may add more.
WATCH=("$WORK")

# expect CODE SUBSTRING ARGS...: runs vae ARGS in $WORK; checks the exit status,
# that stderr contains SUBSTRING (fixed string; empty = anything), and, when
# CODE is not 0, that nothing under the watched folders was created or changed.
expect() {
    local code=$1 msg=$2
    shift 2
    local before after
    before=$(snapshot "${WATCH[@]}")
    run_vae "$@"
    after=$(snapshot "${WATCH[@]}")
    local why=""
    [ "$RC" -eq "$code" ] || why="exit $RC, expected $code"
    if [ -z "$why" ] && [ -n "$msg" ] && ! grep -qF -- "$msg" "$ERR"; then why="stderr lacks '$msg'"; fi
    if [ -z "$why" ] && [ "$code" -ne 0 ] && [ "$before" != "$after" ]; then
        why="files changed: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | head -5 | tr '\n' ' ')"
    fi
    # a crash (signal) or sanitizer report is never acceptable
    if [ -z "$why" ] && grep -qE 'AddressSanitizer|runtime error:|Segmentation|core dumped' "$ERR"; then
        why="sanitizer or crash report"
    fi
    if [ -z "$why" ]; then
        ok
    else
        bad "vae $* -> $why"
        sed 's/^/    stderr: /' "$ERR" | head -5
    fi
}
# usage_err OPTION ARGS...: exit 2 with a message naming OPTION, nothing written
usage_err() {
    local opt=$1
    shift
    expect 2 "$opt" "$@"
}

# ---- run directly (ctest runs it as a test too): the helpers check themselves ----
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    make_data "$T/d" 30 10 5 7
    check "make_images writes the IDX header and 30*5*7 pixels" test "$(stat -c %s "$T/d/train-images-idx3-ubyte")" -eq $((16 + 30 * 35))
    check "make_labels writes the IDX header and 10 labels" test "$(stat -c %s "$T/d/t10k-labels-idx1-ubyte")" -eq 18
    expect 0 "" data --data "$T/d"
    check "the loader accepts a made folder" grep -q "^train: 30 images of 5x7" "$OUT"
    make_images "$T/again" 30 5 7 11
    check "make_images is deterministic for a seed" cmp -s "$T/again" "$T/d/train-images-idx3-ubyte"
    # expect must notice each kind of wrong outcome; run it on purpose wrongly
    p=$PASSED f=$FAILED
    expect 1 "" data --data "$T/d" >/dev/null                 # exit 0, not 1
    expect 1 "no such words" data --data "$T/nope" >/dev/null # message lacks the words
    expect 2 "" --version >/dev/null                          # exit 0, not 2
    # stand-ins for a binary that leaves a file behind, or crashes with a report
    real=$VAE
    printf '#!/bin/sh\ntouch litter\necho "vae: x: refused" >&2\nexit 1\n' >"$T/litters"
    printf '#!/bin/sh\necho "==1==ERROR: AddressSanitizer: heap-buffer-overflow" >&2\nexit 1\n' >"$T/crashes"
    chmod +x "$T/litters" "$T/crashes"
    VAE="$T/litters"
    expect 1 "refused" data >/dev/null
    VAE="$T/crashes"
    expect 1 "" data >/dev/null
    VAE=$real
    wrong=$((FAILED - f))
    PASSED=$p FAILED=$f
    check "expect flagged all 5 wrong outcomes ($wrong)" test "$wrong" -eq 5
    rm -f "$WORK/litter"
    finish
fi

# ---- MPI (tests/cli_mpi*.sh) ----
# mpi_or_skip: exits 77 unless this vae was built with MPI and mpirun is
# installed; then MPIRUN holds the launcher for one machine: oversubscribed
# cores, no binding (ctest runs tests side by side), root allowed, and no
# single-copy shared memory (containers forbid the ptrace it needs)
mpi_or_skip() {
    if "$VAE" --version | grep -q '^MPI: none'; then
        echo "this vae was built without MPI (libopenmpi-dev); skipping"
        exit 77
    fi
    command -v mpirun >/dev/null || { echo "mpirun is not installed (openmpi-bin); skipping"; exit 77; }
    export OMPI_MCA_btl_vader_single_copy_mechanism=none
    MPIRUN=(mpirun --oversubscribe --bind-to none)
    [ "$(id -u)" -ne 0 ] || MPIRUN+=(--allow-run-as-root)
}
# mpi ARGS...: runs "${MPIRUN[@]}" ARGS in $WORK with a time limit (a hang
# fails the test, it does not stall it); leaves $RC, $OUT and $ERR
mpi() {
    (cd "$WORK" && timeout 120 "${MPIRUN[@]}" "$@") >"$OUT" 2>"$ERR"
    RC=$?
}

# png_size FILE: "WIDTHxHEIGHT" from the IHDR chunk (bytes 16..23, big-endian),
# or nothing when FILE is not a PNG
png_size() {
    [ "$(head -c 8 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || return 1
    od -An -tu1 -j16 -N8 "$1" | awk '{printf "%dx%d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'
}
