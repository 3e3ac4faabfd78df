/* Optional oneDNN path for conv2d and conv_transpose2d layers (see
 * src/model/conv_dnnl.c; built when CMake finds libdnnl-dev, -DVAE_DNNL).
 * Same contract as the im2col pair in vae/nn.h: buffers in the layouts of
 * vae/layers.h, forward stores out (bias and the layer's ReLU applied),
 * backward ACCUMULATES into din, dW and db. The cache belongs to one
 * activation block (VaeActs.dnnl) and so to one thread at a time.
 * Environment: VAE_CONV=im2col turns the path off (every layer on im2col). */
#ifndef VAE_CONV_DNNL_H
#define VAE_CONV_DNNL_H

#include <stddef.h>

#include "vae/layers.h"

typedef struct VaeDnnl VaeDnnl;

/* 1 when this build has the oneDNN path */
int vae_dnnl_available(void);
/* One line for `vae --version`: "oneDNN 2.6.3 (VAE_CONV=im2col: off)" or
 * "im2col + sgemm (built without oneDNN)". */
void vae_dnnl_describe(char *buf, size_t len);
void vae_dnnl_free(VaeDnnl *c);

/* 1 for a layer that stays on im2col: a conv2d with fewer than 16 input
 * channels or a conv_transpose2d with fewer than 16 output channels (the
 * image side of the first and last layer), except a conv2d's one-channel
 * input in fp32. oneDNN pads such a side to a 16-channel block and ran those
 * layers 2-4x slower than im2col + sgemm (tests/bench/conv_probe.c,
 * 2026-11-22); a one-channel input it reads in plain nchw, which for one
 * channel is our layout: no padding, no reorder (the MNIST models' first
 * layer, batch 64, forward + backward: 1.6 ms against 2.3 on im2col). */
int vae_dnnl_conv_narrow(const VaeLayer *L, VaePrecision prec);

/* Layer l (its index in the layer list: the cache key) of kind conv2d or
 * conv_transpose2d at batch B, in precision prec (bf16: inputs rounded to
 * bf16, fp32 accumulation and outputs, as vae_gemm's bf16). 0: done by oneDNN; -1: this layer is not
 * available there (no oneDNN, refused shape, VAE_CONV=im2col, out of
 * memory), nothing was touched and the caller runs the im2col path. */
int vae_dnnl_conv_forward(VaeDnnl **cache, int l, const VaeLayer *L, int B, float *out, const float *in,
                          const float *W, const float *b, VaePrecision prec);
/* What pass (0 forward, 1 input gradient, 2 weight gradient) of layer l
 * reads its inputs as, in the primitives last made for it: the layer's
 * precision, except bf16 passes that oneDNN would give one of its slow AMX
 * kernels, which run in fp32 (conv_dnnl.c, slow_amx); -1: none made. For
 * tests and probes. */
int vae_dnnl_conv_pass_precision(VaeDnnl *const *cache, int l, int pass);
/* din may be NULL (not wanted); din_store: din is stored (=), its old contents
 * never read, else added to (+=). dW and db are added to. dout must already
 * include the ReLU's mask. */
int vae_dnnl_conv_backward(VaeDnnl **cache, int l, const VaeLayer *L, int B, float *din, int din_store, float *dW,
                           float *db, const float *dout, const float *in, const float *W, VaePrecision prec);

#endif
