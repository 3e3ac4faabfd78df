/* The one GEMM entry point of the model code, and the number format its
 * inputs are rounded to. fp32 is cblas_sgemm exactly as before. bf16 rounds
 * both inputs to bfloat16 (8-bit significand, round to nearest even) and
 * runs oneDNN's matmul primitive, accumulating and writing fp32: the
 * mixed-precision scheme of PyTorch's autocast on CPUs with AVX-512 BF16
 * (Cooper Lake, Sapphire Rapids and later Xeons; AMD Zen 4 and Zen 5).
 * Everything else (master weights, Adam, losses, element-wise passes) stays
 * fp32 in both.
 *
 * oneDNN is optional at build time (CMake -DVAE_DNNL=auto|ON|OFF, Debian
 * package libdnnl-dev); without it, or on a CPU without AVX-512 BF16,
 * vae_bf16_available() says why and only fp32 exists.
 *
 * Threads: a bf16 GEMM runs on as many threads as OpenBLAS would use for an
 * sgemm issued by the same thread (openblas_get_num_threads(): 1 inside the
 * training workers, the --threads count elsewhere), so the two precisions
 * use the cores alike and the workers never oversubscribe them. Primitives
 * are created once per shape, transposition, beta and thread count and
 * cached (creation costs milliseconds; a call costs microseconds). */
#ifndef VAE_GEMM_H
#define VAE_GEMM_H

#include <stddef.h>
#include <stdint.h>

typedef enum { VAE_PREC_FP32 = 0, VAE_PREC_BF16 = 1, VAE_PREC_COUNT } VaePrecision;

/* "fp32" / "bf16" */
const char *vae_precision_name(VaePrecision p);
/* "fp32" -> VAE_PREC_FP32, "bf16" -> VAE_PREC_BF16; -1 if unknown */
int vae_precision_parse(const char *s);

/* 1 when bf16 GEMMs run here. 0 otherwise, with the reason in why (when not
 * NULL): built without oneDNN, a CPU without AVX-512 BF16, or oneDNN limited
 * below it (DNNL_MAX_CPU_ISA). Decided once per process. */
int vae_bf16_available(char *why, size_t len);
/* One line for `vae --version`: "bf16: available (oneDNN 2.6.3, ...)" or
 * "bf16: not available (...)". */
/* One line for `vae --version`: which library runs the fp32 GEMMs. */
void vae_sgemm_describe(char *buf, size_t len);
void vae_bf16_describe(char *buf, size_t len);

/* C (M, N) = alpha * op(A) . op(B) + beta * C, row-major, as
 * cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, ...):
 * op(A) is (M, K) (A stored (K, M) when transA), op(B) is (K, N) (B stored
 * (N, K) when transB); lda, ldb, ldc are the row strides of the stored
 * matrices. prec VAE_PREC_BF16 requires vae_bf16_available(); should oneDNN
 * fail at run time (out of memory), the call runs in fp32 instead and
 * vae_gemm_failures() counts it. */
void vae_gemm(VaePrecision prec, int transA, int transB, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* A bf16 copy of a block of fp32 values that change rarely (a model's
 * parameters), kept current by the caller: a bf16 GEMM operand lying inside
 * base[0..n) and stored contiguously is read from shadow at the same offset
 * instead of being converted again at every call (the trainer refreshes the
 * copy once per step, in parallel, instead of every worker converting each
 * weight twice). The caller must refresh the shadow (vae_f32_to_bf16) after
 * every change of base before the next bf16 GEMM reads it, and unregister
 * it before freeing either. At most VAE_GEMM_MAX_SHADOWS at a time; returns
 * 0, or -1 when the table is full (the GEMMs then just convert). */
#define VAE_GEMM_MAX_SHADOWS 16
int vae_gemm_shadow_register(const float *base, size_t n, const uint16_t *shadow);
/* Unregisters a shadowed or stable block. */
void vae_gemm_shadow_unregister(const float *base);

/* The contiguous (rows, cols) matrix src will not change until
 * vae_gemm_release on this thread: the bf16 GEMMs between them (on this
 * thread) round it once (a layer's output gradient, read by its weight- and
 * its input-gradient GEMM). One matrix at a time per thread; no-ops in
 * fp32. */
void vae_gemm_hold(VaePrecision prec, const float *src, int rows, int cols);
void vae_gemm_release(VaePrecision prec);

/* A stable block: fp32 values (a training worker's forward activations)
 * that each thread rewrites only after calling
 * vae_gemm_stable_begin(), so that a bf16 GEMM operand lying inside it and
 * stored contiguously is rounded once per thread between two such calls
 * and the copy reused by every later GEMM reading the same matrix (a
 * layer's input is read by its forward and its weight-gradient GEMM).
 * Gradients do not qualify (two may share memory in one pass). The caller
 * promises that a matrix read by a GEMM does not change before the
 * thread's next vae_gemm_stable_begin. Shares the table (and the limit)
 * of the shadows; returns 0, or -1 when the table is full (the GEMMs then
 * convert at every call). */
int vae_gemm_stable_register(const float *base, size_t n);
/* This thread is about to rewrite the stable blocks it works on: forget
 * its bf16 copies of them. Every forward pass starts with it (vae_forward.c).
 * Cheap; a no-op where bf16 is not available. */
void vae_gemm_stable_begin(void);

/* bf16 calls that fell back to fp32 since the start of the process (0 when
 * all went through oneDNN), and the first failure's message in msg. */
long vae_gemm_failures(char *msg, size_t len);

/* f32 -> bf16 bits, rounding to nearest even, exactly as the AVX-512 BF16
 * instruction VCVTNEPS2BF16 does: NaN stays a (quiet) NaN, infinities stay,
 * subnormal inputs become zero of the same sign. n values; dst and src must
 * not overlap. */
void vae_f32_to_bf16(uint16_t *dst, const float *src, size_t n);
/* The same one value at a time, in portable C (the reference for tests). */
uint16_t vae_f32_to_bf16_scalar(float x);
float vae_bf16_to_f32(uint16_t h);

#endif
