/* The layer kinds without a convolution: linear, ReLU, flatten/unflatten,
 * residual add, concatenation and the VAE's gaussian layer
 * (reparameterisation + KL), each a forward/backward pair over VaeLayerRun,
 * and the registry table of every kind (one row per VaeLayerKind). */
#include <string.h>

#include "vae/layers.h"
#include "vae/nn.h"
#include "vae/vecmath.h"

static size_t per_image(const VaeLayer *L) { return (size_t)L->c * L->h * L->w; }

/* dout (n) *= (out > 0) when the layer's output went through a fused ReLU,
 * *= 1 - out^2 through a fused tanh */
static void act_backward(VaeLayerRun *r) {
    size_t n = (size_t)r->B * per_image(r->L);
    if (r->L->act == VAE_ACT_RELU) relu_backward(r->dout, r->out, n);
    if (r->L->act == VAE_ACT_TANH) tanh_backward(r->dout, r->out, n);
}

/* ---- linear: flat in (B, IN) -> flat out (B, OUT); W (OUT, IN), b (OUT) ---- */
static void linear_fwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    linear_forward(r->out, r->in[0], r->p[0], r->p[1], r->B, L->ic, L->c, L->act == VAE_ACT_RELU, r->precision);
    if (L->act == VAE_ACT_TANH) tanh_forward(r->out, (size_t)r->B * L->c);
}

static void linear_bwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    act_backward(r);
    if (r->defer_wgrad)
        linear_backward_input(r->din[0], r->dout, r->p[0], r->B, L->ic, L->c, r->precision);
    else
        linear_backward(r->din[0], r->g[0], r->g[1], r->dout, r->in[0], r->p[0], r->B, L->ic, L->c, r->precision);
}

/* The element-wise loops of relu and add, compiled for AVX-512 and AVX2 as
 * well (they are memory passes over the resnet's largest activations). */
static VAE_HOT void relu_rows(float *restrict out, const float *restrict in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

static VAE_HOT void relu_grad_add(float *restrict din, const float *restrict out, const float *restrict dout, size_t n) {
    for (size_t i = 0; i < n; i++) din[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

static VAE_HOT void relu_grad_store(float *restrict din, const float *restrict out, const float *restrict dout,
                                    size_t n) {
    for (size_t i = 0; i < n; i++) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

static VAE_HOT void sum_rows(float *restrict out, const float *restrict a, const float *restrict b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static VAE_HOT void add_into(float *restrict d, const float *restrict g, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] += g[i];
}

/* ---- relu: any (n) -> same (n) ---- */
/* out may be in itself: a never-negative input's memory (vae.c's plan_aliases) */
static void relu_fwd(VaeLayerRun *r) {
    if (r->out != r->in[0]) relu_rows(r->out, r->in[0], (size_t)r->B * per_image(r->L));
}

static void relu_bwd(VaeLayerRun *r) {
    if (!r->din[0]) return;
    size_t n = (size_t)r->B * per_image(r->L);
    if (r->din_fresh[0]) relu_grad_store(r->din[0], r->out, r->dout, n);
    else relu_grad_add(r->din[0], r->out, r->dout, n);
}

/* ---- flatten: spatial in (C, B, HW) -> flat out (B, C*HW), PyTorch's (c, h, w) order ---- */
static void flatten_fwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    size_t HW = (size_t)L->ih * L->iw, F = (size_t)L->ic * HW;
    for (int c = 0; c < L->ic; c++)
        for (int b = 0; b < r->B; b++)
            memcpy(r->out + b * F + c * HW, r->in[0] + ((size_t)c * r->B + b) * HW, HW * sizeof(float));
}

static void flatten_bwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    if (!r->din[0]) return;
    size_t HW = (size_t)L->ih * L->iw, F = (size_t)L->ic * HW;
    for (int c = 0; c < L->ic; c++)
        for (int b = 0; b < r->B; b++) {
            float *d = r->din[0] + ((size_t)c * r->B + b) * HW;
            const float *g = r->dout + b * F + c * HW;
            if (r->din_fresh[0]) memcpy(d, g, HW * sizeof(float));
            else add_into(d, g, HW);
        }
}

/* ---- unflatten: flat in (B, C*HW) -> spatial out (C, B, HW) ---- */
static void unflatten_fwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    size_t HW = (size_t)L->h * L->w, F = (size_t)L->c * HW;
    for (int c = 0; c < L->c; c++)
        for (int b = 0; b < r->B; b++)
            memcpy(r->out + ((size_t)c * r->B + b) * HW, r->in[0] + b * F + c * HW, HW * sizeof(float));
}

static void unflatten_bwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    if (!r->din[0]) return;
    size_t HW = (size_t)L->h * L->w, F = (size_t)L->c * HW;
    for (int c = 0; c < L->c; c++)
        for (int b = 0; b < r->B; b++) {
            float *d = r->din[0] + b * F + c * HW;
            const float *g = r->dout + ((size_t)c * r->B + b) * HW;
            if (r->din_fresh[0]) memcpy(d, g, HW * sizeof(float));
            else add_into(d, g, HW);
        }
}

/* ---- add: in0 (n) + in1 (n) -> out (n); both inputs receive dout ---- */
/* out may be in1 itself (vae.c's plan_aliases: in1 is read by nobody else) */
static void add_fwd(VaeLayerRun *r) {
    size_t n = (size_t)r->B * per_image(r->L);
    if (r->out == r->in[1]) add_into(r->out, r->in[0], n);
    else sum_rows(r->out, r->in[0], r->in[1], n);
}

static void add_bwd(VaeLayerRun *r) {
    size_t n = (size_t)r->B * per_image(r->L);
    for (int k = 0; k < 2; k++)
        if (r->din[k]) add_into(r->din[k], r->dout, n);
}

/* ---- concat: flat in0 (B, F0), flat in1 (B, F1) -> flat out (B, F0+F1) ---- */
static void concat_fwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    size_t F = (size_t)L->c, F0 = (size_t)L->ic, F1 = F - F0;
    for (int b = 0; b < r->B; b++) {
        memcpy(r->out + b * F, r->in[0] + b * F0, F0 * sizeof(float));
        memcpy(r->out + b * F + F0, r->in[1] + b * F1, F1 * sizeof(float));
    }
}

static void concat_bwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    size_t F = (size_t)L->c, F0 = (size_t)L->ic, F1 = F - F0;
    for (int b = 0; b < r->B; b++) {
        const float *g = r->dout + b * F;
        if (r->din[0])
            for (size_t i = 0; i < F0; i++) r->din[0][b * F0 + i] += g[i];
        if (r->din[1])
            for (size_t i = 0; i < F1; i++) r->din[1][b * F1 + i] += g[F0 + i];
    }
}

/* ---- gaussian: flat in (B, 2Z) = [mu | logvar] -> z (B, Z); KL into r->kl ---- */
static void gaussian_fwd(VaeLayerRun *r) {
    r->kl = reparam_kl_forward(r->out, r->in[0], r->eps, r->B, r->L->c);
}

static void gaussian_bwd(VaeLayerRun *r) {
    if (r->din[0])
        reparam_kl_backward_dims(r->din[0], r->dout, r->in[0], r->eps, r->B, r->L->c, r->kl_scale, r->kl_dim_scale);
}

/* defined in layers_conv.c */
void vae_conv2d_fwd(VaeLayerRun *r);
void vae_conv2d_bwd(VaeLayerRun *r);
void vae_convt2d_fwd(VaeLayerRun *r);
void vae_convt2d_bwd(VaeLayerRun *r);
size_t vae_conv2d_scratch(const VaeLayer *L, int B);
size_t vae_convt2d_scratch(const VaeLayer *L, int B);
/* defined in layers_latent_bn.c */
void vae_latent_bn_fwd(VaeLayerRun *r);
void vae_latent_bn_bwd(VaeLayerRun *r);
size_t vae_latent_bn_scratch(const VaeLayer *L, int B);

const VaeLayerOps vae_layer_ops[LAYER_KIND_COUNT] = {
    [LAYER_LINEAR] = {"linear", linear_fwd, linear_bwd, NULL},
    [LAYER_RELU] = {"relu", relu_fwd, relu_bwd, NULL, 1},
    [LAYER_CONV2D] = {"conv2d", vae_conv2d_fwd, vae_conv2d_bwd, vae_conv2d_scratch, 1},
    [LAYER_CONVT2D] = {"conv_transpose2d", vae_convt2d_fwd, vae_convt2d_bwd, vae_convt2d_scratch, 1},
    [LAYER_FLATTEN] = {"flatten", flatten_fwd, flatten_bwd, NULL, 1},
    [LAYER_UNFLATTEN] = {"unflatten", unflatten_fwd, unflatten_bwd, NULL, 1},
    [LAYER_ADD] = {"add", add_fwd, add_bwd, NULL},
    [LAYER_CONCAT] = {"concat", concat_fwd, concat_bwd, NULL},
    [LAYER_GAUSSIAN] = {"gaussian", gaussian_fwd, gaussian_bwd, NULL},
    [LAYER_LATENT_BN] = {"latent_bn", vae_latent_bn_fwd, vae_latent_bn_bwd, vae_latent_bn_scratch},
};

const char *vae_act_name(VaeAct a) { return a == VAE_ACT_RELU ? "relu" : a == VAE_ACT_TANH ? "tanh" : "none"; }

static const char *const ARCH_NAMES[VAE_ARCH_COUNT] = {"mlp", "conv", "resnet"};

const char *vae_arch_name(VaeArch a) { return (int)a >= 0 && a < VAE_ARCH_COUNT ? ARCH_NAMES[a] : "?"; }

int vae_arch_parse(const char *s) {
    for (int i = 0; i < VAE_ARCH_COUNT; i++)
        if (s && strcmp(s, ARCH_NAMES[i]) == 0) return i;
    return -1;
}
