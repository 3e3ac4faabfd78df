/* Model layout and lifecycle: checks the configuration, lays every tensor out
 * in one flat block (parameters, gradients and Adam moments share the
 * layout), initialises like PyTorch and allocates the activation block.
 * The forward and backward passes live in vae_forward.c. */
#include "vae/vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sizes beyond this are refused: they would not fit in memory anyway and the
 * products below stay far from overflow. */
#define VAE_MAX_DIM (1 << 24)

static void add_tensor(Vae *m, const char *name, int ndim, int d0, int d1, size_t *offset) {
    VaeTensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 0;
    t->size = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    t->offset = *offset;
    *offset += t->size;
}

static void add_linear(Vae *m, int li, const char *prefix, int in, int out, int relu, size_t *offset) {
    char name[32];
    VaeLinear *L = &m->layers[li];
    L->in = in;
    L->out = out;
    L->relu = relu;
    snprintf(name, sizeof name, "%s.weight", prefix);
    L->w = *offset;
    add_tensor(m, name, 2, out, in, offset);
    snprintf(name, sizeof name, "%s.bias", prefix);
    L->b = *offset;
    add_tensor(m, name, 1, out, 0, offset);
}

int vae_init(Vae *m, const VaeConfig *cfg, VaeError *err) {
    memset(m, 0, sizeof *m);
    if (cfg->rows < 1 || cfg->cols < 1 || cfg->rows > 65536 || cfg->cols > 65536 ||
        (long long)cfg->rows * cfg->cols > VAE_MAX_DIM)
        return vae_fail(err, "image size %dx%d is out of range", cfg->rows, cfg->cols);
    if (cfg->zdim < 1 || cfg->zdim > VAE_MAX_DIM / 2)
        return vae_fail(err, "zdim %d is out of range (1..%d)", cfg->zdim, VAE_MAX_DIM / 2);
    if (cfg->n_hidden < 1 || cfg->n_hidden > VAE_MAX_HIDDEN)
        return vae_fail(err, "%d hidden layers is out of range (1..%d)", cfg->n_hidden, VAE_MAX_HIDDEN);
    for (int i = 0; i < cfg->n_hidden; i++)
        if (cfg->hidden[i] < 1 || cfg->hidden[i] > VAE_MAX_DIM)
            return vae_fail(err, "hidden layer size %d is out of range (1..%d)", cfg->hidden[i], VAE_MAX_DIM);
    if (cfg->loss != VAE_LOSS_BCE && cfg->loss != VAE_LOSS_MSE)
        return vae_fail(err, "unknown loss kind %d", (int)cfg->loss);
    if (!isfinite(cfg->alpha) || !isfinite(cfg->beta) || cfg->alpha < 0 || cfg->beta < 0)
        return vae_fail(err, "loss weights must be finite and >= 0");

    m->cfg = *cfg;
    m->in_dim = cfg->rows * cfg->cols;
    int k = cfg->n_hidden, D = m->in_dim, Z = cfg->zdim;
    size_t off = 0;
    char prefix[16];
    int li = 0;
    for (int i = 0; i < k; i++) {
        snprintf(prefix, sizeof prefix, "enc.%d", i);
        add_linear(m, li++, prefix, i == 0 ? D : cfg->hidden[i - 1], cfg->hidden[i], 1, &off);
    }
    add_linear(m, li++, "head", cfg->hidden[k - 1], 2 * Z, 0, &off);
    m->n_enc = li;
    for (int i = 0; i < k; i++) {
        snprintf(prefix, sizeof prefix, "dec.%d", i);
        add_linear(m, li++, prefix, i == 0 ? Z : cfg->hidden[k - i], cfg->hidden[k - 1 - i], 1, &off);
    }
    snprintf(prefix, sizeof prefix, "dec.%d", k);
    add_linear(m, li++, prefix, cfg->hidden[0], D, 0, &off);
    m->n_dec = li - m->n_enc;
    m->n_params = off;

    size_t total;
    if (vae_mul_size(off, 4 * sizeof(float), &total) != 0)
        return vae_fail(err, "model of %zu parameters is too large", off);
    float *block = calloc(off * 4, sizeof(float));
    if (!block) return vae_fail(err, "out of memory for %zu parameters", off);
    m->params = block;
    m->grads = block + off;
    m->adam_m = block + 2 * off;
    m->adam_v = block + 3 * off;
    return VAE_OK;
}

void vae_free(Vae *m) {
    if (!m) return;
    free(m->params);
    memset(m, 0, sizeof *m);
}

void vae_init_params(Vae *m, Rng *rng) {
    for (int l = 0; l < m->n_enc + m->n_dec; l++) {
        const VaeLinear *L = &m->layers[l];
        float bound = 1.0f / sqrtf((float)L->in);
        size_t nw = (size_t)L->out * L->in;
        for (size_t i = 0; i < nw; i++) m->params[L->w + i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
        for (int i = 0; i < L->out; i++) m->params[L->b + i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
    }
}

const VaeTensor *vae_find_tensor(const Vae *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

void vae_hidden_str(const VaeConfig *cfg, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < cfg->n_hidden && used < len; i++) {
        int w = snprintf(buf + used, len - used, i ? ",%d" : "%d", cfg->hidden[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

void vae_zero_grad(Vae *m) { memset(m->grads, 0, m->n_params * sizeof(float)); }

int vae_acts_init(VaeActs *a, const Vae *m, int max_batch, VaeError *err) {
    memset(a, 0, sizeof *a);
    if (max_batch < 1) return vae_fail(err, "batch size %d must be >= 1", max_batch);
    int D = m->in_dim, Z = m->cfg.zdim, nl = m->n_enc + m->n_dec;
    /* per row: x, xhat, eps, z, dz, and each layer's output and its gradient */
    size_t per_row = (size_t)2 * D + 3 * (size_t)Z;
    for (int l = 0; l < nl; l++) per_row += 2 * (size_t)m->layers[l].out;
    size_t total;
    if (vae_mul_size(per_row, (size_t)max_batch, &total) != 0 || vae_mul_size(total, sizeof(float), &total) != 0)
        return vae_fail(err, "batch of %d is too large for this model", max_batch);
    float *p = malloc(total);
    if (!p) return vae_fail(err, "out of memory for a batch of %d", max_batch);
    memset(p, 0, total);
    a->block = p;
    a->max_batch = max_batch;
    size_t B = (size_t)max_batch;
    a->x = p; p += B * D;
    a->xhat = p; p += B * D;
    a->eps = p; p += B * Z;
    a->z = p; p += B * Z;
    a->dz = p; p += B * Z;
    for (int l = 0; l < nl; l++) {
        a->act[l] = p; p += B * m->layers[l].out;
        a->dact[l] = p; p += B * m->layers[l].out;
    }
    return VAE_OK;
}

void vae_acts_free(VaeActs *a) {
    if (!a) return;
    free(a->block);
    memset(a, 0, sizeof *a);
}
