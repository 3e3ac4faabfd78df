/* Every layer kind through the registry (vae_layer_ops), on odd sizes
 * (non-square planes, batch 1, channel counts 3 and 5): the forward pass
 * against a naive double-precision reference written here from the kind's
 * definition (PyTorch's Conv2d / ConvTranspose2d formulas, direct loops, no
 * im2col), and the backward pass against central finite differences of
 * J = sum(G * out) through that reference, for every input and parameter
 * element. Input gradients must ACCUMULATE: they start at 0.5 and the 0.5 is
 * taken off before comparing. A kind that stores a fresh input gradient
 * (VaeLayerOps.fresh_din) runs its backward again with din_fresh set on
 * inputs holding NaN, which must be overwritten with the same gradient
 * (the parameter gradients still accumulate). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/layers.h"
#include "vae/rng.h"

#define FD_H 1e-6
#define MAXN 4096

typedef struct {
    VaeLayer L;
    int B;
    size_t in_n[2], out_n, p_n[2];
    int n_p;
    double in[2][MAXN], p[2][MAXN], G[MAXN];
} Case;

static Rng rng;

static size_t plane(int c, int h, int w) { return (size_t)c * h * w; }

/* spatial index (C, B, H, W) */
static size_t sp(int c, int b, int y, int x, int B, int H, int W) {
    return (((size_t)c * B + b) * H + y) * W + x;
}

static void ref_forward(const Case *cs, double *out) {
    const VaeLayer *L = &cs->L;
    int B = cs->B;
    const double *in = cs->in[0], *W = cs->p[0], *bias = cs->p[1];
    switch (L->kind) {
    case LAYER_LINEAR:
        for (int b = 0; b < B; b++)
            for (int o = 0; o < L->c; o++) {
                double s = bias[o];
                for (int i = 0; i < L->ic; i++) s += W[(size_t)o * L->ic + i] * in[(size_t)b * L->ic + i];
                out[(size_t)b * L->c + o] = s;
            }
        break;
    case LAYER_CONV2D:
        for (int oc = 0; oc < L->c; oc++)
            for (int b = 0; b < B; b++)
                for (int y = 0; y < L->h; y++)
                    for (int x = 0; x < L->w; x++) {
                        double s = bias[oc];
                        for (int ic = 0; ic < L->ic; ic++)
                            for (int ki = 0; ki < L->kernel; ki++)
                                for (int kj = 0; kj < L->kernel; kj++) {
                                    int iy = y * L->stride - L->pad + ki, ix = x * L->stride - L->pad + kj;
                                    if (iy < 0 || iy >= L->ih || ix < 0 || ix >= L->iw) continue;
                                    s += W[((size_t)(oc * L->ic + ic) * L->kernel + ki) * L->kernel + kj] *
                                         in[sp(ic, b, iy, ix, B, L->ih, L->iw)];
                                }
                        out[sp(oc, b, y, x, B, L->h, L->w)] = s;
                    }
        break;
    case LAYER_CONVT2D:
        /* out[oc][oy][ox] = bias + sum over inputs that land there:
           oy = iy*s - p + ki, ox = ix*s - p + kj; weight (IC, OC, k, k) */
        for (size_t i = 0; i < cs->out_n; i++) out[i] = 0;
        for (int oc = 0; oc < L->c; oc++)
            for (int b = 0; b < B; b++)
                for (int y = 0; y < L->h; y++)
                    for (int x = 0; x < L->w; x++) out[sp(oc, b, y, x, B, L->h, L->w)] = bias[oc];
        for (int ic = 0; ic < L->ic; ic++)
            for (int b = 0; b < B; b++)
                for (int iy = 0; iy < L->ih; iy++)
                    for (int ix = 0; ix < L->iw; ix++)
                        for (int oc = 0; oc < L->c; oc++)
                            for (int ki = 0; ki < L->kernel; ki++)
                                for (int kj = 0; kj < L->kernel; kj++) {
                                    int y = iy * L->stride - L->pad + ki, x = ix * L->stride - L->pad + kj;
                                    if (y < 0 || y >= L->h || x < 0 || x >= L->w) continue;
                                    out[sp(oc, b, y, x, B, L->h, L->w)] +=
                                        W[((size_t)(ic * L->c + oc) * L->kernel + ki) * L->kernel + kj] *
                                        in[sp(ic, b, iy, ix, B, L->ih, L->iw)];
                                }
        break;
    case LAYER_RELU:
        for (size_t i = 0; i < cs->out_n; i++) out[i] = in[i] > 0 ? in[i] : 0;
        break;
    case LAYER_FLATTEN: /* (C, B, H, W) -> (B, C*H*W) */
        for (int c = 0; c < L->ic; c++)
            for (int b = 0; b < B; b++)
                for (int y = 0; y < L->ih; y++)
                    for (int x = 0; x < L->iw; x++)
                        out[(size_t)b * L->c + ((size_t)c * L->ih + y) * L->iw + x] = in[sp(c, b, y, x, B, L->ih, L->iw)];
        break;
    case LAYER_UNFLATTEN: /* (B, C*H*W) -> (C, B, H, W) */
        for (int c = 0; c < L->c; c++)
            for (int b = 0; b < B; b++)
                for (int y = 0; y < L->h; y++)
                    for (int x = 0; x < L->w; x++)
                        out[sp(c, b, y, x, B, L->h, L->w)] = in[(size_t)b * L->ic + ((size_t)c * L->h + y) * L->w + x];
        break;
    case LAYER_ADD:
        for (size_t i = 0; i < cs->out_n; i++) out[i] = in[i] + cs->in[1][i];
        break;
    case LAYER_CONCAT: {
        int F0 = L->ic, F1 = L->c - L->ic;
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < F0; i++) out[(size_t)b * L->c + i] = in[(size_t)b * F0 + i];
            for (int i = 0; i < F1; i++) out[(size_t)b * L->c + F0 + i] = cs->in[1][(size_t)b * F1 + i];
        }
        break;
    }
    default:
        fprintf(stderr, "reference: kind %d not covered\n", (int)L->kind);
        exit(1);
    }
    if (L->act == VAE_ACT_RELU)
        for (size_t i = 0; i < cs->out_n; i++) out[i] = out[i] > 0 ? out[i] : 0;
}

static double objective(const Case *cs) {
    static double out[MAXN];
    ref_forward(cs, out);
    double J = 0;
    for (size_t i = 0; i < cs->out_n; i++) J += cs->G[i] * out[i];
    return J;
}

static void fd(Case *cs, double *v, size_t n, double *grad) {
    for (size_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + FD_H;
        double up = objective(cs);
        v[i] = keep - FD_H;
        double dn = objective(cs);
        v[i] = keep;
        grad[i] = (up - dn) / (2 * FD_H);
    }
}

static void fill(double *v, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * rng_uniform(&rng);
}

static void to_f(float *f, const double *d, size_t n) {
    for (size_t i = 0; i < n; i++) f[i] = (float)d[i];
}

/* din (the layer's input gradients) and g (its parameter gradients) against
 * central differences; want, wf: scratch of MAXN. The notes go into the
 * messages: how din was written, and what the parameters' check ran beside. */
static void check_grads(Case *cs, const char *tag, float *const *din, float *const *g, double *want, float *wf,
                        const char *din_note, const char *p_note) {
    char what[200];
    for (int k = 0; k < cs->L.n_in; k++) {
        fd(cs, cs->in[k], cs->in_n[k], want);
        to_f(wf, want, cs->in_n[k]);
        snprintf(what, sizeof what, "%s: gradient of input %d (%s)", tag, k, din_note);
        check_close(what, din[k], wf, cs->in_n[k], 2e-5, 1e-4);
    }
    for (int k = 0; k < cs->n_p; k++) {
        fd(cs, cs->p[k], cs->p_n[k], want);
        to_f(wf, want, cs->p_n[k]);
        snprintf(what, sizeof what, "%s: gradient of %s%s", tag, k == 0 ? "weight" : "bias", p_note);
        check_close(what, g[k], wf, cs->p_n[k], 2e-5, 1e-4);
    }
}

/* fills the sizes from the layer and runs forward + backward + the checks */
static void run(const char *tag, Case *cs) {
    const VaeLayer *L = &cs->L;
    const VaeLayerOps *ops = &vae_layer_ops[L->kind];
    int B = cs->B;
    cs->out_n = (size_t)B * plane(L->c, L->h, L->w);
    if (cs->in_n[0] == 0) cs->in_n[0] = (size_t)B * plane(L->ic, L->ih, L->iw);
    if (cs->out_n > MAXN || cs->in_n[0] > MAXN || cs->in_n[1] > MAXN || cs->p_n[0] > MAXN) {
        CHECK_MSG(0, "%s: case too large for the test buffers", tag);
        return;
    }
    for (int k = 0; k < L->n_in; k++) fill(cs->in[k], cs->in_n[k], -1, 1);
    for (int k = 0; k < cs->n_p; k++) fill(cs->p[k], cs->p_n[k], -0.5, 0.5);
    fill(cs->G, cs->out_n, -1, 1);

    float *in[2] = {NULL, NULL}, *din[2] = {NULL, NULL}, *p[2] = {NULL, NULL}, *g[2] = {NULL, NULL};
    float *out = malloc(cs->out_n * sizeof *out), *dout = malloc(cs->out_n * sizeof *dout), *ref_out_f = NULL;
    size_t scratch_n = ops->scratch_floats ? ops->scratch_floats(L, B) : 1;
    float *scratch = malloc(scratch_n * sizeof *scratch);
    double *ref_out = malloc(cs->out_n * sizeof *ref_out), *want = malloc(MAXN * sizeof *want);
    ref_out_f = malloc(cs->out_n * sizeof *ref_out_f);
    int ok = out && dout && scratch && ref_out && want && ref_out_f;
    for (int k = 0; k < L->n_in && ok; k++) {
        ok = (in[k] = malloc(cs->in_n[k] * sizeof(float))) && (din[k] = malloc(cs->in_n[k] * sizeof(float)));
        if (ok) to_f(in[k], cs->in[k], cs->in_n[k]);
    }
    for (int k = 0; k < cs->n_p && ok; k++) {
        ok = (p[k] = malloc(cs->p_n[k] * sizeof(float))) && (g[k] = calloc(cs->p_n[k], sizeof(float)));
        if (ok) to_f(p[k], cs->p[k], cs->p_n[k]);
    }
    if (!CHECK_MSG(ok, "%s: out of memory", tag)) goto done;
    /* the reference runs on the float-rounded values the layer sees */
    for (int k = 0; k < L->n_in; k++)
        for (size_t i = 0; i < cs->in_n[k]; i++) cs->in[k][i] = in[k][i];
    for (int k = 0; k < cs->n_p; k++)
        for (size_t i = 0; i < cs->p_n[k]; i++) cs->p[k][i] = p[k][i];

    VaeLayerRun r;
    memset(&r, 0, sizeof r);
    r.L = L;
    r.B = B;
    for (int k = 0; k < L->n_in; k++) r.in[k] = in[k], r.din[k] = din[k];
    for (int k = 0; k < cs->n_p; k++) r.p[k] = p[k], r.g[k] = g[k];
    r.out = out;
    r.dout = dout;
    r.scratch = scratch;
    ops->forward(&r);
    ref_forward(cs, ref_out);
    to_f(ref_out_f, ref_out, cs->out_n);
    char what[160];
    snprintf(what, sizeof what, "%s: forward", tag);
    check_close(what, out, ref_out_f, cs->out_n, 1e-5, 1e-5);

    to_f(dout, cs->G, cs->out_n);
    for (int k = 0; k < L->n_in; k++)
        for (size_t i = 0; i < cs->in_n[k]; i++) din[k][i] = 0.5f;
    ops->backward(&r);
    float *wf = malloc(MAXN * sizeof *wf);
    if (!CHECK(wf != NULL)) goto done;
    for (int k = 0; k < L->n_in; k++)
        for (size_t i = 0; i < cs->in_n[k]; i++) din[k][i] -= 0.5f;
    check_grads(cs, tag, din, g, want, wf, "accumulated", "");
    if (ops->fresh_din) {
        /* dout again (a fused activation's backward masks it in place) */
        to_f(dout, cs->G, cs->out_n);
        for (int k = 0; k < L->n_in; k++) {
            for (size_t i = 0; i < cs->in_n[k]; i++) din[k][i] = NAN;
            r.din_fresh[k] = 1;
        }
        for (int k = 0; k < cs->n_p; k++) memset(g[k], 0, cs->p_n[k] * sizeof(float));
        ops->backward(&r);
        check_grads(cs, tag, din, g, want, wf, "stored into NaN", " (input gradient stored)");
        r.din_fresh[0] = r.din_fresh[1] = 0;
    }
    free(wf);
done:
    for (int k = 0; k < 2; k++) {
        free(in[k]);
        free(din[k]);
        free(p[k]);
        free(g[k]);
    }
    free(out);
    free(dout);
    free(scratch);
    free(ref_out);
    free(ref_out_f);
    free(want);
}

static Case *new_case(VaeLayerKind kind, int B) {
    Case *cs = calloc(1, sizeof *cs);
    if (!cs) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    cs->L.kind = kind;
    cs->L.n_in = 1;
    cs->B = B;
    return cs;
}

static void conv_case(VaeLayerKind kind, int B, int IC, int H, int W, int OC, int k, int s, int p, VaeAct act) {
    Case *cs = new_case(kind, B);
    VaeLayer *L = &cs->L;
    L->ic = IC, L->ih = H, L->iw = W, L->c = OC, L->kernel = k, L->stride = s, L->pad = p, L->act = act;
    L->spatial = 1;
    if (kind == LAYER_CONV2D) {
        L->h = (H + 2 * p - k) / s + 1;
        L->w = (W + 2 * p - k) / s + 1;
    } else {
        L->h = (H - 1) * s - 2 * p + k;
        L->w = (W - 1) * s - 2 * p + k;
    }
    cs->n_p = 2;
    cs->p_n[0] = (size_t)IC * OC * k * k;
    cs->p_n[1] = (size_t)OC;
    char tag[128];
    snprintf(tag, sizeof tag, "%s B=%d %dx%dx%d -> %dx%dx%d k%d s%d p%d %s", vae_layer_ops[kind].name, B, IC, H, W,
             OC, L->h, L->w, k, s, p, vae_act_name(act));
    run(tag, cs);
    free(cs);
}

int main(void) {
    rng_seed(&rng, 20261122);
    /* the geometries on non-square planes, batch 1 and 3, 3 and 5 channels */
    conv_case(LAYER_CONV2D, 1, 3, 6, 10, 5, 4, 2, 1, VAE_ACT_RELU);
    conv_case(LAYER_CONV2D, 3, 1, 4, 8, 3, 4, 2, 1, VAE_ACT_NONE);
    conv_case(LAYER_CONV2D, 2, 5, 5, 7, 3, 3, 1, 1, VAE_ACT_RELU);
    conv_case(LAYER_CONV2D, 3, 3, 3, 5, 3, 3, 1, 1, VAE_ACT_NONE);
    conv_case(LAYER_CONVT2D, 1, 5, 3, 5, 3, 4, 2, 1, VAE_ACT_RELU);
    conv_case(LAYER_CONVT2D, 3, 3, 2, 4, 1, 4, 2, 1, VAE_ACT_NONE);
    conv_case(LAYER_CONVT2D, 2, 3, 4, 3, 5, 3, 1, 1, VAE_ACT_NONE);

    Case *cs = new_case(LAYER_LINEAR, 3);
    cs->L.ic = 7, cs->L.ih = cs->L.iw = 1, cs->L.c = 5, cs->L.h = cs->L.w = 1, cs->L.act = VAE_ACT_RELU;
    cs->n_p = 2, cs->p_n[0] = 35, cs->p_n[1] = 5;
    run("linear B=3 7 -> 5 relu", cs);
    free(cs);

    cs = new_case(LAYER_RELU, 3);
    cs->L.ic = cs->L.c = 3, cs->L.ih = cs->L.h = 2, cs->L.iw = cs->L.w = 5, cs->L.spatial = 1;
    run("relu B=3 3x2x5", cs);
    free(cs);

    cs = new_case(LAYER_FLATTEN, 3);
    cs->L.ic = 3, cs->L.ih = 2, cs->L.iw = 5, cs->L.c = 30, cs->L.h = cs->L.w = 1;
    run("flatten B=3 3x2x5 -> 30", cs);
    free(cs);

    cs = new_case(LAYER_UNFLATTEN, 1);
    cs->L.ic = 30, cs->L.ih = cs->L.iw = 1, cs->L.c = 5, cs->L.h = 3, cs->L.w = 2, cs->L.spatial = 1;
    run("unflatten B=1 30 -> 5x3x2", cs);
    free(cs);

    cs = new_case(LAYER_ADD, 2);
    cs->L.n_in = 2;
    cs->L.ic = cs->L.c = 5, cs->L.ih = cs->L.h = 3, cs->L.iw = cs->L.w = 2, cs->L.spatial = 1;
    cs->in_n[1] = 2 * 30;
    run("add B=2 5x3x2", cs);
    free(cs);

    cs = new_case(LAYER_CONCAT, 3);
    cs->L.n_in = 2;
    cs->L.ic = 4, cs->L.ih = cs->L.iw = 1, cs->L.c = 7, cs->L.h = cs->L.w = 1;
    cs->in_n[1] = 3 * 3;
    run("concat B=3 4 + 3 -> 7", cs);
    free(cs);
    return check_done("test_layers_gradcheck");
}
