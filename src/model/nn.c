/* Layer kernels of the VAE (see vae/nn.h): linear layers through
 * vae_gemm with transpose flags (no explicit transposes; fp32 is
 * cblas_sgemm, bf16 oneDNN, see vae/gemm.h), fused
 * bias+ReLU, fused loss+gradient for the decoder output, and fused
 * reparameterization+KL. Float math; sums over many terms use doubles. */
#include "vae/nn.h"

#include <math.h>

#include "vae/gemm.h"
#include "vae/vecmath.h"

/* out (B, OUT) = in (B, IN) . W^T + b, W (OUT, IN): NoTrans x Trans. */
VAE_HOT void linear_forward(float *out, const float *in, const float *W, const float *b,
                    int B, int IN, int OUT, int relu, VaePrecision prec) {
    vae_gemm(prec, 0, 1, B, OUT, IN, 1.0f, in, IN, W, IN, 0.0f, out, OUT);
    /* bias and ReLU in one pass over the output */
    for (int r = 0; r < B; r++) {
        float *o = out + (size_t)r * OUT;
        if (relu) {
            for (int j = 0; j < OUT; j++) {
                float v = o[j] + b[j];
                o[j] = v > 0.0f ? v : 0.0f;
            }
        } else {
            for (int j = 0; j < OUT; j++) o[j] += b[j];
        }
    }
}

void linear_backward(float *din, float *dW, float *db, const float *dout,
                     const float *in, const float *W, int B, int IN, int OUT, VaePrecision prec) {
    /* dout is read by both GEMMs: in bf16, rounded once */
    vae_gemm_hold(prec, dout, B, OUT);
    linear_wgrad_rows(dW, db, dout, OUT, in, B, IN, 0, OUT, prec);
    /* din (B, IN) += dout (B, OUT) . W (OUT, IN) */
    if (din)
        vae_gemm(prec, 0, 0, B, IN, OUT, 1.0f, dout, OUT, W, IN, 1.0f, din, IN);
    vae_gemm_release(prec);
}

void linear_backward_input(float *din, const float *dout, const float *W, int B, int IN, int OUT,
                           VaePrecision prec) {
    if (din) vae_gemm(prec, 0, 0, B, IN, OUT, 1.0f, dout, OUT, W, IN, 1.0f, din, IN);
}

/* db (n) += the column sums of d (B, n) with row stride ld; rows outer so
   the inner loop is contiguous, restrict and the clones so it is AVX-512 */
static VAE_HOT void add_column_sums(float *restrict db, const float *restrict d, int B, int n, int ld) {
    for (int r = 0; r < B; r++)
        for (int j = 0; j < n; j++) db[j] += d[(size_t)r * ld + j];
}

void linear_wgrad_rows(float *dW, float *db, const float *dout, int ld_dout, const float *in, int B, int IN,
                       int o0, int o1, VaePrecision prec) {
    if (B <= 0 || o1 <= o0) return;
    /* dW rows [o0, o1) (o1-o0, IN) += dout[:, o0:o1]^T (o1-o0, B) . in (B, IN) */
    vae_gemm(prec, 1, 0, o1 - o0, IN, B, 1.0f, dout + o0, ld_dout, in, IN, 1.0f, dW + (size_t)o0 * IN, IN);
    add_column_sums(db + o0, dout + o0, B, o1 - o0, ld_dout);
}

VAE_HOT void tanh_forward(float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = vec_tanh(y[i]);
}

VAE_HOT void tanh_backward(float *dx, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] *= 1.0f - y[i] * y[i];
}

VAE_HOT void relu_backward(float *dx, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dx[i] : 0.0f;
}

/* Both reconstruction losses need sigmoid(l); with e = exp(-|l|) in (0, 1]
 * it is 1/(1+e) for l >= 0 and e/(1+e) for l < 0, never overflowing, and the
 * same e gives the BCE's log1p term. exp and log1p come from vecmath.h so the
 * loops vectorize; per-image sums run in LANES independent float partial sums
 * (a fixed order, so results stay deterministic) added up in double. */
#define LANES 16

static inline float stable_sigmoid(float l, float e) {
    float inv = 1.0f / (1.0f + e);
    return l >= 0.0f ? inv : e * inv;
}

/* softplus(l) - x*l = max(l, 0) - x*l + log1p(exp(-|l|)); d/dl = s - x */
static inline float bce_elem(float l, float x, float *s) {
    float e = vec_exp_nonpos(-fabsf(l));
    *s = stable_sigmoid(l, e);
    return (l > 0.0f ? l : 0.0f) - x * l + vec_log1p_unit(e);
}

/* One row of the BCE: its sum (LANES partial sums, added in double), and
 * the gradient and sigmoid where wanted. restrict and the flags as
 * compile-time constants (the callers below) let the stores vectorize; with
 * possibly aliasing pointers GCC stored dl and xh lane by lane. */
static inline double bce_row(float *restrict dl, float *restrict xh, const float *restrict l,
                             const float *restrict t, int D, float scale, int want_dl, int want_xh) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= D; i += LANES) {
        float s[LANES];
        for (int k = 0; k < LANES; k++) acc[k] += bce_elem(l[i + k], t[i + k], &s[k]);
        if (want_dl)
            for (int k = 0; k < LANES; k++) dl[i + k] = scale * (s[k] - t[i + k]);
        if (want_xh)
            for (int k = 0; k < LANES; k++) xh[i + k] = s[k];
    }
    for (; i < D; i++) {
        float s;
        acc[0] += bce_elem(l[i], t[i], &s);
        if (want_dl) dl[i] = scale * (s - t[i]);
        if (want_xh) xh[i] = s;
    }
    double row = 0.0;
    for (int k = 0; k < LANES; k++) row += acc[k];
    return row;
}

VAE_HOT double bce_logits_forward_backward(float *dlogits, float *xhat, const float *logits,
                                           const float *x, int B, int D, float scale) {
    double total = 0.0;
    for (int r = 0; r < B; r++) {
        size_t o = (size_t)r * D;
        const float *l = logits + o, *t = x + o;
        if (dlogits && xhat) total += bce_row(dlogits + o, xhat + o, l, t, D, scale, 1, 1);
        else if (dlogits) total += bce_row(dlogits + o, NULL, l, t, D, scale, 1, 0);
        else if (xhat) total += bce_row(NULL, xhat + o, l, t, D, scale, 0, 1);
        else total += bce_row(NULL, NULL, l, t, D, scale, 0, 0);
    }
    return total;
}

VAE_HOT double sse_sigmoid_forward_backward(float *dlogits, float *xhat, const float *logits,
                                            const float *x, int B, int D, float scale) {
    double total = 0.0;
    float scale2 = 2.0f * scale;
    for (int r = 0; r < B; r++) {
        size_t o = (size_t)r * D;
        const float *l = logits + o, *t = x + o;
        float *dl = dlogits ? dlogits + o : NULL, *xh = xhat ? xhat + o : NULL;
        float acc[LANES] = {0};
        int i = 0;
        for (; i + LANES <= D; i += LANES) {
            float s[LANES], d[LANES];
            for (int k = 0; k < LANES; k++) {
                s[k] = stable_sigmoid(l[i + k], vec_exp_nonpos(-fabsf(l[i + k])));
                d[k] = s[k] - t[i + k];
                acc[k] += d[k] * d[k];
            }
            /* d/dl (s - x)^2 = 2 (s - x) s (1 - s) */
            if (dl)
                for (int k = 0; k < LANES; k++) dl[i + k] = scale2 * d[k] * s[k] * (1.0f - s[k]);
            if (xh)
                for (int k = 0; k < LANES; k++) xh[i + k] = s[k];
        }
        for (; i < D; i++) {
            float s = stable_sigmoid(l[i], vec_exp_nonpos(-fabsf(l[i])));
            float d = s - t[i];
            acc[0] += d * d;
            if (dl) dl[i] = scale2 * d * s * (1.0f - s);
            if (xh) xh[i] = s;
        }
        double row = 0.0;
        for (int k = 0; k < LANES; k++) row += acc[k];
        total += row;
    }
    return total;
}

double reparam_kl_forward(float *z, const float *h, const float *eps, int B, int Z) {
    double total = 0.0;
    for (int r = 0; r < B; r++) {
        const float *mu = h + (size_t)r * 2 * Z, *lv = mu + Z;
        float *zr = z + (size_t)r * Z;
        double row = 0.0;
        if (eps) {
            const float *er = eps + (size_t)r * Z;
            for (int j = 0; j < Z; j++) {
                float sd = expf(0.5f * lv[j]);
                zr[j] = mu[j] + er[j] * sd;
                row += (double)(1.0f + lv[j] - mu[j] * mu[j] - sd * sd);
            }
        } else {
            for (int j = 0; j < Z; j++) {
                zr[j] = mu[j];
                row += (double)(1.0f + lv[j] - mu[j] * mu[j] - expf(lv[j]));
            }
        }
        total += -0.5 * row;
    }
    return total;
}

/* d KL / d mu = mu;  d KL / d logvar = 0.5 (exp(logvar) - 1);
 * d z / d mu = 1;    d z / d logvar = eps * 0.5 * exp(0.5 logvar). */
void reparam_kl_backward(float *dh, const float *dz, const float *h, const float *eps,
                         int B, int Z, float kl_scale) {
    reparam_kl_backward_dims(dh, dz, h, eps, B, Z, kl_scale, NULL);
}

void reparam_kl_backward_dims(float *dh, const float *dz, const float *h, const float *eps,
                              int B, int Z, float kl_scale, const float *dim_scale) {
    for (int r = 0; r < B; r++) {
        const float *mu = h + (size_t)r * 2 * Z, *lv = mu + Z;
        const float *dzr = dz + (size_t)r * Z;
        float *dmu = dh + (size_t)r * 2 * Z, *dlv = dmu + Z;
        for (int j = 0; j < Z; j++) {
            float ks = dim_scale ? kl_scale * dim_scale[j] : kl_scale;
            if (eps) {
                float sd = expf(0.5f * lv[j]);
                dmu[j] += dzr[j] + ks * mu[j];
                dlv[j] += dzr[j] * eps[(size_t)r * Z + j] * 0.5f * sd + 0.5f * ks * (sd * sd - 1.0f);
            } else {
                dmu[j] += dzr[j] + ks * mu[j];
                dlv[j] += 0.5f * ks * (expf(lv[j]) - 1.0f);
            }
        }
    }
}
