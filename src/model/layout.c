/* The one place the topology is written: vae_layout() turns a VaeConfig
 * into the layer list (vae/layers.h) for the mlp, conv and resnet
 * architectures, and vae_layout_json() dumps it for the checkpoint metadata,
 * `vae layers` and the PyTorch twin (scripts/reference/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "vae/vae.h"

/* Sizes beyond this are refused: they would not fit in memory anyway and the
 * products below stay far from overflow. */
#define VAE_MAX_DIM (1 << 24)
/* Largest parameter count a layout may have (2^31 floats = 8 GiB per view). */
#define VAE_MAX_PARAMS ((size_t)1 << 31)

typedef struct {
    const VaeConfig *cfg;
    VaeLayout *L;
    VaeError *err;
    int failed;
} Builder;

static int fail(Builder *b, const char *what) {
    if (!b->failed) vae_fail(b->err, "%s", what);
    b->failed = 1;
    return -1;
}

/* Shape of an input (a layer's output or the image batch). The image batch
 * is spatial with one channel, so it is also a valid flat input. */
static void shape_of(const Builder *b, int idx, int *c, int *h, int *w, int *spatial) {
    if (idx == VAE_INPUT_X) {
        *c = 1, *h = b->cfg->rows, *w = b->cfg->cols, *spatial = 1;
    } else if (idx == VAE_INPUT_Y) {
        *c = b->cfg->n_classes, *h = 1, *w = 1, *spatial = 0;
    } else {
        const VaeLayer *p = &b->L->layers[idx];
        *c = p->c, *h = p->h, *w = p->w, *spatial = p->spatial;
    }
}

#define NO_INPUT (VAE_INPUT_X - 100)

static VaeLayer *new_layer(Builder *b, VaeLayerKind kind, const char *name, int in0, int in1) {
    if (b->failed) return NULL;
    if (b->L->n_layers == VAE_MAX_LAYERS) {
        fail(b, "the model has too many layers");
        return NULL;
    }
    VaeLayer *l = &b->L->layers[b->L->n_layers];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    snprintf(l->name, sizeof l->name, "%s", name ? name : "");
    l->in[0] = in0;
    l->in[1] = in1;
    l->n_in = in1 == NO_INPUT ? 1 : 2;
    if (in1 == NO_INPUT) l->in[1] = 0;
    int sp;
    shape_of(b, in0, &l->ic, &l->ih, &l->iw, &sp);
    return l;
}

static int finish(Builder *b) { return b->L->n_layers++; }

/* adds "<layer>.<suffix>" with the given shape to the tensor table */
static void add_param(Builder *b, VaeLayer *l, const char *suffix, int ndim, int d0, int d1, int d2, int d3,
                      int fan_in) {
    if (b->failed) return;
    VaeLayout *L = b->L;
    if (L->n_tensors == VAE_MAX_TENSORS || l->n_params == VAE_LAYER_MAX_PARAMS) {
        fail(b, "the model has too many parameter tensors");
        return;
    }
    VaeTensor *t = &L->tensors[L->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s.%s", l->name, suffix);
    int dims[4] = {d0, d1, d2, d3};
    size_t size = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = dims[i];
        if (vae_mul_size(size, (size_t)dims[i], &size) != 0 || size > VAE_MAX_PARAMS) {
            fail(b, "the model has too many parameters");
            return;
        }
    }
    t->ndim = ndim;
    t->size = size;
    t->offset = L->n_params;
    t->fan_in = fan_in;
    if (L->n_params + size > VAE_MAX_PARAMS) {
        fail(b, "the model has too many parameters");
        return;
    }
    L->n_params += size;
    l->param[l->n_params++] = L->n_tensors++;
}

static int linear(Builder *b, const char *name, int in, int out, VaeAct act) {
    VaeLayer *l = new_layer(b, LAYER_LINEAR, name, in, NO_INPUT);
    if (!l) return -1;
    int c, h, w, sp;
    shape_of(b, in, &c, &h, &w, &sp);
    if (sp && c != 1) return fail(b, "internal: a linear layer needs a flat input");
    long long F = (long long)c * h * w;
    if (F > VAE_MAX_DIM || out > VAE_MAX_DIM) return fail(b, "a fully connected layer is too large");
    l->ic = (int)F, l->ih = 1, l->iw = 1;
    l->c = out, l->h = 1, l->w = 1, l->spatial = 0;
    l->act = act;
    add_param(b, l, "weight", 2, out, (int)F, 0, 0, (int)F);
    add_param(b, l, "bias", 1, out, 0, 0, 0, (int)F);
    return finish(b);
}

static int conv(Builder *b, VaeLayerKind kind, const char *name, int in, int oc, int k, int s, int p, VaeAct act) {
    VaeLayer *l = new_layer(b, kind, name, in, NO_INPUT);
    if (!l) return -1;
    int sp = in == VAE_INPUT_X ? 1 : b->L->layers[in].spatial;
    if (!sp) return fail(b, "internal: a convolution needs a spatial input");
    l->kernel = k, l->stride = s, l->pad = p;
    l->c = oc, l->spatial = 1, l->act = act;
    if (kind == LAYER_CONV2D) {
        l->h = (l->ih + 2 * p - k) / s + 1;
        l->w = (l->iw + 2 * p - k) / s + 1;
        if (l->h < 1 || l->w < 1) return fail(b, "the image is too small for the convolutions");
        add_param(b, l, "weight", 4, oc, l->ic, k, k, l->ic * k * k);
        add_param(b, l, "bias", 1, oc, 0, 0, 0, l->ic * k * k);
    } else {
        l->h = (l->ih - 1) * s - 2 * p + k;
        l->w = (l->iw - 1) * s - 2 * p + k;
        /* PyTorch computes ConvTranspose2d's fan_in from weight.size(1) = out channels */
        add_param(b, l, "weight", 4, l->ic, oc, k, k, oc * k * k);
        add_param(b, l, "bias", 1, oc, 0, 0, 0, oc * k * k);
    }
    if ((long long)l->c * l->h * l->w > VAE_MAX_DIM) return fail(b, "a convolution's output is too large");
    return finish(b);
}

static int relu(Builder *b, int in) {
    VaeLayer *l = new_layer(b, LAYER_RELU, NULL, in, NO_INPUT);
    if (!l) return -1;
    shape_of(b, in, &l->c, &l->h, &l->w, &l->spatial);
    return finish(b);
}

static int add2(Builder *b, int in0, int in1) {
    VaeLayer *l = new_layer(b, LAYER_ADD, NULL, in0, in1);
    if (!l) return -1;
    int c, h, w, sp, c1, h1, w1, sp1;
    shape_of(b, in0, &c, &h, &w, &sp);
    shape_of(b, in1, &c1, &h1, &w1, &sp1);
    if (c != c1 || h != h1 || w != w1 || sp != sp1) return fail(b, "internal: residual add of different shapes");
    l->c = c, l->h = h, l->w = w, l->spatial = sp;
    return finish(b);
}

static int flatten(Builder *b, int in) {
    VaeLayer *l = new_layer(b, LAYER_FLATTEN, NULL, in, NO_INPUT);
    if (!l) return -1;
    l->c = l->ic * l->ih * l->iw, l->h = 1, l->w = 1, l->spatial = 0;
    return finish(b);
}

static int unflatten(Builder *b, int in, int c, int h, int w) {
    VaeLayer *l = new_layer(b, LAYER_UNFLATTEN, NULL, in, NO_INPUT);
    if (!l) return -1;
    if ((long long)c * h * w != l->ic) return fail(b, "internal: unflatten changes the size");
    l->c = c, l->h = h, l->w = w, l->spatial = 1;
    return finish(b);
}

static int gaussian(Builder *b, int in, int Z);

/* two flat inputs (B, F0), (B, F1) -> (B, F0 + F1); a 1-channel spatial
 * input (the image) is flat too */
static int concat(Builder *b, int in0, int in1) {
    VaeLayer *l = new_layer(b, LAYER_CONCAT, NULL, in0, in1);
    if (!l) return -1;
    int c0, h0, w0, s0, c1, h1, w1, s1;
    shape_of(b, in0, &c0, &h0, &w0, &s0);
    shape_of(b, in1, &c1, &h1, &w1, &s1);
    if ((s0 && c0 != 1) || (s1 && c1 != 1)) return fail(b, "internal: concatenation needs flat inputs");
    long long F0 = (long long)c0 * h0 * w0, F1 = (long long)c1 * h1 * w1;
    if (F0 + F1 > VAE_MAX_DIM) return fail(b, "a concatenated layer is too large");
    l->ic = (int)F0, l->ih = 1, l->iw = 1;
    l->c = (int)(F0 + F1), l->h = 1, l->w = 1, l->spatial = 0;
    return finish(b);
}

/* the entropic autoencoder's latent layer: flat (B, Z) -> z (B, Z) */
static int latent_bn(Builder *b, int in, int Z) {
    VaeLayer *l = new_layer(b, LAYER_LATENT_BN, "latent_bn", in, NO_INPUT);
    if (!l) return -1;
    if (l->ic != Z) return fail(b, "internal: the latent batch norm needs Z inputs");
    l->c = Z, l->h = 1, l->w = 1, l->spatial = 0;
    l->knn = b->cfg->knn;
    l->momentum = b->cfg->bn_momentum;
    /* PyTorch BatchNorm1d(affine=False) buffers: no gradient, constant init */
    add_param(b, l, "running_mean", 1, Z, 0, 0, 0, VAE_INIT_ZEROS);
    add_param(b, l, "running_var", 1, Z, 0, 0, 0, VAE_INIT_ONES);
    b->L->gaussian = b->L->n_layers;
    return finish(b);
}

/* head output (2Z for a vae, Z for an eae) -> the latent layer */
static int latent(Builder *b, int prev) {
    const int Z = b->cfg->zdim;
    if (b->cfg->model == VAE_MODEL_EAE) return latent_bn(b, linear(b, "head", prev, Z, VAE_ACT_NONE), Z);
    return gaussian(b, linear(b, "head", prev, 2 * Z, VAE_ACT_NONE), Z);
}

/* a conditional model joins the one-hot label to this input */
static int with_label(Builder *b, int prev) { return b->cfg->n_classes > 0 ? concat(b, prev, VAE_INPUT_Y) : prev; }

static int gaussian(Builder *b, int in, int Z) {
    VaeLayer *l = new_layer(b, LAYER_GAUSSIAN, NULL, in, NO_INPUT);
    if (!l) return -1;
    if (l->ic != 2 * Z) return fail(b, "internal: the gaussian layer needs 2Z inputs");
    l->c = Z, l->h = 1, l->w = 1, l->spatial = 0;
    b->L->gaussian = b->L->n_layers;
    return finish(b);
}

/* x + Conv3x3(ReLU(Conv3x3(ReLU(x)))), channels unchanged */
static int res_block(Builder *b, const char *name, int x) {
    char n1[32], n2[32];
    snprintf(n1, sizeof n1, "%s.conv1", name);
    snprintf(n2, sizeof n2, "%s.conv2", name);
    int C = x == VAE_INPUT_X ? 1 : b->L->layers[x].c;
    int r = relu(b, x);
    int c1 = conv(b, LAYER_CONV2D, n1, r, C, 3, 1, 1, VAE_ACT_RELU);
    int c2 = conv(b, LAYER_CONV2D, n2, c1, C, 3, 1, 1, VAE_ACT_NONE);
    return add2(b, x, c2);
}

static int check_config(const VaeConfig *cfg, VaeError *err) {
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
    if ((int)cfg->arch < 0 || cfg->arch >= VAE_ARCH_COUNT) return vae_fail(err, "unknown architecture %d", (int)cfg->arch);
    if (cfg->n_classes < 0 || cfg->n_classes > VAE_MAX_CLASSES)
        return vae_fail(err, "%d classes is out of range (0..%d)", cfg->n_classes, VAE_MAX_CLASSES);
    if ((int)cfg->model < 0 || cfg->model >= VAE_MODEL_COUNT) return vae_fail(err, "unknown model kind %d", (int)cfg->model);
    if (cfg->model == VAE_MODEL_EAE) {
        if (!isfinite(cfg->lambda) || cfg->lambda < 0) return vae_fail(err, "lambda must be finite and >= 0");
        if (cfg->knn < 1 || cfg->knn > 4096) return vae_fail(err, "knn %d is out of range (1..4096)", cfg->knn);
        if (!(cfg->bn_momentum > 0.0f && cfg->bn_momentum <= 1.0f))
            return vae_fail(err, "batch-norm momentum must be in (0, 1]");
    }
    if ((int)cfg->hidden_act < 0 || cfg->hidden_act >= VAE_ACT_COUNT)
        return vae_fail(err, "unknown activation %d", (int)cfg->hidden_act);
    if (cfg->arch == VAE_ARCH_MLP) return VAE_OK;
    if (cfg->hidden_act == VAE_ACT_TANH) return vae_fail(err, "tanh hidden layers are for the mlp architecture only");
    int L = cfg->n_channels;
    if (L < 1 || L > VAE_MAX_CHANNELS)
        return vae_fail(err, "%d channel entries is out of range (1..%d)", L, VAE_MAX_CHANNELS);
    for (int i = 0; i < L; i++)
        if (cfg->channels[i] < 1 || cfg->channels[i] > 4096)
            return vae_fail(err, "channel count %d is out of range (1..4096)", cfg->channels[i]);
    int f = 1 << L;
    if (cfg->rows % f != 0 || cfg->cols % f != 0)
        return vae_fail(err, "image size %dx%d: both sides must be divisible by 2^%d = %d for %d stride-2 "
                        "convolutions", cfg->rows, cfg->cols, L, f, L);
    return VAE_OK;
}

int vae_layout(const VaeConfig *cfg, VaeLayout *out, VaeError *err) {
    memset(out, 0, sizeof *out);
    if (check_config(cfg, err) != VAE_OK) return VAE_ERR;
    Builder bb = {cfg, out, err, 0}, *b = &bb;
    out->in_dim = cfg->rows * cfg->cols;
    out->gaussian = -1;
    const int k = cfg->n_hidden, Z = cfg->zdim, D = out->in_dim;
    char name[32];
    int prev = VAE_INPUT_X, mod = 0;
    (void)Z;
    if (cfg->arch == VAE_ARCH_MLP) {
        prev = with_label(b, prev);
        const VaeAct act = cfg->hidden_act == VAE_ACT_TANH ? VAE_ACT_TANH : VAE_ACT_RELU;
        for (int i = 0; i < k; i++) {
            snprintf(name, sizeof name, "enc.%d", i);
            prev = linear(b, name, prev, cfg->hidden[i], act);
        }
        prev = with_label(b, latent(b, prev));
        for (int i = 0; i <= k; i++) {
            snprintf(name, sizeof name, "dec.%d", i);
            prev = linear(b, name, prev, i < k ? cfg->hidden[k - 1 - i] : D, i < k ? act : VAE_ACT_NONE);
        }
    } else {
        const int L = cfg->n_channels, resnet = cfg->arch == VAE_ARCH_RESNET;
        for (int i = 0; i < L; i++) {
            snprintf(name, sizeof name, "enc.%d", mod++);
            prev = conv(b, LAYER_CONV2D, name, prev, cfg->channels[i], 4, 2, 1, VAE_ACT_RELU);
            if (resnet) {
                snprintf(name, sizeof name, "enc.%d", mod++);
                prev = res_block(b, name, prev);
            }
        }
        if (b->failed) return VAE_ERR;
        const int C = cfg->channels[L - 1], h = cfg->rows >> L, w = cfg->cols >> L;
        prev = with_label(b, flatten(b, prev));
        for (int i = 0; i < k; i++) {
            snprintf(name, sizeof name, "enc.%d", mod++);
            prev = linear(b, name, prev, cfg->hidden[i], VAE_ACT_RELU);
        }
        prev = with_label(b, latent(b, prev));
        mod = 0;
        for (int i = 0; i < k; i++) {
            snprintf(name, sizeof name, "dec.%d", mod++);
            prev = linear(b, name, prev, cfg->hidden[k - 1 - i], VAE_ACT_RELU);
        }
        if ((long long)C * h * w > VAE_MAX_DIM) return vae_fail(err, "the convolutions' output is too large");
        snprintf(name, sizeof name, "dec.%d", mod++);
        prev = linear(b, name, prev, C * h * w, VAE_ACT_RELU);
        prev = unflatten(b, prev, C, h, w);
        for (int i = L - 1; i >= 0; i--) {
            if (resnet) {
                snprintf(name, sizeof name, "dec.%d", mod++);
                prev = res_block(b, name, prev);
            }
            snprintf(name, sizeof name, "dec.%d", mod++);
            prev = conv(b, LAYER_CONVT2D, name, prev, i > 0 ? cfg->channels[i - 1] : 1, 4, 2, 1,
                        i > 0 ? VAE_ACT_RELU : VAE_ACT_NONE);
        }
    }
    if (b->failed) return VAE_ERR;
    const VaeLayer *last = &out->layers[out->n_layers - 1];
    if (last->c * last->h * last->w != D || (last->spatial && last->c != 1))
        return vae_fail(err, "internal: the decoder's output does not match the image");
    return VAE_OK;
}

/* ---- JSON dump ---- */

static cJSON *int_array(const int *v, int n) { return cJSON_CreateIntArray(v, n); }

static cJSON *shape3(int c, int h, int w, int spatial) {
    int s[3] = {c, h, w};
    return spatial ? int_array(s, 3) : int_array(s, 1);
}

char *vae_layout_json(const VaeConfig *cfg, const VaeLayout *lay) {
    cJSON *root = cJSON_CreateObject(), *c = cJSON_CreateObject(), *layers = cJSON_CreateArray();
    cJSON_AddItemToObject(root, "format", cJSON_CreateString("vae-layers"));
    cJSON_AddItemToObject(root, "version", cJSON_CreateNumber(1));
    cJSON_AddItemToObject(root, "config", c);
    cJSON_AddItemToObject(c, "arch", cJSON_CreateString(vae_arch_name(cfg->arch)));
    cJSON_AddItemToObject(c, "rows", cJSON_CreateNumber(cfg->rows));
    cJSON_AddItemToObject(c, "cols", cJSON_CreateNumber(cfg->cols));
    cJSON_AddItemToObject(c, "zdim", cJSON_CreateNumber(cfg->zdim));
    cJSON_AddItemToObject(c, "hidden", int_array(cfg->hidden, cfg->n_hidden));
    cJSON_AddItemToObject(c, "channels", int_array(cfg->channels, cfg->arch == VAE_ARCH_MLP ? 0 : cfg->n_channels));
    cJSON_AddItemToObject(c, "loss", cJSON_CreateString(cfg->loss == VAE_LOSS_MSE ? "mse" : "bce"));
    cJSON_AddItemToObject(c, "alpha", cJSON_CreateNumber(cfg->alpha));
    cJSON_AddItemToObject(c, "beta", cJSON_CreateNumber(cfg->beta));
    /* only when not a plain vae, so the layer lists stored by earlier
       versions (compared as text on load) stay exactly what they were */
    if (cfg->n_classes > 0) cJSON_AddItemToObject(c, "n_classes", cJSON_CreateNumber(cfg->n_classes));
    if (cfg->model == VAE_MODEL_EAE) {
        cJSON_AddItemToObject(c, "model", cJSON_CreateString(vae_model_name(cfg->model)));
        cJSON_AddItemToObject(c, "lambda", cJSON_CreateNumber(cfg->lambda));
        cJSON_AddItemToObject(c, "knn", cJSON_CreateNumber(cfg->knn));
        cJSON_AddItemToObject(c, "bn_momentum", cJSON_CreateNumber(cfg->bn_momentum));
    }
    cJSON_AddItemToObject(root, "n_params", cJSON_CreateNumber((double)lay->n_params));
    int xs[3] = {1, cfg->rows, cfg->cols};
    cJSON *inputs = cJSON_CreateObject();
    cJSON_AddItemToObject(inputs, "x", int_array(xs, 3));
    if (cfg->n_classes > 0) cJSON_AddItemToObject(inputs, "y", int_array(&cfg->n_classes, 1));
    cJSON_AddItemToObject(root, "inputs", inputs);
    cJSON_AddItemToObject(root, "gaussian", cJSON_CreateNumber(lay->gaussian));
    cJSON_AddItemToObject(root, "layers", layers);
    for (int i = 0; i < lay->n_layers; i++) {
        const VaeLayer *l = &lay->layers[i];
        cJSON *o = cJSON_CreateObject(), *params = cJSON_CreateArray();
        cJSON_AddItemToArray(layers, o);
        cJSON_AddItemToObject(o, "index", cJSON_CreateNumber(i));
        cJSON_AddItemToObject(o, "kind", cJSON_CreateString(vae_layer_ops[l->kind].name));
        cJSON_AddItemToObject(o, "name", cJSON_CreateString(l->name));
        cJSON_AddItemToObject(o, "inputs", int_array(l->in, l->n_in));
        int in_spatial = l->kind == LAYER_CONV2D || l->kind == LAYER_CONVT2D || l->kind == LAYER_FLATTEN ||
                         ((l->kind == LAYER_RELU || l->kind == LAYER_ADD) && l->spatial);
        cJSON_AddItemToObject(o, "in_shape", shape3(l->ic, l->ih, l->iw, in_spatial));
        cJSON_AddItemToObject(o, "out_shape", shape3(l->c, l->h, l->w, l->spatial));
        cJSON_AddItemToObject(o, "act", cJSON_CreateString(vae_act_name(l->act)));
        if (l->kind == LAYER_CONV2D || l->kind == LAYER_CONVT2D) {
            cJSON_AddItemToObject(o, "kernel", cJSON_CreateNumber(l->kernel));
            cJSON_AddItemToObject(o, "stride", cJSON_CreateNumber(l->stride));
            cJSON_AddItemToObject(o, "padding", cJSON_CreateNumber(l->pad));
        }
        if (l->kind == LAYER_LATENT_BN) {
            cJSON_AddItemToObject(o, "knn", cJSON_CreateNumber(l->knn));
            cJSON_AddItemToObject(o, "momentum", cJSON_CreateNumber(l->momentum));
            cJSON_AddItemToObject(o, "eps", cJSON_CreateNumber(1e-5));
        }
        cJSON_AddItemToObject(o, "params", params);
        for (int p = 0; p < l->n_params; p++) {
            const VaeTensor *t = &lay->tensors[l->param[p]];
            cJSON *to = cJSON_CreateObject();
            cJSON_AddItemToArray(params, to);
            cJSON_AddItemToObject(to, "name", cJSON_CreateString(t->name));
            cJSON_AddItemToObject(to, "shape", int_array(t->shape, t->ndim));
            cJSON_AddItemToObject(to, "offset", cJSON_CreateNumber((double)t->offset));
            cJSON_AddItemToObject(to, "fan_in", cJSON_CreateNumber(t->fan_in));
        }
    }
    /* cJSON returns NULL from any creator that ran out of memory; the
     * printer then fails too, so one check at the end covers them */
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
