#!/usr/bin/env bash
# vae --version names the BLAS and the kernel set in use; on an AVX-512 CPU vae
# runs OpenBLAS's AVX-512 kernels without being asked (re-executing itself
# under OPENBLAS_CORETYPE when OpenBLAS picked narrower ones, simulated here
# with the VAE_BLAS_PRETEND_CORE test hook), and the user's OPENBLAS_CORETYPE
# always wins. Skips where the CPU lacks AVX-512.
. "$(dirname "$0")/cli_lib.sh"

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
for f in avx512f avx512bw avx512dq avx512vl; do
    case " $flags " in *" $f "*) ;; *) echo "this CPU lacks $f: nothing to select; skipping"; exit 77 ;; esac
done

version() { env -u OPENBLAS_CORETYPE -u VAE_BLAS_REEXEC -u VAE_BLAS_PRETEND_CORE "$@" timeout 20 "$VAE" --version; }

out=$(version)
check "--version names OpenBLAS and its version" grep -q '^BLAS: OpenBLAS [0-9]' <<<"$out"
check "default: an AVX-512 kernel set on this CPU ($out)" grep -Eq '^kernels: (SkylakeX|Cooperlake|SapphireRapids) \(AVX-512' <<<"$out"
check "--version names the library of the fp32 GEMMs" grep -Eq '^fp32 GEMMs: (oneDNN [0-9.]+ sgemm|OpenBLAS cblas_sgemm)' <<<"$out"
check "VAE_SGEMM=openblas puts every fp32 GEMM on OpenBLAS" grep -q '^fp32 GEMMs: OpenBLAS cblas_sgemm' <<<"$(version VAE_SGEMM=openblas)"

# OpenBLAS "picked" Haswell: vae re-executes itself with SkylakeX, once
out=$(version VAE_BLAS_PRETEND_CORE=Haswell)
check "narrower pick: re-executed with SkylakeX ($out)" \
    grep -q '^kernels: SkylakeX (AVX-512; chosen by vae: OpenBLAS picked Haswell' <<<"$out"

# the user's setting wins, with or without the narrower pick
out=$(version OPENBLAS_CORETYPE=Haswell)
check "OPENBLAS_CORETYPE=Haswell is kept ($out)" grep -q '^kernels: Haswell (no AVX-512; set by OPENBLAS_CORETYPE=Haswell)' <<<"$out"
out=$(version OPENBLAS_CORETYPE=Haswell VAE_BLAS_PRETEND_CORE=Haswell)
check "OPENBLAS_CORETYPE wins over the re-exec ($out)" grep -q '^kernels: Haswell (no AVX-512; set by' <<<"$out"

# arguments survive the re-exec unchanged
make_data "$T/d" 300 100 8 8
out=$(cd "$WORK" && env -u OPENBLAS_CORETYPE VAE_BLAS_PRETEND_CORE=Haswell timeout 60 "$VAE" train --data "$T/d" \
    --out "$T/run dir" --epochs 1 --batch 50 --threads 1 --no-images --json 2>/dev/null)
check "train after a re-exec keeps its arguments ($out)" grep -q '"blas_kernels":"SkylakeX"' <<<"$out"
check "train after a re-exec wrote into the folder with a space" test -f "$T/run dir/model.safetensors"
finish
