/* Which BLAS kernels run, and choosing OpenBLAS's AVX-512 kernels on CPUs it
 * does not know. OpenBLAS 0.3.21 (Debian bookworm) picks its kernel set once,
 * in a library constructor, before main() runs; on AMD Zen 5 it falls back to
 * the AVX2 "Haswell" kernels, about half the sgemm speed of its AVX-512
 * "SkylakeX" kernels there. The only reliable way to change the choice is the
 * environment variable OPENBLAS_CORETYPE at load time, so the command layer
 * calls vae_blas_select_kernels() first thing in main(): it sets the variable
 * and re-executes the same binary with the same arguments. A user's own
 * OPENBLAS_CORETYPE always wins (vae never touches it). */
#ifndef VAE_BLAS_H
#define VAE_BLAS_H

#include <stddef.h>

/* Marker set in the environment of the re-executed process (its value is the
 * kernel set OpenBLAS had picked), so the re-exec happens at most once. */
#define VAE_BLAS_MARKER "VAE_BLAS_REEXEC"
/* Test hook: pretend OpenBLAS picked this kernel set (e.g. "Haswell") so the
 * re-exec path can be exercised on a CPU that OpenBLAS already knows. */
#define VAE_BLAS_PRETEND "VAE_BLAS_PRETEND_CORE"
/* The kernel set vae asks for on AVX-512 CPUs. */
#define VAE_BLAS_AVX512_CORE "SkylakeX"

typedef enum {
    VAE_BLAS_OPENBLAS_CHOICE = 0,   /* OpenBLAS's own pick (already the widest, or no AVX-512) */
    VAE_BLAS_USER_CHOICE,           /* OPENBLAS_CORETYPE was set by the user */
    VAE_BLAS_VAE_CHOICE,            /* vae set OPENBLAS_CORETYPE and re-executed itself */
    VAE_BLAS_REEXEC_FAILED          /* vae wanted to, but exec failed: OpenBLAS's pick stands */
} VaeBlasChoice;

typedef struct {
    const char *core;               /* kernel set in use (openblas_get_corename) */
    const char *config;             /* openblas_get_config: version and build options */
    int cpu_avx512;                 /* the CPU (and OS) support AVX-512 F, BW, DQ and VL */
    int core_avx512;                /* `core` is one of OpenBLAS's AVX-512 kernel sets */
    VaeBlasChoice choice;
    char original[32];              /* with VAE_BLAS_VAE_CHOICE: what OpenBLAS had picked */
} VaeBlasInfo;

/* 1 when AVX-512 F, BW, DQ and VL are usable (cpuid, and the OS saves zmm state). */
int vae_cpu_has_avx512(void);
/* 1 when an OpenBLAS core name is one of its AVX-512 kernel sets
 * (SkylakeX, Cooperlake, SapphireRapids; case-insensitive). */
int vae_blas_core_is_avx512(const char *core);
/* The decision, without side effects: re-execute with OPENBLAS_CORETYPE set
 * when the CPU has AVX-512, OpenBLAS picked a narrower kernel set, the user did
 * not set OPENBLAS_CORETYPE (user_coretype NULL) and this process is not
 * already the re-executed one (marker NULL). */
int vae_blas_want_reexec(int cpu_avx512, const char *core, const char *user_coretype, const char *marker);

/* Call first thing in main(), before any BLAS work and before other threads
 * exist. Either returns (nothing to do, or exec failed) or replaces the
 * process with /proc/self/exe argv under OPENBLAS_CORETYPE=SkylakeX. In the
 * re-executed process it records what happened and removes the marker from
 * the environment, so programs vae starts see only OPENBLAS_CORETYPE. */
void vae_blas_select_kernels(char **argv);
/* What runs, and why (valid after vae_blas_select_kernels, or without it). */
void vae_blas_info(VaeBlasInfo *out);
/* One line: "SkylakeX (AVX-512; chosen by vae: OpenBLAS picked Haswell)". */
void vae_blas_describe(char *buf, size_t len);

#endif
