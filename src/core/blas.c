/* BLAS kernel selection (see vae/blas.h): detect AVX-512, compare with the
 * kernel set OpenBLAS picked, and re-execute under OPENBLAS_CORETYPE when
 * OpenBLAS left the wide kernels unused. */
#include "vae/blas.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* what vae_blas_select_kernels found; read by vae_blas_info */
static VaeBlasChoice g_choice = VAE_BLAS_OPENBLAS_CHOICE;
static int g_selected = 0;
static char g_original[32];

int vae_cpu_has_avx512(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    /* libgcc's cpu model checks XCR0 too, so these are false where the OS
       does not save the zmm registers */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

int vae_blas_core_is_avx512(const char *core) {
    static const char *const WIDE[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    if (!core) return 0;
    for (size_t i = 0; i < sizeof WIDE / sizeof WIDE[0]; i++)
        if (strcasecmp(core, WIDE[i]) == 0) return 1;
    return 0;
}

int vae_blas_want_reexec(int cpu_avx512, const char *core, const char *user_coretype, const char *marker) {
    if (!cpu_avx512 || user_coretype || marker) return 0;
    return core && !vae_blas_core_is_avx512(core);
}

void vae_blas_select_kernels(char **argv) {
    g_selected = 1;
    const char *marker = getenv(VAE_BLAS_MARKER);
    if (marker) {
        /* this is the re-executed process: OPENBLAS_CORETYPE is ours */
        g_choice = VAE_BLAS_VAE_CHOICE;
        snprintf(g_original, sizeof g_original, "%s", marker);
        unsetenv(VAE_BLAS_MARKER);
        return;
    }
    const char *user = getenv("OPENBLAS_CORETYPE");
    if (user) {
        g_choice = VAE_BLAS_USER_CHOICE;
        return;
    }
    const char *core = getenv(VAE_BLAS_PRETEND);
    if (!core || !*core) core = openblas_get_corename();
    if (!vae_blas_want_reexec(vae_cpu_has_avx512(), core, NULL, NULL)) return;
    if (setenv("OPENBLAS_CORETYPE", VAE_BLAS_AVX512_CORE, 1) != 0 || setenv(VAE_BLAS_MARKER, core, 1) != 0) {
        g_choice = VAE_BLAS_REEXEC_FAILED;
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv(VAE_BLAS_MARKER);
        return;
    }
    fflush(NULL);
    execv("/proc/self/exe", argv);
    /* still here: no /proc, or the binary is gone; carry on with OpenBLAS's pick */
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(VAE_BLAS_MARKER);
    snprintf(g_original, sizeof g_original, "%s", core);
    g_choice = VAE_BLAS_REEXEC_FAILED;
}

void vae_blas_info(VaeBlasInfo *out) {
    memset(out, 0, sizeof *out);
    out->core = openblas_get_corename();
    out->config = openblas_get_config();
    out->cpu_avx512 = vae_cpu_has_avx512();
    out->core_avx512 = vae_blas_core_is_avx512(out->core);
    if (g_selected) {
        out->choice = g_choice;
        snprintf(out->original, sizeof out->original, "%s", g_original);
    } else if (getenv("OPENBLAS_CORETYPE")) {
        out->choice = VAE_BLAS_USER_CHOICE;
    }
}

void vae_blas_describe(char *buf, size_t len) {
    VaeBlasInfo b;
    vae_blas_info(&b);
    const char *width = b.core_avx512 ? "AVX-512" : "no AVX-512";
    switch (b.choice) {
    case VAE_BLAS_VAE_CHOICE:
        snprintf(buf, len, "%s (%s; chosen by vae: OpenBLAS picked %s for this CPU)", b.core, width, b.original);
        break;
    case VAE_BLAS_USER_CHOICE:
        snprintf(buf, len, "%s (%s; set by OPENBLAS_CORETYPE=%s)", b.core, width,
                 getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "?");
        break;
    case VAE_BLAS_REEXEC_FAILED:
        snprintf(buf, len, "%s (%s; OpenBLAS's choice: re-executing with OPENBLAS_CORETYPE=%s failed)", b.core,
                 width, VAE_BLAS_AVX512_CORE);
        break;
    default:
        snprintf(buf, len, "%s (%s; OpenBLAS's choice%s)", b.core, width,
                 b.cpu_avx512 ? "" : ", this CPU has no AVX-512");
        break;
    }
}
