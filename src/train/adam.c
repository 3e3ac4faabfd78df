/* Adam with bias correction, step for step as torch.optim.Adam (PyTorch
 * 1.13, single-tensor path, no weight decay, no amsgrad):
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
 * adam_update_sum takes g as the sum of per-worker gradient buffers and clears
 * them in the same pass: the step is memory-bound, and one pass replaces a
 * reduction, the update and the next step's memset. */
#include "vae/adam.h"

#include <math.h>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "vae/vecmath.h"

/* Subnormal numbers, flushed to zero inside the update. A pixel that is
 * almost never on (MNIST's border) gets a zero gradient step after step, so
 * its first moment decays by beta1 per step into the subnormal range, where
 * Intel cores take a microcode assist per operation: after 1,500 steps of
 * the default model 74,257 of its 652,824 moments were subnormal and one
 * Adam pass took 2.66 ms instead of 0.62 (step_probe, 2,500 steps, 1 thread:
 * median step CPU time 8.1-9.2 -> 6.5-6.9 ms). Such a moment (< 2^-126) moves
 * its weight by at most lr / (1 - b1) * 2^-126 / eps per step (2^-103 at lr
 * 0.01), below the rounding of any weight above ~2^-79, so flushing it (and the subnormal
 * products around it: FTZ, with DAZ for inputs, e.g. from a checkpoint)
 * leaves the training unchanged while keeping every pass at full speed.
 * The caller's MXCSR is restored on the way out. */
typedef struct {
    unsigned csr;
} FlushGuard;

static inline FlushGuard flush_begin(void) {
    FlushGuard g = {0};
#if defined(__SSE__) || defined(__x86_64__)
    g.csr = _mm_getcsr();
    _mm_setcsr(g.csr | 0x8040u);   /* FTZ (bit 15) | DAZ (bit 6) */
#endif
    return g;
}

static inline void flush_end(FlushGuard g) {
#if defined(__SSE__) || defined(__x86_64__)
    _mm_setcsr(g.csr);
#else
    (void)g;
#endif
}

typedef struct {
    float b1, b2, one_b1, one_b2, eps, step_size, inv_bc2_sqrt;
} AdamConsts;

static AdamConsts adam_consts(const AdamConfig *cfg, long t) {
    AdamConsts k;
    k.b1 = cfg->beta1;
    k.b2 = cfg->beta2;
    k.eps = cfg->eps;
    /* the bias corrections in double, as PyTorch computes them in Python */
    double bc1 = 1.0 - pow((double)k.b1, (double)t);
    double bc2 = 1.0 - pow((double)k.b2, (double)t);
    k.step_size = (float)((double)cfg->lr / bc1);
    k.inv_bc2_sqrt = (float)(1.0 / sqrt(bc2));
    k.one_b1 = 1.0f - k.b1;
    k.one_b2 = 1.0f - k.b2;
    return k;
}

/* the update of one element; returns nonzero when g is inf or NaN
   (g - g is NaN exactly then; an integer OR vectorizes) */
static inline int adam_elem(float *p, float gi, float *m, float *v, const AdamConsts *k) {
    float mi = k->b1 * *m + k->one_b1 * gi;
    float vi = k->b2 * *v + k->one_b2 * gi * gi;
    *m = mi;
    *v = vi;
    *p -= k->step_size * (mi / (sqrtf(vi) * k->inv_bc2_sqrt + k->eps));
    return (gi - gi) != 0.0f;
}

VAE_HOT int adam_update(float *p, const float *g, float *m, float *v, size_t n, const AdamConfig *cfg, long t) {
    AdamConsts k = adam_consts(cfg, t);
    int nonfinite = 0;
    FlushGuard fg = flush_begin();
    for (size_t i = 0; i < n; i++) nonfinite |= adam_elem(p + i, g[i], m + i, v + i, &k);
    flush_end(fg);
    return !nonfinite;
}

static VAE_HOT int update_sum(float *p, float *const *g, int n_g, float *m, float *v, size_t n,
                              const AdamConsts *kp) {
    AdamConsts k = *kp;
    int nonfinite = 0;
    float *restrict g0 = g[0];
    if (n_g == 2) {
        float *restrict g1 = g[1];
        for (size_t i = 0; i < n; i++) {
            nonfinite |= adam_elem(p + i, g0[i] + g1[i], m + i, v + i, &k);
            g0[i] = 0.0f;
            g1[i] = 0.0f;
        }
        return !nonfinite;
    }
    /* more workers: fold them into g[0] first, in the same order */
    for (int w = 1; w < n_g; w++) {
        float *restrict gw = g[w];
        for (size_t i = 0; i < n; i++) {
            g0[i] += gw[i];
            gw[i] = 0.0f;
        }
    }
    for (size_t i = 0; i < n; i++) {
        nonfinite |= adam_elem(p + i, g0[i], m + i, v + i, &k);
        g0[i] = 0.0f;
    }
    return !nonfinite;
}

int adam_update_sum(float *p, float *const *g, int n_g, float *m, float *v, size_t n, const AdamConfig *cfg,
                    long t) {
    AdamConsts k = adam_consts(cfg, t);
    FlushGuard fg = flush_begin();
    int ok = update_sum(p, g, n_g, m, v, n, &k);
    flush_end(fg);
    return ok;
}
