/* Model lifecycle: lays the model out (vae_layout), allocates one flat block
 * (parameters, gradients and Adam moments share the layout), initialises
 * like PyTorch and allocates the activation block. The forward and backward
 * walks over the layer list live in vae_forward.c. */
#include "vae/vae.h"

#include "vae/conv_dnnl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vae_init(Vae *m, const VaeConfig *cfg, VaeError *err) {
    memset(m, 0, sizeof *m);
    if (vae_layout(cfg, &m->lay, err) != VAE_OK) {
        memset(m, 0, sizeof *m);
        return VAE_ERR;
    }
    m->cfg = *cfg;
    if (cfg->arch == VAE_ARCH_MLP) {
        /* channels mean nothing to an MLP; keep them out of its description */
        m->cfg.n_channels = 0;
        memset(m->cfg.channels, 0, sizeof m->cfg.channels);
    }
    m->in_dim = m->lay.in_dim;
    size_t off = m->lay.n_params, total;
    m->n_params = off;
    if (vae_mul_size(off, 4 * sizeof(float), &total) != 0) {
        memset(m, 0, sizeof *m);
        return vae_fail(err, "model of %zu parameters is too large", off);
    }
    float *block = calloc(off * 4, sizeof(float));
    if (!block) {
        memset(m, 0, sizeof *m);
        return vae_fail(err, "out of memory for %zu parameters", off);
    }
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
    for (int t = 0; t < m->lay.n_tensors; t++) {
        const VaeTensor *T = &m->lay.tensors[t];
        float *p = m->params + T->offset;
        if (T->fan_in <= 0) {
            /* buffers, not weights: no draw from the generator */
            for (size_t i = 0; i < T->size; i++) p[i] = T->fan_in == VAE_INIT_ONES ? 1.0f : 0.0f;
            continue;
        }
        float bound = 1.0f / sqrtf((float)T->fan_in);
        for (size_t i = 0; i < T->size; i++) p[i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
    }
}

const VaeTensor *vae_find_tensor(const Vae *m, const char *name) {
    for (int i = 0; i < m->lay.n_tensors; i++)
        if (strcmp(m->lay.tensors[i].name, name) == 0) return &m->lay.tensors[i];
    return NULL;
}

static void list_str(const int *v, int n, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, i ? ",%d" : "%d", v[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

void vae_hidden_str(const VaeConfig *cfg, char *buf, size_t len) { list_str(cfg->hidden, cfg->n_hidden, buf, len); }

void vae_channels_str(const VaeConfig *cfg, char *buf, size_t len) {
    list_str(cfg->channels, cfg->arch == VAE_ARCH_MLP ? 0 : cfg->n_channels, buf, len);
}

void vae_zero_grad(Vae *m) { memset(m->grads, 0, m->n_params * sizeof(float)); }

static size_t layer_floats(const VaeLayer *L) { return (size_t)L->c * L->h * L->w; }

/* The gradient regions: dact[l] is live in the backward pass from the
 * first layer that adds into it (its last consumer, whose backward runs
 * first; the loss for the last layer) until layer l's own backward has
 * read it. Regions whose lives do not overlap share memory (first fit,
 * offsets in floats per row, 16-float aligned), so the block holds the
 * largest set of gradients alive at one time rather than all of them
 * (resnet: about a quarter), and vae_backward zeroes each one when it comes
 * alive instead of the whole block once per step. In a model whose
 * parameters all belong to linear layers (the MLPs) a linear layer's
 * gradient lives on to the end of the backward pass, so that its weight
 * gradient can be formed afterwards (vae_backward_wgrad; a->defer_wgrad_ok).
 * Returns the floats per row; fills off[] and a->dfirst[]. */
static size_t grad_plan(const VaeLayout *lay, VaeActs *a, size_t *off) {
    const int n = lay->n_layers;
    int first[VAE_MAX_LAYERS], last[VAE_MAX_LAYERS];
    size_t size[VAE_MAX_LAYERS];
    int linear_only = 1, any = 0;
    for (int l = 0; l < n; l++)
        if (lay->layers[l].n_params > 0) {
            any = 1;
            if (lay->layers[l].kind != LAYER_LINEAR) linear_only = 0;
        }
    a->defer_wgrad_ok = linear_only && any;
    for (int l = 0; l < n; l++) {
        first[l] = l == n - 1 ? n : l;      /* n: the loss, before any backward */
        /* the backward time it is read last: its own backward, or the end */
        last[l] = a->defer_wgrad_ok && lay->layers[l].kind == LAYER_LINEAR ? 0 : l;
        size[l] = (layer_floats(&lay->layers[l]) + 15) / 16 * 16;
    }
    for (int l = 0; l < n; l++)
        for (int k = 0; k < lay->layers[l].n_in; k++) {
            int j = lay->layers[l].in[k];
            if (j >= 0 && l > first[j]) first[j] = l;
        }
    /* backward time runs from n (the loss) down to 0: j lives in [last[j], first[j]];
       place in order of coming alive (descending first) */
    size_t total = 0;
    int placed[VAE_MAX_LAYERS], np = 0;
    for (int t = n; t >= 0; t--)
        for (int j = 0; j < n; j++) {
            if (first[j] != t) continue;
            size_t o = 0;
            for (int again = 1; again;) {
                again = 0;
                for (int q = 0; q < np; q++) {
                    int k = placed[q];
                    int overlap_time = last[j] <= first[k] && last[k] <= first[j];
                    if (overlap_time && o < off[k] + size[k] && off[k] < o + size[j]) {
                        o = off[k] + size[k];
                        again = 1;
                    }
                }
            }
            off[j] = o;
            placed[np++] = j;
            if (o + size[j] > total) total = o + size[j];
        }
    for (int l = 0; l < n; l++) a->dfirst[l] = first[l], a->dlast[l] = last[l];
    return total;
}

/* The output of layer j is never negative (a fused ReLU, a ReLU layer, or a
 * reshape of such an output). */
static int nonnegative(const VaeLayout *lay, int j) {
    while (j >= 0) {
        const VaeLayer *L = &lay->layers[j];
        if (L->act == VAE_ACT_RELU || L->kind == LAYER_RELU) return 1;
        if (L->kind != LAYER_FLATTEN && L->kind != LAYER_UNFLATTEN) return 0;
        j = L->in[0];
    }
    return 0;
}

/* Forward outputs that need no memory of their own (the resnet's blocks:
 * 18,816 of its 103,292 floats per image):
 *  - a ReLU layer over a never-negative input outputs its input unchanged:
 *    it reads and returns its input's memory (relu_fwd skips the copy; the
 *    backward mask out > 0 is the same);
 *  - a residual add whose second input is a layer read by nobody else and
 *    not by its own backward (no fused activation: a convolution or linear
 *    layer's backward reads its input, not its output) adds into that
 *    input's memory in place (add_fwd).
 * alias[l] is the layer whose memory layer l's output takes, or -1. */
static void plan_aliases(const VaeLayout *lay, int *alias) {
    int n = lay->n_layers, readers[VAE_MAX_LAYERS] = {0};
    for (int l = 0; l < n; l++)
        for (int k = 0; k < lay->layers[l].n_in; k++)
            if (lay->layers[l].in[k] >= 0) readers[lay->layers[l].in[k]]++;
    for (int l = 0; l < n; l++) {
        const VaeLayer *L = &lay->layers[l];
        alias[l] = -1;
        if (L->kind == LAYER_RELU && nonnegative(lay, L->in[0])) alias[l] = L->in[0];
        if (L->kind == LAYER_ADD) {
            int j = L->in[1];
            if (j >= 0 && j != L->in[0] && readers[j] == 1 && alias[j] < 0 && lay->layers[j].act == VAE_ACT_NONE &&
                (lay->layers[j].kind == LAYER_CONV2D || lay->layers[j].kind == LAYER_CONVT2D ||
                 lay->layers[j].kind == LAYER_LINEAR))
                alias[l] = j;
        }
    }
}

static int acts_init(VaeActs *a, const Vae *m, int max_batch, int grads, VaeError *err) {
    memset(a, 0, sizeof *a);
    if (max_batch < 1) return vae_fail(err, "batch size %d must be >= 1", max_batch);
    const VaeLayout *lay = &m->lay;
    size_t D = (size_t)m->in_dim, Z = (size_t)m->cfg.zdim, B = (size_t)max_batch;
    /* per row: x, xhat, eps, labels, then each layer's output, then the
       gradients (grad_plan) */
    size_t per_row = 2 * D + Z + (size_t)m->cfg.n_classes, grads_per_row = 0, scratch = 0, t;
    size_t goff[VAE_MAX_LAYERS];
    int alias[VAE_MAX_LAYERS];
    plan_aliases(lay, alias);
    for (int l = 0; l < lay->n_layers; l++) {
        const VaeLayer *L = &lay->layers[l];
        size_t n = layer_floats(L);
        /* every GEMM dimension and loop bound must fit an int */
        if (vae_mul_size(n, B, &t) != 0 || t > INT_MAX)
            return vae_fail(err, "batch of %d is too large for this model", max_batch);
        if (alias[l] < 0) per_row += n;
        const VaeLayerOps *ops = &vae_layer_ops[L->kind];
        if (ops->scratch_floats) {
            /* K (<= 4096*k*k) times N (<= an activation's size, checked above) */
            size_t s = ops->scratch_floats(L, max_batch);
            if (s > scratch) scratch = s;
        }
    }
    if (grads) grads_per_row = grad_plan(lay, a, goff);
    size_t total;
    if (vae_add_size(per_row, grads_per_row, &total) != 0 || vae_mul_size(total, B, &total) != 0 ||
        vae_add_size(total, scratch, &total) != 0 || vae_mul_size(total, sizeof(float), &total) != 0)
        return vae_fail(err, "batch of %d is too large for this model", max_batch);
    float *p = calloc(total / sizeof(float), sizeof(float));
    if (!p) return vae_fail(err, "out of memory for a batch of %d", max_batch);
    a->block = p;
    a->max_batch = max_batch;
    a->x = p; p += B * D;
    a->xhat = p; p += B * D;
    a->eps = p; p += B * Z;
    if (m->cfg.n_classes > 0) {
        a->y = p;
        p += B * (size_t)m->cfg.n_classes;
    }
    for (int l = 0; l < lay->n_layers; l++) {
        if (alias[l] >= 0) {
            a->act[l] = a->act[alias[l]];
            continue;
        }
        a->act[l] = p;
        p += B * layer_floats(&lay->layers[l]);
    }
    a->dblock = grads ? p : NULL;
    a->dblock_len = B * grads_per_row;
    for (int l = 0; l < lay->n_layers && grads; l++) a->dact[l] = p + B * goff[l];
    p += B * grads_per_row;
    a->scratch = p;
    a->z = a->act[lay->gaussian];
    a->dz = grads ? a->dact[lay->gaussian] : NULL;
    a->inv_batch = 1.0f / (float)max_batch;
    return VAE_OK;
}

int vae_set_labels(const Vae *m, VaeActs *a, const uint8_t *labels, const uint32_t *index, uint32_t first, int B) {
    int C = m->cfg.n_classes, bad = -1;
    if (C <= 0 || !a->y || !labels) return -1;
    memset(a->y, 0, (size_t)B * C * sizeof(float));
    for (int i = 0; i < B; i++) {
        uint8_t k = labels[index ? index[i] : first + (uint32_t)i];
        if (k < C) a->y[(size_t)i * C + k] = 1.0f;
        else if (bad < 0) bad = i;
    }
    return bad;
}

void vae_fill_label(const Vae *m, VaeActs *a, int label, int B) {
    int C = m->cfg.n_classes;
    if (C <= 0 || !a->y) return;
    memset(a->y, 0, (size_t)B * C * sizeof(float));
    if (label < 0 || label >= C) return;
    for (int i = 0; i < B; i++) a->y[(size_t)i * C + label] = 1.0f;
}

static const char *const MODEL_NAMES[VAE_MODEL_COUNT] = {"vae", "eae"};

const char *vae_model_name(VaeModelKind k) { return (int)k >= 0 && k < VAE_MODEL_COUNT ? MODEL_NAMES[k] : "?"; }

int vae_model_parse(const char *s) {
    for (int i = 0; i < VAE_MODEL_COUNT; i++)
        if (s && strcmp(s, MODEL_NAMES[i]) == 0) return i;
    return -1;
}

float vae_reg_weight(const VaeConfig *cfg) { return cfg->model == VAE_MODEL_EAE ? cfg->lambda : cfg->beta; }

int vae_acts_init(VaeActs *a, const Vae *m, int max_batch, VaeError *err) {
    return acts_init(a, m, max_batch, 1, err);
}

int vae_acts_init_forward(VaeActs *a, const Vae *m, int max_batch, VaeError *err) {
    return acts_init(a, m, max_batch, 0, err);
}

void vae_acts_free(VaeActs *a) {
    if (!a) return;
    vae_dnnl_free(a->dnnl);
    free(a->block);
    memset(a, 0, sizeof *a);
}
