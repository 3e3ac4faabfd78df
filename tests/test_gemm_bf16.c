/* vae_gemm in bf16 (oneDNN) against fp32 and against exact references, for
 * every transposition the layers use, both betas, strided operands and the
 * shapes of real training steps; the f32 -> bf16 conversion bit for bit;
 * determinism, concurrent callers and the fp32 path being cblas_sgemm.
 * Skipped (77) where bf16 is not available (no oneDNN, or no AVX-512 BF16).
 *
 * Tolerance. bf16 keeps 8 significant bits (7 stored): rounding x = m 2^e,
 * m in [1, 2), to nearest moves it by at most half an ulp, 2^-8 2^e, a
 * relative delta uniform in +-2^-8/m (standard deviation 2^-8 * 0.41 for m
 * spread over [1, 2)). A product a_k b_k then carries ab (delta_a + delta_b),
 * the fp32 sums add almost nothing (2^-24 per step), so the worst case is
 * |C_bf16 - C| <= 2^-7 sum_k |a_k b_k|; but the deltas are independent and
 * centred, so the error is a sum of K independent terms, of standard
 * deviation 2^-8 * 0.58 sqrt(sum_k (a_k b_k)^2). With inputs uniform in
 * [-1, 1] (E (ab)^2 = 1/9) that is 2^-8 * 0.19 sqrt(K), and the tolerance
 * BF16_ATOL(K) = 2^-7 sqrt(K) is ~10 standard deviations (the largest error
 * over the ~10^5 elements of a case is ~4-5): no false failure, while a
 * wrong transposition (off by ~sqrt(K)/3) or a lost beta term (off by up to
 * 1) is rejected, as self_check shows. Against the exact product of the
 * ROUNDED inputs (computed in double) only the fp32 accumulation differs
 * (products of bf16 values are exact in fp32): K additions, each rounding a
 * partial sum of size up to ~sqrt(K) by 2^-24 relative, for an error well
 * under EXACT_ATOL(K) = 2^-22 K, which is ~100 times below the bf16 error
 * at these sizes: matching it proves the inputs are rounded to nearest even
 * and nothing else is. fp32 against double meets the same bound (its
 * products round too, by 2^-24 each). */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/gemm.h"
#include "vae/rng.h"

#define BF16_ATOL(K) (ldexp(1.0, -7) * sqrt((double)(K)))
#define EXACT_ATOL(K) (ldexp(1.0, -22) * (double)(K))

static uint32_t bits_of(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---- conversion ---- */

/* An independent reference for normal numbers: of the two bf16 values
   around x (truncation and the next one up in magnitude), the nearer in
   double arithmetic; a tie goes to the even one. */
static uint16_t nearest_bf16(float x) {
    uint32_t u = bits_of(x);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    double dx = fabs((double)x), dl = fabs((double)vae_bf16_to_f32(lo)), dh = fabs((double)vae_bf16_to_f32(hi));
    if ((hi & 0x7fffu) == 0x7f80u) dh = ldexp(1.0, 128);   /* rounding up overflows to infinity */
    if (dx - dl < dh - dx) return lo;
    if (dh - dx < dx - dl) return hi;
    return (lo & 1u) ? hi : lo;
}

static void test_conversion(void) {
    /* hand-checked cases: value bits -> bf16 bits */
    static const struct {
        uint32_t in;
        uint16_t out;
        const char *what;
    } cases[] = {
        {0x3f800000u, 0x3f80u, "1.0 exact"},
        {0x3f808000u, 0x3f80u, "halfway, even below: down"},
        {0x3f818000u, 0x3f82u, "halfway, odd below: up"},
        {0x3f808001u, 0x3f81u, "just above halfway: up"},
        {0x3f807fffu, 0x3f80u, "just below halfway: down"},
        {0xbf818000u, 0xbf82u, "negative halfway, odd below: away"},
        {0x7f7fffffu, 0x7f80u, "FLT_MAX rounds to infinity"},
        {0x7f800000u, 0x7f80u, "infinity"},
        {0xff800000u, 0xff80u, "-infinity"},
        {0x00000000u, 0x0000u, "zero"},
        {0x80000000u, 0x8000u, "-zero"},
        {0x00000001u, 0x0000u, "smallest subnormal to zero"},
        {0x807fffffu, 0x8000u, "largest negative subnormal to -zero"},
        {0x00800000u, 0x0080u, "smallest normal"},
        {0x7fc00000u, 0x7fc0u, "quiet NaN"},
        {0x7f800001u, 0x7fc0u, "signalling NaN made quiet"},
        {0xffa00000u, 0xffe0u, "negative NaN keeps sign and payload"},
    };
    uint16_t vec[sizeof cases / sizeof cases[0]];
    float in[sizeof cases / sizeof cases[0]];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        in[i] = float_of(cases[i].in);
        uint16_t got = vae_f32_to_bf16_scalar(in[i]);
        CHECK_MSG(got == cases[i].out, "scalar %s: %08x -> %04x, want %04x", cases[i].what, (unsigned)cases[i].in,
                  (unsigned)got, (unsigned)cases[i].out);
    }
    vae_f32_to_bf16(vec, in, sizeof cases / sizeof cases[0]);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(vec[i] == cases[i].out, "vector %s: %08x -> %04x, want %04x", cases[i].what,
                  (unsigned)cases[i].in, (unsigned)vec[i], (unsigned)cases[i].out);

    /* random normal numbers of every exponent against the nearest-value
       reference, and the vector path (every tail length) against the scalar */
    enum { N = 100003 };
    float *x = malloc(N * sizeof *x);
    uint16_t *v = malloc((N + 8) * sizeof *v);
    if (!CHECK(x && v)) goto done;
    Rng rng;
    rng_seed(&rng, 7);
    size_t bad_ref = 0, bad_vec = 0;
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)(rng_next(&rng) >> 32);
        if (((u >> 23) & 0xffu) == 0) u |= 0x00800000u;   /* make subnormals normal */
        if (((u >> 23) & 0xffu) == 0xffu) u &= ~0x00800000u;  /* and NaN/inf finite */
        x[i] = float_of(u);
        if (vae_f32_to_bf16_scalar(x[i]) != nearest_bf16(x[i])) bad_ref++;
    }
    CHECK_MSG(bad_ref == 0, "scalar conversion differs from the nearest bf16 value for %zu of %d", bad_ref, N);
    for (int tail = 0; tail < 40; tail++) {
        size_t n = (size_t)N - (size_t)tail;
        v[n] = 0xabcd;   /* a sentinel: nothing written past n */
        vae_f32_to_bf16(v, x, n);
        for (size_t i = 0; i < n; i++) bad_vec += v[i] != vae_f32_to_bf16_scalar(x[i]);
        bad_vec += v[n] != 0xabcd;
    }
    CHECK_MSG(bad_vec == 0, "vector conversion differs from the scalar one in %zu places", bad_vec);
done:
    free(x);
    free(v);
}

/* ---- GEMMs ---- */

typedef struct {
    int ta, tb, M, N, K;
    float alpha, beta;
    int pad_a, pad_b, pad_c;    /* extra columns in the stored rows (strided operands) */
    const char *what;
} Case;

/* stored matrices of a case, filled uniform in [-1, 1] */
typedef struct {
    int ra, ca, rb, cb, lda, ldb, ldc;
    float *A, *B, *C0;
} Mats;

static int mats_init(Mats *m, const Case *c, Rng *rng) {
    m->ra = c->ta ? c->K : c->M, m->ca = c->ta ? c->M : c->K;
    m->rb = c->tb ? c->N : c->K, m->cb = c->tb ? c->K : c->N;
    m->lda = m->ca + c->pad_a, m->ldb = m->cb + c->pad_b, m->ldc = c->N + c->pad_c;
    m->A = malloc((size_t)m->ra * m->lda * sizeof(float));
    m->B = malloc((size_t)m->rb * m->ldb * sizeof(float));
    m->C0 = malloc((size_t)c->M * m->ldc * sizeof(float));
    if (!m->A || !m->B || !m->C0) return -1;
    for (size_t i = 0; i < (size_t)m->ra * m->lda; i++) m->A[i] = (float)(2 * rng_uniform(rng) - 1);
    for (size_t i = 0; i < (size_t)m->rb * m->ldb; i++) m->B[i] = (float)(2 * rng_uniform(rng) - 1);
    for (size_t i = 0; i < (size_t)c->M * m->ldc; i++) m->C0[i] = (float)(2 * rng_uniform(rng) - 1);
    return 0;
}

static void mats_free(Mats *m) {
    free(m->A);
    free(m->B);
    free(m->C0);
}

static double elem_a(const Mats *m, const Case *c, int i, int k, int round) {
    float v = c->ta ? m->A[(size_t)k * m->lda + i] : m->A[(size_t)i * m->lda + k];
    return round ? vae_bf16_to_f32(vae_f32_to_bf16_scalar(v)) : v;
}

static double elem_b(const Mats *m, const Case *c, int k, int j, int round) {
    float v = c->tb ? m->B[(size_t)j * m->ldb + k] : m->B[(size_t)k * m->ldb + j];
    return round ? vae_bf16_to_f32(vae_f32_to_bf16_scalar(v)) : v;
}

/* C (M, N) in double, packed: alpha op(A) op(B) + beta C0, inputs rounded to bf16 or not */
static void reference(double *out, const Mats *m, const Case *c, int round) {
    for (int i = 0; i < c->M; i++)
        for (int j = 0; j < c->N; j++) {
            double s = 0;
            for (int k = 0; k < c->K; k++) s += elem_a(m, c, i, k, round) * elem_b(m, c, k, j, round);
            out[(size_t)i * c->N + j] = c->alpha * s + c->beta * (double)m->C0[(size_t)i * m->ldc + j];
        }
}

/* packed (M, N) doubles of a strided C; 1 when the padding was left alone */
static int unpack(double *out, const float *C, const float *C0, const Case *c, int ldc) {
    int pad_ok = 1;
    for (int i = 0; i < c->M; i++) {
        for (int j = 0; j < c->N; j++) out[(size_t)i * c->N + j] = C[(size_t)i * ldc + j];
        for (int j = c->N; j < ldc; j++) pad_ok &= bits_of(C[(size_t)i * ldc + j]) == bits_of(C0[(size_t)i * ldc + j]);
    }
    return pad_ok;
}

static void run_case(const Case *c, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    Mats m;
    size_t mn = (size_t)c->M * c->N;
    char what[200];
    double *got = malloc(mn * sizeof *got), *ref = malloc(mn * sizeof *ref), *f32 = malloc(mn * sizeof *f32);
    float *C = NULL, *C2 = NULL;
    if (mats_init(&m, c, &rng) != 0 || !got || !ref || !f32) {
        CHECK_MSG(0, "%s: out of memory", c->what);
        goto done;
    }
    size_t nc = (size_t)c->M * m.ldc;
    C = malloc(nc * sizeof *C);
    C2 = malloc(nc * sizeof *C2);
    if (!CHECK(C && C2)) goto done;

    /* fp32: vae_gemm is the BLAS product (checked against double here) */
    memcpy(C, m.C0, nc * sizeof *C);
    vae_gemm(VAE_PREC_FP32, c->ta, c->tb, c->M, c->N, c->K, c->alpha, m.A, m.lda, m.B, m.ldb, c->beta, C, m.ldc);
    unpack(f32, C, m.C0, c, m.ldc);
    reference(ref, &m, c, 0);
    snprintf(what, sizeof what, "%s: fp32 vs double", c->what);
    check_close_d(what, f32, ref, mn, EXACT_ATOL(c->K), 0);

    /* bf16 vs the fp32 result, at the bf16 tolerance */
    memcpy(C, m.C0, nc * sizeof *C);
    vae_gemm(VAE_PREC_BF16, c->ta, c->tb, c->M, c->N, c->K, c->alpha, m.A, m.lda, m.B, m.ldb, c->beta, C, m.ldc);
    CHECK_MSG(unpack(got, C, m.C0, c, m.ldc), "%s: bf16 wrote outside the (M, N) block of C", c->what);
    snprintf(what, sizeof what, "%s: bf16 vs fp32 (atol 2^-7 sqrt(K) = %.3g)", c->what, BF16_ATOL(c->K));
    check_close_d(what, got, f32, mn, BF16_ATOL(c->K), 0);
    /* ... and it is bf16: equal to the exact product of the rounded inputs,
       and measurably off the fp32 one */
    reference(ref, &m, c, 1);
    snprintf(what, sizeof what, "%s: bf16 vs double of bf16-rounded inputs", c->what);
    check_close_d(what, got, ref, mn, EXACT_ATOL(c->K), 0);
    double worst = 0, worst_exact = 0;
    for (size_t i = 0; i < mn; i++) {
        worst = fmax(worst, fabs(got[i] - f32[i]));
        worst_exact = fmax(worst_exact, fabs(got[i] - ref[i]));
    }
    printf("%-34s bf16 - fp32: %.3g (%.0f%% of its tolerance); bf16 - exact(rounded): %.3g (%.0f%%)\n", c->what,
           worst, 100 * worst / BF16_ATOL(c->K), worst_exact, 100 * worst_exact / EXACT_ATOL(c->K));
    CHECK_MSG(worst > EXACT_ATOL(c->K), "%s: bf16 result within fp32 rounding of fp32 (%.3g): not rounded?",
              c->what, worst);

    /* the same call again gives the same bits */
    memcpy(C2, m.C0, nc * sizeof *C2);
    vae_gemm(VAE_PREC_BF16, c->ta, c->tb, c->M, c->N, c->K, c->alpha, m.A, m.lda, m.B, m.ldb, c->beta, C2, m.ldc);
    CHECK_MSG(memcmp(C, C2, nc * sizeof *C) == 0, "%s: a repeated bf16 call differs", c->what);
done:
    free(got);
    free(ref);
    free(f32);
    free(C);
    free(C2);
    mats_free(&m);
}

/* The comparisons above can fail: a result with beta's term dropped, or with
   B read untransposed, is far outside the bf16 tolerance. */
static void self_check(void) {
    Case c = {0, 1, 24, 20, 32, 1.0f, 1.0f, 0, 0, 0, "self-check"};
    Rng rng;
    rng_seed(&rng, 3);
    Mats m;
    size_t mn = (size_t)c.M * c.N;
    double *ref = malloc(mn * sizeof *ref), *bad = malloc(mn * sizeof *bad);
    if (mats_init(&m, &c, &rng) != 0 || !ref || !bad) {
        CHECK_MSG(0, "self-check: out of memory");
        goto done;
    }
    reference(ref, &m, &c, 0);
    Case nobeta = c;
    nobeta.beta = 0;
    reference(bad, &m, &nobeta, 1);
    CHECK_MSG(tol_close(bad, ref, mn, BF16_ATOL(c.K), 0, NULL, NULL) == 0, "self-check: a lost beta term passes");
    /* B (N, K) read as if it were (K, N): a 20x32 matrix read as 32x20 */
    Case flip = c;
    flip.tb = 0;
    Mats mf = m;
    mf.ldb = c.N;
    reference(bad, &mf, &flip, 1);
    CHECK_MSG(tol_close(bad, ref, mn, BF16_ATOL(c.K), 0, NULL, NULL) == 0, "self-check: a wrong transposition passes");
    reference(bad, &m, &c, 1);
    CHECK_MSG(tol_close(bad, ref, mn, BF16_ATOL(c.K), 0, NULL, NULL) == 1, "self-check: the right product fails");
done:
    free(ref);
    free(bad);
    mats_free(&m);
}

/* ---- concurrent callers, as the training workers are ---- */

typedef struct {
    const Mats *m;
    const Case *c;
    float *C;
    int reps;
} Job;

static void *worker(void *p) {
    Job *j = p;
    for (int r = 0; r < j->reps; r++) {
        memcpy(j->C, j->m->C0, (size_t)j->c->M * j->m->ldc * sizeof(float));
        vae_gemm(VAE_PREC_BF16, j->c->ta, j->c->tb, j->c->M, j->c->N, j->c->K, j->c->alpha, j->m->A, j->m->lda,
                 j->m->B, j->m->ldb, j->c->beta, j->C, j->m->ldc);
    }
    return NULL;
}

static void test_threads(void) {
    /* a shape no other case used, so the threads race to create it */
    Case c = {1, 0, 96, 200, 64, 1.0f, 1.0f, 0, 0, 0, "threads"};
    enum { T = 4 };
    Rng rng;
    rng_seed(&rng, 5);
    Mats m;
    float *C[T + 1] = {0};
    size_t nc = (size_t)c.M * c.N;
    int ok = mats_init(&m, &c, &rng) == 0;
    for (int t = 0; t <= T; t++) ok = ok && (C[t] = malloc(nc * sizeof(float))) != NULL;
    if (!CHECK_MSG(ok, "threads: out of memory")) goto done;
    pthread_t th[T];
    Job jobs[T];
    int started = 0;
    for (int t = 0; t < T; t++) {
        jobs[t] = (Job){&m, &c, C[t], 20};
        if (pthread_create(&th[t], NULL, worker, &jobs[t]) == 0) started++;
        else break;
    }
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    CHECK_MSG(started == T, "threads: started %d of %d", started, T);
    Job one = {&m, &c, C[T], 1};
    worker(&one);
    for (int t = 0; t < started; t++)
        CHECK_MSG(memcmp(C[t], C[T], nc * sizeof(float)) == 0, "thread %d's result differs from a lone call", t);
done:
    for (int t = 0; t <= T; t++) free(C[t]);
    mats_free(&m);
}

/* A registered shadow (vae_gemm_shadow_register) is what a bf16 GEMM reads
   for operands inside the block: the same bits as converting when it is
   current, and visibly the shadow's values when it is not (twice the
   weights: bf16(2w) = 2 bf16(w) exactly, so the product doubles exactly);
   an operand with gaps between its rows, and everything after
   unregistering, is converted from fp32 as usual. */
static void test_shadow(void) {
    enum { M = 16, OUT = 24, IN = 40, OFF = 100 };
    size_t n = OFF + (size_t)OUT * IN;
    float *blk = malloc(n * sizeof *blk), *X = malloc((size_t)M * IN * sizeof *X);
    uint16_t *sh = malloc(n * sizeof *sh);
    float *C1 = malloc((size_t)M * OUT * sizeof *C1), *C2 = malloc((size_t)M * OUT * sizeof *C2);
    if (!CHECK_MSG(blk && X && sh && C1 && C2, "shadow: out of memory")) goto done;
    Rng rng;
    rng_seed(&rng, 9);
    for (size_t i = 0; i < n; i++) blk[i] = (float)(2 * rng_uniform(&rng) - 1);
    for (size_t i = 0; i < (size_t)M * IN; i++) X[i] = (float)(2 * rng_uniform(&rng) - 1);
    const float *W = blk + OFF;
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN, 1.0f, X, IN, W, IN, 0.0f, C1, OUT);   /* converted */

    vae_f32_to_bf16(sh, blk, n);
    if (!CHECK_MSG(vae_gemm_shadow_register(blk, n, sh) == 0, "shadow: registered")) goto done;
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN, 1.0f, X, IN, W, IN, 0.0f, C2, OUT);
    CHECK_MSG(memcmp(C1, C2, (size_t)M * OUT * sizeof *C1) == 0, "shadow: a current shadow gives the converted bits");
    for (size_t i = 0; i < n; i++) sh[i] = vae_f32_to_bf16_scalar(2 * blk[i]);
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN, 1.0f, X, IN, W, IN, 0.0f, C2, OUT);
    int doubled = 1;
    for (size_t i = 0; i < (size_t)M * OUT; i++) doubled &= C2[i] == 2 * C1[i];
    CHECK_MSG(doubled, "shadow: the GEMM reads the registered shadow");
    /* the first IN-1 columns of W, rows IN apart: not contiguous, so
       converted, giving the same bits as without any shadow */
    float *C3 = malloc((size_t)M * OUT * sizeof *C3);
    if (!CHECK(C3 != NULL)) goto done;
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN - 1, 1.0f, X, IN, W, IN, 0.0f, C3, OUT);
    vae_gemm_shadow_unregister(blk);
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN - 1, 1.0f, X, IN, W, IN, 0.0f, C2, OUT);
    CHECK_MSG(memcmp(C3, C2, (size_t)M * OUT * sizeof *C3) == 0,
              "shadow: a strided operand inside the block is converted, not read from the shadow");
    free(C3);
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN, 1.0f, X, IN, W, IN, 0.0f, C2, OUT);
    CHECK_MSG(memcmp(C1, C2, (size_t)M * OUT * sizeof *C1) == 0, "shadow: unregistered, the GEMM converts again");
done:
    free(blk);
    free(X);
    free(sh);
    free(C1);
    free(C2);
}

/* A stable block (vae_gemm_stable_register): an operand inside it is
   rounded once per vae_gemm_stable_begin on this thread. The first GEMM
   gives the bits of an unregistered one; a later GEMM on the same matrix
   reuses that copy (the fp32 values were doubled behind its back: the
   product stays, which shows the reuse); after vae_gemm_stable_begin the
   new values are read (the product doubles exactly, bf16(2x) = 2 bf16(x));
   the same matrix read transposed shares the copy, a differently shaped
   matrix at the same address gets its own, and a strided operand is
   converted at every call. */
static void test_stable(void) {
    enum { M = 16, OUT = 24, IN = 40 };
    size_t n = (size_t)M * IN + 64;
    float *blk = malloc(n * sizeof *blk), *W = malloc((size_t)OUT * IN * sizeof *W);
    float *C1 = malloc((size_t)M * OUT * sizeof *C1), *C2 = malloc((size_t)M * OUT * sizeof *C2);
    float *D1 = malloc((size_t)IN * IN * sizeof *D1), *D2 = malloc((size_t)IN * IN * sizeof *D2);
    if (!CHECK_MSG(blk && W && C1 && C2 && D1 && D2, "stable: out of memory")) goto done;
    Rng rng;
    rng_seed(&rng, 10);
    for (size_t i = 0; i < n; i++) blk[i] = (float)(2 * rng_uniform(&rng) - 1);
    for (size_t i = 0; i < (size_t)OUT * IN; i++) W[i] = (float)(2 * rng_uniform(&rng) - 1);
    float *X = blk + 32;   /* (M, IN) inside the block */
    size_t mc = (size_t)M * OUT * sizeof *C1;
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN, 1.0f, X, IN, W, IN, 0.0f, C1, OUT);   /* unregistered */
    /* X^T X (IN, IN): X read transposed and plain */
    vae_gemm(VAE_PREC_BF16, 1, 0, IN, IN, M, 1.0f, X, IN, X, IN, 0.0f, D1, IN);
    if (!CHECK_MSG(vae_gemm_stable_register(blk, n) == 0, "stable: registered")) goto done;
    vae_gemm_stable_begin();
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN, 1.0f, X, IN, W, IN, 0.0f, C2, OUT);
    CHECK_MSG(memcmp(C1, C2, mc) == 0, "stable: the first read gives the converted bits");
    for (size_t i = 0; i < n; i++) blk[i] *= 2.0f;
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN, 1.0f, X, IN, W, IN, 0.0f, C2, OUT);
    CHECK_MSG(memcmp(C1, C2, mc) == 0, "stable: a second read reuses the copy made since vae_gemm_stable_begin");
    /* the same stored matrix read transposed: the old copy too (D1's bits) */
    vae_gemm(VAE_PREC_BF16, 1, 0, IN, IN, M, 1.0f, X, IN, X, IN, 0.0f, D2, IN);
    CHECK_MSG(memcmp(D1, D2, (size_t)IN * IN * sizeof *D1) == 0, "stable: a transposed read shares the copy");
    /* (M/2, 2 IN) at the same address: another matrix, rounded now (doubled values) */
    float *E1 = malloc((size_t)(M / 2) * 2 * sizeof *E1), *E2 = malloc((size_t)(M / 2) * 2 * sizeof *E2);
    if (!CHECK(E1 && E2)) goto done;
    float ones[2 * IN * 2];
    for (int i = 0; i < 2 * IN * 2; i++) ones[i] = (i % 3) - 1.0f;
    vae_gemm(VAE_PREC_BF16, 0, 1, M / 2, 2, 2 * IN, 1.0f, X, 2 * IN, ones, 2 * IN, 0.0f, E1, 2);
    vae_gemm_shadow_unregister(blk);
    vae_gemm(VAE_PREC_BF16, 0, 1, M / 2, 2, 2 * IN, 1.0f, X, 2 * IN, ones, 2 * IN, 0.0f, E2, 2);
    CHECK_MSG(memcmp(E1, E2, (size_t)(M / 2) * 2 * sizeof *E1) == 0,
              "stable: a matrix of another shape at the same address is rounded on its own");
    free(E1);
    free(E2);
    if (!CHECK_MSG(vae_gemm_stable_register(blk, n) == 0, "stable: registered again")) goto done;
    vae_gemm_stable_begin();
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN, 1.0f, X, IN, W, IN, 0.0f, C2, OUT);
    int doubled = 1;
    for (size_t i = 0; i < (size_t)M * OUT; i++) doubled &= C2[i] == 2 * C1[i];
    CHECK_MSG(doubled, "stable: after vae_gemm_stable_begin the new values are rounded");
    /* the first IN-1 columns of X: strided, so converted at every call */
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN - 1, 1.0f, X, IN, W, IN, 0.0f, C1, OUT);
    for (size_t i = 0; i < n; i++) blk[i] *= 0.5f;
    vae_gemm(VAE_PREC_BF16, 0, 1, M, OUT, IN - 1, 1.0f, X, IN, W, IN, 0.0f, C2, OUT);
    doubled = 1;
    for (size_t i = 0; i < (size_t)M * OUT; i++) doubled &= C1[i] == 2 * C2[i];
    CHECK_MSG(doubled, "stable: a strided operand is converted at every call");
    vae_gemm_shadow_unregister(blk);
done:
    free(blk);
    free(W);
    free(C1);
    free(C2);
    free(D1);
    free(D2);
}

/* vae_gemm_hold: the held matrix is rounded once until vae_gemm_release
   (values changed behind the GEMMs' back are not seen; after the release
   they are), read plain and transposed alike; other operands are not held. */
static void test_hold(void) {
    enum { M = 12, N = 20, K = 36 };
    float *A = malloc((size_t)M * K * sizeof *A), *Bm = malloc((size_t)K * N * sizeof *Bm);
    float *C1 = malloc((size_t)M * N * sizeof *C1), *C2 = malloc((size_t)M * N * sizeof *C2);
    float *T1 = malloc((size_t)K * K * sizeof *T1), *T2 = malloc((size_t)K * K * sizeof *T2);
    if (!CHECK_MSG(A && Bm && C1 && C2 && T1 && T2, "hold: out of memory")) goto done;
    Rng rng;
    rng_seed(&rng, 12);
    for (int i = 0; i < M * K; i++) A[i] = (float)(2 * rng_uniform(&rng) - 1);
    for (int i = 0; i < K * N; i++) Bm[i] = (float)(2 * rng_uniform(&rng) - 1);
    size_t mc = (size_t)M * N * sizeof *C1, tc = (size_t)K * K * sizeof *T1;
    vae_gemm(VAE_PREC_BF16, 0, 0, M, N, K, 1.0f, A, K, Bm, N, 0.0f, C1, N);
    vae_gemm(VAE_PREC_BF16, 1, 0, K, K, M, 1.0f, A, K, A, K, 0.0f, T1, K);
    vae_gemm_hold(VAE_PREC_BF16, A, M, K);
    vae_gemm(VAE_PREC_BF16, 0, 0, M, N, K, 1.0f, A, K, Bm, N, 0.0f, C2, N);
    CHECK_MSG(memcmp(C1, C2, mc) == 0, "hold: the held matrix gives the converted bits");
    for (int i = 0; i < M * K; i++) A[i] *= 2.0f;
    for (int i = 0; i < K * N; i++) Bm[i] *= 2.0f;
    vae_gemm(VAE_PREC_BF16, 1, 0, K, K, M, 1.0f, A, K, A, K, 0.0f, T2, K);
    CHECK_MSG(memcmp(T1, T2, tc) == 0, "hold: read transposed, the held copy is reused");
    vae_gemm(VAE_PREC_BF16, 0, 0, M, N, K, 1.0f, A, K, Bm, N, 0.0f, C2, N);
    int twice = 1;
    for (int i = 0; i < M * N; i++) twice &= C2[i] == 2 * C1[i];
    CHECK_MSG(twice, "hold: the held copy is reused, the other operand is rounded afresh");
    vae_gemm_release(VAE_PREC_BF16);
    vae_gemm(VAE_PREC_BF16, 0, 0, M, N, K, 1.0f, A, K, Bm, N, 0.0f, C2, N);
    int four = 1;
    for (int i = 0; i < M * N; i++) four &= C2[i] == 4 * C1[i];
    CHECK_MSG(four, "hold: after vae_gemm_release the new values are read");
done:
    free(A), free(Bm), free(C1), free(C2), free(T1), free(T2);
}

int main(void) {
    char why[200];
    if (!vae_bf16_available(why, sizeof why)) {
        /* the conversion is plain C and runs anywhere */
        test_conversion();
        if (check_failed) return check_done("test_gemm_bf16");
        return check_skip("test_gemm_bf16", why);
    }
    test_conversion();
    self_check();
    const Case cases[] = {
        /* the linear layers: forward, weight gradient, input gradient */
        {0, 1, 37, 53, 71, 1.0f, 0.0f, 0, 0, 0, "linear forward NT odd"},
        {1, 0, 53, 71, 37, 1.0f, 1.0f, 0, 0, 0, "linear dW TN odd"},
        {0, 0, 37, 71, 53, 1.0f, 1.0f, 0, 0, 0, "linear din NN odd"},
        {0, 1, 128, 400, 784, 1.0f, 0.0f, 0, 0, 0, "mlp enc.0 forward 128x400x784"},
        {1, 0, 400, 784, 128, 1.0f, 1.0f, 0, 0, 0, "mlp enc.0 dW 400x784x128"},
        {0, 0, 64, 400, 40, 1.0f, 1.0f, 0, 0, 0, "mlp head din 64x400x40"},
        {0, 1, 64, 784, 400, 1.0f, 0.0f, 0, 0, 0, "mlp dec.1 forward 64x784x400"},
        /* the convolutions' remaining combinations */
        {1, 0, 288, 196, 64, 1.0f, 0.0f, 0, 0, 0, "conv dcol TN beta 0"},
        {0, 1, 64, 288, 196, 1.0f, 1.0f, 0, 0, 0, "conv dW NT beta 1"},
        {0, 0, 32, 3136, 16, 1.0f, 0.0f, 0, 0, 0, "conv forward NN"},
        {1, 1, 29, 31, 47, 1.0f, 0.0f, 0, 0, 0, "TT"},
        {1, 1, 29, 31, 47, 1.0f, 1.0f, 0, 0, 0, "TT beta 1"},
        /* strided operands, another alpha and beta, a single row or column */
        {0, 1, 33, 45, 60, 1.0f, 1.0f, 3, 5, 7, "strided NT"},
        {1, 0, 33, 45, 60, 1.0f, 0.0f, 2, 1, 4, "strided TN"},
        {0, 0, 20, 30, 40, 0.5f, 0.25f, 0, 0, 0, "alpha 0.5 beta 0.25"},
        {0, 1, 1, 50, 64, 1.0f, 1.0f, 0, 0, 0, "one row"},
        {0, 0, 50, 1, 64, 1.0f, 0.0f, 0, 0, 0, "one column"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 100 + i);
    test_threads();
    test_shadow();
    test_stable();
    test_hold();
    char msg[256];
    long fails = vae_gemm_failures(msg, sizeof msg);
    CHECK_MSG(fails == 0, "%ld bf16 calls fell back to fp32: %s", fails, msg);
    return check_done("test_gemm_bf16");
}
