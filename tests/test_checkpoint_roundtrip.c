/* checkpoint_save + checkpoint_load give back every parameter, Adam moment
 * and training-state field bit for bit, for the MNIST-sized {400} model, a
 * deep non-square one and conv and resnet models (4-d weights, the
 * architecture and layer list in the metadata); weights-only checkpoints load
 * but cannot be resumed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/checkpoint.h"

static void fill_model(Vae *m, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    vae_init_params(m, &r);
    /* moments: arbitrary bit patterns of normal-sized floats, v >= 0 */
    rng_normal(&r, m->adam_m, m->n_params);
    rng_normal(&r, m->adam_v, m->n_params);
    for (size_t i = 0; i < m->n_params; i++) m->adam_v[i] = m->adam_v[i] * m->adam_v[i] * 1e-3f;
    m->adam_t = 1234;
}

static int same_bytes(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

static void check_same_model(const Vae *a, const Vae *b) {
    CHECK(a->cfg.rows == b->cfg.rows && a->cfg.cols == b->cfg.cols && a->cfg.zdim == b->cfg.zdim);
    CHECK(a->cfg.n_hidden == b->cfg.n_hidden && a->cfg.arch == b->cfg.arch && a->cfg.n_channels == b->cfg.n_channels);
    for (int i = 0; i < a->cfg.n_channels && i < VAE_MAX_CHANNELS; i++) CHECK(a->cfg.channels[i] == b->cfg.channels[i]);
    CHECK(a->lay.n_layers == b->lay.n_layers && a->lay.n_tensors == b->lay.n_tensors);
    for (int i = 0; i < a->cfg.n_hidden && i < VAE_MAX_HIDDEN; i++) CHECK(a->cfg.hidden[i] == b->cfg.hidden[i]);
    CHECK(a->cfg.loss == b->cfg.loss);
    CHECK(same_bytes(&a->cfg.alpha, &b->cfg.alpha, sizeof(float)));
    CHECK(same_bytes(&a->cfg.beta, &b->cfg.beta, sizeof(float)));
    CHECK(a->n_params == b->n_params);
    CHECK(a->adam_t == b->adam_t);
    if (a->n_params != b->n_params || !b->params) return;
    CHECK(same_bytes(a->params, b->params, a->n_params * sizeof(float)));
    CHECK(same_bytes(a->adam_m, b->adam_m, a->n_params * sizeof(float)));
    CHECK(same_bytes(a->adam_v, b->adam_v, a->n_params * sizeof(float)));
}

static void check_same_state(const TrainState *a, const TrainState *b) {
    CHECK(a->epoch == b->epoch && a->step == b->step && a->epoch_step == b->epoch_step);
    CHECK(same_bytes(a->rng.s, b->rng.s, sizeof a->rng.s));
    CHECK(same_bytes(&a->sum_loss, &b->sum_loss, sizeof(double)));
    CHECK(same_bytes(&a->sum_recon, &b->sum_recon, sizeof(double)));
    CHECK(same_bytes(&a->sum_kl, &b->sum_kl, sizeof(double)));
    CHECK(a->sum_images == b->sum_images);
    CHECK(same_bytes(&a->lr, &b->lr, sizeof(float)));
    CHECK(a->batch == b->batch && a->seed == b->seed && a->limit == b->limit && a->epochs == b->epochs);
    CHECK(strcmp(a->dataset, b->dataset) == 0);
    CHECK(a->n_order == b->n_order);
    if (a->order && b->order && a->n_order == b->n_order)
        CHECK(same_bytes(a->order, b->order, a->n_order * sizeof(uint32_t)));
    else
        CHECK(a->order == NULL && b->order == NULL);
}

int main(void) {
    VaeError err;
    const char *p = check_path("ckpt.safetensors");

    /* 1: the MNIST model, saved inside an epoch */
    VaeConfig c1 = {.rows = 28, .cols = 28, .zdim = 20, .n_hidden = 1, .hidden = {400},
                    .loss = VAE_LOSS_BCE, .alpha = 1.0f, .beta = 1.0f};
    Vae m1, l1;
    CHECK(vae_init(&m1, &c1, &err) == VAE_OK);
    fill_model(&m1, 42);
    TrainState s1 = {0}, t1;
    s1.epoch = 3;
    s1.step = 1234;
    s1.epoch_step = 17;
    rng_seed(&s1.rng, 7);
    for (int i = 0; i < 5; i++) rng_next(&s1.rng);
    s1.n_order = 1000;
    s1.order = malloc(s1.n_order * sizeof(uint32_t));
    CHECK(s1.order != NULL);
    for (uint32_t i = 0; i < s1.n_order; i++) s1.order[i] = i;
    rng_shuffle(&s1.rng, s1.order, s1.n_order);
    s1.sum_loss = 0.1 + 0.2; /* not a short decimal: must survive %.17g */
    s1.sum_recon = 1.0 / 3.0;
    s1.sum_kl = 5e-320; /* subnormal double: strtod says ERANGE, yet it is exact */
    s1.sum_images = 544;
    s1.lr = 1e-3f;
    s1.batch = 32;
    s1.seed = UINT64_MAX;
    s1.limit = 1000;
    s1.epochs = 10;
    strcpy(s1.dataset, "data/mnist with \"quotes\" and ünicode");
    CHECK(checkpoint_save(p, &m1, &s1, &err) == VAE_OK);
    CHECK(checkpoint_load(p, &l1, &t1, &err) == VAE_OK);
    check_same_model(&m1, &l1);
    check_same_state(&s1, &t1);
    vae_free(&l1);
    train_state_free(&t1);
    CHECK(t1.order == NULL);
    /* the same file also loads as weights only */
    CHECK(checkpoint_load(p, &l1, NULL, &err) == VAE_OK);
    check_same_model(&m1, &l1);
    vae_free(&l1);

    /* 2: deep, non-square, MSE, odd loss weights, at an epoch boundary */
    VaeConfig c2 = {.rows = 5, .cols = 7, .zdim = 3, .n_hidden = 3, .hidden = {16, 8, 4},
                    .loss = VAE_LOSS_MSE, .alpha = 0.3f, .beta = 1e-40f}; /* subnormal: must survive */
    Vae m2, l2;
    CHECK(vae_init(&m2, &c2, &err) == VAE_OK);
    fill_model(&m2, 99);
    m2.adam_t = 50;
    TrainState s2 = {0}, t2;
    s2.epoch = 2;
    s2.step = 50;
    rng_seed(&s2.rng, 1);
    s2.lr = 0.1f;
    s2.batch = 7;
    s2.seed = 1;
    s2.epochs = 2;
    strcpy(s2.dataset, "/abs/path");
    const char *p2 = check_path("deep.safetensors");
    CHECK(checkpoint_save(p2, &m2, &s2, &err) == VAE_OK);
    CHECK(checkpoint_load(p2, &l2, &t2, &err) == VAE_OK);
    check_same_model(&m2, &l2);
    check_same_state(&s2, &t2);
    CHECK(t2.order == NULL && t2.n_order == 0);
    vae_free(&l2);
    train_state_free(&t2);

    /* 3: weights only: loads into a model, but not as a run to resume */
    CHECK(checkpoint_save(p2, &m2, NULL, &err) == VAE_OK);
    CHECK(checkpoint_load(p2, &l2, NULL, &err) == VAE_OK);
    check_same_model(&m2, &l2);
    vae_free(&l2);
    CHECK(checkpoint_load(p2, &l2, &t2, &err) == VAE_ERR);
    check_contains("no state", err.msg, "has no training state; it cannot be resumed");
    check_contains("no state", err.msg, p2);
    CHECK(l2.params == NULL && t2.order == NULL);

    /* 4: a mid-epoch state without its order cannot be saved */
    TrainState s3 = s2;
    s3.epoch_step = 3;
    CHECK(checkpoint_save(p2, &m2, &s3, &err) == VAE_ERR);
    check_contains("no order", err.msg, "data order");

    /* 5: an order that is not a permutation is refused on load */
    s1.order[5] = s1.order[6];
    CHECK(checkpoint_save(p, &m1, &s1, &err) == VAE_OK);
    CHECK(checkpoint_load(p, &l1, &t1, &err) == VAE_ERR);
    check_contains("order", err.msg, "not a permutation");
    CHECK(l1.params == NULL && t1.order == NULL);

    /* 6: step must agree with adam_t */
    s2.step = 49;
    CHECK(checkpoint_save(p2, &m2, &s2, &err) == VAE_OK);
    CHECK(checkpoint_load(p2, &l2, &t2, &err) == VAE_ERR);
    check_contains("step", err.msg, "disagrees with 'adam_t'");

    /* 7: conv and resnet, non-square, inside an epoch and weights only */
    for (int arch = VAE_ARCH_CONV; arch <= VAE_ARCH_RESNET; arch++) {
        VaeConfig c4 = {.rows = 12, .cols = 8, .zdim = 2, .arch = (VaeArch)arch, .n_hidden = 2, .hidden = {9, 5},
                        .n_channels = 2, .channels = {3, 7}, .loss = VAE_LOSS_BCE, .alpha = 1.0f, .beta = 2.0f};
        Vae m4, l4;
        if (!CHECK(vae_init(&m4, &c4, &err) == VAE_OK)) continue;
        fill_model(&m4, 7 + (uint64_t)arch);
        uint32_t order4[5] = {4, 0, 3, 1, 2};
        TrainState s4 = s2, t4;
        s4.step = m4.adam_t;
        s4.epoch_step = 1;
        s4.order = order4;
        s4.n_order = 5;
        s4.batch = 2;
        s4.sum_images = 2;  /* one step of batch 2 into this epoch */
        const char *p4 = check_path("conv.safetensors");
        CHECK(checkpoint_save(p4, &m4, &s4, &err) == VAE_OK);
        if (CHECK_MSG(checkpoint_load(p4, &l4, &t4, &err) == VAE_OK, "arch %d: %s", arch, err.msg)) {
            check_same_model(&m4, &l4);
            check_same_state(&s4, &t4);
            const VaeTensor *w = vae_find_tensor(&l4, arch == VAE_ARCH_CONV ? "dec.3.weight" : "dec.4.weight");
            /* ConvTranspose2d(7, 3): weight (in, out, k, k) */
            CHECK(w && w->ndim == 4 && w->shape[0] == 7 && w->shape[1] == 3 && w->shape[2] == 4 && w->shape[3] == 4);
            vae_free(&l4);
            train_state_free(&t4);
        }
        CHECK(checkpoint_save(p4, &m4, NULL, &err) == VAE_OK);
        if (CHECK(checkpoint_load(p4, &l4, NULL, &err) == VAE_OK)) {
            check_same_model(&m4, &l4);
            vae_free(&l4);
        }
        vae_free(&m4);
    }

    free(s1.order);
    vae_free(&m1);
    vae_free(&m2);
    return check_done("test_checkpoint_roundtrip");
}
