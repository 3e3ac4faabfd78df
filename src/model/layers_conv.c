/* Convolution and transposed convolution over the whole batch: im2col /
 * col2im over the spatial layout (C, B, H, W) and one GEMM (vae_gemm) per pass
 * (Caffe's route, with the batch folded into the GEMM's N dimension so the
 * matrices stay large for 28x28 images). The GEMM writes the (OC, B, OH, OW)
 * output directly; bias and ReLU are fused into one pass over it. */
#include <string.h>

#include "vae/conv_dnnl.h"
#include "vae/layers.h"
#include "vae/nn.h"
#include "vae/vecmath.h"

/* Output columns ow in [lo, hi) read inside the input row for kernel column
 * kj: 0 <= ow*s - p + kj < W. */
static void valid_range(int W, int s, int p, int kj, int OW, int *lo, int *hi) {
    int a = p - kj;                           /* need ow*s >= a */
    int l = a <= 0 ? 0 : (a + s - 1) / s;
    int e = W + p - kj;                       /* need ow*s < e */
    int h = e <= 0 ? 0 : (e + s - 1) / s;
    if (h > OW) h = OW;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

VAE_HOT void im2col_batch(float *col, const float *in, int C, int B, int H, int W, int k, int s, int p, int OH,
                          int OW) {
    size_t N = (size_t)B * OH * OW, plane = (size_t)H * W;
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(c * k + ki) * k + kj) * N;
                int lo, hi;
                valid_range(W, s, p, kj, OW, &lo, &hi);
                for (int b = 0; b < B; b++) {
                    const float *img = in + ((size_t)c * B + b) * plane;
                    for (int oh = 0; oh < OH; oh++) {
                        float *dst = row + ((size_t)b * OH + oh) * OW;
                        int ih = oh * s - p + ki;
                        if (ih < 0 || ih >= H) {
                            memset(dst, 0, (size_t)OW * sizeof(float));
                            continue;
                        }
                        const float *src = img + (size_t)ih * W - p + kj;
                        for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                        if (s == 1) {
                            memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
                        } else {
                            for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * s];
                        }
                        for (int ow = hi; ow < OW; ow++) dst[ow] = 0.0f;
                    }
                }
            }
}

VAE_HOT void col2im_batch(float *din, const float *col, int C, int B, int H, int W, int k, int s, int p, int OH,
                          int OW) {
    size_t N = (size_t)B * OH * OW, plane = (size_t)H * W;
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                const float *row = col + ((size_t)(c * k + ki) * k + kj) * N;
                int lo, hi;
                valid_range(W, s, p, kj, OW, &lo, &hi);
                for (int b = 0; b < B; b++) {
                    float *img = din + ((size_t)c * B + b) * plane;
                    for (int oh = 0; oh < OH; oh++) {
                        int ih = oh * s - p + ki;
                        if (ih < 0 || ih >= H) continue;
                        const float *srcr = row + ((size_t)b * OH + oh) * OW;
                        float *dst = img + (size_t)ih * W - p + kj;
                        if (s == 1) {
                            for (int ow = lo; ow < hi; ow++) dst[ow] += srcr[ow];
                        } else {
                            for (int ow = lo; ow < hi; ow++) dst[ow * s] += srcr[ow];
                        }
                    }
                }
            }
}

VAE_HOT void bias_act_rows(float *out, const float *b, int C, size_t N, int relu) {
    for (int c = 0; c < C; c++) {
        float *o = out + (size_t)c * N, bc = b[c];
        if (relu) {
            for (size_t i = 0; i < N; i++) {
                float v = o[i] + bc;
                o[i] = v > 0.0f ? v : 0.0f;
            }
        } else {
            for (size_t i = 0; i < N; i++) o[i] += bc;
        }
    }
}

VAE_HOT void bias_grad_rows(float *db, const float *dout, int C, size_t N) {
    for (int c = 0; c < C; c++) {
        const float *d = dout + (size_t)c * N;
        /* a few independent partial sums, added in a fixed order */
        float acc[16] = {0};
        size_t i = 0;
        for (; i + 16 <= N; i += 16)
            for (int j = 0; j < 16; j++) acc[j] += d[i + j];
        float tail = 0.0f;
        for (; i < N; i++) tail += d[i];
        double s = tail;
        for (int j = 0; j < 16; j++) s += acc[j];
        db[c] += (float)s;
    }
}

void conv2d_forward(float *out, float *col, const float *in, const float *W, const float *b, int B, int IC,
                    int H, int Wd, int OC, int k, int s, int p, int OH, int OW, int relu, VaePrecision prec) {
    int K = IC * k * k, N = B * OH * OW;
    im2col_batch(col, in, IC, B, H, Wd, k, s, p, OH, OW);
    /* out (OC, N) = W (OC, K) . col (K, N) */
    vae_gemm(prec, 0, 0, OC, N, K, 1.0f, W, K, col, N, 0.0f, out, N);
    bias_act_rows(out, b, OC, (size_t)N, relu);
}

void conv2d_backward(float *din, float *dW, float *db, float *col, const float *dout, const float *in,
                     const float *W, int B, int IC, int H, int Wd, int OC, int k, int s, int p, int OH, int OW, VaePrecision prec) {
    int K = IC * k * k, N = B * OH * OW;
    bias_grad_rows(db, dout, OC, (size_t)N);
    /* the patches again (recomputing costs less memory than keeping them) */
    im2col_batch(col, in, IC, B, H, Wd, k, s, p, OH, OW);
    /* dW (OC, K) += dout (OC, N) . col^T (N, K) */
    vae_gemm(prec, 0, 1, OC, K, N, 1.0f, dout, N, col, N, 1.0f, dW, K);
    if (!din) return;
    /* dcol (K, N) = W^T (K, OC) . dout (OC, N), then back onto the input planes */
    vae_gemm(prec, 1, 0, K, N, OC, 1.0f, W, K, dout, N, 0.0f, col, N);
    col2im_batch(din, col, IC, B, H, Wd, k, s, p, OH, OW);
}

void convt2d_forward(float *out, float *col, const float *in, const float *W, const float *b, int B, int IC,
                     int H, int Wd, int OC, int k, int s, int p, int OH, int OW, int relu, VaePrecision prec) {
    int K = OC * k * k, N = B * H * Wd;
    /* col (K, N) = W^T (K, IC) . in (IC, N) */
    vae_gemm(prec, 1, 0, K, N, IC, 1.0f, W, K, in, N, 0.0f, col, N);
    memset(out, 0, (size_t)OC * B * OH * OW * sizeof(float));
    col2im_batch(out, col, OC, B, OH, OW, k, s, p, H, Wd);
    bias_act_rows(out, b, OC, (size_t)B * OH * OW, relu);
}

/* convt2d_backward with din = din_beta * din + W . dcol (0: din is stored, its old contents never read) */
static void convt2d_backward_beta(float *din, float *dW, float *db, float *col, const float *dout, const float *in,
                                  const float *W, int B, int IC, int H, int Wd, int OC, int k, int s, int p, int OH,
                                  int OW, VaePrecision prec, float din_beta) {
    int K = OC * k * k, N = B * H * Wd;
    bias_grad_rows(db, dout, OC, (size_t)B * OH * OW);
    im2col_batch(col, dout, OC, B, OH, OW, k, s, p, H, Wd);
    /* dW (IC, K) += in (IC, N) . dcol^T (N, K) */
    vae_gemm(prec, 0, 1, IC, K, N, 1.0f, in, N, col, N, 1.0f, dW, K);
    /* din (IC, N) (+)= W (IC, K) . dcol (K, N) */
    if (din) vae_gemm(prec, 0, 0, IC, N, K, 1.0f, W, K, col, N, din_beta, din, N);
}

void convt2d_backward(float *din, float *dW, float *db, float *col, const float *dout, const float *in,
                      const float *W, int B, int IC, int H, int Wd, int OC, int k, int s, int p, int OH, int OW, VaePrecision prec) {
    convt2d_backward_beta(din, dW, db, col, dout, in, W, B, IC, H, Wd, OC, k, s, p, OH, OW, prec, 1.0f);
}

/* ---- the layer kinds over VaeLayerRun ---- */

/* Each kind tries the oneDNN path first (when built with it) and falls back
 * to im2col + GEMM for a layer oneDNN does not take, in the model's precision
 * either way (bf16: bf16 inputs, fp32 accumulation; vae/gemm.h). A fresh
 * input gradient (din_fresh) is stored, not added: by oneDNN's reorder
 * without its sum, by the transposed convolution's GEMM with beta 0; the
 * convolution's col2im scatters overlapping patches, so it clears it first. */

void vae_conv2d_fwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    if (vae_dnnl_conv_forward(r->dnnl, r->index, L, r->B, r->out, r->in[0], r->p[0], r->p[1], r->precision) == 0) return;
    conv2d_forward(r->out, r->scratch, r->in[0], r->p[0], r->p[1], r->B, L->ic, L->ih, L->iw, L->c, L->kernel,
                   L->stride, L->pad, L->h, L->w, L->act == VAE_ACT_RELU, r->precision);
}

void vae_conv2d_bwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    if (L->act == VAE_ACT_RELU) relu_backward(r->dout, r->out, (size_t)r->B * L->c * L->h * L->w);
    if (vae_dnnl_conv_backward(r->dnnl, r->index, L, r->B, r->din[0], r->din_fresh[0], r->g[0], r->g[1], r->dout,
                               r->in[0], r->p[0], r->precision) == 0)
        return;
    if (r->din[0] && r->din_fresh[0]) memset(r->din[0], 0, (size_t)r->B * L->ic * L->ih * L->iw * sizeof(float));
    conv2d_backward(r->din[0], r->g[0], r->g[1], r->scratch, r->dout, r->in[0], r->p[0], r->B, L->ic, L->ih, L->iw,
                    L->c, L->kernel, L->stride, L->pad, L->h, L->w, r->precision);
}

void vae_convt2d_fwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    if (vae_dnnl_conv_forward(r->dnnl, r->index, L, r->B, r->out, r->in[0], r->p[0], r->p[1], r->precision) == 0) return;
    convt2d_forward(r->out, r->scratch, r->in[0], r->p[0], r->p[1], r->B, L->ic, L->ih, L->iw, L->c, L->kernel,
                    L->stride, L->pad, L->h, L->w, L->act == VAE_ACT_RELU, r->precision);
}

void vae_convt2d_bwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    if (L->act == VAE_ACT_RELU) relu_backward(r->dout, r->out, (size_t)r->B * L->c * L->h * L->w);
    if (vae_dnnl_conv_backward(r->dnnl, r->index, L, r->B, r->din[0], r->din_fresh[0], r->g[0], r->g[1], r->dout,
                               r->in[0], r->p[0], r->precision) == 0)
        return;
    convt2d_backward_beta(r->din[0], r->g[0], r->g[1], r->scratch, r->dout, r->in[0], r->p[0], r->B, L->ic, L->ih,
                          L->iw, L->c, L->kernel, L->stride, L->pad, L->h, L->w, r->precision,
                          r->din_fresh[0] ? 0.0f : 1.0f);
}

size_t vae_conv2d_scratch(const VaeLayer *L, int B) {
    return (size_t)L->ic * L->kernel * L->kernel * (size_t)B * L->h * L->w;
}

size_t vae_convt2d_scratch(const VaeLayer *L, int B) {
    return (size_t)L->c * L->kernel * L->kernel * (size_t)B * L->ih * L->iw;
}
