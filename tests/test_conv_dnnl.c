/* The oneDNN convolution path (vae/conv_dnnl.h) against the im2col + sgemm
 * path (vae/nn.h, itself checked against finite differences and PyTorch):
 * forward with and without the fused ReLU, and the accumulated input,
 * weight and bias gradients, for conv2d and conv_transpose2d on odd shapes
 * (non-square images, batch 1, channel counts that are not multiples of 8,
 * the 4x4 stride-2 and 3x3 pad-1 kernels of the conv and resnet models), at
 * three batch sizes on one cache (the primitives are remade when B changes);
 * layers with a narrow image side are left to im2col (vae_dnnl_conv_narrow),
 * except a conv2d's one-channel input in fp32 (the MNIST models' first
 * layer), which oneDNN reads in place and which is checked like the rest.
 * Where bf16 runs (vae/gemm.h), the same cases in bf16 on the same cache
 * (remade for the precision): oneDNN's bf16 convolutions against the im2col
 * path with bf16 GEMMs. Both round the same inputs to bf16, whose products
 * are exact in fp32, so they differ only by the order of the fp32 sums and
 * meet the fp32 tolerances; and the bf16 forward must differ from the fp32
 * one by more than those (the primitives really read bf16).
 * Skipped (77) in a build without oneDNN. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/conv_dnnl.h"
#include "vae/nn.h"
#include "vae/rng.h"

typedef struct {
    const char *name;
    VaeLayerKind kind;
    int ic, ih, iw, c, k, s, p;
    VaeAct act;
} Case;

static void fill(Rng *r, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(rng_uniform(r) * 2.0 - 1.0);
}

static float *dup(const float *x, size_t n) {
    float *y = malloc(n * sizeof *y);
    if (y) memcpy(y, x, n * sizeof *y);
    return y;
}

/* one case at batch B; returns 0 when the oneDNN path took the layer */
static int run_case(const Case *cs, int B, VaeDnnl **cache, int index, Rng *rng, VaePrecision prec) {
    VaeLayer L = {0};
    L.kind = cs->kind;
    L.ic = cs->ic, L.ih = cs->ih, L.iw = cs->iw, L.c = cs->c;
    L.kernel = cs->k, L.stride = cs->s, L.pad = cs->p, L.act = cs->act;
    int tr = cs->kind == LAYER_CONVT2D;
    L.h = tr ? (cs->ih - 1) * cs->s - 2 * cs->p + cs->k : (cs->ih + 2 * cs->p - cs->k) / cs->s + 1;
    L.w = tr ? (cs->iw - 1) * cs->s - 2 * cs->p + cs->k : (cs->iw + 2 * cs->p - cs->k) / cs->s + 1;
    L.spatial = 1;
    size_t nin = (size_t)B * L.ic * L.ih * L.iw, nout = (size_t)B * L.c * L.h * L.w;
    size_t nw = (size_t)L.ic * L.c * cs->k * cs->k, nb = (size_t)L.c;
    size_t ncol = tr ? (size_t)L.c * cs->k * cs->k * B * L.ih * L.iw : (size_t)L.ic * cs->k * cs->k * B * L.h * L.w;
    float *in = malloc(nin * sizeof *in), *W = malloc(nw * sizeof *W), *b = malloc(nb * sizeof *b);
    float *out_ref = malloc(nout * sizeof(float)), *out = malloc(nout * sizeof(float));
    float *dout = malloc(nout * sizeof(float)), *col = malloc(ncol * sizeof(float));
    float *din0 = malloc(nin * sizeof(float)), *dW0 = malloc(nw * sizeof(float)), *db0 = malloc(nb * sizeof(float));
    if (!in || !W || !b || !out_ref || !out || !dout || !col || !din0 || !dW0 || !db0) {
        CHECK_MSG(0, "%s: out of memory", cs->name);
        return -1;
    }
    fill(rng, in, nin);
    fill(rng, W, nw);
    fill(rng, b, nb);
    fill(rng, dout, nout);
    /* the gradients start non-zero: both paths must add, not store */
    fill(rng, din0, nin);
    fill(rng, dW0, nw);
    fill(rng, db0, nb);
    int relu = cs->act == VAE_ACT_RELU;

    /* oneDNN first: which precision each pass runs in decides its reference
       (bf16 layers may run a pass in fp32, vae_dnnl_conv_pass_precision) */
    int rc = vae_dnnl_conv_forward(cache, index, &L, B, out, in, W, b, prec);
    CHECK_MSG(rc == 0, "%s, B %d: oneDNN took the layer (rc %d)", cs->name, B, rc);
    VaePrecision pp[3] = {prec, prec, prec};
    for (int k = 0; k < 3 && rc == 0; k++) {
        int q = vae_dnnl_conv_pass_precision(cache, index, k);
        CHECK_MSG(q == VAE_PREC_FP32 || q == (int)prec, "%s, B %d: pass %d runs in fp32 or the layer's precision (%d)",
                  cs->name, B, k, q);
        if (q >= 0) pp[k] = (VaePrecision)q;
    }
    if (prec == VAE_PREC_BF16)
        printf("%s B %d: bf16 layer, passes in %s / %s / %s\n", cs->name, B, vae_precision_name(pp[0]),
               vae_precision_name(pp[1]), vae_precision_name(pp[2]));

    /* reference: im2col with each pass's precision */
    if (tr) convt2d_forward(out_ref, col, in, W, b, B, L.ic, L.ih, L.iw, L.c, cs->k, cs->s, cs->p, L.h, L.w, relu, pp[0]);
    else conv2d_forward(out_ref, col, in, W, b, B, L.ic, L.ih, L.iw, L.c, cs->k, cs->s, cs->p, L.h, L.w, relu, pp[0]);
    float *dref = dup(dout, nout);
    if (relu) relu_backward(dref, out_ref, nout);
    float *din_ref = dup(din0, nin), *dW_ref = dup(dW0, nw), *db_ref = dup(db0, nb);
    float *din_x = dup(din0, nin), *dW_x = dup(dW0, nw), *db_x = dup(db0, nb);
    if (!CHECK(dref && din_ref && dW_ref && db_ref && din_x && dW_x && db_x)) return -1;
    /* the input gradient in pp[1], the weight and bias gradients in pp[2] */
    if (tr) {
        convt2d_backward(din_ref, dW_x, db_x, col, dref, in, W, B, L.ic, L.ih, L.iw, L.c, cs->k, cs->s, cs->p, L.h, L.w, pp[1]);
        convt2d_backward(din_x, dW_ref, db_ref, col, dref, in, W, B, L.ic, L.ih, L.iw, L.c, cs->k, cs->s, cs->p, L.h, L.w, pp[2]);
    } else {
        conv2d_backward(din_ref, dW_x, db_x, col, dref, in, W, B, L.ic, L.ih, L.iw, L.c, cs->k, cs->s, cs->p, L.h, L.w, pp[1]);
        conv2d_backward(din_x, dW_ref, db_ref, col, dref, in, W, B, L.ic, L.ih, L.iw, L.c, cs->k, cs->s, cs->p, L.h, L.w, pp[2]);
    }
    free(din_x), free(dW_x), free(db_x);

    if (rc == 0) {
        char what[128];
        snprintf(what, sizeof what, "%s %s B %d forward", cs->name, vae_precision_name(prec), B);
        check_close(what, out, out_ref, nout, 1e-5, 1e-4);
        if (pp[0] == VAE_PREC_BF16) {
            /* and it is bf16: off the fp32 forward by more than fp32 rounding */
            float *out32 = malloc(nout * sizeof *out32);
            if (CHECK(out32 != NULL)) {
                if (tr) convt2d_forward(out32, col, in, W, b, B, L.ic, L.ih, L.iw, L.c, cs->k, cs->s, cs->p, L.h, L.w, relu, VAE_PREC_FP32);
                else conv2d_forward(out32, col, in, W, b, B, L.ic, L.ih, L.iw, L.c, cs->k, cs->s, cs->p, L.h, L.w, relu, VAE_PREC_FP32);
                double worst = 0;
                for (size_t i = 0; i < nout; i++) worst = fmax(worst, fabs((double)out[i] - out32[i]));
                CHECK_MSG(worst > 1e-4, "%s bf16 B %d: forward within %.3g of fp32: not bf16?", cs->name, B, worst);
                free(out32);
            }
        }
        float *dgot = dup(dout, nout);
        if (relu) relu_backward(dgot, out, nout);
        float *din = dup(din0, nin), *dW = dup(dW0, nw), *db = dup(db0, nb);
        rc = vae_dnnl_conv_backward(cache, index, &L, B, din, 0, dW, db, dgot, in, W, prec);
        CHECK_MSG(rc == 0, "%s, B %d: oneDNN backward ran (rc %d)", cs->name, B, rc);
        snprintf(what, sizeof what, "%s %s B %d input gradient", cs->name, vae_precision_name(prec), B);
        check_close(what, din, din_ref, nin, 1e-5, 1e-4);
        snprintf(what, sizeof what, "%s %s B %d weight gradient", cs->name, vae_precision_name(prec), B);
        check_close(what, dW, dW_ref, nw, 1e-4, 1e-4);
        snprintf(what, sizeof what, "%s %s B %d bias gradient", cs->name, vae_precision_name(prec), B);
        check_close(what, db, db_ref, nb, 1e-4, 1e-4);
        /* without an input gradient the weight gradients still accumulate */
        memcpy(dW, dW0, nw * sizeof *dW);
        memcpy(db, db0, nb * sizeof *db);
        rc = vae_dnnl_conv_backward(cache, index, &L, B, NULL, 0, dW, db, dgot, in, W, prec);
        snprintf(what, sizeof what, "%s B %d weight gradient (no din)", cs->name, B);
        CHECK(rc == 0);
        check_close(what, dW, dW_ref, nw, 1e-4, 1e-4);
        /* a stored input gradient (din_store): the old contents, NaN here,
           are never read; the result is the gradient alone (din_ref less
           din0), while the weight gradients still accumulate */
        for (size_t i = 0; i < nin; i++) din[i] = NAN, din_ref[i] -= din0[i];
        memcpy(dW, dW0, nw * sizeof *dW);
        memcpy(db, db0, nb * sizeof *db);
        rc = vae_dnnl_conv_backward(cache, index, &L, B, din, 1, dW, db, dgot, in, W, prec);
        CHECK(rc == 0);
        snprintf(what, sizeof what, "%s %s B %d input gradient, stored", cs->name, vae_precision_name(prec), B);
        check_close(what, din, din_ref, nin, 1e-5, 1e-4);
        snprintf(what, sizeof what, "%s %s B %d weight gradient, input gradient stored", cs->name,
                 vae_precision_name(prec), B);
        check_close(what, dW, dW_ref, nw, 1e-4, 1e-4);
        free(dgot), free(din), free(dW), free(db);
    }
    free(in), free(W), free(b), free(out_ref), free(out), free(dout), free(col);
    free(din0), free(dW0), free(db0), free(dref), free(din_ref), free(dW_ref), free(db_ref);
    return rc;
}

int main(void) {
    if (!vae_dnnl_available()) return check_skip("test_conv_dnnl", "this build has no oneDNN (-DVAE_DNNL)");
    static const Case cases[] = {
        {"conv 4x4 s2, 32->64, 14x14", LAYER_CONV2D, 32, 14, 14, 64, 4, 2, 1, VAE_ACT_RELU},
        {"conv 3x3 p1, 32->32, 14x14 (resnet)", LAYER_CONV2D, 32, 14, 14, 32, 3, 1, 1, VAE_ACT_RELU},
        {"conv 3x3 p1, 20->24, 6x10, no act", LAYER_CONV2D, 20, 6, 10, 24, 3, 1, 1, VAE_ACT_NONE},
        {"conv 4x4 s2, 17->7, 8x12", LAYER_CONV2D, 17, 8, 12, 7, 4, 2, 1, VAE_ACT_RELU},
        {"convT 4x4 s2, 64->32, 7x7", LAYER_CONVT2D, 64, 7, 7, 32, 4, 2, 1, VAE_ACT_RELU},
        {"convT 4x4 s2, 5->24, 4x6", LAYER_CONVT2D, 5, 4, 6, 24, 4, 2, 1, VAE_ACT_RELU},
        {"convT 4x4 s2, 40->18, 3x5, no act", LAYER_CONVT2D, 40, 3, 5, 18, 4, 2, 1, VAE_ACT_NONE},
        /* one-channel inputs (fp32 only) */
        {"conv 4x4 s2, 1->32, 28x28 (first layer)", LAYER_CONV2D, 1, 28, 28, 32, 4, 2, 1, VAE_ACT_RELU},
        {"conv 3x3 p1, 1->5, 7x9, no act", LAYER_CONV2D, 1, 7, 9, 5, 3, 1, 1, VAE_ACT_NONE},
    };
    /* other narrow image sides stay on im2col */
    static const Case narrow[] = {
        {"convT 4x4 s2, 32->1, 14x14 (last layer)", LAYER_CONVT2D, 32, 14, 14, 1, 4, 2, 1, VAE_ACT_NONE},
        {"conv 4x4 s2, 3->32, 28x28", LAYER_CONV2D, 3, 28, 28, 32, 4, 2, 1, VAE_ACT_RELU},
        {"conv 3x3 p1, 15->32, 6x6", LAYER_CONV2D, 15, 6, 6, 32, 3, 1, 1, VAE_ACT_NONE},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    Rng rng;
    rng_seed(&rng, 7);
    VaeDnnl *cache = NULL;
    static const int batches[] = {1, 5, 3};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++) run_case(&cases[i], batches[j], &cache, i, &rng, VAE_PREC_FP32);
    char why[200];
    if (vae_bf16_available(why, sizeof why)) {
        /* (bf16 keeps one-channel sides on im2col: checked below) */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < 3; j++)
                if (!(cases[i].kind == LAYER_CONV2D && cases[i].ic == 1))
                    run_case(&cases[i], batches[j], &cache, i, &rng, VAE_PREC_BF16);
    } else {
        printf("bf16 cases not run: %s\n", why);
    }
    for (int i = 0; i < 3; i++) {
        VaeLayer L = {0};
        L.kind = narrow[i].kind, L.ic = narrow[i].ic, L.ih = narrow[i].ih, L.iw = narrow[i].iw, L.c = narrow[i].c;
        L.kernel = narrow[i].k, L.stride = narrow[i].s, L.pad = narrow[i].p;
        L.h = L.kind == LAYER_CONVT2D ? (L.ih - 1) * L.stride - 2 * L.pad + L.kernel : (L.ih + 2 * L.pad - L.kernel) / L.stride + 1;
        L.w = L.kind == LAYER_CONVT2D ? (L.iw - 1) * L.stride - 2 * L.pad + L.kernel : (L.iw + 2 * L.pad - L.kernel) / L.stride + 1;
        size_t nin = (size_t)2 * L.ic * L.ih * L.iw, nout = (size_t)2 * L.c * L.h * L.w;
        size_t nw = (size_t)L.ic * L.c * L.kernel * L.kernel;
        float *x = calloc(nin, sizeof(float)), *w = calloc(nw, sizeof(float)), *bb = calloc((size_t)L.c, sizeof(float));
        float *y = malloc(nout * sizeof(float));
        CHECK_MSG(vae_dnnl_conv_narrow(&L, VAE_PREC_FP32) == 1, "%s: narrow", narrow[i].name);
        CHECK_MSG(x && w && bb && y && vae_dnnl_conv_forward(&cache, n + i, &L, 2, y, x, w, bb, VAE_PREC_FP32) == -1,
                  "%s: left to im2col", narrow[i].name);
        free(x), free(w), free(bb), free(y);
    }
    for (int i = 0; i < n; i++) {
        VaeLayer L = {0};
        L.kind = cases[i].kind, L.ic = cases[i].ic, L.c = cases[i].c;
        CHECK_MSG(vae_dnnl_conv_narrow(&L, VAE_PREC_FP32) == 0, "%s: not narrow", cases[i].name);
        int one = L.kind == LAYER_CONV2D && L.ic == 1;
        CHECK_MSG(vae_dnnl_conv_narrow(&L, VAE_PREC_BF16) == one, "%s: narrow in bf16 exactly when one-channel",
                  cases[i].name);
    }
    vae_dnnl_free(cache);

    /* VAE_CONV=im2col turns the path off for a new cache */
    setenv("VAE_CONV", "im2col", 1);
    VaeDnnl *off = NULL;
    VaeLayer L = {0};
    L.kind = LAYER_CONV2D, L.ic = 16, L.ih = L.iw = 4, L.c = 2, L.h = L.w = 2, L.kernel = 4, L.stride = 2, L.pad = 1;
    static float x[256], w[512], bb[2], y[8];
    CHECK(vae_dnnl_conv_forward(&off, 0, &L, 1, y, x, w, bb, VAE_PREC_FP32) == -1);
    vae_dnnl_free(off);
    unsetenv("VAE_CONV");
    return check_done("test_conv_dnnl");
}
