/* The activation block's plan (vae.c): forward outputs that share their
 * input's memory (a ReLU over a never-negative input, a residual add into a
 * convolution output nobody else reads) do so exactly in those cases; and
 * the gradient plan (grad_plan): gradients that
 * are alive at the same time in the backward pass never share memory, the
 * block holds far less than one region per layer for the resnet, and the
 * per-layer zeroing leaves no stale gradient behind: a second forward and
 * backward pass over the same batch, after a pass over another batch, gives
 * the first pass's parameter gradient bit for bit (one code path, the same
 * inputs). In bf16 (where it runs), a worker's step, whose GEMMs keep bf16
 * copies of the operands they read from its activation block (vae/gemm.h's
 * stable blocks and held operands), gives the same gradient bit for bit as
 * plain passes that convert every operand: no copy outlives the reuse of
 * the memory it was made from (shared gradients, in-place adds).
 * Correctness of the gradients themselves is test_vae_gradcheck's (finite
 * differences through this same block). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/rng.h"
#include "vae/gemm.h"
#include "vae/idx.h"
#include "vae/vae.h"
#include "vae/workers.h"

static size_t floats_of(const VaeLayer *L) { return (size_t)L->c * L->h * L->w; }

static void one_pass(Vae *m, VaeActs *a, const float *x, const float *eps, int B, float *grad_out) {
    VaeLoss l;
    memcpy(a->x, x, (size_t)B * m->in_dim * sizeof(float));
    memcpy(a->eps, eps, (size_t)B * m->cfg.zdim * sizeof(float));
    vae_zero_grad(m);
    vae_forward(m, a, B, 1, 1, &l);
    vae_backward(m, a, B);
    memcpy(grad_out, m->grads, m->n_params * sizeof(float));
}

static void run(VaeArch arch) {
    const char *name = vae_arch_name(arch);
    VaeConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.rows = 12, mc.cols = 8, mc.zdim = 3, mc.arch = arch, mc.n_hidden = 1, mc.hidden[0] = 16;
    mc.n_channels = arch == VAE_ARCH_MLP ? 0 : 2, mc.channels[0] = 4, mc.channels[1] = 6;
    mc.loss = VAE_LOSS_BCE, mc.alpha = mc.beta = 1.0f;
    Vae m;
    VaeActs a;
    VaeError err;
    const int B = 5;
    if (vae_init(&m, &mc, &err) != VAE_OK || vae_acts_init(&a, &m, B, &err) != VAE_OK) {
        CHECK_MSG(0, "%s: %s", name, err.msg);
        return;
    }
    Rng rng;
    rng_seed(&rng, 7);
    vae_init_params(&m, &rng);
    const VaeLayout *lay = &m.lay;
    int n = lay->n_layers;

    /* lifetimes: dact[j] is alive from layer dfirst[j]'s backward (n: the
       loss) down to layer dlast[j]'s (j's own, or 0 for a linear layer of a
       model whose weight gradients may come after the pass); two that
       overlap in time must not in memory */
    size_t sum = 0;
    int clash = 0, inside = 1;
    for (int j = 0; j < n; j++) {
        size_t sj = (size_t)B * floats_of(&lay->layers[j]);
        sum += sj;
        inside &= a.dact[j] >= a.dblock && a.dact[j] + sj <= a.dblock + a.dblock_len;
        for (int k = j + 1; k < n; k++) {
            size_t sk = (size_t)B * floats_of(&lay->layers[k]);
            int both_alive = a.dlast[j] <= a.dfirst[k] && a.dlast[k] <= a.dfirst[j];
            int share = a.dact[j] < a.dact[k] + sk && a.dact[k] < a.dact[j] + sj;
            if (both_alive && share) {
                CHECK_MSG(0, "%s: gradients of layers %d and %d are alive together but share memory", name, j, k);
                clash = 1;
            }
        }
        CHECK_MSG(a.dlast[j] == (a.defer_wgrad_ok && lay->layers[j].kind == LAYER_LINEAR ? 0 : j),
                  "%s: layer %d's gradient is read until layer %d's backward", name, j, a.dlast[j]);
        /* every consumer of j adds into it no later than dfirst[j] */
        for (int l = 0; l < n; l++)
            for (int q = 0; q < lay->layers[l].n_in; q++)
                if (lay->layers[l].in[q] == j)
                    CHECK_MSG(l <= a.dfirst[j], "%s: layer %d feeds layer %d after its gradient's start %d", name, j, l,
                              a.dfirst[j]);
    }
    CHECK_MSG(!clash, "%s: no two live gradients share memory", name);
    CHECK_MSG(inside, "%s: every gradient lies inside the block", name);
    CHECK_MSG(a.dact[n - 1] != NULL && a.dfirst[n - 1] == n, "%s: the logits' gradient starts at the loss", name);
    /* the MLPs (every parameter in a linear layer) keep their linear layers'
       gradients for the weight gradients after the pass; the others not */
    CHECK_MSG(a.defer_wgrad_ok == (arch == VAE_ARCH_MLP), "%s: weight gradients after the pass %s", name,
              arch == VAE_ARCH_MLP ? "possible" : "not possible");
    /* the resnet's residual chains need a few regions alive at once, not one
       per layer; the conv model's chain two; an MLP's gradients (all but the
       gaussian layer's kept to the end) need no more than one region each */
    if (arch == VAE_ARCH_RESNET)
        CHECK_MSG(a.dblock_len * 3 < sum, "%s: gradient block %zu floats, not under a third of the %zu of one region "
                  "per layer", name, a.dblock_len, sum);
    else if (arch == VAE_ARCH_CONV)
        CHECK_MSG(a.dblock_len < sum, "%s: gradient block %zu floats, not under the %zu of one region per layer", name,
                  a.dblock_len, sum);
    else
        CHECK_MSG(a.dblock_len <= sum + (size_t)B * 16 * n,
                  "%s: gradient block %zu floats, more than the %zu of one region per layer (and alignment)", name,
                  a.dblock_len, sum);

    /* shared forward outputs */
    int relu_alias = 0, add_alias = 0;
    for (int l = 0; l < n; l++) {
        const VaeLayer *L = &lay->layers[l];
        if (L->kind == LAYER_RELU) {
            int j = L->in[0];
            const VaeLayer *J = &lay->layers[j >= 0 ? j : 0];
            int nonneg = j >= 0 && (J->act == VAE_ACT_RELU || J->kind == LAYER_RELU ||
                                    (J->kind == LAYER_UNFLATTEN && lay->layers[J->in[0]].act == VAE_ACT_RELU));
            CHECK_MSG((j >= 0 && a.act[l] == a.act[j]) == nonneg, "%s: relu layer %d shares its input's memory "
                      "exactly when that input is never negative", name, l);
            relu_alias += nonneg;
        } else if (L->kind == LAYER_ADD) {
            add_alias += a.act[l] == a.act[L->in[1]];
            CHECK_MSG(a.act[l] != a.act[L->in[0]], "%s: add layer %d does not overwrite its first input", name, l);
        } else {
            for (int k = 0; k < L->n_in; k++)
                CHECK_MSG(L->in[k] < 0 || a.act[l] != a.act[L->in[k]], "%s: layer %d has memory of its own", name, l);
        }
    }
    if (arch == VAE_ARCH_RESNET)
        CHECK_MSG(relu_alias == 4 && add_alias == 4, "%s: 4 ReLU layers and 4 adds share memory (%d, %d)", name,
                  relu_alias, add_alias);

    /* no stale gradient: batch 1, batch 2, batch 1 again */
    size_t D = (size_t)m.in_dim, Z = (size_t)mc.zdim;
    float *x1 = malloc(B * D * sizeof(float)), *x2 = malloc(B * D * sizeof(float));
    float *e1 = malloc(B * Z * sizeof(float)), *e2 = malloc(B * Z * sizeof(float));
    float *g1 = malloc(m.n_params * sizeof(float)), *g2 = malloc(m.n_params * sizeof(float));
    float *g3 = malloc(m.n_params * sizeof(float));
    if (!x1 || !x2 || !e1 || !e2 || !g1 || !g2 || !g3) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    for (size_t i = 0; i < B * D; i++) x1[i] = (float)rng_uniform(&rng), x2[i] = (float)rng_uniform(&rng);
    rng_normal(&rng, e1, B * Z);
    rng_normal(&rng, e2, B * Z);
    one_pass(&m, &a, x1, e1, B, g1);
    one_pass(&m, &a, x2, e2, B, g2);
    one_pass(&m, &a, x1, e1, B, g3);
    CHECK_MSG(memcmp(g2, g1, m.n_params * sizeof(float)) != 0, "%s: the two batches give different gradients", name);
    CHECK_MSG(memcmp(g3, g1, m.n_params * sizeof(float)) == 0,
              "%s: the same batch again gives the same gradient (nothing left over from the pass between)", name);
    free(x1), free(x2), free(e1), free(e2), free(g1), free(g2), free(g3);
    vae_acts_free(&a);
    vae_free(&m);
}

static float *g_seen;   /* the gradient the hook saw */

static int grab(Vae *m, VaeLoss *loss, void *ctx, VaeError *err) {
    (void)loss, (void)ctx, (void)err;
    memcpy(g_seen, m->grads, m->n_params * sizeof(float));
    return VAE_OK;
}

static void bf16_worker_vs_plain(VaeArch arch) {
    const char *name = vae_arch_name(arch);
    enum { B = 6, ROWS = 12, COLS = 8, NIMG = 6 };
    VaeConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.rows = ROWS, mc.cols = COLS, mc.zdim = 3, mc.arch = arch, mc.n_hidden = 2, mc.hidden[0] = 16;
    mc.hidden[1] = 16;
    mc.n_channels = arch == VAE_ARCH_MLP ? 0 : 2, mc.channels[0] = 4, mc.channels[1] = 6;
    mc.loss = VAE_LOSS_BCE, mc.alpha = mc.beta = 1.0f;
    static uint8_t pix[NIMG * ROWS * COLS];
    for (size_t i = 0; i < sizeof pix; i++) pix[i] = (uint8_t)((i * 37u + 11u) % 251u);
    IdxImages im = {0};
    im.pixels = pix, im.count = NIMG, im.rows = ROWS, im.cols = COLS;
    uint32_t index[B];
    for (int i = 0; i < B; i++) index[i] = (uint32_t)((i * 5 + 1) % NIMG);
    Vae m;
    VaeActs a;
    VaeWorkers w;
    VaeError err;
    if (vae_init(&m, &mc, &err) != VAE_OK || vae_acts_init(&a, &m, B, &err) != VAE_OK ||
        vae_workers_init(&w, &m, 1, B, &err) != VAE_OK || vae_workers_set_precision(&w, VAE_PREC_BF16, &err) != VAE_OK) {
        CHECK_MSG(0, "%s: %s", name, err.msg);
        return;
    }
    Rng rng;
    rng_seed(&rng, 5);
    vae_init_params(&m, &rng);
    vae_workers_params_changed(&w);
    float eps[B * 3];
    rng_normal(&rng, eps, B * 3);
    float *plain = malloc(m.n_params * sizeof(float));
    g_seen = malloc(m.n_params * sizeof(float));
    if (!plain || !g_seen) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    /* plain passes in bf16 on a copy of the model (no registered shadow)
       over a block no GEMM keeps copies of */
    Vae m2;
    if (vae_init(&m2, &mc, &err) != VAE_OK) {
        CHECK_MSG(0, "%s: %s", name, err.msg);
        return;
    }
    memcpy(m2.params, m.params, m.n_params * sizeof(float));
    m2.precision = VAE_PREC_BF16;
    VaeLoss l;
    idx_gather(&im, index, 0, B, a.x);
    memcpy(a.eps, eps, sizeof eps);
    vae_forward(&m2, &a, B, 1, 1, &l);
    vae_backward(&m2, &a, B);
    memcpy(plain, m2.grads, m.n_params * sizeof(float));
    vae_free(&m2);
    /* the worker's step; the hook sees the gradient before Adam */
    AdamConfig ac = {1e-3f, 0.9f, 0.999f, 1e-8f};
    VaeStepConfig sc = {ac, grab, NULL, NULL, 0};
    const char *bad;
    vae_workers_step(&w, &im, NULL, index, eps, B, B, &sc, &l, &bad, &err);
    CHECK_MSG(memcmp(plain, g_seen, m.n_params * sizeof(float)) == 0,
              "%s bf16: the worker's gradient (stable-block copies) equals the plain passes' bit for bit", name);
    free(plain);
    free(g_seen);
    vae_workers_free(&w);
    vae_acts_free(&a);
    vae_free(&m);
}

int main(void) {
    run(VAE_ARCH_MLP);
    run(VAE_ARCH_CONV);
    run(VAE_ARCH_RESNET);
    char why[200];
    if (vae_bf16_available(why, sizeof why)) {
        bf16_worker_vs_plain(VAE_ARCH_MLP);
        bf16_worker_vs_plain(VAE_ARCH_CONV);
        bf16_worker_vs_plain(VAE_ARCH_RESNET);
    } else {
        printf("bf16 part not run: %s\n", why);
    }
    return check_done("test_acts_grad_plan");
}
