/* Layers as forward/backward pairs over plain float arrays.
 * Activations are batch-major and row-major: a (B, C) tensor is B rows of C.
 * Weights are stored (out, in) like PyTorch's nn.Linear.
 * Backward functions ACCUMULATE parameter gradients and input gradients
 * (+=): an activation may feed two layers (a residual block, a
 * concatenation), and each adds its share. Zeroing is the caller's job: one
 * memset of the flat gradient block, one of the activation-gradient block,
 * once per step (as in llm.c). */
#ifndef VAE_NN_H
#define VAE_NN_H

#include <stddef.h>

#include "vae/gemm.h"

/* Every GEMM below runs in the precision prec (vae/gemm.h): fp32, or bf16
 * inputs with fp32 accumulation and output. */

/* out (B, OUT) = in (B, IN) . W^T + b;   W (OUT, IN), b (OUT).
 * relu != 0 applies max(0, .) in the same pass as the bias. */
void linear_forward(float *out, const float *in, const float *W, const float *b,
                    int B, int IN, int OUT, int relu, VaePrecision prec);

/* Given dout (B, OUT) of a linear layer (already multiplied by the ReLU mask
 * if the layer had one — see relu_backward):
 *   dW (OUT, IN) += dout^T . in,   db (OUT) += sum over batch of dout,
 *   din (B, IN)  += dout . W       (skipped when din is NULL). */
void linear_backward(float *din, float *dW, float *db, const float *dout,
                     const float *in, const float *W, int B, int IN, int OUT, VaePrecision prec);
/* linear_backward's two halves. The input gradient alone:
 *   din (B, IN) += dout (B, OUT) . W   (nothing when din is NULL); */
void linear_backward_input(float *din, const float *dout, const float *W, int B, int IN, int OUT,
                           VaePrecision prec);
/* the parameter gradients of output rows [o0, o1) alone, dout (B, OUT)
 * with row stride ld_dout (>= o1), dW the whole (OUT, IN) and db (OUT):
 *   dW[o0:o1, :] += dout[:, o0:o1]^T . in,   db[o0:o1) += sums of dout[:, o0:o1) */
void linear_wgrad_rows(float *dW, float *db, const float *dout, int ld_dout, const float *in, int B, int IN,
                       int o0, int o1, VaePrecision prec);

/* y (n) = tanh(y), in place (a fused tanh after a linear layer). */
void tanh_forward(float *y, size_t n);
/* dx (n) *= 1 - y^2, where y is the tanh output. In place. */
void tanh_backward(float *dx, const float *y, size_t n);

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

/* dh (B, 2Z) += d/dh of [ sum over batch of <dz, z> + kl_scale * KL_sum ],
 * i.e. dz (B, Z) is the gradient flowing back from the decoder and kl_scale
 * is beta / B for a batch-mean objective. eps NULL as above. */
void reparam_kl_backward(float *dh, const float *dz, const float *h, const float *eps,
                         int B, int Z, float kl_scale);
/* The same (also ACCUMULATING into dh) with the KL gradient of dimension j
 * multiplied by dim_scale[j] (Z values; NULL = all 1): KL warm-up and free
 * bits (vae/schedule.h). */
void reparam_kl_backward_dims(float *dh, const float *dz, const float *h, const float *eps,
                              int B, int Z, float kl_scale, const float *dim_scale);

/* ---- convolutions over the whole batch (spatial layout (C, B, H, W)) ----
 * Geometry of a convolution with kernel k, stride s, padding p from an
 * (H, W) plane to (OH, OW) = ((H + 2p - k)/s + 1, (W + 2p - k)/s + 1).
 * A transposed convolution is the same geometry run backwards (its input is
 * the (OH, OW) side). Every kernel handles all B images in one GEMM. */

/* col (C*k*k, B*OH*OW) = the patches of in (C, B, H, W); rows (c, ki, kj),
 * columns (b, oh, ow); zero where the patch overlaps the padding. */
void im2col_batch(float *col, const float *in, int C, int B, int H, int W, int k, int s, int p, int OH, int OW);
/* din (C, B, H, W) += the patches in col (C*k*k, B*OH*OW) added back. */
void col2im_batch(float *din, const float *col, int C, int B, int H, int W, int k, int s, int p, int OH, int OW);
/* out (C, N) += b[c] per row, then ReLU if relu. */
void bias_act_rows(float *out, const float *b, int C, size_t N, int relu);
/* db (C) += row sums of dout (C, N). */
void bias_grad_rows(float *db, const float *dout, int C, size_t N);

/* Conv2d: in (IC, B, H, W), W (OC, IC, k, k), b (OC) -> out (OC, B, OH, OW).
 * col is scratch of IC*k*k * B*OH*OW floats. */
void conv2d_forward(float *out, float *col, const float *in, const float *W, const float *b, int B, int IC,
                    int H, int Wd, int OC, int k, int s, int p, int OH, int OW, int relu, VaePrecision prec);
/* Given dout (OC, B, OH, OW) (already ReLU-masked): dW += dout . col^T,
 * db += row sums, din (IC, B, H, W) += col2im(W^T . dout) (skipped if NULL). */
void conv2d_backward(float *din, float *dW, float *db, float *col, const float *dout, const float *in,
                     const float *W, int B, int IC, int H, int Wd, int OC, int k, int s, int p, int OH, int OW, VaePrecision prec);

/* ConvTranspose2d: in (IC, B, H, W), W (IC, OC, k, k), b (OC) -> out (OC, B, OH, OW)
 * with OH = (H-1)s - 2p + k: out = col2im(W^T . in) + b. col: OC*k*k * B*H*W floats. */
void convt2d_forward(float *out, float *col, const float *in, const float *W, const float *b, int B, int IC,
                     int H, int Wd, int OC, int k, int s, int p, int OH, int OW, int relu, VaePrecision prec);
/* Given dout (OC, B, OH, OW): dcol = im2col(dout) (OC*k*k, B*H*W);
 * dW (IC, OC*k*k) += in . dcol^T; db += row sums; din (IC, B, H, W) += W . dcol. */
void convt2d_backward(float *din, float *dW, float *db, float *col, const float *dout, const float *in,
                      const float *W, int B, int IC, int H, int Wd, int OC, int k, int s, int p, int OH, int OW, VaePrecision prec);

#endif
