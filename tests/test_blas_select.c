/* The kernel-set decision of vae/blas.h: re-execute with the AVX-512 kernels
 * exactly when the CPU has AVX-512, OpenBLAS picked a narrower set, the user
 * left OPENBLAS_CORETYPE alone and this is not already the re-executed
 * process; and the AVX-512 kernel names are recognised in any case. */
#include "check.h"
#include "vae/blas.h"

int main(void) {
    CHECK(vae_blas_core_is_avx512("SkylakeX"));
    CHECK(vae_blas_core_is_avx512("skylakex"));
    CHECK(vae_blas_core_is_avx512("Cooperlake"));
    CHECK(vae_blas_core_is_avx512("SAPPHIRERAPIDS"));
    CHECK(!vae_blas_core_is_avx512("Haswell"));
    CHECK(!vae_blas_core_is_avx512("Zen"));
    CHECK(!vae_blas_core_is_avx512("Prescott"));
    CHECK(!vae_blas_core_is_avx512(""));
    CHECK(!vae_blas_core_is_avx512(NULL));

    /* the one case that re-executes */
    CHECK(vae_blas_want_reexec(1, "Haswell", NULL, NULL));
    CHECK(vae_blas_want_reexec(1, "Zen", NULL, NULL));
    /* no AVX-512 on the CPU: OpenBLAS's pick stands */
    CHECK(!vae_blas_want_reexec(0, "Haswell", NULL, NULL));
    /* already the wide kernels */
    CHECK(!vae_blas_want_reexec(1, "SkylakeX", NULL, NULL));
    CHECK(!vae_blas_want_reexec(1, "Cooperlake", NULL, NULL));
    /* the user's own setting wins, whatever it says */
    CHECK(!vae_blas_want_reexec(1, "Haswell", "Haswell", NULL));
    CHECK(!vae_blas_want_reexec(1, "Haswell", "", NULL));
    /* loop guard: the re-executed process never re-executes again */
    CHECK(!vae_blas_want_reexec(1, "Haswell", NULL, "Haswell"));
    /* an unknown core name (no BLAS information) is left alone */
    CHECK(!vae_blas_want_reexec(1, NULL, NULL, NULL));

    /* what this process runs is reported consistently */
    VaeBlasInfo b;
    vae_blas_info(&b);
    CHECK(b.core != NULL && b.config != NULL);
    if (b.core) CHECK(b.core_avx512 == vae_blas_core_is_avx512(b.core));
    return check_done("test_blas_select");
}
