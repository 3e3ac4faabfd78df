# Damaged checkpoints at the command level: every command that reads one
# (eval, sample, reconstruct, latent, scatter, manifold, interpolate, and
# train --resume) exits 1 with "vae: BAD: <problem>", never crashes, and
# writes nothing. Also --resume options that contradict the checkpoint (exit 2).
. "$(dirname "$0")/cli_lib.sh"

make_data "$T/d" 200 50 8 8
GOOD="$T/good/model.safetensors"
run_vae train --data "$T/d" --out "$T/good" --hidden 16 --zdim 2 --batch 32 --epochs 2 --threads 1 --no-images
check "a tiny training run succeeds (exit $RC)" test "$RC" -eq 0
check "it wrote a checkpoint" test -s "$GOOD"
expect 0 "" eval --model "$GOOD"

# ck_edit OUT PERL: the good checkpoint rewritten by ck_rewrite (cli_lib.sh;
# FIXCRC=1 recomputes the crc32)
ck_edit() { ck_rewrite "$GOOD" "$1" "$2"; }
# the round trip itself: a rewrite that changes nothing but recomputes the CRC loads
FIXCRC=1 ck_edit "$T/same-crc.safetensors" '1'
expect 0 "" eval --model "$T/same-crc.safetensors" --data "$T/d"
check "the perl CRC matches vae's" cmp -s "$T/same-crc.safetensors" "$GOOD"

B="$T/bad"
mkdir -p "$B"
SIZE=$(stat -c %s "$GOOD")
HLEN=$(perl -e 'open(my $f, "<:raw", $ARGV[0]); read($f, my $b, 8); print unpack("Q<", $b)' "$GOOD")

# each case: file name, then the expected words in the message
declare -a CASES=()
add() { CASES+=("$1|$2"); }

printf 'hello, this is not a checkpoint at all\n' >"$B/text.safetensors"; add text.safetensors ""
: >"$B/empty.safetensors"; add empty.safetensors ""
head -c 7 "$GOOD" >"$B/seven-bytes.safetensors"; add seven-bytes.safetensors ""
head -c $((SIZE / 2)) "$GOOD" >"$B/half.safetensors"; add half.safetensors ""
head -c $((SIZE - 3)) "$GOOD" >"$B/short-data.safetensors"; add short-data.safetensors ""
head -c $((8 + HLEN - 10)) "$GOOD" >"$B/short-header.safetensors"; add short-header.safetensors ""
{ cat "$GOOD"; printf 'junk'; } >"$B/trailing.safetensors"; add trailing.safetensors ""
perl -e 'print pack("Q<", $ARGV[0] + 100)' "$SIZE" >"$B/hlen-beyond.safetensors"
tail -c +9 "$GOOD" >>"$B/hlen-beyond.safetensors"; add hlen-beyond.safetensors ""
perl -e 'print pack("Q<", 0xffffffffffffffff)' >"$B/hlen-huge.safetensors"
tail -c +9 "$GOOD" >>"$B/hlen-huge.safetensors"; add hlen-huge.safetensors ""
perl -e 'print pack("Q<", 0)' >"$B/hlen-zero.safetensors"
tail -c +9 "$GOOD" >>"$B/hlen-zero.safetensors"; add hlen-zero.safetensors ""
ck_edit "$B/json-malformed.safetensors" '$h =~ s/^\{/{,/'; add json-malformed.safetensors ""
ck_edit "$B/json-cut.safetensors" '$h =~ s/ +$//; $h = substr($h, 0, length($h) - 2) . "  "'; add json-cut.safetensors ""
ck_edit "$B/json-array.safetensors" '$h = "[1,2,3]"'; add json-array.safetensors ""
ck_edit "$B/json-string.safetensors" '$h = "\"x\""'; add json-string.safetensors ""
ck_edit "$B/json-empty-object.safetensors" '$h = "{}"'; add json-empty-object.safetensors ""
ck_edit "$B/meta-not-object.safetensors" '$h =~ s/"__metadata__":\{[^}]*\}/"__metadata__":5/'; add meta-not-object.safetensors ""
ck_edit "$B/meta-number.safetensors" '$h =~ s/"zdim":"2"/"zdim":2/'; add meta-number.safetensors "zdim"
ck_edit "$B/no-meta.safetensors" '$h =~ s/"__metadata__":\{[^}]*\},//'; add no-meta.safetensors ""
ck_edit "$B/version-4.safetensors" '$h =~ s/"format_version":"3"/"format_version":"4"/ or die'; add version-4.safetensors "version"
ck_edit "$B/version-999.safetensors" '$h =~ s/"format_version":"3"/"format_version":"999"/ or die'; add version-999.safetensors "version"
ck_edit "$B/other-format.safetensors" '$h =~ s/"format":"vae"/"format":"gpt2"/ or die'; add other-format.safetensors "format"
ck_edit "$B/crc-text.safetensors" '$h =~ s/"crc32":"[0-9a-f]+"/"crc32":"zz"/'; add crc-text.safetensors "crc"
ck_edit "$B/missing-tensor.safetensors" '$h =~ s/,"dec\.1\.bias":\{[^}]*\}//'; add missing-tensor.safetensors "no tensor"
ck_edit "$B/missing-adam.safetensors" '$h =~ s/,"adam\.v\.head\.weight":\{[^}]*\}//'; add missing-adam.safetensors "no tensor"
ck_edit "$B/renamed-tensor.safetensors" '$h =~ s/"dec\.1\.bias"/"dec.7.bias"/'; add renamed-tensor.safetensors "dec.1.bias"
ck_edit "$B/wrong-dtype.safetensors" '$h =~ s/("enc\.0\.bias":\{"dtype":)"F32"/$1"F64"/'; add wrong-dtype.safetensors "enc.0.bias"
ck_edit "$B/dtype-int.safetensors" '$h =~ s/("enc\.0\.bias":\{"dtype":)"F32"/$1"I32"/'; add dtype-int.safetensors "enc.0.bias"
ck_edit "$B/wrong-shape.safetensors" '$h =~ s/("enc\.0\.bias":\{"dtype":"F32","shape":)\[16\]/$1\[8,2\]/'; add wrong-shape.safetensors "enc.0.bias"
ck_edit "$B/wrong-shape2.safetensors" '$h =~ s/("enc\.0\.weight":\{"dtype":"F32","shape":)\[16,64\]/$1\[64,16\]/'; add wrong-shape2.safetensors "enc.0.weight"
ck_edit "$B/arch-zdim.safetensors" '$h =~ s/"zdim":"2"/"zdim":"3"/'; add arch-zdim.safetensors ""
ck_edit "$B/arch-hidden.safetensors" '$h =~ s/"hidden":"16"/"hidden":"16,16"/'; add arch-hidden.safetensors ""
ck_edit "$B/arch-rows.safetensors" '$h =~ s/"rows":"8"/"rows":"7"/'; add arch-rows.safetensors ""
ck_edit "$B/offsets-beyond.safetensors" '$h =~ s/("dec\.1\.bias":\{"dtype":"F32","shape":\[64\],"data_offsets":)\[(\d+),(\d+)\]/$1 . "[" . ($2 + 1000000) . "," . ($3 + 1000000) . "]"/e'; add offsets-beyond.safetensors "dec.1.bias"
ck_edit "$B/offsets-negative.safetensors" '$h =~ s/("dec\.1\.bias":\{"dtype":"F32","shape":\[64\],"data_offsets":)\[(\d+),(\d+)\]/$1\[-256,0\]/'; add offsets-negative.safetensors "dec.1.bias"
ck_edit "$B/offsets-reversed.safetensors" '$h =~ s/("dec\.1\.bias":\{"dtype":"F32","shape":\[64\],"data_offsets":)\[(\d+),(\d+)\]/$1\[$3,$2\]/'; add offsets-reversed.safetensors "dec.1.bias"
ck_edit "$B/offsets-overlap.safetensors" '$h =~ s/("enc\.0\.bias":\{"dtype":"F32","shape":\[16\],"data_offsets":)\[(\d+),(\d+)\]/$1\[0,64\]/'; add offsets-overlap.safetensors ""
ck_edit "$B/offsets-huge.safetensors" '$h =~ s/("dec\.1\.bias":\{"dtype":"F32","shape":\[64\],"data_offsets":)\[(\d+),(\d+)\]/$1\[18446744073709551360,18446744073709551616\]/'; add offsets-huge.safetensors ""
ck_edit "$B/offsets-float.safetensors" '$h =~ s/("dec\.1\.bias":\{"dtype":"F32","shape":\[64\],"data_offsets":)\[(\d+),(\d+)\]/$1\[$2.5,$3\]/'; add offsets-float.safetensors ""
ck_edit "$B/shape-huge.safetensors" '$h =~ s/("dec\.1\.bias":\{"dtype":"F32","shape":)\[64\]/$1\[4294967296,4294967296,16\]/'; add shape-huge.safetensors ""
# the data section changed, the CRC in the header did not
ck_edit "$B/crc-mismatch.safetensors" 'substr($d, 100, 1) = chr(ord(substr($d, 100, 1)) ^ 1)'; add crc-mismatch.safetensors "CRC"
ck_edit "$B/crc-last-byte.safetensors" 'substr($d, -1, 1) = chr(ord(substr($d, -1, 1)) ^ 0x80)'; add crc-last-byte.safetensors "CRC"
# structural damage with a matching CRC, so the structure check itself is what refuses it
FIXCRC=1 ck_edit "$B/extra-tensor.safetensors" '$h =~ s/ +$//; $h =~ s/\}$/,"extra.weight":{"dtype":"F32","shape":[1],"data_offsets":[LEN,LEN4]}}/; my $l = length $d; $h =~ s/LEN4/$l + 4/e; $h =~ s/LEN/$l/; $d .= "\0\0\0\0"'
add extra-tensor.safetensors "extra.weight"
FIXCRC=1 ck_edit "$B/gap.safetensors" '$d .= "\0" x 8'; add gap.safetensors ""
# loading is total: an edited header value is caught by the whole-file CRC ...
ck_edit "$B/edit-seed.safetensors" '$h =~ s/"seed":"1"/"seed":"7"/ or die'; add edit-seed.safetensors "CRC"
ck_edit "$B/edit-beta.safetensors" '$h =~ s/"beta":"1"/"beta":"4"/ or die'; add edit-beta.safetensors ""
ck_edit "$B/edit-lr.safetensors" '$h =~ s/"lr":"[^"]*"/"lr":"0.5"/ or die'; add edit-lr.safetensors "CRC"
ck_edit "$B/edit-dataset.safetensors" '$h =~ s/"dataset":"[^"]*"/"dataset":"elsewhere"/ or die'; add edit-dataset.safetensors "CRC"
# ... and a value out of range is refused even with a matching CRC
FIXCRC=1 ck_edit "$B/lr-negative.safetensors" '$h =~ s/"lr":"[^"]*"/"lr":"-0.001"/ or die'; add lr-negative.safetensors "'lr'"
FIXCRC=1 ck_edit "$B/lr-zero.safetensors" '$h =~ s/"lr":"[^"]*"/"lr":"0"/ or die'; add lr-zero.safetensors "'lr'"
FIXCRC=1 ck_edit "$B/epoch-past.safetensors" '$h =~ s/"epoch":"2"/"epoch":"7"/ or die'; add epoch-past.safetensors "'epochs'"
FIXCRC=1 ck_edit "$B/batch-huge.safetensors" '$h =~ s/"batch":"32"/"batch":"99999999"/ or die'; add batch-huge.safetensors "'batch'"
FIXCRC=1 ck_edit "$B/rng-zero.safetensors" '$h =~ s/"rng":"[0-9a-f]+"/"rng":"${\("0" x 64)}"/ or die'; add rng-zero.safetensors "'rng'"
FIXCRC=1 ck_edit "$B/dataset-long.safetensors" '$h =~ s/"dataset":"[^"]*"/"dataset":"${\("d" x 5000)}"/ or die'; add dataset-long.safetensors "'dataset' is longer"
# non-finite parameters and a negative Adam second moment, named
FIXCRC=1 ck_edit "$B/nan-param.safetensors" 'substr($d, 8, 4) = pack("L<", 0x7fc00000)'; add nan-param.safetensors "holds nan"
FIXCRC=1 ck_edit "$B/inf-param.safetensors" 'substr($d, 8, 4) = pack("f<", 9**9**9)'; add inf-param.safetensors "holds inf"
FIXCRC=1 ck_edit "$B/adam-v-negative.safetensors" 'substr($d, -4, 4) = pack("f<", -1)'; add adam-v-negative.safetensors "second moments"
# a tensor removed together with its bytes is named, not reported as a too-small data section
FIXCRC=1 ck_edit "$B/removed-with-bytes.safetensors" '
    $h =~ s/,?"adam\.v\.dec\.1\.bias":\{"dtype":"F32","shape":\[64\],"data_offsets":\[(\d+),(\d+)\]\}// or die;
    die "not last" unless $2 == length $d; $d = substr($d, 0, $1)'
add removed-with-bytes.safetensors "tensor 'adam.v.dec.1.bias' is missing"
mkdir "$B/dir.safetensors"; add dir.safetensors "directory"
add does-not-exist.safetensors "No such file"

# every command that reads a checkpoint, listed here rather than found by
# scraping --help: a command that disappears fails the test instead of
# silently dropping its cases
VIEWS=(latent scatter manifold interpolate)
run_vae --help
for cmd in eval sample reconstruct "${VIEWS[@]}"; do
    check "vae --help lists $cmd" grep -qE "^  $cmd " "$OUT"
done

for c in "${CASES[@]}"; do
    f=${c%%|*}
    words=${c#*|}
    p="$B/$f"
    expect 1 "vae: $p: " eval --model "$p" --data "$T/d"
    [ -n "$words" ] && check "eval --model $f names '$words'" grep -qiF -- "$words" "$ERR"
    expect 1 "vae: $p: " sample --model "$p" -o "$WORK/s.png"
    expect 1 "vae: $p: " reconstruct --model "$p" -o "$WORK/r.png" --data "$T/d"
    expect 1 "vae: $p: " train --resume "$p" --out "$WORK/run" --data "$T/d" --no-images
    for cmd in "${VIEWS[@]}"; do
        expect 1 "vae: $p: " "$cmd" --model "$p" --data "$T/d" -o "$WORK/x.png"
    done
done

# the originals are untouched by all of that
expect 0 "" eval --model "$GOOD" --data "$T/d"
expect 0 "" sample --model "$GOOD" -o "$WORK/s.png"
check "sample wrote a PNG" test -s "$WORK/s.png"
rm -f "$WORK/s.png"

# --resume: options that contradict the checkpoint are usage errors, and nothing is written
for a in "--zdim 3" "--hidden 32" "--loss mse" "--alpha 2" "--beta 4" "--batch 16" "--seed 9" \
    "--limit 100" "--epochs 1"; do
    set -- $a
    usage_err "$1: conflicts with the checkpoint" train --resume "$GOOD" --out "$WORK/run" --data "$T/d" "$@"
done
# (--lr may change on resume, and --data with --new-data: see cli_nothing_lost.sh)
make_data "$T/d-other" 100 50 8 8
usage_err "--data: conflicts with the checkpoint" train --resume "$GOOD" --out "$WORK/run" --data "$T/d-other"
# the same values as the checkpoint are fine (and --epochs 2 leaves nothing to train)
cp -r "$T/good" "$T/same"
expect 0 "" train --resume "$T/same/model.safetensors" --out "$T/same" --data "$T/d" --zdim 2 --hidden 16 \
    --batch 32 --epochs 2 --lr 0.001 --seed 1 --no-images
check "resuming a finished run says there is nothing to train" grep -q "nothing to train" "$ERR"
check "and leaves the checkpoint as it was" cmp -s "$T/same/model.safetensors" "$GOOD"

finish
