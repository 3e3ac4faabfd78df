# vae train --precision: --version says whether bf16 runs here; where it does
# not (no oneDNN, no AVX-512 BF16, or oneDNN held below it with
# DNNL_MAX_CPU_ISA) --precision bf16 is a usage error naming what is missing
# and writes nothing; where it does, a bf16 run records its precision in the
# checkpoint, the --json report and config.ini, resumes in bf16 by default
# and in fp32 on request.
. "$(dirname "$0")/cli_lib.sh"

D="$WORK/d"
make_data "$D" 300 40 12 12

expect 0 "" --version
check "--version has a bf16 line" grep -qE '^bf16: (available \(oneDNN|not available \()' "$OUT"
BF16_LINE=$(grep '^bf16:' "$OUT")
AVAILABLE=0
[[ "$BF16_LINE" == "bf16: available"* ]] && AVAILABLE=1
expect 0 "" train --help
check "train --help documents --precision" grep -q -- '--precision fp32|bf16' "$OUT"
usage_err --precision train --data "$D" --out "$WORK/x" --precision fp16
check "no run folder after a bad --precision" test ! -e "$WORK/x"

if [ "$AVAILABLE" = 0 ]; then
    usage_err --precision train --data "$D" --out "$WORK/no" --precision bf16 --epochs 1
    check "the refusal says why" grep -q 'bf16 is not available: ' "$ERR"
    check "no run folder after the refusal" test ! -e "$WORK/no"
    skip_part "the bf16 runs ($BF16_LINE)"
    finish
fi

# held below AVX-512 BF16, oneDNN cannot run bf16 even on this CPU
export DNNL_MAX_CPU_ISA=AVX512_CORE
expect 0 "" --version
check "--version under DNNL_MAX_CPU_ISA=AVX512_CORE: not available" grep -q '^bf16: not available (oneDNN runs AVX-512 kernels' "$OUT"
usage_err --precision train --data "$D" --out "$WORK/held" --precision bf16 --epochs 1
check "the refusal names DNNL_MAX_CPU_ISA" grep -q 'DNNL_MAX_CPU_ISA' "$ERR"
check "no run folder after the refusal" test ! -e "$WORK/held"
unset DNNL_MAX_CPU_ISA

# header_has CHECKPOINT KEY VALUE: the safetensors metadata holds "KEY":"VALUE"
header_has() {
    perl -e 'open(my $f, "<:raw", $ARGV[0]) or exit 1; read($f, my $n, 8) == 8 or exit 1;
             my $len = unpack("Q<", $n); read($f, my $h, $len) == $len or exit 1;
             exit(index($h, "\"$ARGV[1]\":\"$ARGV[2]\"") >= 0 ? 0 : 1)' "$1" "$2" "$3"
}

R="$WORK/run"
expect 0 "" train --data "$D" --out "$R" --precision bf16 --epochs 2 --batch 50 --hidden 32 --zdim 2 --no-images --json --threads 2
check "--json reports precision bf16" grep -q '"precision":"bf16"' "$OUT"
check "config.ini records precision = bf16" grep -qE '^precision *= *bf16' "$R/config.ini"
check "the checkpoint records precision bf16" header_has "$R/model.safetensors" precision bf16
check "the checkpoint's tensors are F32" header_has "$R/model.safetensors" dtype F32
check "metrics.csv has the header and two epochs" test "$(wc -l <"$R/metrics.csv")" -eq 3

# resumed without --precision: goes on in bf16
expect 0 "" train --resume "$R/model.safetensors" --epochs 3 --no-images --json
check "resumed run reports bf16" grep -q '"precision":"bf16"' "$OUT"
check "the resumed checkpoint still records bf16" header_has "$R/model.safetensors" precision bf16
# and in fp32 on request: the checkpoint is the same fp32 parameter set
expect 0 "" train --resume "$R/model.safetensors" --epochs 4 --precision fp32 --no-images --json
check "resumed with --precision fp32 reports fp32" grep -q '"precision":"fp32"' "$OUT"
check "the checkpoint now records fp32" header_has "$R/model.safetensors" precision fp32
expect 0 "" eval --model "$R/model.safetensors" --data "$D"

finish
