/* Training schedules (vae/schedule.h):
 *  - Burda's learning-rate stages: 3^i epochs each, lr = base * 10^(-i/7),
 *    3280 epochs in all, then stage 7 for good;
 *  - the warm-up factor: linear per step from 0 to 1 over N epochs;
 *  - free bits and warm-up gradients by central finite differences in
 *    double: J(h) = sum_{b,j} dz_bj z_bj(h) + beta * w * sum_j max(L, KL_j(h)),
 *    KL_j the batch mean of dimension j's KL, h = [mu | logvar] per row,
 *    against reparam_kl_backward_dims with the scales schedule_kl_scales
 *    gives (the gradient the model's backward pass uses); some dimensions
 *    sit below the floor L and must get no KL gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/nn.h"
#include "vae/rng.h"
#include "vae/schedule.h"
#include "vae/vae.h"

#define B 5
#define Z 4
#define FD_H 1e-6

static double kl_mean_dim(const double *h, int j) {
    double s = 0;
    for (int r = 0; r < B; r++) {
        double mu = h[r * 2 * Z + j], lv = h[r * 2 * Z + Z + j];
        s += -0.5 * (1.0 + lv - mu * mu - exp(lv));
    }
    return s / B;
}

/* the objective in double; KL term divided by B as in a batch-mean objective
   is folded into beta here: J = sum dz*z + beta * w * sum_j max(L, KL_j) */
static double objective(const double *h, const double *dz, const double *eps, double beta, double w, double L) {
    double J = 0;
    for (int r = 0; r < B; r++)
        for (int j = 0; j < Z; j++) {
            double mu = h[r * 2 * Z + j], lv = h[r * 2 * Z + Z + j];
            J += dz[r * Z + j] * (mu + eps[r * Z + j] * exp(0.5 * lv));
        }
    for (int j = 0; j < Z; j++) {
        double k = kl_mean_dim(h, j);
        J += beta * w * (k > L ? k : L);
    }
    return J;
}

static void fd_case(const char *what, double w, float L, int want_below) {
    Rng r;
    rng_seed(&r, 3);
    float hf[B * 2 * Z], dzf[B * Z], ef[B * Z], dh[B * 2 * Z], scale[Z];
    double h[B * 2 * Z], dz[B * Z], eps[B * Z], fd[B * 2 * Z], got[B * 2 * Z];
    rng_normal(&r, hf, B * 2 * Z);
    rng_normal(&r, dzf, B * Z);
    rng_normal(&r, ef, B * Z);
    /* dimension 1 and 3: posteriors close to the prior (KL well below L) */
    for (int b = 0; b < B; b++) {
        hf[b * 2 * Z + 1] *= 0.05f;
        hf[b * 2 * Z + Z + 1] *= 0.05f;
        hf[b * 2 * Z + 3] *= 0.05f;
        hf[b * 2 * Z + Z + 3] *= 0.05f;
    }
    for (int i = 0; i < B * 2 * Z; i++) h[i] = hf[i];
    for (int i = 0; i < B * Z; i++) {
        dz[i] = dzf[i];
        eps[i] = ef[i];
    }
    double klm[Z];
    int below = 0;
    for (int j = 0; j < Z; j++) {
        klm[j] = kl_mean_dim(h, j);
        below += L > 0 && klm[j] <= L;
    }
    CHECK_MSG(below == want_below, "%s: %d dimensions below the floor, want %d", what, below, want_below);
    double beta = 1.5;
    double term = schedule_kl_scales(klm, Z, L, w, scale);
    double want_term = 0;
    for (int j = 0; j < Z; j++) want_term += w * (klm[j] > L ? klm[j] : L);
    check_close_d("KL term of the objective", &term, &want_term, 1, 1e-12, 1e-12);
    /* the backward pass takes kl_scale = beta / B for a batch mean over rows;
       J's KL part is beta * mean over rows, the same thing */
    memset(dh, 0, sizeof dh);   /* the backward accumulates */
    reparam_kl_backward_dims(dh, dzf, hf, ef, B, Z, (float)(beta / B), scale);
    for (int i = 0; i < B * 2 * Z; i++) {
        double keep = h[i];
        h[i] = keep + FD_H;
        double up = objective(h, dz, eps, beta, w, L);
        h[i] = keep - FD_H;
        double down = objective(h, dz, eps, beta, w, L);
        h[i] = keep;
        fd[i] = (up - down) / (2 * FD_H);
        got[i] = dh[i];
    }
    char name[96];
    snprintf(name, sizeof name, "%s: d J / d [mu | logvar] vs finite differences", what);
    check_close_d(name, got, fd, B * 2 * Z, 2e-6, 1e-4);
}

/* The model's backward pass honours VaeActs.kl_dim_scale: all zeros gives
 * the gradient of a beta = 0 model, all ones that of no scale, and a scale
 * on one dimension changes the encoder's gradient. */
static void backward_hook(void) {
    VaeConfig cfg = {0};
    cfg.rows = 4;
    cfg.cols = 5;
    cfg.zdim = 3;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 7;
    cfg.loss = VAE_LOSS_BCE;
    cfg.alpha = 1.0f;
    cfg.beta = 1.0f;
    Vae m, m0;
    VaeActs a;
    VaeError err;
    if (!CHECK(vae_init(&m, &cfg, &err) == VAE_OK && vae_acts_init(&a, &m, 4, &err) == VAE_OK)) return;
    cfg.beta = 0.0f;
    if (!CHECK(vae_init(&m0, &cfg, &err) == VAE_OK)) return;
    Rng r;
    rng_seed(&r, 6);
    vae_init_params(&m, &r);
    memcpy(m0.params, m.params, m.n_params * sizeof(float));
    for (int i = 0; i < 4 * 20; i++) a.x[i] = (float)rng_uniform(&r);
    rng_normal(&r, a.eps, 4 * 3);
    size_t np = m.n_params;
    float *g_none = malloc(np * sizeof(float)), *g = malloc(np * sizeof(float));
    VaeLoss l;
    const float zeros[3] = {0, 0, 0}, ones[3] = {1, 1, 1}, one_dim[3] = {1, 0.25f, 1};
    /* no scale */
    a.kl_dim_scale = NULL;
    vae_zero_grad(&m);
    vae_forward(&m, &a, 4, 1, 1, &l);
    vae_backward(&m, &a, 4);
    memcpy(g_none, m.grads, np * sizeof(float));
    a.kl_dim_scale = ones;
    vae_zero_grad(&m);
    vae_forward(&m, &a, 4, 1, 1, &l);
    vae_backward(&m, &a, 4);
    check_close("scale 1 = no scale", m.grads, g_none, np, 0, 0);
    a.kl_dim_scale = zeros;
    vae_zero_grad(&m);
    vae_forward(&m, &a, 4, 1, 1, &l);
    vae_backward(&m, &a, 4);
    memcpy(g, m.grads, np * sizeof(float));
    a.kl_dim_scale = NULL;
    vae_zero_grad(&m0);
    vae_forward(&m0, &a, 4, 1, 1, &l);
    vae_backward(&m0, &a, 4);
    check_close("scale 0 = a beta-0 model", g, m0.grads, np, 1e-7, 1e-6);
    a.kl_dim_scale = one_dim;
    vae_zero_grad(&m);
    vae_forward(&m, &a, 4, 1, 1, &l);
    vae_backward(&m, &a, 4);
    double maxd = 0;
    for (size_t i = 0; i < np; i++) maxd = fmax(maxd, fabs((double)m.grads[i] - g_none[i]));
    CHECK_MSG(maxd > 1e-4, "a scaled dimension changes the gradient (by %.3g)", maxd);
    a.kl_dim_scale = NULL;
    free(g_none);
    free(g);
    vae_acts_free(&a);
    vae_free(&m);
    vae_free(&m0);
}

int main(void) {
    backward_hook();
    /* learning-rate stages */
    CHECK(schedule_lr_stage(0) == 0 && schedule_lr_stage(1) == 1 && schedule_lr_stage(3) == 1);
    CHECK(schedule_lr_stage(4) == 2 && schedule_lr_stage(12) == 2 && schedule_lr_stage(13) == 3);
    CHECK(schedule_lr_stage(3279) == 7 && schedule_lr_stage(1093) == 7 && schedule_lr_stage(1092) == 6);
    CHECK(schedule_lr_stage(100000) == 7);
    long epochs = 0;
    for (int i = 0; i < SCHEDULE_LR_STAGES; i++) epochs += (long)pow(3, i);
    CHECK_MSG(epochs == 3280, "the stages add up to %ld epochs (Burda: 3280)", epochs);
    float lr0 = schedule_lr(1e-3f, 1, 0), lr7 = schedule_lr(1e-3f, 1, 3279), lr2 = schedule_lr(1e-3f, 1, 5);
    double want0 = 1e-3, want7 = 1e-4, want2 = 1e-3 * pow(10, -2.0 / 7), g0 = lr0, g7 = lr7, g2 = lr2;
    check_close_d("stage 0 lr", &g0, &want0, 1, 0, 1e-6);
    check_close_d("stage 7 lr = 1e-4", &g7, &want7, 1, 0, 1e-6);
    check_close_d("stage 2 lr", &g2, &want2, 1, 0, 1e-6);
    CHECK(schedule_lr(3e-4f, 0, 500) == 3e-4f);

    /* warm-up: per step, linear, capped */
    CHECK(schedule_kl_weight(0, 0, 0, 10) == 1.0);
    CHECK(schedule_kl_weight(2, 0, 0, 10) == 0.0);
    double wv = schedule_kl_weight(2, 0, 5, 10), ww = 0.25;
    check_close_d("warm-up half way through epoch 1 of 2", &wv, &ww, 1, 1e-15, 0);
    wv = schedule_kl_weight(2, 1, 9, 10);
    ww = 0.95;
    check_close_d("warm-up at the last step of epoch 2", &wv, &ww, 1, 1e-15, 0);
    CHECK(schedule_kl_weight(2, 2, 0, 10) == 1.0 && schedule_kl_weight(2, 7, 3, 10) == 1.0);

    /* gradients by finite differences */
    fd_case("plain KL", 1.0, 0.0f, 0);
    fd_case("warm-up w = 0.3", 0.3, 0.0f, 0);
    fd_case("free bits 0.05", 1.0, 0.05f, 2);
    fd_case("free bits and warm-up", 0.6, 0.05f, 2);
    return check_done("test_schedule");
}
