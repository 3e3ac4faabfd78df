/* train_step, the step a data-parallel run is built from: a batch split into
 * two shares (each scaled by the GLOBAL batch size) whose gradients and loss
 * sums are added in the reduction hook gives the gradient and loss of the
 * whole batch (conv model, shares of 3 and 2 images); a failing hook stops
 * the step before Adam; a non-finite loss is reported after the hook ran.
 * With KL warm-up and free bits the shares add their per-dimension KL sums
 * (sum_dims) and again give the whole batch's gradient and loss. */
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

/* the per-dimension KL path: the hook that also adds another share's KL sums */
typedef struct {
    Hook h;                 /* first: the gradient hook reads the same context */
    const double *add_dims; /* (Z) the other share's per-dimension KL sums, or NULL */
    int dims_calls;
} KlHook;

static int dims_hook(double *v, int n, void *ctx, VaeError *err) {
    KlHook *k = ctx;
    k->dims_calls++;
    for (int j = 0; j < n && k->add_dims; j++) v[j] += k->add_dims[j];
    (void)err;
    return VAE_OK;
}

/* sums over the rows of x (B images) of each latent dimension's KL */
static void kl_sums(Vae *m, VaeActs *a, const float *x, const float *eps, int B, double *out) {
    VaeLoss unused;
    memcpy(a->x, x, (size_t)B * m->in_dim * sizeof(float));
    memcpy(a->eps, eps, (size_t)B * m->cfg.zdim * sizeof(float));
    vae_forward(m, a, B, 1, 0, &unused);
    vae_batch_kl_dims(m, a, B, out);
    for (int j = 0; j < m->cfg.zdim; j++) out[j] *= B;
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

    TrainStepConfig sc = {.adam = {1e-3f, 0.9f, 0.999f, 1e-8f}, .reduce = hook};
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

    /* ---- KL warm-up and free bits over two shares ----
       the free-bits floor and the weights depend on the batch mean of each
       dimension's KL over the WHOLE step: each share adds the other's sums
       (sum_dims) between its forward and backward pass */
    x[7] = 0.25f;
    Vae kf, ka, kb;
    CHECK(clone(&kf, &full, &err) == VAE_OK && clone(&ka, &full, &err) == VAE_OK && clone(&kb, &full, &err) == VAE_OK);
    double sa[8] = {0}, sb[8] = {0}, mean[8] = {0}, dims[8] = {0};
    float scale[8];
    kl_sums(&kf, &a, x, eps, NA, sa);
    kl_sums(&kf, &a, x + NA * D, eps + NA * Z, NB - NA, sb);
    /* the floor between share a's own mean and the whole step's mean of the
       dimension where they differ most: the shares must add their sums to
       clamp the right dimensions */
    size_t jmax = 0;
    for (size_t j = 0; j < Z; j++) {
        mean[j] = (sa[j] + sb[j]) / NB;
        if (fabs(sa[j] / NA - mean[j]) > fabs(sa[jmax] / NA - mean[jmax])) jmax = j;
    }
    TrainStepConfig ks = {.adam = sc.adam, .reduce = hook, .kl_weight = 0.5,
                          .free_bits = (float)((sa[jmax] / NA + mean[jmax]) / 2), .kl_scale = scale, .kl_dims = dims};
    KlHook kh_f = {{g_full, {0, 0, 0}, NULL, {0, 0, 0}, 0, 0}, NULL, 0};
    ks.reduce_ctx = &kh_f;
    VaeLoss lf;
    CHECK(train_step(&kf, &a, &bf, &ks, &lf, &bad, &err) == STEP_OK);
    float whole_scale = scale[jmax];
    ks.sum_dims = dims_hook;
    KlHook kh_b = {{g_b, {0, 0, 0}, NULL, {0, 0, 0}, 0, 0}, sa, 0};
    ks.reduce_ctx = &kh_b;
    VaeLoss lb;
    CHECK(train_step(&kb, &a, &bb, &ks, &lb, &bad, &err) == STEP_OK);
    KlHook kh_a = {{g_a, {0, 0, 0}, g_b, lb, 0, 0}, sb, 0};
    ks.reduce_ctx = &kh_a;
    CHECK(train_step(&ka, &a, &ba, &ks, &la, &bad, &err) == STEP_OK);
    CHECK(kh_a.dims_calls == 1 && kh_b.dims_calls == 1 && kh_f.dims_calls == 0);
    check_close("KL schedule: reduced gradient of the shares = whole-batch gradient", g_a, g_full, P, 1e-6, 1e-4);
    double kgot[3] = {la.loss, la.recon, la.kl}, kwant[3] = {lf.loss, lf.recon, lf.kl};
    check_close_d("KL schedule: reduced loss sums = whole-batch loss sums", kgot, kwant, 3, 1e-6, 1e-5);
    check_close("KL schedule: parameters after the step", ka.params, kf.params, P, 1e-6, 1e-4);
    /* without the other share's sums the floor is applied to the wrong means */
    float *g_alone = malloc(P * sizeof *g_alone);
    Vae kc;
    if (CHECK(g_alone && clone(&kc, &full, &err) == VAE_OK)) {
        ks.sum_dims = NULL;
        KlHook kh_c = {{g_alone, {0, 0, 0}, g_b, lb, 0, 0}, NULL, 0};
        ks.reduce_ctx = &kh_c;
        CHECK(train_step(&kc, &a, &ba, &ks, &la, &bad, &err) == STEP_OK);
        CHECK_MSG(scale[jmax] != whole_scale, "share a alone clamps dimension %zu otherwise (%g vs %g)", jmax,
                  (double)scale[jmax], (double)whole_scale);
        double *gd2 = malloc(P * sizeof *gd2), *fd2 = malloc(P * sizeof *fd2);
        if (CHECK(gd2 && fd2)) {
            for (size_t i = 0; i < P; i++) gd2[i] = g_alone[i], fd2[i] = g_full[i];
            CHECK_MSG(tol_close(gd2, fd2, P, 1e-6, 1e-4, NULL, NULL) == 0,
                      "a share's own KL means give another gradient (the check can fail)");
        }
        free(gd2);
        free(fd2);
        vae_free(&kc);
    }
    free(g_alone);
    vae_free(&kf);
    vae_free(&ka);
    vae_free(&kb);

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
