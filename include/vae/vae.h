/* The VAE: configuration, the layer list (vae/layers.h) and one flat block
 * of parameters, gradients and Adam moments; activations in one block;
 * forward with the loss, backward into the gradient block.
 *
 * Architectures (vae_layout builds them; names and shapes as PyTorch's
 * nn.Linear / nn.Conv2d / nn.ConvTranspose2d state_dict):
 *   mlp:    enc.i Linear (ReLU) over hidden = {H0, ..., Hk-1}; head Linear
 *           H{k-1} -> 2Z (rows 0..Z-1 give mu, Z..2Z-1 logvar); z = mu +
 *           eps * exp(0.5 logvar); dec.0 .. dec.{k-1} mirror the encoder
 *           (ReLU), dec.k -> D logits (sigmoid output).
 *   conv:   per channel entry c: Conv2d(prev, c, 4, stride 2, pad 1) + ReLU;
 *           flatten; hidden Linear + ReLU; head. Decoder: Linear Z -> hidden
 *           (ReLU) ... -> C*(H/2^L)*(W/2^L) (ReLU), unflatten, then
 *           ConvTranspose2d(4, 2, 1) back through the channels to 1 channel
 *           (ReLU between, logits out).
 *   resnet: conv plus a residual block after each encoder convolution and
 *           before each decoder transposed convolution:
 *           block(x) = x + Conv3x3(ReLU(Conv3x3(ReLU(x)))), padding 1.
 *
 * Loss per image: alpha * R + beta * KL with R = BCE (sum over pixels) or
 * SSE (sum over pixels); the training objective is its mean over the batch
 * (over the GLOBAL batch when a step is split across workers). */
#ifndef VAE_VAE_H
#define VAE_VAE_H

#include <stddef.h>
#include <stdint.h>
#include "vae/common.h"
#include "vae/gemm.h"
#include "vae/layers.h"
#include "vae/rng.h"

#define VAE_MAX_HIDDEN 8
#define VAE_MAX_CHANNELS 6

typedef enum { VAE_LOSS_BCE = 0, VAE_LOSS_MSE = 1 } VaeLossKind;
/* vae: the variational autoencoder. eae: the entropic autoencoder, a
 * deterministic encoder whose code goes through batch normalisation without
 * scale/shift (z = BN(E(x))) and a loss alpha*R - lambda*H(z), H the
 * Kozachenko-Leonenko k-nearest-neighbour entropy estimate over the batch. */
typedef enum { VAE_MODEL_VAE = 0, VAE_MODEL_EAE = 1, VAE_MODEL_COUNT } VaeModelKind;

#define VAE_MAX_CLASSES 256          /* IDX label files hold one byte per label */
#define VAE_CLASSES_FROM_DATA (-1)   /* TrainConfig.model.n_classes: max training label + 1 */

typedef struct {
    int rows, cols;                 /* image size; in_dim = rows * cols */
    int zdim;
    VaeArch arch;                   /* mlp (0, the default), conv, resnet */
    int n_hidden;                   /* 1..VAE_MAX_HIDDEN fully connected layers */
    int hidden[VAE_MAX_HIDDEN];
    int n_channels;                 /* conv/resnet: 1..VAE_MAX_CHANNELS; rows and cols
                                       must be divisible by 2^n_channels */
    int channels[VAE_MAX_CHANNELS];
    VaeLossKind loss;
    float alpha, beta;
    /* conditional models: 0 = unconditional; else the one-hot label (n_classes
     * wide) is joined to the encoder's features (the image for an mlp, the
     * flattened convolution output for conv/resnet) and to z at the decoder */
    int n_classes;
    VaeModelKind model;
    float lambda;                   /* eae: weight of -H(z) (beta is unused) */
    int knn;                        /* eae: k of the entropy estimate, 1 <= k < batch */
    float bn_momentum;              /* eae: running mean/var momentum (PyTorch's: new = (1-m) old + m batch) */
    VaeAct hidden_act;              /* mlp hidden layers: VAE_ACT_TANH, else (0 or
                                       VAE_ACT_RELU) ReLU */
} VaeConfig;

const char *vae_model_name(VaeModelKind k);
/* "vae" -> VAE_MODEL_VAE; -1 if unknown */
int vae_model_parse(const char *s);
/* the weight of the regulariser (KL or -H) in the objective */
float vae_reg_weight(const VaeConfig *cfg);

typedef struct {
    VaeConfig cfg;
    VaeLayout lay;                  /* the layer list and tensor table (vae_layout(cfg)) */
    int in_dim;                     /* == lay.in_dim */
    size_t n_params;                /* == lay.n_params */
    /* One allocation of 4 * n_params floats, carved into four views with the
     * same layout, so the optimizer is one flat loop over all of them. */
    float *params, *grads, *adam_m, *adam_v;
    long adam_t;                    /* Adam steps taken */
    VaePrecision precision;         /* of the GEMMs in every pass over this model (vae/gemm.h);
                                       vae_init sets fp32, training may set bf16. Not part of
                                       the parameters: checkpoints are fp32 either way */
} Vae;

/* The pure layout function: checks cfg (sizes, divisibility, overflow) and
 * writes the layer list. No allocation. */
int vae_layout(const VaeConfig *cfg, VaeLayout *out, VaeError *err);
/* The layer list as JSON (format "vae-layers", see README "Model layout"),
 * including the configuration; malloc'ed string, NULL when out of memory. */
char *vae_layout_json(const VaeConfig *cfg, const VaeLayout *lay);

/* vae_layout + allocate the block (zeroed). */
int vae_init(Vae *m, const VaeConfig *cfg, VaeError *err);
void vae_free(Vae *m);
/* PyTorch's default init: every weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * fan_in = in features (Linear), in*k*k (Conv2d), out*k*k (ConvTranspose2d:
 * PyTorch takes weight.size(1)); tensors in layout order, weight then bias. */
void vae_init_params(Vae *m, Rng *rng);
const VaeTensor *vae_find_tensor(const Vae *m, const char *name);
/* "400" or "512,256,128" from cfg.hidden; buf of at least 128 bytes */
void vae_hidden_str(const VaeConfig *cfg, char *buf, size_t len);
/* "32,64" from cfg.channels ("" for mlp) */
void vae_channels_str(const VaeConfig *cfg, char *buf, size_t len);

/* Activations and their gradients for batches of up to max_batch, one block.
 * act[l] / dact[l] are layer l's output and its gradient (layouts in
 * vae/layers.h). The dact lie in one region where gradients that are never
 * alive at the same time share memory: dact[l] holds layer l's gradient only
 * from the backward of layer dfirst[l] (the first to add into it; n_layers:
 * the loss) until layer dlast[l]'s backward (its own, or the end of the pass),
 * and vae_backward zeroes it when it comes alive (unless the kind of layer
 * dfirst[l] stores its first write: VaeLayerOps.fresh_din). */
typedef struct {
    int max_batch;
    float *block;
    float *x;                               /* (B, D) input / target */
    float *y;                               /* (B, n_classes) one-hot labels of a conditional
                                               model (vae_set_labels); NULL otherwise */
    float *eps;                             /* (B, Z) */
    float *z, *dz;                          /* (B, Z): the gaussian layer's act / dact */
    float *xhat;                            /* (B, D) sigmoid of the logits */
    float *act[VAE_MAX_LAYERS];
    float *dact[VAE_MAX_LAYERS];
    float *dblock;                          /* every dact, dblock_len floats */
    int dfirst[VAE_MAX_LAYERS];             /* see above */
    int dlast[VAE_MAX_LAYERS];              /* dact[l] is read until layer dlast[l]'s backward:
                                               l, or 0 where defer_wgrad_ok keeps a linear
                                               layer's gradient to the end */
    size_t dblock_len;
    float *scratch;                         /* im2col and friends, shared by the layers */
    struct VaeDnnl *dnnl;                   /* oneDNN convolution primitives for this block's
                                               batches (vae/conv_dnnl.h), made on first use */
    float inv_batch;                        /* set by vae_forward: 1 / B_global of the objective */
    int training;                           /* set by vae_forward: want_grad; batch norm uses
                                               batch statistics (and updates its running ones)
                                               when set, the running ones otherwise */
    int used_eps;                           /* set by vae_forward: 1 if the last pass
                                               sampled z with eps, 0 if z = mu;
                                               vae_backward follows the same path */
    int defer_wgrad_ok;                     /* set by vae_acts_init: every parameter is in a
                                               linear layer, and the plan keeps the linear
                                               layers' gradients to the end of the backward
                                               pass (defer_wgrad may be set) */
    int defer_wgrad;                        /* set by the caller (only where defer_wgrad_ok):
                                               vae_backward forms input gradients only;
                                               vae_backward_wgrad the parameter gradients */
    int skip_xhat;                          /* set by the caller: training passes
                                               (want_grad) leave xhat unwritten (the
                                               training workers, who never read it) */
    const float *kl_dim_scale;              /* (Z) or NULL: vae_backward multiplies the KL
                                               gradient of dimension j by it (warm-up,
                                               free bits); set by the caller */
} VaeActs;

int vae_acts_init(VaeActs *a, const Vae *m, int max_batch, VaeError *err);
/* Forward passes only (evaluation, encoding, decoding): no gradient
 * buffers, about half the memory; vae_forward must get want_grad = 0. */
int vae_acts_init_forward(VaeActs *a, const Vae *m, int max_batch, VaeError *err);
void vae_acts_free(VaeActs *a);

/* Sums over the batch of the per-image terms. loss = alpha*recon + beta*kl. */
typedef struct {
    double loss, recon, kl;
} VaeLoss;

/* Forward pass over a->x (B rows), with a->eps (sampled z) if use_eps, else
 * z = mu. Fills every activation and a->xhat (not with want_grad and
 * a->skip_xhat); returns the loss sums in *out.
 * If want_grad, also zeroes the activation gradients, stores the gradient of
 * the batch-mean objective w.r.t. the logits and is ready for vae_backward. */
void vae_forward(Vae *m, VaeActs *a, int B, int use_eps, int want_grad, VaeLoss *out);
/* As vae_forward, with the objective's mean taken over B_global images (the
 * whole step's batch when B rows are one worker's share): gradients scale
 * with 1/B_global. */
void vae_forward_scaled(Vae *m, VaeActs *a, int B, int B_global, int use_eps, int want_grad, VaeLoss *out);
/* Backward of the last vae_forward(want_grad=1): ACCUMULATES into m->grads. */
void vae_backward(Vae *m, VaeActs *a, int B);
/* After vae_backward over n blocks with defer_wgrad set (blocks a[j] of B[j]
 * rows, one batch cut into row ranges in that order): ACCUMULATES into
 * m->grads the gradients of the weight rows and biases [o0, o1) of linear
 * layer l, summed over the blocks in order. Disjoint row ranges touch
 * disjoint gradients (threads may split a layer's rows). */
void vae_backward_wgrad(Vae *m, VaeActs *const *a, const int *B, int n, int l, int o0, int o1);
void vae_zero_grad(Vae *m);

/* Encoder only: mu (B, Z) of a->x into mu_out; logvar_out (B, Z) too if not NULL. */
void vae_encode(Vae *m, VaeActs *a, int B, float *mu_out, float *logvar_out);
void vae_encode_mean(Vae *m, VaeActs *a, int B, float *mu_out);
/* Decoder only: z (B, Z) -> a->xhat (B, D) in [0, 1]. A conditional model
 * reads the labels set in a->y. */
void vae_decode(Vae *m, VaeActs *a, const float *z, int B);

/* One-hot rows of a->y from labels[index[i]] (index NULL: labels[first + i])
 * for i < B, as idx_gather picks images (conditional models; a no-op for
 * others). Returns the first row whose label is >= n_classes, or -1. */
int vae_set_labels(const Vae *m, VaeActs *a, const uint8_t *labels, const uint32_t *index, uint32_t first, int B);
/* Every row of a->y set to one label (sampling a class). */
void vae_fill_label(const Vae *m, VaeActs *a, int label, int B);
/* Decoder only, the logits: z (B, Z) -> (B, D), a pointer into a's block,
 * valid until the next pass over a (what the likelihood estimator uses). */
const float *vae_decode_logits(Vae *m, VaeActs *a, const float *z, int B);
/* After vae_forward: the batch mean of each latent dimension's KL, (Z). */
void vae_batch_kl_dims(const Vae *m, const VaeActs *a, int B, double *kl_dim);

#endif
