/* Active units and per-dimension KL (vae_posterior_stats) against a direct
 * computation in double, image by image, on a random model whose head is
 * edited so that two latent dimensions ignore the input (their mean is a
 * constant: variance 0, inactive) and one has a tiny spread (inactive); the
 * count of active units and every value must match, whatever the batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/iwae.h"
#include "vae/vae.h"

#define N 57
#define Z 6

int main(void) {
    VaeConfig cfg = {0};
    cfg.rows = 5;
    cfg.cols = 5;
    cfg.zdim = Z;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 16;
    cfg.loss = VAE_LOSS_BCE;
    cfg.alpha = cfg.beta = 1.0f;
    Vae m;
    VaeError err;
    if (!CHECK(vae_init(&m, &cfg, &err) == VAE_OK)) return check_done("test_posterior_stats");
    Rng r;
    rng_seed(&r, 4);
    vae_init_params(&m, &r);
    const VaeTensor *hw = vae_find_tensor(&m, "head.weight"), *hb = vae_find_tensor(&m, "head.bias");
    if (!CHECK(hw && hb)) return check_done("test_posterior_stats");
    int H = hw->shape[1];
    float *W = m.params + hw->offset, *b = m.params + hb->offset;
    /* mu_1, mu_4 constant; mu_2 scaled down to a spread far below 0.01;
       mu_0 scaled up so it is clearly active */
    for (int k = 0; k < H; k++) {
        W[1 * H + k] = 0.0f;
        W[4 * H + k] = 0.0f;
        W[2 * H + k] *= 1e-3f;
        W[0 * H + k] *= 20.0f;
    }
    b[1] = 0.7f;
    int D = m.in_dim;
    float *x = malloc((size_t)N * D * sizeof *x);
    for (int i = 0; i < N * D; i++) x[i] = (float)rng_uniform(&r);
    /* reference: one image at a time, two-pass variance in double */
    VaeActs a;
    CHECK(vae_acts_init(&a, &m, 1, &err) == VAE_OK);
    double mus[N][Z], ref_var[Z] = {0}, ref_kl[Z] = {0};
    for (int i = 0; i < N; i++) {
        float mu[Z], lv[Z];
        memcpy(a.x, x + (size_t)i * D, (size_t)D * sizeof(float));
        vae_encode(&m, &a, 1, mu, lv);
        for (int j = 0; j < Z; j++) {
            mus[i][j] = mu[j];
            ref_kl[j] += 0.5 * ((double)mu[j] * mu[j] + exp((double)lv[j]) - 1.0 - lv[j]) / N;
        }
    }
    int ref_active = 0;
    for (int j = 0; j < Z; j++) {
        double s = 0;
        for (int i = 0; i < N; i++) s += mus[i][j];
        s /= N;
        for (int i = 0; i < N; i++) ref_var[j] += (mus[i][j] - s) * (mus[i][j] - s) / N;
        ref_active += ref_var[j] > 0.01;
    }
    CHECK_MSG(ref_var[0] > 0.01 && ref_var[1] == 0.0 && ref_var[2] < 1e-6 && ref_var[4] == 0.0,
              "the edited model has the intended spreads (%.3g %.3g %.3g %.3g)", ref_var[0], ref_var[1], ref_var[2],
              ref_var[4]);
    int batches[3] = {1, 10, 500};
    for (int t = 0; t < 3; t++) {
        double var[Z], kl[Z];
        int active = -1;
        CHECK(vae_posterior_stats(&m, x, N, batches[t], var, kl, &active, &err) == VAE_OK);
        check_close_d("variance of mu", var, ref_var, Z, 1e-9, 1e-5);
        check_close_d("KL per dimension", kl, ref_kl, Z, 1e-9, 1e-5);
        CHECK_MSG(active == ref_active && active <= Z - 3, "batch %d: %d active units, want %d", batches[t], active,
                  ref_active);
    }
    vae_acts_free(&a);
    free(x);
    vae_free(&m);
    return check_done("test_posterior_stats");
}
