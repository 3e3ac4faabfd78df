/* train_step, the step a data-parallel run is built from: a batch split into
 * two shares (each scaled by the GLOBAL batch size) whose gradients and loss
 * sums are added in the reduction hook gives the gradient and loss of the
 * whole batch (conv model, shares of 3 and 2 images); a failing hook stops
 * the step before Adam; a non-finite loss is reported after the hook ran. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/train.h"

#define NB 5
#define NA 3   /* first share; the second has NB - NA */

typedef struct {
    float *grads;           /* gradient seen by the hook (after any reduction) */
    VaeLoss loss;
    const float *add_grads; /* another worker's gradient to add, or NULL */
    VaeLoss add_loss;
    int calls, fail;
} Hook;

static int hook(Vae *m, VaeLoss *loss, void *ctx, VaeError *err) {
    Hook *h = ctx;
    h->calls++;
    if (h->fail) return vae_fail(err, "hook: the other workers are gone");
    if (h->add_grads) {
        for (size_t i = 0; i < m->n_params; i++) m->grads[i] += h->add_grads[i];
        loss->loss += h->add_loss.loss;
        loss->recon += h->add_loss.recon;
        loss->kl += h->add_loss.kl;
    }
    memcpy(h->grads, m->grads, m->n_params * sizeof(float));
    h->loss = *loss;
    return VAE_OK;
}

/* a model with the same parameters as src */
static int clone(Vae *dst, const Vae *src, VaeError *err) {
    if (vae_init(dst, &src->cfg, err) != VAE_OK) return VAE_ERR;
    memcpy(dst->params, src->params, src->n_params * sizeof(float));
    return VAE_OK;
}

int main(void) {
    VaeConfig cfg = {.rows = 8, .cols = 12, .zdim = 3, .arch = VAE_ARCH_CONV, .n_hidden = 1, .hidden = {9},
                     .n_channels = 2, .channels = {3, 5}, .loss = VAE_LOSS_BCE, .alpha = 1.0f, .beta = 1.0f};
    VaeError err;
    Vae full, wa, wb;
    VaeActs a;
    Rng rng;
    rng_seed(&rng, 42);
    if (!CHECK_MSG(vae_init(&full, &cfg, &err) == VAE_OK, "init: %s", err.msg)) return check_done("test_train_step");
    vae_init_params(&full, &rng);
    CHECK(clone(&wa, &full, &err) == VAE_OK && clone(&wb, &full, &err) == VAE_OK);
    CHECK(vae_acts_init(&a, &full, NB, &err) == VAE_OK);
    size_t D = (size_t)full.in_dim, Z = (size_t)cfg.zdim, P = full.n_params;
    float *x = malloc(NB * D * sizeof *x), *eps = malloc(NB * Z * sizeof *eps);
    float *g_full = malloc(P * sizeof *g_full), *g_b = malloc(P * sizeof *g_b), *g_a = malloc(P * sizeof *g_a);
    if (!CHECK(x && eps && g_full && g_b && g_a)) return check_done("test_train_step");
    for (size_t i = 0; i < NB * D; i++) x[i] = (float)rng_uniform(&rng);
    rng_normal(&rng, eps, NB * Z);

    TrainStepConfig sc = {{1e-3f, 0.9f, 0.999f, 1e-8f}, hook, NULL};
    const char *bad;
    VaeLoss l;

    /* the whole batch in one step */
    Hook hf = {g_full, {0, 0, 0}, NULL, {0, 0, 0}, 0, 0};
    sc.reduce_ctx = &hf;
    TrainBatch bf = {x, NULL, eps, NB, NB};
    CHECK(train_step(&full, &a, &bf, &sc, &l, &bad, &err) == STEP_OK);
    CHECK(hf.calls == 1 && full.adam_t == 1);

    /* worker b: the last NB - NA images, scaled by the global batch */
    Hook hb = {g_b, {0, 0, 0}, NULL, {0, 0, 0}, 0, 0};
    sc.reduce_ctx = &hb;
    TrainBatch bb = {x + NA * D, NULL, eps + NA * Z, NB - NA, NB};
    CHECK(train_step(&wb, &a, &bb, &sc, &l, &bad, &err) == STEP_OK);
    /* worker a: the first NA images; its hook adds worker b's share */
    Hook ha = {g_a, {0, 0, 0}, g_b, hb.loss, 0, 0};
    sc.reduce_ctx = &ha;
    TrainBatch ba = {x, NULL, eps, NA, NB};
    VaeLoss la;
    CHECK(train_step(&wa, &a, &ba, &sc, &la, &bad, &err) == STEP_OK);

    /* BLAS may round the split differently: compare with the shared tolerance */
    check_close("reduced gradient of the shares = gradient of the whole batch", g_a, g_full, P, 1e-6, 1e-4);
    double got[3] = {la.loss, la.recon, la.kl}, want[3] = {hf.loss.loss, hf.loss.recon, hf.loss.kl};
    check_close_d("reduced loss sums = whole-batch loss sums", got, want, 3, 1e-6, 1e-5);
    /* the same gradient gives the same Adam step (the first moves each weight by ~lr) */
    check_close("parameters after the step", wa.params, full.params, P, 1e-6, 1e-4);
    /* and the check can fail: one share alone is not the whole gradient */
    double *gd = malloc(P * sizeof *gd), *fd = malloc(P * sizeof *fd);
    if (CHECK(gd && fd)) {
        for (size_t i = 0; i < P; i++) gd[i] = g_b[i], fd[i] = g_full[i];
        CHECK(tol_close(gd, fd, P, 1e-6, 1e-4, NULL, NULL) == 0);
    }
    free(gd);
    free(fd);

    /* a failing hook: no Adam step, the message passed on */
    Hook hx = {g_a, {0, 0, 0}, NULL, {0, 0, 0}, 0, 1};
    sc.reduce_ctx = &hx;
    long t0 = wa.adam_t;
    float p0 = wa.params[0];
    err.msg[0] = '\0';
    CHECK(train_step(&wa, &a, &ba, &sc, &l, &bad, &err) == STEP_HOOK_FAILED);
    check_contains("hook failure", err.msg, "other workers are gone");
    CHECK(wa.adam_t == t0 && wa.params[0] == p0);

    /* a non-finite loss: reported by name, after the hook (a collective
       reduction must not be left waiting), and no Adam step */
    x[7] = NAN;
    Hook hn = {g_a, {0, 0, 0}, NULL, {0, 0, 0}, 0, 0};
    sc.reduce_ctx = &hn;
    CHECK(train_step(&wa, &a, &ba, &sc, &l, &bad, &err) == STEP_NONFINITE);
    CHECK(bad && strcmp(bad, "reconstruction") == 0);
    CHECK(hn.calls == 1 && wa.adam_t == t0);

    free(x);
    free(eps);
    free(g_full);
    free(g_a);
    free(g_b);
    vae_acts_free(&a);
    vae_free(&full);
    vae_free(&wa);
    vae_free(&wb);
    return check_done("test_train_step");
}
