/* The data-parallel step (vae/workers.h) against the plain one: from the same
 * parameters and batch, one step with 1, 2 and 3 workers (even and uneven row
 * splits, and more workers than rows) gives the loss sums and the updated
 * parameters and Adam moments of vae_forward + vae_backward + adam_update
 * over the whole batch, within tolerance (the GEMMs sum the batch in
 * different pieces, so not bit for bit); the same worker count twice gives
 * identical bits; the gradient buffers are left zeroed. With a reduction
 * hook: it runs once per step and sees the whole gradient, the step then
 * matches the hook-less one, and a failing hook stops the step before Adam.
 * A conditional model's workers see their rows' labels; a model whose batch
 * is coupled (the EAE's batch norm) keeps one worker. All of it both ways
 * an MLP's step can form the weight gradients: after the passes, each
 * worker a share of every layer's rows (the default), and in each worker's
 * backward pass (VAE_DEFER_WGRAD=0). Also checks adam_update_sum against
 * adam_update on the summed gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/adam.h"
#include "vae/idx.h"
#include "vae/rng.h"
#include "vae/vae.h"
#include "vae/workers.h"

#define ROWS 10
#define COLS 12
#define N_IMAGES 40

/* largest |x|: the scale of a moment tensor, whose small elements come from
   sums that cancel and so differ with the row split more than rtol allows */
static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

static void model_config(VaeConfig *mc) {
    memset(mc, 0, sizeof *mc);
    mc->rows = ROWS;
    mc->cols = COLS;
    mc->zdim = 3;
    mc->n_hidden = 2;
    mc->hidden[0] = 24;
    mc->hidden[1] = 16;
    mc->loss = VAE_LOSS_BCE;
    mc->alpha = 1.0f;
    mc->beta = 1.0f;
}

typedef struct {
    int calls, fail;
    float *grads;           /* copy of what the hook saw */
} Hook;

static int hook(Vae *m, VaeLoss *loss, void *ctx, VaeError *err) {
    Hook *h = ctx;
    h->calls++;
    if (h->fail) return vae_fail(err, "hook: the other ranks are gone");
    memcpy(h->grads, m->grads, m->n_params * sizeof(float));
    (void)loss;
    return VAE_OK;
}

/* the reference: one thread, the whole batch, the plain calls; grad_out
   (may be NULL) receives the gradient before Adam */
static const uint8_t *g_labels;   /* labels of a conditional model, or NULL */

static void plain_step(Vae *m, const IdxImages *im, const uint32_t *index, const float *eps, int B,
                       const AdamConfig *ac, VaeLoss *l, float *grad_out) {
    VaeActs a;
    VaeError err;
    if (vae_acts_init(&a, m, B, &err) != VAE_OK) {
        CHECK_MSG(0, "acts: %s", err.msg);
        return;
    }
    idx_gather(im, index, 0, (uint32_t)B, a.x);
    if (g_labels) vae_set_labels(m, &a, g_labels, index, 0, B);
    memcpy(a.eps, eps, (size_t)B * m->cfg.zdim * sizeof(float));
    vae_zero_grad(m);
    vae_forward(m, &a, B, 1, 1, l);
    vae_backward(m, &a, B);
    if (grad_out) memcpy(grad_out, m->grads, m->n_params * sizeof(float));
    adam_update(m->params, m->grads, m->adam_m, m->adam_v, m->n_params, ac, 1);
    vae_acts_free(&a);
}

static void copy_state(Vae *dst, const Vae *src) {
    size_t bytes = src->n_params * sizeof(float);
    memcpy(dst->params, src->params, bytes);
    memset(dst->grads, 0, bytes);
    memcpy(dst->adam_m, src->adam_m, bytes);
    memcpy(dst->adam_v, src->adam_v, bytes);
    dst->adam_t = src->adam_t;
}

static int all_zero(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f) return 0;
    return 1;
}

static void test_adam_update_sum(void) {
    enum { N = 37 };
    AdamConfig ac = {1e-2f, 0.9f, 0.999f, 1e-8f};
    Rng r;
    rng_seed(&r, 3);
    float g[3][N], sum[N], p0[N], p1[N], m0[N], m1[N], v0[N], v1[N];
    for (int n_g = 1; n_g <= 3; n_g++) {
        for (int i = 0; i < N; i++) {
            p0[i] = p1[i] = (float)rng_uniform(&r) - 0.5f;
            m0[i] = m1[i] = 0.01f * ((float)rng_uniform(&r) - 0.5f);
            v0[i] = v1[i] = 1e-4f * (float)rng_uniform(&r);
            for (int w = 0; w < 3; w++) g[w][i] = (float)rng_uniform(&r) - 0.5f;
            sum[i] = g[0][i];
            for (int w = 1; w < n_g; w++) sum[i] += g[w][i];
        }
        float *gp[3] = {g[0], g[1], g[2]};
        CHECK(adam_update(p0, sum, m0, v0, N, &ac, 7) == 1);
        CHECK(adam_update_sum(p1, gp, n_g, m1, v1, N, &ac, 7) == 1);
        char what[64];
        snprintf(what, sizeof what, "adam_update_sum, %d buffer(s): parameters", n_g);
        /* the same sum in the same order, then the same update: identical */
        CHECK_MSG(memcmp(p0, p1, sizeof p0) == 0 && memcmp(m0, m1, sizeof m0) == 0 && memcmp(v0, v1, sizeof v0) == 0,
                  "%s, moments: identical to adam_update on the summed gradient", what);
        int cleared = 1;
        for (int w = 0; w < n_g; w++) cleared &= all_zero(g[w], N);
        CHECK_MSG(cleared, "adam_update_sum, %d buffer(s): every buffer cleared", n_g);
    }
    /* a non-finite gradient in any buffer is reported */
    for (int i = 0; i < N; i++) g[0][i] = g[1][i] = 0.5f;
    g[1][5] = 1.0f / 0.0f;
    float *gp[2] = {g[0], g[1]};
    CHECK(adam_update_sum(p1, gp, 2, m1, v1, N, &ac, 8) == 0);
}

int main(void) {
    test_adam_update_sum();

    const char *dir = check_tmpdir();
    if (check_write_blobs(dir, "train", N_IMAGES, ROWS, COLS, 5)) {
        CHECK_MSG(0, "writing the data set");
        return check_done("test_train_workers");
    }
    char path[600];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    IdxImages im;
    VaeError err;
    if (idx_load_images(&im, path, &err) != VAE_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return check_done("test_train_workers");
    }
    VaeConfig mc;
    model_config(&mc);
    Vae base, ref, got, again;
    if (vae_init(&base, &mc, &err) != VAE_OK || vae_init(&ref, &mc, &err) != VAE_OK ||
        vae_init(&got, &mc, &err) != VAE_OK || vae_init(&again, &mc, &err) != VAE_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return check_done("test_train_workers");
    }
    Rng rng;
    rng_seed(&rng, 11);
    vae_init_params(&base, &rng);
    AdamConfig ac = {1e-3f, 0.9f, 0.999f, 1e-8f};
    VaeStepConfig sc = {ac, NULL, NULL, NULL, 0};
    uint32_t index[N_IMAGES];
    for (uint32_t i = 0; i < N_IMAGES; i++) index[i] = (i * 7u + 3u) % N_IMAGES;
    float eps[N_IMAGES * 3];
    double eps_u[N_IMAGES * 3 + 1];
    Rng at = rng;   /* the same draws again, as the uniforms the trainer hands over */
    rng_normal(&rng, eps, sizeof eps / sizeof eps[0]);
    rng_normal_uniforms(&at, eps_u, sizeof eps / sizeof eps[0]);
    /* the second run of each case takes its noise as uniforms (odd row
       cuts with Z = 3: a Box-Muller pair split between two workers) */
    VaeStepConfig su = {ac, NULL, NULL, eps_u, 0};

    static const int BATCH[] = {8, 7, 1, 32};
    static const int WORKERS[] = {1, 2, 3};
    for (int defer = 1; defer >= 0; defer--) {
        setenv("VAE_DEFER_WGRAD", defer ? "1" : "0", 1);
        for (size_t bi = 0; bi < sizeof BATCH / sizeof BATCH[0]; bi++) {
            int B = BATCH[bi];
            VaeLoss lref;
            copy_state(&ref, &base);
            float *gref = malloc(base.n_params * sizeof(float)), *ghook = malloc(base.n_params * sizeof(float));
            if (!gref || !ghook) return 1;
            plain_step(&ref, &im, index, eps, B, &ac, &lref, gref);
            for (size_t wi = 0; wi < sizeof WORKERS / sizeof WORKERS[0]; wi++) {
                int n = WORKERS[wi];
                char what[96];
                snprintf(what, sizeof what, "batch %d, %d worker(s), weight gradients %s", B, n,
                         defer ? "after the passes" : "in each pass");
                VaeWorkers w, w2;
                copy_state(&got, &base);
                copy_state(&again, &base);
                if (vae_workers_init(&w, &got, n, B, &err) != VAE_OK || vae_workers_init(&w2, &again, n, B, &err) != VAE_OK) {
                    CHECK_MSG(0, "%s: %s", what, err.msg);
                    continue;
                }
                CHECK_MSG(w.defer == defer, "%s: the path asked for", what);
                VaeLoss l, l2;
                const char *bad, *bad2;
                VaeStepStatus st = vae_workers_step(&w, &im, NULL, index, eps, B, B, &sc, &l, &bad, &err);
                VaeStepStatus st2 = vae_workers_step(&w2, &im, NULL, index, NULL, B, B, &su, &l2, &bad2, &err);
                CHECK_MSG(st == VAE_STEP_OK && st2 == VAE_STEP_OK && bad == NULL && bad2 == NULL,
                          "%s: the step reports finite terms", what);
                CHECK_MSG(got.adam_t == 1, "%s: Adam step counted (%ld)", what, got.adam_t);
                double sums[3] = {l.loss, l.recon, l.kl}, want[3] = {lref.loss, lref.recon, lref.kl};
                char item[160];
                snprintf(item, sizeof item, "%s: loss sums", what);
                check_close_d(item, sums, want, 3, 1e-6, 1e-6);
                /* one Adam step moves each parameter by about lr * sign(g) */
                snprintf(item, sizeof item, "%s: parameters after the step", what);
                check_close(item, got.params, ref.params, got.n_params, 1e-7, 1e-5);
                snprintf(item, sizeof item, "%s: Adam first moments", what);
                check_close(item, got.adam_m, ref.adam_m, got.n_params, 1e-6 * max_abs(ref.adam_m, got.n_params), 1e-4);
                snprintf(item, sizeof item, "%s: Adam second moments", what);
                check_close(item, got.adam_v, ref.adam_v, got.n_params, 1e-6 * max_abs(ref.adam_v, got.n_params), 1e-4);
                size_t bytes = got.n_params * sizeof(float);
                CHECK_MSG(memcmp(got.params, again.params, bytes) == 0 && memcmp(got.adam_v, again.adam_v, bytes) == 0 &&
                              l.loss == l2.loss,
                          "%s: the same worker count twice (noise as normals, then as uniforms) gives identical bits",
                          what);
                int cleared = all_zero(got.grads, got.n_params);
                for (int k = 1; k < w.n; k++) cleared &= all_zero(w.grad[k], got.n_params);
                CHECK_MSG(cleared, "%s: every gradient buffer is zero after the step", what);
                vae_workers_free(&w2);

                /* the same step through a reduction hook */
                Hook h = {0, 0, ghook};
                VaeStepConfig hc = {ac, hook, &h, NULL, 0};
                copy_state(&again, &base);
                if (vae_workers_init(&w2, &again, n, B, &err) == VAE_OK) {
                    st = vae_workers_step(&w2, &im, NULL, index, eps, B, B, &hc, &l2, &bad, &err);
                    CHECK_MSG(st == VAE_STEP_OK && h.calls == 1, "%s, hook: one call, step ok", what);
                    snprintf(item, sizeof item, "%s, hook: the gradient it sees", what);
                    check_close(item, ghook, gref, base.n_params, 1e-7, 1e-4);
                    /* the same additions in the same order, folded before Adam
                       instead of inside it, and the same GEMM calls: same bits */
                    CHECK_MSG(memcmp(got.params, again.params, bytes) == 0 && memcmp(got.adam_m, again.adam_m, bytes) == 0,
                              "%s, hook: the same update as without the hook", what);
                    vae_workers_free(&w2);
                }
                /* a failing hook: no Adam step, the error passed on */
                h.fail = 1;
                copy_state(&again, &base);
                if (vae_workers_init(&w2, &again, n, B, &err) == VAE_OK) {
                    err.msg[0] = '\0';
                    st = vae_workers_step(&w2, &im, NULL, index, eps, B, B, &hc, &l2, &bad, &err);
                    CHECK_MSG(st == VAE_STEP_HOOK_FAILED && strstr(err.msg, "ranks are gone") && again.adam_t == 0 &&
                                  memcmp(again.params, base.params, bytes) == 0,
                              "%s, failing hook: reported, parameters untouched", what);
                    vae_workers_free(&w2);
                }
                vae_workers_free(&w);
            }
            free(gref);
            free(ghook);
        }
    }
    unsetenv("VAE_DEFER_WGRAD");

    /* a conditional model: each worker one-hots its own rows' labels */
    {
        VaeConfig cc;
        model_config(&cc);
        cc.n_classes = 3;
        uint8_t labels[N_IMAGES];
        for (int i = 0; i < N_IMAGES; i++) labels[i] = (uint8_t)((i * 5) % 3);
        Vae cb, cr, cg;
        if (vae_init(&cb, &cc, &err) == VAE_OK && vae_init(&cr, &cc, &err) == VAE_OK &&
            vae_init(&cg, &cc, &err) == VAE_OK) {
            vae_init_params(&cb, &rng);
            VaeLoss lref, l;
            copy_state(&cr, &cb);
            copy_state(&cg, &cb);
            g_labels = labels;
            plain_step(&cr, &im, index, eps, 9, &ac, &lref, NULL);
            g_labels = NULL;
            VaeWorkers w;
            if (vae_workers_init(&w, &cg, 2, 9, &err) == VAE_OK) {
                const char *bad;
                VaeStepStatus st = vae_workers_step(&w, &im, labels, index, eps, 9, 9, &sc, &l, &bad, &err);
                double got3[3] = {l.loss, l.recon, l.kl}, want3[3] = {lref.loss, lref.recon, lref.kl};
                CHECK(st == VAE_STEP_OK);
                check_close_d("conditional model, 2 workers: loss sums", got3, want3, 3, 1e-6, 1e-6);
                check_close("conditional model, 2 workers: Adam first moments", cg.adam_m, cr.adam_m, cg.n_params, 1e-9,
                            1e-4);
                vae_workers_free(&w);
            }
            /* the same step with labels nobody reads would differ: the check can fail */
            copy_state(&cg, &cb);
            if (vae_workers_init(&w, &cg, 2, 9, &err) == VAE_OK) {
                uint8_t zeros[N_IMAGES] = {0};
                const char *bad;
                vae_workers_step(&w, &im, zeros, index, eps, 9, 9, &sc, &l, &bad, &err);
                CHECK_MSG(l.loss != lref.loss, "conditional model: other labels give another loss");
                vae_workers_free(&w);
            }
        } else {
            CHECK_MSG(0, "conditional model: %s", err.msg);
        }
        vae_free(&cb);
        vae_free(&cr);
        vae_free(&cg);
    }
    /* an EAE: its batch norm and kNN entropy couple the batch, so one worker */
    {
        VaeConfig ec;
        model_config(&ec);
        ec.model = VAE_MODEL_EAE;
        ec.lambda = 1.0f;
        ec.knn = 2;
        ec.bn_momentum = 0.1f;
        Vae e;
        VaeWorkers w;
        if (vae_init(&e, &ec, &err) == VAE_OK && vae_workers_init(&w, &e, 2, 16, &err) == VAE_OK) {
            CHECK_MSG(w.n == 1 && !vae_workers_can_split(&e), "an EAE keeps its batch on one worker");
            CHECK(vae_workers_can_split(&base));
            vae_workers_free(&w);
        } else {
            CHECK_MSG(0, "eae: %s", err.msg);
        }
        vae_free(&e);
    }

    /* a non-finite parameter: reported, not hidden */
    VaeWorkers w;
    copy_state(&got, &base);
    got.params[got.n_params - 1] = 0.0f / 0.0f;   /* the last logit bias: no ReLU hides it */
    if (vae_workers_init(&w, &got, 2, 8, &err) == VAE_OK) {
        VaeLoss l;
        const char *bad;
        VaeStepStatus st = vae_workers_step(&w, &im, NULL, index, eps, 8, 8, &sc, &l, &bad, &err);
        CHECK_MSG(st == VAE_STEP_NONFINITE && bad != NULL, "a NaN weight makes the step report a non-finite term (%s)",
                  bad ? bad : "none");
        vae_workers_free(&w);
    }
    /* bad arguments are refused with a message */
    CHECK(vae_workers_init(&w, &got, 0, 8, &err) == VAE_ERR);
    CHECK(vae_workers_init(&w, &got, 2, 0, &err) == VAE_ERR);

    vae_free(&base);
    vae_free(&ref);
    vae_free(&got);
    vae_free(&again);
    idx_images_free(&im);
    return check_done("test_train_workers");
}
