/* The MLP VAE: configuration, parameters (one block), activations (one block),
 * forward with the loss, backward into the gradient block.
 *
 * Architecture for hidden = {H0, H1, ..., Hk-1}, input size D, latent Z:
 *   enc.0: D -> H0 (ReLU), enc.1: H0 -> H1 (ReLU), ..., enc.{k-1}
 *   head:  H{k-1} -> 2Z   (one fused GEMM; rows 0..Z-1 give mu, Z..2Z-1 logvar)
 *   z = mu + eps * exp(0.5 logvar)
 *   dec.0: Z -> H{k-1} (ReLU), dec.1: -> H{k-2} (ReLU), ..., dec.{k-1}: -> H0 (ReLU)
 *   dec.k: H0 -> D, sigmoid output (the loss works from the logits)
 * Parameter names and shapes follow nn.Linear: "enc.0.weight" (H0, D),
 * "enc.0.bias" (H0), ... in the order listed above (weight then bias).
 *
 * Loss per image: alpha * R + beta * KL with R = BCE (sum over pixels) or
 * SSE (sum over pixels); the training objective is its mean over the batch. */
#ifndef VAE_VAE_H
#define VAE_VAE_H

#include <stddef.h>
#include <stdint.h>
#include "vae/common.h"
#include "vae/rng.h"

#define VAE_MAX_HIDDEN 8
#define VAE_MAX_TENSORS (2 * (2 * VAE_MAX_HIDDEN + 2))

typedef enum { VAE_LOSS_BCE = 0, VAE_LOSS_MSE = 1 } VaeLossKind;

typedef struct {
    int rows, cols;                 /* image size; in_dim = rows * cols */
    int zdim;
    int n_hidden;                   /* 1..VAE_MAX_HIDDEN */
    int hidden[VAE_MAX_HIDDEN];
    VaeLossKind loss;
    float alpha, beta;
} VaeConfig;

/* One named parameter tensor inside the flat block. */
typedef struct {
    char name[32];
    int ndim;                       /* 2 for weights (out, in), 1 for biases */
    int shape[2];
    size_t offset, size;            /* in floats, into Vae.params */
} VaeTensor;

/* One linear layer's view into the parameter block. */
typedef struct {
    int in, out, relu;
    size_t w, b;                    /* offsets (floats) of weight and bias */
} VaeLinear;

typedef struct {
    VaeConfig cfg;
    int in_dim;
    int n_enc, n_dec;               /* linear layers in encoder (incl. head) and decoder */
    VaeLinear layers[2 * VAE_MAX_HIDDEN + 2];   /* encoder layers, head, decoder layers */
    int n_tensors;
    VaeTensor tensors[VAE_MAX_TENSORS];
    size_t n_params;
    /* One allocation of 4 * n_params floats, carved into four views with the
     * same layout, so the optimizer is one flat loop over all of them. */
    float *params, *grads, *adam_m, *adam_v;
    long adam_t;                    /* Adam steps taken */
} Vae;

/* Checks cfg (sizes >= 1, n_hidden in range, finite alpha/beta >= 0, no
 * overflow), lays out the tensors and allocates the block (zeroed). */
int vae_init(Vae *m, const VaeConfig *cfg, VaeError *err);
void vae_free(Vae *m);
/* PyTorch nn.Linear default init: weights and biases ~ U(-1/sqrt(in), 1/sqrt(in)). */
void vae_init_params(Vae *m, Rng *rng);
const VaeTensor *vae_find_tensor(const Vae *m, const char *name);
/* "400" or "512,256,128" from cfg.hidden; buf of at least 128 bytes */
void vae_hidden_str(const VaeConfig *cfg, char *buf, size_t len);

/* Activations and their gradients for batches of up to max_batch, one block. */
typedef struct {
    int max_batch;
    float *block;
    float *x;                               /* (B, D) input / target */
    float *act[2 * VAE_MAX_HIDDEN + 2];     /* output of each layer (B, out) */
    float *dact[2 * VAE_MAX_HIDDEN + 2];    /* gradient of each layer output */
    float *eps;                             /* (B, Z) */
    float *z, *dz;                          /* (B, Z) */
    float *xhat;                            /* (B, D) sigmoid of the logits */
    int used_eps;                           /* set by vae_forward: 1 if the last pass
                                               sampled z with eps, 0 if z = mu;
                                               vae_backward follows the same path */
} VaeActs;

int vae_acts_init(VaeActs *a, const Vae *m, int max_batch, VaeError *err);
void vae_acts_free(VaeActs *a);

/* Sums over the batch of the per-image terms. loss = alpha*recon + beta*kl. */
typedef struct {
    double loss, recon, kl;
} VaeLoss;

/* Forward pass over a->x (B rows), with a->eps (sampled z) if use_eps, else
 * z = mu. Fills every activation and a->xhat; returns the loss sums in *out.
 * If want_grad, also stores the gradient of the batch-mean objective w.r.t.
 * the logits and is ready for vae_backward. */
void vae_forward(Vae *m, VaeActs *a, int B, int use_eps, int want_grad, VaeLoss *out);
/* Backward of the last vae_forward(want_grad=1): ACCUMULATES into m->grads. */
void vae_backward(Vae *m, VaeActs *a, int B);
void vae_zero_grad(Vae *m);

/* Encoder only: mu (B, Z) of a->x into mu_out (may alias nothing in a). */
void vae_encode_mean(Vae *m, VaeActs *a, int B, float *mu_out);
/* Decoder only: z (B, Z) -> a->xhat (B, D) in [0, 1]. */
void vae_decode(Vae *m, VaeActs *a, const float *z, int B);

#endif
