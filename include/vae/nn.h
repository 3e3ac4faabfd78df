/* Layers as forward/backward pairs over plain float arrays.
 * Activations are batch-major and row-major: a (B, C) tensor is B rows of C.
 * Weights are stored (out, in) like PyTorch's nn.Linear.
 * Backward functions ACCUMULATE parameter gradients (+=); zeroing them is the
 * caller's job (one memset of the flat gradient block). Input gradients are
 * overwritten (=), since each activation has exactly one consumer here. */
#ifndef VAE_NN_H
#define VAE_NN_H

#include <stddef.h>

/* out (B, OUT) = in (B, IN) . W^T + b;   W (OUT, IN), b (OUT).
 * relu != 0 applies max(0, .) in the same pass as the bias. */
void linear_forward(float *out, const float *in, const float *W, const float *b,
                    int B, int IN, int OUT, int relu);

/* Given dout (B, OUT) of a linear layer (already multiplied by the ReLU mask
 * if the layer had one — see relu_backward):
 *   dW (OUT, IN) += dout^T . in,   db (OUT) += sum over batch of dout,
 *   din (B, IN)   = dout . W       (skipped when din is NULL). */
void linear_backward(float *din, float *dW, float *db, const float *dout,
                     const float *in, const float *W, int B, int IN, int OUT);

/* dx (n) *= (y > 0), where y is the ReLU output. In place. */
void relu_backward(float *dx, const float *y, size_t n);

/* Reconstruction terms, fused with their gradient w.r.t. the decoder logits.
 * logits, x, dlogits, xhat: (B, D). x are targets in [0, 1].
 * Return the SUM over the batch of the per-image sums over pixels (double).
 * dlogits (may be NULL) = scale * d(per-image loss)/d(logit) — the caller
 * passes scale = alpha / B for a batch-mean objective.
 * xhat (may be NULL) receives sigmoid(logits).
 *   BCE = sum_i  softplus(l) - x*l            (= -x log s - (1-x) log(1-s), stable)
 *   SSE = sum_i  (sigmoid(l) - x)^2 */
double bce_logits_forward_backward(float *dlogits, float *xhat, const float *logits,
                                   const float *x, int B, int D, float scale);
double sse_sigmoid_forward_backward(float *dlogits, float *xhat, const float *logits,
                                    const float *x, int B, int D, float scale);

/* Reparameterization and KL in one pass.
 * h (B, 2Z): each row is [mu (Z) | logvar (Z)]; eps (B, Z); z (B, Z).
 * eps NULL means z = mu (the deterministic "decode the mean" path).
 *   z = mu + eps * exp(0.5 * logvar)
 *   KL = -0.5 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))   per image
 * Returns the SUM over the batch of per-image KL. */
double reparam_kl_forward(float *z, const float *h, const float *eps, int B, int Z);

/* dh (B, 2Z) = d/dh of [ sum over batch of <dz, z> + kl_scale * KL_sum ],
 * i.e. dz (B, Z) is the gradient flowing back from the decoder and kl_scale
 * is beta / B for a batch-mean objective. eps NULL as above. */
void reparam_kl_backward(float *dh, const float *dz, const float *h, const float *eps,
                         int B, int Z, float kl_scale);

#endif
