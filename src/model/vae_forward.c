/* Forward and backward passes of the MLP VAE over the layer list laid out by
 * vae_init: encoder layers (head last) are m->layers[0..n_enc), decoder
 * layers m->layers[n_enc..n_enc+n_dec). No allocation: every buffer lives in
 * the model's parameter block or the VaeActs block. */
#include "vae/vae.h"

#include <math.h>
#include <string.h>

#include "vae/nn.h"

static const float *W_of(const Vae *m, const VaeLinear *L) { return m->params + L->w; }
static const float *b_of(const Vae *m, const VaeLinear *L) { return m->params + L->b; }

/* Encoder and head: a->x (B, D) -> a->act[n_enc-1] (B, 2Z) = [mu | logvar]. */
static void encode(Vae *m, VaeActs *a, int B) {
    const float *in = a->x;
    for (int l = 0; l < m->n_enc; l++) {
        const VaeLinear *L = &m->layers[l];
        linear_forward(a->act[l], in, W_of(m, L), b_of(m, L), B, L->in, L->out, L->relu);
        in = a->act[l];
    }
}

/* Decoder: z (B, Z) -> logits in a->act[n_enc+n_dec-1] (B, D). */
static void decode_logits(Vae *m, VaeActs *a, const float *z, int B) {
    const float *in = z;
    for (int l = m->n_enc; l < m->n_enc + m->n_dec; l++) {
        const VaeLinear *L = &m->layers[l];
        linear_forward(a->act[l], in, W_of(m, L), b_of(m, L), B, L->in, L->out, L->relu);
        in = a->act[l];
    }
}

void vae_forward(Vae *m, VaeActs *a, int B, int use_eps, int want_grad, VaeLoss *out) {
    int Z = m->cfg.zdim, D = m->in_dim, last = m->n_enc + m->n_dec - 1;
    float alpha = m->cfg.alpha;
    encode(m, a, B);
    a->used_eps = use_eps ? 1 : 0;
    double kl = reparam_kl_forward(a->z, a->act[m->n_enc - 1], use_eps ? a->eps : NULL, B, Z);
    decode_logits(m, a, a->z, B);
    /* gradient of the batch mean of alpha * R w.r.t. the logits */
    float *dlogits = want_grad ? a->dact[last] : NULL;
    float scale = alpha / (float)B;
    double recon = m->cfg.loss == VAE_LOSS_MSE
        ? sse_sigmoid_forward_backward(dlogits, a->xhat, a->act[last], a->x, B, D, scale)
        : bce_logits_forward_backward(dlogits, a->xhat, a->act[last], a->x, B, D, scale);
    out->recon = recon;
    out->kl = kl;
    out->loss = (double)alpha * recon + (double)m->cfg.beta * kl;
}

/* Walks the layers from the logits back to the input. dact[l] holds the
 * gradient w.r.t. layer l's output (post-ReLU) until the ReLU mask is applied
 * in place, which turns it into the gradient w.r.t. the pre-activation. */
void vae_backward(Vae *m, VaeActs *a, int B) {
    int Z = m->cfg.zdim, first_dec = m->n_enc, last = m->n_enc + m->n_dec - 1;
    for (int l = last; l >= first_dec; l--) {
        const VaeLinear *L = &m->layers[l];
        if (L->relu) relu_backward(a->dact[l], a->act[l], (size_t)B * L->out);
        const float *in = l == first_dec ? a->z : a->act[l - 1];
        float *din = l == first_dec ? a->dz : a->dact[l - 1];
        linear_backward(din, m->grads + L->w, m->grads + L->b, a->dact[l], in,
                        W_of(m, L), B, L->in, L->out);
    }
    int head = m->n_enc - 1;
    reparam_kl_backward(a->dact[head], a->dz, a->act[head], a->used_eps ? a->eps : NULL,
                        B, Z, m->cfg.beta / (float)B);
    for (int l = head; l >= 0; l--) {
        const VaeLinear *L = &m->layers[l];
        if (L->relu) relu_backward(a->dact[l], a->act[l], (size_t)B * L->out);
        const float *in = l == 0 ? a->x : a->act[l - 1];
        /* the input's gradient is never needed */
        float *din = l == 0 ? NULL : a->dact[l - 1];
        linear_backward(din, m->grads + L->w, m->grads + L->b, a->dact[l], in,
                        W_of(m, L), B, L->in, L->out);
    }
}

void vae_encode_mean(Vae *m, VaeActs *a, int B, float *mu_out) {
    int Z = m->cfg.zdim;
    encode(m, a, B);
    const float *h = a->act[m->n_enc - 1];
    for (int r = 0; r < B; r++)
        memcpy(mu_out + (size_t)r * Z, h + (size_t)r * 2 * Z, (size_t)Z * sizeof(float));
}

void vae_decode(Vae *m, VaeActs *a, const float *z, int B) {
    int last = m->n_enc + m->n_dec - 1;
    decode_logits(m, a, z, B);
    const float *l = a->act[last];
    size_t n = (size_t)B * m->in_dim;
    for (size_t i = 0; i < n; i++) {
        /* stable sigmoid, as in the loss kernels */
        float e = expf(-fabsf(l[i]));
        float inv = 1.0f / (1.0f + e);
        a->xhat[i] = l[i] >= 0.0f ? inv : e * inv;
    }
}
