/* The bf16 workers' rounded copies (vae/workers.h, vae/gemm.h): the
 * parameters' shadow, written by each step's Adam pass, and the activations
 * rounded once per step. Several steps in a row on one set of workers give
 * the bits of steps each taken on fresh workers from the same state (whose
 * shadow is rounded afresh from the parameters, and whose activations
 * nothing was rounded from before), at one and at two workers. Parameters
 * changed between steps without moving adam_t are picked up after
 * vae_workers_params_changed (the same bits as fresh workers), and were not
 * before it (which shows the shadow is really reused). Skipped (77) where
 * bf16 is not available. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/gemm.h"
#include "vae/idx.h"
#include "vae/rng.h"
#include "vae/vae.h"
#include "vae/workers.h"

#define ROWS 10
#define COLS 12
#define N_IMAGES 40
#define B 16
#define STEPS 3

static void copy_state(Vae *dst, const Vae *src) {
    size_t bytes = src->n_params * sizeof(float);
    memcpy(dst->params, src->params, bytes);
    memset(dst->grads, 0, bytes);
    memcpy(dst->adam_m, src->adam_m, bytes);
    memcpy(dst->adam_v, src->adam_v, bytes);
    dst->adam_t = src->adam_t;
}

static int same_state(const Vae *a, const Vae *b) {
    size_t bytes = a->n_params * sizeof(float);
    return a->adam_t == b->adam_t && memcmp(a->params, b->params, bytes) == 0 &&
           memcmp(a->adam_m, b->adam_m, bytes) == 0 && memcmp(a->adam_v, b->adam_v, bytes) == 0;
}

/* one step of m on fresh bf16 workers */
static int fresh_step(Vae *m, int n, const IdxImages *im, const uint32_t *index, const float *eps,
                      const VaeStepConfig *sc, VaeLoss *l) {
    VaeWorkers w;
    VaeError err;
    const char *bad;
    if (vae_workers_init(&w, m, n, B, &err) != VAE_OK || vae_workers_set_precision(&w, VAE_PREC_BF16, &err) != VAE_OK) {
        CHECK_MSG(0, "fresh workers: %s", err.msg);
        return -1;
    }
    VaeStepStatus st = vae_workers_step(&w, im, NULL, index, eps, B, B, sc, l, &bad, &err);
    vae_workers_free(&w);
    return st == VAE_STEP_OK ? 0 : -1;
}

int main(void) {
    char why[200];
    if (!vae_bf16_available(why, sizeof why)) return check_skip("test_train_bf16_shadow", why);
    const char *dir = check_tmpdir();
    if (check_write_blobs(dir, "train", N_IMAGES, ROWS, COLS, 5)) {
        CHECK_MSG(0, "writing the data set");
        return check_done("test_train_bf16_shadow");
    }
    char path[600];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    IdxImages im;
    VaeError err;
    if (idx_load_images(&im, path, &err) != VAE_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return check_done("test_train_bf16_shadow");
    }
    VaeConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.rows = ROWS, mc.cols = COLS, mc.zdim = 3, mc.n_hidden = 2, mc.hidden[0] = 24, mc.hidden[1] = 16;
    mc.loss = VAE_LOSS_BCE, mc.alpha = 1.0f, mc.beta = 1.0f;
    Vae base, got, want;
    if (vae_init(&base, &mc, &err) != VAE_OK || vae_init(&got, &mc, &err) != VAE_OK ||
        vae_init(&want, &mc, &err) != VAE_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return check_done("test_train_bf16_shadow");
    }
    Rng rng;
    rng_seed(&rng, 5);
    vae_init_params(&base, &rng);
    VaeStepConfig sc = {{1e-2f, 0.9f, 0.999f, 1e-8f}, NULL, NULL, NULL, 0};
    uint32_t index[STEPS + 1][B];
    float eps[STEPS + 1][B * 3];
    for (int s = 0; s <= STEPS; s++) {
        for (int i = 0; i < B; i++) index[s][i] = (uint32_t)((i * 7 + s * 5 + 3) % N_IMAGES);
        rng_normal(&rng, eps[s], (size_t)B * 3);
    }
    for (int n = 1; n <= 2; n++) {
        copy_state(&got, &base);
        copy_state(&want, &base);
        VaeWorkers w;
        if (vae_workers_init(&w, &got, n, B, &err) != VAE_OK ||
            vae_workers_set_precision(&w, VAE_PREC_BF16, &err) != VAE_OK) {
            CHECK_MSG(0, "%d worker(s): %s", n, err.msg);
            continue;
        }
        for (int s = 0; s < STEPS; s++) {
            VaeLoss l, lw;
            const char *bad;
            VaeStepStatus st = vae_workers_step(&w, &im, NULL, index[s], eps[s], B, B, &sc, &l, &bad, &err);
            int ok = fresh_step(&want, n, &im, index[s], eps[s], &sc, &lw) == 0;
            CHECK_MSG(st == VAE_STEP_OK && ok && same_state(&got, &want) && l.loss == lw.loss,
                      "%d worker(s), step %d: the bits of a step on fresh workers", n, s + 1);
        }
        /* parameters changed behind the workers' back, adam_t unchanged */
        for (size_t i = 0; i < got.n_params; i++) got.params[i] *= 0.5f;
        copy_state(&want, &got);
        VaeLoss l, lw;
        const char *bad;
        Vae stale;
        if (vae_init(&stale, &mc, &err) != VAE_OK) {
            CHECK_MSG(0, "%s", err.msg);
            break;
        }
        copy_state(&stale, &got);
        /* without telling the workers: the old shadow is read (a copy of the workers' model state) */
        VaeWorkers w2;
        int ok = fresh_step(&want, n, &im, index[STEPS], eps[STEPS], &sc, &lw) == 0;
        vae_workers_params_changed(&w);
        VaeStepStatus st = vae_workers_step(&w, &im, NULL, index[STEPS], eps[STEPS], B, B, &sc, &l, &bad, &err);
        CHECK_MSG(st == VAE_STEP_OK && ok && same_state(&got, &want) && l.loss == lw.loss,
                  "%d worker(s): after vae_workers_params_changed, the bits of fresh workers", n);
        /* the same change without vae_workers_params_changed, on workers whose
           shadow was written by a step: they read the stale shadow */
        if (vae_workers_init(&w2, &stale, n, B, &err) == VAE_OK &&
            vae_workers_set_precision(&w2, VAE_PREC_BF16, &err) == VAE_OK) {
            /* one step from the halved state makes the shadow current ... */
            Vae probe;
            if (vae_init(&probe, &mc, &err) == VAE_OK) {
                vae_workers_step(&w2, &im, NULL, index[0], eps[0], B, B, &sc, &l, &bad, &err);
                /* ... then halve again without telling: the next step differs from fresh workers */
                for (size_t i = 0; i < stale.n_params; i++) stale.params[i] *= 0.5f;
                copy_state(&probe, &stale);
                vae_workers_step(&w2, &im, NULL, index[1], eps[1], B, B, &sc, &l, &bad, &err);
                fresh_step(&probe, n, &im, index[1], eps[1], &sc, &lw);
                CHECK_MSG(!same_state(&stale, &probe),
                          "%d worker(s): unannounced, the change is not seen (the shadow is reused)", n);
                vae_free(&probe);
            }
            vae_workers_free(&w2);
        } else {
            CHECK_MSG(0, "%s", err.msg);
        }
        vae_free(&stale);
        vae_workers_free(&w);
    }
    vae_free(&base);
    vae_free(&got);
    vae_free(&want);
    idx_images_free(&im);
    return check_done("test_train_bf16_shadow");
}
