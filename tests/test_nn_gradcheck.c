/* Each layer kernel of nn.h against an independent double-precision
 * re-implementation written here: forward values directly, and the float
 * analytic gradients against central finite differences of the double
 * forward (step 1e-6, so FD error is ~1e-10 and float error dominates). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/nn.h"
#include "vae/rng.h"

#define FD_H 1e-6
/* float kernels with K <= 8 terms per sum: errors ~1e-6 relative */
#define G_ATOL 1e-5
#define G_RTOL 1e-4

static Rng rng;

static void fill_uniform(float *a, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * rng_uniform(&rng));
}

static void to_double(double *d, const float *f, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = f[i];
}

/* ---- a generic central difference over one double array ---- */
typedef double (*Objective)(void *ctx);

static void fd_grad(double *out, double *x, size_t n, Objective f, void *ctx) {
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + FD_H;
        double up = f(ctx);
        x[i] = keep - FD_H;
        double down = f(ctx);
        x[i] = keep;
        out[i] = (up - down) / (2 * FD_H);
    }
}

static void check_grad(const char *what, const float *got, const double *fd, size_t n) {
    double *g = malloc(n * sizeof *g);
    if (!g) {
        CHECK_MSG(0, "%s: out of memory", what);
        return;
    }
    to_double(g, got, n);
    check_close_d(what, g, fd, n, G_ATOL, G_RTOL);
    free(g);
}

/* ---- linear (+ ReLU): L = sum G * f(in W^T + b) ---- */
enum { LB = 4, LIN = 7, LOUT = 5 };
typedef struct {
    double W[LOUT * LIN], b[LOUT], in[LB * LIN], G[LB * LOUT], out[LB * LOUT];
    int relu;
} LinCtx;

static double lin_obj(void *p) {
    LinCtx *c = p;
    double L = 0;
    for (int r = 0; r < LB; r++)
        for (int o = 0; o < LOUT; o++) {
            double s = c->b[o];
            for (int i = 0; i < LIN; i++) s += c->in[r * LIN + i] * c->W[o * LIN + i];
            if (c->relu && s < 0) s = 0;
            c->out[r * LOUT + o] = s;
            L += c->G[r * LOUT + o] * s;
        }
    return L;
}

static void test_linear(int relu) {
    float W[LOUT * LIN], b[LOUT], in[LB * LIN], G[LB * LOUT], out[LB * LOUT];
    float dW[LOUT * LIN], db[LOUT], din[LB * LIN], dout[LB * LOUT];
    fill_uniform(W, LOUT * LIN, -1, 1);
    fill_uniform(b, LOUT, -0.5, 0.5);
    fill_uniform(in, LB * LIN, -1, 1);
    fill_uniform(G, LB * LOUT, -1, 1);
    LinCtx c;
    c.relu = relu;
    to_double(c.W, W, LOUT * LIN);
    to_double(c.b, b, LOUT);
    to_double(c.in, in, LB * LIN);
    to_double(c.G, G, LB * LOUT);
    lin_obj(&c);

    char what[64];
    linear_forward(out, in, W, b, LB, LIN, LOUT, relu, VAE_PREC_FP32);
    float ref_out[LB * LOUT];
    int n_zero = 0;
    for (int i = 0; i < LB * LOUT; i++) {
        ref_out[i] = (float)c.out[i];
        n_zero += c.out[i] == 0;
    }
    snprintf(what, sizeof what, "linear_forward relu=%d", relu);
    check_close(what, out, ref_out, LB * LOUT, 1e-6, 1e-5);
    /* with ReLU the mask must actually cut something, or the test is vacuous */
    if (relu) CHECK(n_zero > 0 && n_zero < LB * LOUT);

    memcpy(dout, G, sizeof dout);
    if (relu) relu_backward(dout, out, LB * LOUT);
    memset(dW, 0, sizeof dW);
    memset(db, 0, sizeof db);
    memset(din, 0, sizeof din); /* input gradients accumulate: zeroed once, like the model's block */
    linear_backward(din, dW, db, dout, in, W, LB, LIN, LOUT, VAE_PREC_FP32);

    double fW[LOUT * LIN], fb[LOUT], fin[LB * LIN];
    fd_grad(fW, c.W, LOUT * LIN, lin_obj, &c);
    fd_grad(fb, c.b, LOUT, lin_obj, &c);
    fd_grad(fin, c.in, LB * LIN, lin_obj, &c);
    snprintf(what, sizeof what, "linear relu=%d dW", relu);
    check_grad(what, dW, fW, LOUT * LIN);
    snprintf(what, sizeof what, "linear relu=%d db", relu);
    check_grad(what, db, fb, LOUT);
    snprintf(what, sizeof what, "linear relu=%d din", relu);
    check_grad(what, din, fin, LB * LIN);

    /* a second backward accumulates dW, db and din (twice the FD each) */
    linear_backward(din, dW, db, dout, in, W, LB, LIN, LOUT, VAE_PREC_FP32);
    for (int i = 0; i < LOUT * LIN; i++) fW[i] *= 2;
    for (int i = 0; i < LOUT; i++) fb[i] *= 2;
    snprintf(what, sizeof what, "linear relu=%d dW accumulated", relu);
    check_grad(what, dW, fW, LOUT * LIN);
    snprintf(what, sizeof what, "linear relu=%d db accumulated", relu);
    check_grad(what, db, fb, LOUT);
    for (int i = 0; i < LB * LIN; i++) fin[i] *= 2;
    snprintf(what, sizeof what, "linear relu=%d din accumulated", relu);
    check_grad(what, din, fin, LB * LIN);
    /* din NULL is allowed and leaves the parameter gradients right */
    linear_backward(NULL, dW, db, dout, in, W, LB, LIN, LOUT, VAE_PREC_FP32);
    for (int i = 0; i < LOUT; i++) fb[i] *= 1.5;
    snprintf(what, sizeof what, "linear relu=%d db with din NULL", relu);
    check_grad(what, db, fb, LOUT);
}

/* ---- reconstruction losses: L = scale * sum loss(l, x) ---- */
enum { RB = 3, RD = 9 };
typedef struct {
    double l[RB * RD], x[RB * RD], scale;
    int sse;
} RecCtx;

static double sigmoid_d(double l) { return 1.0 / (1.0 + exp(-l)); }

/* written from the textbook definitions, not the stable kernel form */
static double rec_sum(const RecCtx *c) {
    double L = 0;
    for (int i = 0; i < RB * RD; i++) {
        double s = sigmoid_d(c->l[i]), x = c->x[i];
        if (c->sse)
            L += (s - x) * (s - x);
        else
            L += -x * log(s) - (1 - x) * log(1 - s);
    }
    return L;
}

static double rec_obj(void *p) {
    RecCtx *c = p;
    return c->scale * rec_sum(c);
}

static void test_recon(int sse) {
    float l[RB * RD], x[RB * RD], dl[RB * RD], xhat[RB * RD], ref_xhat[RB * RD];
    fill_uniform(l, RB * RD, -8, 8);
    fill_uniform(x, RB * RD, 0, 1);
    x[0] = 0.0f;
    x[1] = 1.0f;
    x[RD + 3] = 1.0f;
    x[2 * RD + 4] = 0.0f;
    RecCtx c;
    c.sse = sse;
    c.scale = 0.37f;
    to_double(c.l, l, RB * RD);
    to_double(c.x, x, RB * RD);
    for (int i = 0; i < RB * RD; i++) ref_xhat[i] = (float)sigmoid_d(c.l[i]);

    const char *name = sse ? "sse" : "bce";
    char what[64];
    double got = sse ? sse_sigmoid_forward_backward(dl, xhat, l, x, RB, RD, 0.37f)
                     : bce_logits_forward_backward(dl, xhat, l, x, RB, RD, 0.37f);
    double want = rec_sum(&c);
    snprintf(what, sizeof what, "%s loss sum (unscaled)", name);
    check_close_d(what, &got, &want, 1, 1e-6, 1e-6);
    snprintf(what, sizeof what, "%s xhat", name);
    check_close(what, xhat, ref_xhat, RB * RD, 1e-7, 1e-6);
    double fd[RB * RD];
    fd_grad(fd, c.l, RB * RD, rec_obj, &c);
    snprintf(what, sizeof what, "%s dlogits", name);
    check_grad(what, dl, fd, RB * RD);

    /* NULL outputs are allowed and do not change the loss */
    double got2 = sse ? sse_sigmoid_forward_backward(NULL, NULL, l, x, RB, RD, 0.37f)
                      : bce_logits_forward_backward(NULL, NULL, l, x, RB, RD, 0.37f);
    CHECK(got2 == got);
}

/* Saturated logits: the stable BCE stays finite and exact where the
 * textbook form would take log(0). Reference values from the limits:
 * for l >> 0, loss = (1 - x) l (+ e^-l); for l << 0, loss = -x l (+ e^l). */
static void test_bce_extremes(void) {
    float l[6] = {100.0f, 100.0f, -100.0f, -100.0f, 50.0f, -30.0f};
    float x[6] = {0.0f, 1.0f, 0.0f, 1.0f, 0.5f, 0.25f};
    float dl[6], xhat[6];
    double got = bce_logits_forward_backward(dl, xhat, l, x, 2, 3, 1.0f);
    double want = 100.0 + 0.0 + 0.0 + 100.0 + 25.0 + (7.5 + log1p(exp(-30.0)));
    check_close_d("bce saturated loss", &got, &want, 1, 1e-9, 1e-6);
    float ref_dl[6];
    for (int i = 0; i < 6; i++) ref_dl[i] = (float)(sigmoid_d(l[i]) - x[i]);
    check_close("bce saturated dlogits", dl, ref_dl, 6, 1e-7, 1e-6);
    for (int i = 0; i < 6; i++) CHECK(isfinite(dl[i]) && xhat[i] >= 0.0f && xhat[i] <= 1.0f);
    got = sse_sigmoid_forward_backward(dl, xhat, l, x, 2, 3, 1.0f);
    want = 1.0 + 0.0 + 0.0 + 1.0 + 0.25 + 0.0625;
    check_close_d("sse saturated loss", &got, &want, 1, 1e-6, 1e-6);
    for (int i = 0; i < 6; i++) CHECK(isfinite(dl[i]));
}

/* ---- reparameterization + KL: L = sum G * z + kl_scale * KL ---- */
enum { KB = 3, KZ = 4 };
typedef struct {
    double h[KB * 2 * KZ], eps[KB * KZ], G[KB * KZ], z[KB * KZ], kl_scale, kl;
    int use_eps;
} KlCtx;

static double kl_obj(void *p) {
    KlCtx *c = p;
    double L = 0, kl = 0;
    for (int r = 0; r < KB; r++)
        for (int j = 0; j < KZ; j++) {
            double mu = c->h[r * 2 * KZ + j], lv = c->h[r * 2 * KZ + KZ + j];
            double z = c->use_eps ? mu + c->eps[r * KZ + j] * sqrt(exp(lv)) : mu;
            c->z[r * KZ + j] = z;
            L += c->G[r * KZ + j] * z;
            /* KL(N(mu, s^2) || N(0, 1)) = 0.5 (s^2 + mu^2 - 1 - log s^2) */
            kl += 0.5 * (exp(lv) + mu * mu - 1 - lv);
        }
    c->kl = kl;
    return L + c->kl_scale * kl;
}

static void test_reparam(int use_eps) {
    float h[KB * 2 * KZ], eps[KB * KZ], G[KB * KZ], z[KB * KZ], dh[KB * 2 * KZ], ref_z[KB * KZ];
    for (int r = 0; r < KB; r++) {
        fill_uniform(h + r * 2 * KZ, KZ, -2, 2);
        fill_uniform(h + r * 2 * KZ + KZ, KZ, -3, 2);
    }
    rng_normal(&rng, eps, KB * KZ);
    fill_uniform(G, KB * KZ, -1, 1);
    KlCtx c;
    c.use_eps = use_eps;
    c.kl_scale = 0.6f;
    to_double(c.h, h, KB * 2 * KZ);
    to_double(c.eps, eps, KB * KZ);
    to_double(c.G, G, KB * KZ);
    kl_obj(&c);
    for (int i = 0; i < KB * KZ; i++) ref_z[i] = (float)c.z[i];

    char what[64];
    const float *e = use_eps ? eps : NULL;
    for (int i = 0; i < KB * KZ; i++) z[i] = 1e9f;
    double kl = reparam_kl_forward(z, h, e, KB, KZ);
    snprintf(what, sizeof what, "reparam eps=%d z", use_eps);
    check_close(what, z, ref_z, KB * KZ, 1e-6, 1e-6);
    snprintf(what, sizeof what, "reparam eps=%d KL sum", use_eps);
    check_close_d(what, &kl, &c.kl, 1, 1e-6, 1e-6);
    /* dh accumulates: start from a known offset and take it off again */
    for (int i = 0; i < KB * 2 * KZ; i++) dh[i] = 0.25f;
    reparam_kl_backward(dh, G, h, e, KB, KZ, 0.6f);
    for (int i = 0; i < KB * 2 * KZ; i++) dh[i] -= 0.25f;
    double fd[KB * 2 * KZ];
    fd_grad(fd, c.h, KB * 2 * KZ, kl_obj, &c);
    snprintf(what, sizeof what, "reparam eps=%d dh", use_eps);
    check_grad(what, dh, fd, KB * 2 * KZ);
}

static void test_relu_backward(void) {
    float dx[5] = {1, 2, 3, 4, 5}, y[5] = {0.5f, 0.0f, 2.0f, 0.0f, 1e-30f};
    float want[5] = {1, 0, 3, 0, 5};
    relu_backward(dx, y, 5);
    check_close("relu_backward mask", dx, want, 5, 0, 0);
}

int main(void) {
    rng_seed(&rng, 20261121);
    test_linear(0);
    test_linear(1);
    test_recon(0);
    test_recon(1);
    test_bce_extremes();
    test_reparam(1);
    test_reparam(0);
    test_relu_backward();
    return check_done("test_nn_gradcheck");
}
