/* Times each convolution layer of the conv and resnet models (defaults:
 * 28x28, channels 32,64) on both paths, im2col + sgemm and oneDNN, forward
 * and backward, single-threaded at one worker's share of a batch. Reports
 * the fastest of many repetitions (robust to a shared machine's noise) and
 * the GFLOP/s it means. Used to decide which path takes which layer. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vae/conv_dnnl.h"
#include "vae/nn.h"
#include "vae/vae.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    int B = argc > 1 ? atoi(argv[1]) : 64, reps = argc > 2 ? atoi(argv[2]) : 20;
    if (B < 1 || reps < 1) return 2;
    openblas_set_num_threads(1);
    VaeConfig mc = {0};
    mc.rows = mc.cols = 28, mc.zdim = 20, mc.arch = VAE_ARCH_RESNET, mc.n_hidden = 1, mc.hidden[0] = 256;
    mc.n_channels = 2, mc.channels[0] = 32, mc.channels[1] = 64, mc.alpha = mc.beta = 1.0f;
    VaeLayout lay;
    VaeError err;
    if (vae_layout(&mc, &lay, &err) != VAE_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    VaeDnnl *cache = NULL;
    printf("%-14s %-26s %9s %9s %9s %9s   (ms, fastest of %d; batch %d, 1 thread)\n", "layer", "shape", "fwd i2c",
           "fwd dnnl", "bwd i2c", "bwd dnnl", reps, B);
    for (int l = 0; l < lay.n_layers; l++) {
        const VaeLayer *L = &lay.layers[l];
        if (L->kind != LAYER_CONV2D && L->kind != LAYER_CONVT2D) continue;
        int tr = L->kind == LAYER_CONVT2D;
        size_t nin = (size_t)B * L->ic * L->ih * L->iw, nout = (size_t)B * L->c * L->h * L->w;
        size_t nw = (size_t)L->ic * L->c * L->kernel * L->kernel;
        size_t ncol = tr ? (size_t)L->c * L->kernel * L->kernel * B * L->ih * L->iw
                         : (size_t)L->ic * L->kernel * L->kernel * B * L->h * L->w;
        float *in = calloc(nin, 4), *din = calloc(nin, 4), *out = calloc(nout, 4), *dout = calloc(nout, 4);
        float *W = calloc(nw, 4), *dW = calloc(nw, 4), *b = calloc((size_t)L->c, 4), *db = calloc((size_t)L->c, 4);
        float *col = calloc(ncol, 4);
        if (!in || !din || !out || !dout || !W || !dW || !b || !db || !col) return 1;
        for (size_t i = 0; i < nin; i++) in[i] = (float)(i % 13) * 0.1f - 0.6f;
        for (size_t i = 0; i < nout; i++) dout[i] = (float)(i % 11) * 0.1f - 0.5f;
        for (size_t i = 0; i < nw; i++) W[i] = (float)(i % 7) * 0.01f - 0.03f;
        double t[4] = {1e9, 1e9, 1e9, 1e9};
        int relu = L->act == VAE_ACT_RELU, K = L->kernel, s = L->stride, p = L->pad;
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            if (tr) convt2d_forward(out, col, in, W, b, B, L->ic, L->ih, L->iw, L->c, K, s, p, L->h, L->w, relu, VAE_PREC_FP32);
            else conv2d_forward(out, col, in, W, b, B, L->ic, L->ih, L->iw, L->c, K, s, p, L->h, L->w, relu, VAE_PREC_FP32);
            double t1 = now_s();
            int ok = vae_dnnl_conv_forward(&cache, l, L, B, out, in, W, b, VAE_PREC_FP32) == 0;
            double t2 = now_s();
            if (tr) convt2d_backward(din, dW, db, col, dout, in, W, B, L->ic, L->ih, L->iw, L->c, K, s, p, L->h, L->w, VAE_PREC_FP32);
            else conv2d_backward(din, dW, db, col, dout, in, W, B, L->ic, L->ih, L->iw, L->c, K, s, p, L->h, L->w, VAE_PREC_FP32);
            double t3 = now_s();
            ok &= vae_dnnl_conv_backward(&cache, l, L, B, din, 0, dW, db, dout, in, W, VAE_PREC_FP32) == 0;
            double t4 = now_s();
            double d[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
            if (!ok) d[1] = d[3] = 1e9;
            for (int k = 0; k < 4; k++)
                if (r > 0 && d[k] < t[k]) t[k] = d[k];
        }
        char shape[64];
        snprintf(shape, sizeof shape, "%s %dx%dx%d->%dx%dx%d k%d", tr ? "convT" : "conv", L->ic, L->ih, L->iw, L->c,
                 L->h, L->w, K);
        printf("%-14s %-26s %9.3f %9.3f %9.3f %9.3f\n", L->name, shape, t[0] * 1e3, t[1] * 1e3, t[2] * 1e3,
               t[3] * 1e3);
        free(in), free(din), free(out), free(dout), free(W), free(dW), free(b), free(db), free(col);
    }
    vae_dnnl_free(cache);
    return 0;
}
