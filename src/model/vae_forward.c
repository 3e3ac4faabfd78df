/* Forward and backward passes: walks over the layer list (vae/layers.h),
 * calling each kind's pair from the registry, then the loss at the end.
 * Input gradients accumulate: each starts from zero when it comes alive in
 * the backward pass, or its first writer stores into it. No allocation:
 * every buffer lives in the parameter block or the VaeActs block. */
#include "vae/vae.h"

#include <math.h>
#include <string.h>

#include "vae/gemm.h"
#include "vae/nn.h"

static const float *input_of(const VaeActs *a, int idx) {
    if (idx == VAE_INPUT_X) return a->x;
    if (idx == VAE_INPUT_Y) return a->y;
    return a->act[idx];
}

/* the gradient buffer of an input; NULL for the data (never needed) */
static float *dinput_of(const VaeActs *a, int idx) { return idx >= 0 ? a->dact[idx] : NULL; }

static void setup(VaeLayerRun *r, const Vae *m, VaeActs *a, int l, int B, int grads) {
    const VaeLayer *L = &m->lay.layers[l];
    memset(r, 0, sizeof *r);
    r->L = L;
    r->B = B;
    for (int k = 0; k < L->n_in; k++) {
        r->in[k] = input_of(a, L->in[k]);
        r->din[k] = grads ? dinput_of(a, L->in[k]) : NULL;
    }
    r->out = a->act[l];
    r->dout = a->dact[l];
    for (int k = 0; k < L->n_params; k++) {
        const VaeTensor *T = &m->lay.tensors[L->param[k]];
        r->p[k] = m->params + T->offset;
        r->g[k] = m->grads + T->offset;
        r->state[k] = m->params + T->offset;
    }
    r->training = a->training;
    r->defer_wgrad = grads && a->defer_wgrad && a->defer_wgrad_ok;
    r->precision = m->precision;
    r->scratch = a->scratch;
    r->index = l;
    r->dnnl = &a->dnnl;
    r->eps = a->used_eps ? a->eps : NULL;
}

/* layers [from, to) forward; returns the KL sum if the gaussian layer ran */
static double run_forward(Vae *m, VaeActs *a, int from, int to, int B) {
    double kl = 0;
    /* the activations are rewritten: bf16 copies of them are stale (vae/gemm.h) */
    vae_gemm_stable_begin();
    VaeLayerRun r;
    for (int l = from; l < to; l++) {
        setup(&r, m, a, l, B, 0);
        vae_layer_ops[m->lay.layers[l].kind].forward(&r);
        VaeLayerKind kind = m->lay.layers[l].kind;
        if (kind == LAYER_GAUSSIAN || kind == LAYER_LATENT_BN) kl += r.kl;
    }
    return kl;
}

static void logits_to_xhat(const float *l, float *xhat, size_t n) {
    for (size_t i = 0; i < n; i++) {
        /* stable sigmoid, as in the loss kernels */
        float e = expf(-fabsf(l[i]));
        float inv = 1.0f / (1.0f + e);
        xhat[i] = l[i] >= 0.0f ? inv : e * inv;
    }
}

void vae_forward_scaled(Vae *m, VaeActs *a, int B, int B_global, int use_eps, int want_grad, VaeLoss *out) {
    int D = m->in_dim, last = m->lay.n_layers - 1;
    float alpha = m->cfg.alpha;
    a->used_eps = use_eps ? 1 : 0;
    a->training = want_grad ? 1 : 0;
    a->inv_batch = 1.0f / (float)B_global;
    double kl = run_forward(m, a, 0, m->lay.n_layers, B);
    /* the logits' gradient, alive from the loss on (the others come alive
       in vae_backward); the loss kernels write every element of it */
    float *dlogits = want_grad && a->dblock ? a->dact[last] : NULL;
    float *xhat = want_grad && a->skip_xhat ? NULL : a->xhat;
    /* gradient of the batch mean of alpha * R w.r.t. the logits */
    float scale = alpha * a->inv_batch;
    double recon = m->cfg.loss == VAE_LOSS_MSE
        ? sse_sigmoid_forward_backward(dlogits, xhat, a->act[last], a->x, B, D, scale)
        : bce_logits_forward_backward(dlogits, xhat, a->act[last], a->x, B, D, scale);
    out->recon = recon;
    out->kl = kl;
    out->loss = (double)alpha * recon + (double)vae_reg_weight(&m->cfg) * kl;
}

void vae_forward(Vae *m, VaeActs *a, int B, int use_eps, int want_grad, VaeLoss *out) {
    vae_forward_scaled(m, a, B, B, use_eps, want_grad, out);
}

/* A gradient comes alive (gradients are not stable blocks of vae/gemm.h:
 * no GEMM keeps a copy of what shared the memory before), for a first
 * writer that accumulates. */
static void zero_rows(float *d, const VaeLayer *L, int B) {
    memset(d, 0, (size_t)B * L->c * L->h * L->w * sizeof(float));
}

/* From the logits back to the input: each layer reads its output gradient
 * (complete, since every consumer comes later in the list and has already
 * added its share) and adds into its inputs' gradients; the first writer of
 * an input's gradient stores into it instead when its kind can (fresh_din:
 * no memset, no read of zeros). */
void vae_backward(Vae *m, VaeActs *a, int B) {
    VaeLayerRun r;
    const int n = m->lay.n_layers;
    for (int l = n - 1; l >= 0; l--) {
        /* the gradients layer l is the first to add into (its inputs',
           whose other consumers come earlier) start from zero */
        const VaeLayer *L = &m->lay.layers[l];
        const VaeLayerOps *ops = &vae_layer_ops[L->kind];
        int fresh[2] = {0, 0};
        for (int k = 0; k < L->n_in; k++) {
            int j = L->in[k];
            if (j >= 0 && a->dfirst[j] == l && (k == 0 || j != L->in[0])) {
                /* a kind that can store its first write into it gets it as it is */
                if (ops->fresh_din && L->n_in == 1) fresh[k] = 1;
                else zero_rows(a->dact[j], &m->lay.layers[j], B);
            }
        }
        /* an output nothing reads (its gradient is zero) */
        if (a->dfirst[l] == l) zero_rows(a->dact[l], L, B);
        setup(&r, m, a, l, B, 1);
        for (int k = 0; k < L->n_in; k++) r.din_fresh[k] = fresh[k];
        r.kl_scale = vae_reg_weight(&m->cfg) * a->inv_batch;
        r.kl_dim_scale = a->kl_dim_scale;
        ops->backward(&r);
    }
}

void vae_backward_wgrad(Vae *m, VaeActs *const *a, const int *B, int n, int l, int o0, int o1) {
    const VaeLayer *L = &m->lay.layers[l];
    if (L->kind != LAYER_LINEAR) return;
    float *dW = m->grads + m->lay.tensors[L->param[0]].offset, *db = m->grads + m->lay.tensors[L->param[1]].offset;
    for (int j = 0; j < n; j++)
        if (B[j] > 0)
            linear_wgrad_rows(dW, db, a[j]->dact[l], L->c, input_of(a[j], L->in[0]), B[j], L->ic, o0, o1,
                              m->precision);
}

void vae_encode(Vae *m, VaeActs *a, int B, float *mu_out, float *logvar_out) {
    int Z = m->cfg.zdim, g = m->lay.gaussian;
    a->training = 0;
    if (m->lay.layers[g].kind == LAYER_LATENT_BN) {
        /* an entropic autoencoder's code is deterministic: z itself, no spread */
        run_forward(m, a, 0, g + 1, B);
        memcpy(mu_out, a->act[g], (size_t)B * Z * sizeof(float));
        if (logvar_out) memset(logvar_out, 0, (size_t)B * Z * sizeof(float));
        return;
    }
    run_forward(m, a, 0, g, B);
    /* the gaussian layer's input: rows of [mu | logvar] */
    const float *h = input_of(a, m->lay.layers[g].in[0]);
    for (int r = 0; r < B; r++) {
        memcpy(mu_out + (size_t)r * Z, h + (size_t)r * 2 * Z, (size_t)Z * sizeof(float));
        if (logvar_out) memcpy(logvar_out + (size_t)r * Z, h + (size_t)r * 2 * Z + Z, (size_t)Z * sizeof(float));
    }
}

void vae_encode_mean(Vae *m, VaeActs *a, int B, float *mu_out) { vae_encode(m, a, B, mu_out, NULL); }

void vae_decode(Vae *m, VaeActs *a, const float *z, int B) {
    int g = m->lay.gaussian, last = m->lay.n_layers - 1;
    a->training = 0;
    if (z != a->z) memcpy(a->z, z, (size_t)B * m->cfg.zdim * sizeof(float));
    run_forward(m, a, g + 1, m->lay.n_layers, B);
    logits_to_xhat(a->act[last], a->xhat, (size_t)B * m->in_dim);
}

const float *vae_decode_logits(Vae *m, VaeActs *a, const float *z, int B) {
    int g = m->lay.gaussian;
    a->training = 0;
    if (z != a->z) memcpy(a->z, z, (size_t)B * m->cfg.zdim * sizeof(float));
    run_forward(m, a, g + 1, m->lay.n_layers, B);
    return a->act[m->lay.n_layers - 1];
}

void vae_batch_kl_dims(const Vae *m, const VaeActs *a, int B, double *kl_dim) {
    int Z = m->cfg.zdim;
    /* the gaussian layer's input: rows of [mu | logvar] */
    const float *h = input_of(a, m->lay.layers[m->lay.gaussian].in[0]);
    for (int j = 0; j < Z; j++) kl_dim[j] = 0.0;
    for (int r = 0; r < B; r++) {
        const float *mu = h + (size_t)r * 2 * Z, *lv = mu + Z;
        for (int j = 0; j < Z; j++)
            kl_dim[j] += -0.5 * (1.0 + (double)lv[j] - (double)mu[j] * mu[j] - exp((double)lv[j]));
    }
    for (int j = 0; j < Z; j++) kl_dim[j] /= (double)B;
}
