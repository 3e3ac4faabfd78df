/* Whole-model gradient check: every element of every parameter tensor of
 * small mlp, conv and resnet VAEs (non-square images, odd channel counts),
 * for both losses, with sampled eps held fixed and with z = mu, and with
 * loss weights alpha/beta != 1. The reference is a double-precision
 * interpreter written here that reads the model's layer list as JSON
 * (vae_layout_json, the same dump the PyTorch twin reads) and runs each
 * image on its own in PyTorch's (C, H, W) order with direct loops: it shares
 * neither the topology code nor the kernels (im2col, GEMM, the (C, B, H, W)
 * layout) with the code under test. Its central finite differences are
 * compared with vae_backward's gradients.
 * Where bf16 GEMMs run (vae/gemm.h) the mlp, conv and resnet cases run again
 * with the model in bf16, against the same double reference at the bf16
 * tolerances below; elsewhere that part says why it did not run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "check.h"
#include "vae/rng.h"
#include "vae/vae.h"

#define FD_H 1e-6
/* bf16 GEMM inputs (8 significant bits: a relative error of up to 2^-8 per
 * input, independent from term to term; tests/test_gemm_bf16.c) through a
 * chain of a few GEMMs: gradients within BF16_REL of their tensor's largest
 * element (plus the same relative term), losses and outputs within BF16_REL
 * relative / absolute. The largest error measured over these cases lies
 * between 0.5% and 1% of the scale (0.005 fails five gradients, 0.01 none):
 * a margin of two, while a wrong factor or a GEMM on the wrong operand is
 * off by far more. */
#define BF16_REL 0.02
#define NB 3
#define MAXL 64

/* ---- the double reference, driven by the JSON layer list ---- */
typedef struct {
    char kind[24];
    int in[2], n_in;
    int ishape[3], oshape[3];      /* (C, H, W); flat F is (F, 1, 1) */
    int relu, k, s, p;
    long w_off, b_off;             /* parameter offsets, -1 if none */
} RLayer;

typedef struct {
    int n, gaussian, Z, D;
    RLayer l[MAXL];
    int bce;
    double alpha, beta;
    const double *P;               /* (n_params) double copy of the parameters */
    const double *x, *eps;         /* (NB, D), (NB, Z) or NULL for z = mu */
    double recon, kl;              /* batch sums of the last evaluation */
    double *mu, *xhat;             /* (NB, Z), (NB, D) of the last evaluation */
} Ref;

static int shape_of(const cJSON *a, int *s) {
    int n = cJSON_GetArraySize(a);
    s[0] = s[1] = s[2] = 1;
    if (n < 1 || n > 3) return -1;
    for (int i = 0; i < n; i++) s[i] = (int)cJSON_GetArrayItem(a, i)->valuedouble;
    return 0;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static int ref_load(Ref *r, const char *json) {
    cJSON *root = cJSON_Parse(json);
    if (!root) return -1;
    const cJSON *layers = get(root, "layers"), *L, *cfg = get(root, "config");
    r->n = 0;
    r->gaussian = (int)get(root, "gaussian")->valuedouble;
    r->Z = (int)get(cfg, "zdim")->valuedouble;
    r->D = (int)(get(cfg, "rows")->valuedouble * get(cfg, "cols")->valuedouble);
    r->bce = strcmp(get(cfg, "loss")->valuestring, "bce") == 0;
    r->alpha = get(cfg, "alpha")->valuedouble;
    r->beta = get(cfg, "beta")->valuedouble;
    int bad = 0;
    cJSON_ArrayForEach(L, layers) {
        if (r->n == MAXL) bad = 1;
        if (bad) break;
        RLayer *l = &r->l[r->n++];
        memset(l, 0, sizeof *l);
        snprintf(l->kind, sizeof l->kind, "%s", get(L, "kind")->valuestring);
        const cJSON *ins = get(L, "inputs");
        l->n_in = cJSON_GetArraySize(ins);
        for (int i = 0; i < l->n_in && i < 2; i++) l->in[i] = (int)cJSON_GetArrayItem(ins, i)->valuedouble;
        bad |= shape_of(get(L, "in_shape"), l->ishape) | shape_of(get(L, "out_shape"), l->oshape);
        /* act: 0 none, 1 ReLU, 2 tanh */
        l->relu = !strcmp(get(L, "act")->valuestring, "relu") ? 1 : !strcmp(get(L, "act")->valuestring, "tanh") ? 2 : 0;
        if (get(L, "kernel")) {
            l->k = (int)get(L, "kernel")->valuedouble;
            l->s = (int)get(L, "stride")->valuedouble;
            l->p = (int)get(L, "padding")->valuedouble;
        }
        const cJSON *params = get(L, "params");
        l->w_off = l->b_off = -1;
        if (cJSON_GetArraySize(params) == 2) {
            l->w_off = (long)get(cJSON_GetArrayItem(params, 0), "offset")->valuedouble;
            l->b_off = (long)get(cJSON_GetArrayItem(params, 1), "offset")->valuedouble;
        }
    }
    cJSON_Delete(root);
    return bad ? -1 : 0;
}

static int numel(const int *s) { return s[0] * s[1] * s[2]; }

/* one image: act[i] holds layer i's output in (C, H, W) order */
static void ref_layer(const Ref *r, const RLayer *l, const double *a, const double *b2, double *o, const double *eps,
                      double *kl, double *mu) {
    const double *W = l->w_off >= 0 ? r->P + l->w_off : NULL, *bias = l->b_off >= 0 ? r->P + l->b_off : NULL;
    int IC = l->ishape[0], IH = l->ishape[1], IW = l->ishape[2], OC = l->oshape[0], OH = l->oshape[1],
        OW = l->oshape[2], n = numel(l->oshape);
    if (!strcmp(l->kind, "linear")) {
        int F = numel(l->ishape);
        for (int j = 0; j < OC; j++) {
            double s = bias[j];
            for (int i = 0; i < F; i++) s += W[(size_t)j * F + i] * a[i];
            o[j] = s;
        }
    } else if (!strcmp(l->kind, "conv2d")) {
        for (int oc = 0; oc < OC; oc++)
            for (int y = 0; y < OH; y++)
                for (int x = 0; x < OW; x++) {
                    double s = bias[oc];
                    for (int ic = 0; ic < IC; ic++)
                        for (int ki = 0; ki < l->k; ki++)
                            for (int kj = 0; kj < l->k; kj++) {
                                int iy = y * l->s - l->p + ki, ix = x * l->s - l->p + kj;
                                if (iy >= 0 && iy < IH && ix >= 0 && ix < IW)
                                    s += W[((oc * IC + ic) * l->k + ki) * l->k + kj] * a[(ic * IH + iy) * IW + ix];
                            }
                    o[(oc * OH + y) * OW + x] = s;
                }
    } else if (!strcmp(l->kind, "conv_transpose2d")) {
        for (int oc = 0; oc < OC; oc++)
            for (int i = 0; i < OH * OW; i++) o[oc * OH * OW + i] = bias[oc];
        for (int ic = 0; ic < IC; ic++)
            for (int iy = 0; iy < IH; iy++)
                for (int ix = 0; ix < IW; ix++)
                    for (int oc = 0; oc < OC; oc++)
                        for (int ki = 0; ki < l->k; ki++)
                            for (int kj = 0; kj < l->k; kj++) {
                                int y = iy * l->s - l->p + ki, x = ix * l->s - l->p + kj;
                                if (y >= 0 && y < OH && x >= 0 && x < OW)
                                    o[(oc * OH + y) * OW + x] +=
                                        W[((ic * OC + oc) * l->k + ki) * l->k + kj] * a[(ic * IH + iy) * IW + ix];
                            }
    } else if (!strcmp(l->kind, "relu")) {
        for (int i = 0; i < n; i++) o[i] = a[i] > 0 ? a[i] : 0;
    } else if (!strcmp(l->kind, "flatten") || !strcmp(l->kind, "unflatten")) {
        memcpy(o, a, (size_t)n * sizeof *o);    /* (C, H, W) order is the flat order */
    } else if (!strcmp(l->kind, "add")) {
        for (int i = 0; i < n; i++) o[i] = a[i] + b2[i];
    } else if (!strcmp(l->kind, "gaussian")) {
        int Z = OC;
        double k = 0;
        for (int j = 0; j < Z; j++) {
            double m = a[j], lv = a[Z + j];
            o[j] = eps ? m + eps[j] * exp(0.5 * lv) : m;
            k += 0.5 * (exp(lv) + m * m - 1 - lv);
            mu[j] = m;
        }
        *kl = k;
    } else {
        fprintf(stderr, "reference: unknown kind %s\n", l->kind);
        exit(1);
    }
    if (l->relu == 1)
        for (int i = 0; i < n; i++) o[i] = o[i] > 0 ? o[i] : 0;
    if (l->relu == 2)
        for (int i = 0; i < n; i++) o[i] = tanh(o[i]);
}

/* batch mean of alpha * R + beta * KL */
static double ref_objective(void *p) {
    Ref *r = p;
    static double act[MAXL][4096];
    double total = 0;
    r->recon = r->kl = 0;
    for (int b = 0; b < NB; b++) {
        const double *x = r->x + (size_t)b * r->D;
        double kl = 0;
        for (int i = 0; i < r->n; i++) {
            const RLayer *l = &r->l[i];
            const double *a = l->in[0] < 0 ? x : act[l->in[0]];
            const double *b2 = l->n_in > 1 ? act[l->in[1]] : NULL;
            ref_layer(r, l, a, b2, act[i], r->eps ? r->eps + (size_t)b * r->Z : NULL, &kl, r->mu + (size_t)b * r->Z);
        }
        const double *logits = act[r->n - 1];
        double rec = 0;
        for (int i = 0; i < r->D; i++) {
            double s = 1 / (1 + exp(-logits[i])), t = x[i];
            r->xhat[(size_t)b * r->D + i] = s;
            rec += r->bce ? -t * log(s) - (1 - t) * log(1 - s) : (s - t) * (s - t);
        }
        r->recon += rec;
        r->kl += kl;
        total += r->alpha * rec + r->beta * kl;
    }
    return total / NB;
}

/* parameters (PyTorch's init), images and eps of a case from its seed */
static void setup_case(Vae *m, VaeActs *a, uint64_t seed) {
    const int D = m->in_dim, ZD = m->cfg.zdim;
    Rng rng;
    rng_seed(&rng, seed);
    vae_init_params(m, &rng);
    /* with layers this narrow, PyTorch's init leaves many ReLUs dead;
     * a positive shift of the biases keeps most units (and gradients) alive */
    for (int t = 0; t < m->lay.n_tensors; t++)
        if (m->lay.tensors[t].ndim == 1)
            for (size_t i = 0; i < m->lay.tensors[t].size; i++) m->params[m->lay.tensors[t].offset + i] += 0.3f;
    /* inputs in [0, 1] with some exact 0s and 1s, as real images have */
    for (int i = 0; i < NB * D; i++) {
        double u = rng_uniform(&rng);
        a->x[i] = u < 0.15 ? 0.0f : u > 0.85 ? 1.0f : (float)rng_uniform(&rng);
    }
    rng_normal(&rng, a->eps, (size_t)NB * ZD);
}

static void run_case(const char *name, VaeConfig cfg, int use_eps, uint64_t seed, VaePrecision prec) {
    char tag[160];
    const int bf16 = prec == VAE_PREC_BF16;
    snprintf(tag, sizeof tag, "%s %s %s %s alpha=%g beta=%g", name, vae_precision_name(prec),
             cfg.loss == VAE_LOSS_MSE ? "mse" : "bce", use_eps ? "eps" : "z=mu", cfg.alpha, cfg.beta);
    Vae m;
    VaeActs a;
    VaeError err;
    if (!CHECK_MSG(vae_init(&m, &cfg, &err) == VAE_OK, "%s: vae_init: %s", tag, err.msg)) return;
    m.precision = prec;
    /* fp32: float rounding over a few small GEMMs; bf16: see BF16_REL */
    const double v_atol = bf16 ? BF16_REL : 1e-6, v_rtol = bf16 ? BF16_REL : 1e-5;
    if (!CHECK_MSG(vae_acts_init(&a, &m, NB, &err) == VAE_OK, "%s: acts: %s", tag, err.msg)) {
        vae_free(&m);
        return;
    }
    const int D = m.in_dim, ZD = cfg.zdim;
    if (!bf16) {
        setup_case(&m, &a, seed);
    } else {
        /* bf16 moves pre-activations by ~2^-8 of their scale: one that
           crosses a ReLU's kink switches a unit on or off, which no
           tolerance short of the gradient's own size covers (a finite
           difference across a kink fails in double too). Take the first
           seed whose ReLUs all keep their side in bf16. */
        int tries = 0;
        while (setup_case(&m, &a, seed), check_relu_flips(&m, &a, NB, use_eps) && ++tries < 20) seed += 1000;
        if (!CHECK_MSG(tries < 20, "%s: every seed tried puts a ReLU within bf16 rounding of its kink", tag)) {
            vae_acts_free(&a);
            vae_free(&m);
            return;
        }
        if (tries) printf("%s: seed %llu (%d seed(s) before it had a ReLU within bf16 rounding of 0)\n", tag,
                          (unsigned long long)seed, tries);
    }

    size_t n = m.n_params;
    Ref *r = calloc(1, sizeof *r);

    char *json = vae_layout_json(&m.cfg, &m.lay);
    double *P = malloc(n * sizeof *P), *fd = malloc(n * sizeof *fd), *an = malloc(n * sizeof *an);
    double *xd = malloc((size_t)NB * D * sizeof *xd), *ed = malloc((size_t)NB * ZD * sizeof *ed);
    double *xh = malloc((size_t)NB * D * sizeof *xh), *mud = malloc((size_t)NB * ZD * sizeof *mud);
    float *mu = malloc((size_t)NB * ZD * sizeof *mu);
    if (!CHECK_MSG(r && json && P && fd && an && xd && ed && xh && mud && mu, "%s: out of memory", tag)) goto done;
    r->mu = malloc((size_t)NB * ZD * sizeof *r->mu);
    r->xhat = malloc((size_t)NB * D * sizeof *r->xhat);
    if (!CHECK(r->mu && r->xhat) || !CHECK_MSG(ref_load(r, json) == 0, "%s: layer JSON not understood", tag)) goto done;
    for (size_t i = 0; i < n; i++) P[i] = m.params[i];
    for (int i = 0; i < NB * D; i++) xd[i] = a.x[i];
    for (int i = 0; i < NB * ZD; i++) ed[i] = a.eps[i];
    r->P = P;
    r->x = xd;
    r->eps = use_eps ? ed : NULL;

    /* forward: loss terms against the double reference */
    VaeLoss L;
    vae_zero_grad(&m);
    vae_forward(&m, &a, NB, use_eps, 1, &L);
    double obj = ref_objective(r);
    double got[3] = {L.recon, L.kl, L.loss / NB}, want[3] = {r->recon, r->kl, obj};
    char what[512];   /* tag and tensor name, with room to spare for -Wformat-truncation */
    snprintf(what, sizeof what, "%s: recon, kl, objective vs double forward", tag);
    check_close_d(what, got, want, 3, v_atol, v_rtol);
    for (int i = 0; i < NB * D; i++) xh[i] = a.xhat[i];
    snprintf(what, sizeof what, "%s: xhat", tag);
    check_close_d(what, xh, r->xhat, (size_t)NB * D, v_atol, v_rtol);

    /* backward against central differences of the double objective */
    vae_backward(&m, &a, NB);
    for (size_t i = 0; i < n; i++) {
        double keep = P[i];
        P[i] = keep + FD_H;
        double up = ref_objective(r);
        P[i] = keep - FD_H;
        double down = ref_objective(r);
        P[i] = keep;
        fd[i] = (up - down) / (2 * FD_H);
    }
    /* per tensor, so a failure names the tensor. Float gradients through a few
     * small GEMMs carry ~1e-6 relative error; FD in double ~1e-9. */
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += fabs(fd[i]) > 1e-8;
    for (int t = 0; t < m.lay.n_tensors; t++) {
        const VaeTensor *T = &m.lay.tensors[t];
        size_t live = 0;
        for (size_t i = 0; i < T->size; i++) {
            an[i] = m.grads[T->offset + i];
            live += fabs(fd[T->offset + i]) > 1e-8;
        }
        snprintf(what, sizeof what, "%s: grad %s", tag, T->name);
        double scale = 0;
        for (size_t i = 0; i < T->size; i++) scale = fmax(scale, fabs(fd[T->offset + i]));
        check_close_d(what, an, fd + T->offset, T->size, bf16 ? BF16_REL * scale : 1e-5, bf16 ? BF16_REL : 1e-4);
        CHECK_MSG(live > 0, "%s: every gradient of %s is zero", tag, T->name);
    }
    /* most gradients must be nonzero, or the comparison above says little
     * (with 3 and 5 channels on 8x4 images, padding-only taps and dead ReLUs
     * leave about a third of a conv model's gradients at exactly 0) */
    CHECK_MSG(nonzero > n / 2, "%s: only %zu of %zu gradients nonzero", tag, nonzero, n);

    /* a second forward/backward accumulates: grads become twice the FD */
    vae_forward(&m, &a, NB, use_eps, 1, &L);
    vae_backward(&m, &a, NB);
    for (size_t i = 0; i < n; i++) {
        an[i] = m.grads[i];
        fd[i] *= 2;
    }
    snprintf(what, sizeof what, "%s: accumulated grads", tag);
    double gscale = 0;
    for (size_t i = 0; i < n; i++) gscale = fmax(gscale, fabs(fd[i]));
    check_close_d(what, an, fd, n, bf16 ? BF16_REL * gscale : 2e-5, bf16 ? BF16_REL : 1e-4);

    /* encode_mean and decode agree with the reference's mu and decoder */
    vae_encode_mean(&m, &a, NB, mu);
    for (int i = 0; i < NB * ZD; i++) mud[i] = mu[i];
    r->eps = NULL;
    ref_objective(r); /* z = mu: r->xhat becomes decode(mu) */
    snprintf(what, sizeof what, "%s: encode_mean", tag);
    check_close_d(what, mud, r->mu, (size_t)NB * ZD, v_atol, v_rtol);
    vae_decode(&m, &a, mu, NB);
    for (int i = 0; i < NB * D; i++) xh[i] = a.xhat[i];
    snprintf(what, sizeof what, "%s: decode(mu)", tag);
    check_close_d(what, xh, r->xhat, (size_t)NB * D, v_atol, v_rtol);

done:
    if (r) {
        free(r->mu);
        free(r->xhat);
    }
    free(r);
    free(json);
    free(P);
    free(fd);
    free(an);
    free(xd);
    free(ed);
    free(xh);
    free(mud);
    free(mu);
    vae_acts_free(&a);
    vae_free(&m);
}

int main(void) {
    VaeConfig mlp = {.rows = 5, .cols = 4, .zdim = 3, .n_hidden = 2, .hidden = {6, 5}};
    VaeConfig conv = {.rows = 8, .cols = 4, .zdim = 2, .arch = VAE_ARCH_CONV, .n_hidden = 1, .hidden = {6},
                      .n_channels = 2, .channels = {3, 5}};
    VaeConfig resnet = {.rows = 4, .cols = 8, .zdim = 3, .arch = VAE_ARCH_RESNET, .n_hidden = 2, .hidden = {7, 5},
                        .n_channels = 2, .channels = {5, 3}};
    const struct {
        VaeLossKind loss;
        int use_eps;
        float alpha, beta;
    } runs[] = {{VAE_LOSS_BCE, 1, 0.7f, 2.5f}, {VAE_LOSS_BCE, 0, 0.7f, 2.5f}, {VAE_LOSS_MSE, 1, 0.7f, 2.5f},
                {VAE_LOSS_MSE, 0, 0.7f, 2.5f}, {VAE_LOSS_BCE, 1, 1.0f, 1.0f}, {VAE_LOSS_MSE, 1, 1.0f, 0.0f}};
    for (int i = 0; i < 6; i++) {
        VaeConfig *c[3] = {&mlp, &conv, &resnet};
        const char *names[3] = {"mlp 5x4", "conv 8x4", "resnet 4x8"};
        for (int k = 0; k < 3; k++) {
            /* conv and resnet: the first four settings cover every path */
            if (k > 0 && i >= 4) continue;
            VaeConfig cfg = *c[k];
            cfg.loss = runs[i].loss;
            cfg.alpha = runs[i].alpha;
            cfg.beta = runs[i].beta;
            run_case(names[k], cfg, runs[i].use_eps, 11 + (uint64_t)i + 100 * (uint64_t)k, VAE_PREC_FP32);
        }
    }
    /* tanh hidden layers (Burda et al.'s MLP) */
    VaeConfig t1 = mlp, t2 = mlp;
    t1.hidden_act = t2.hidden_act = VAE_ACT_TANH;
    t1.loss = VAE_LOSS_BCE, t1.alpha = 1.0f, t1.beta = 1.0f;
    t2.loss = VAE_LOSS_MSE, t2.alpha = 0.7f, t2.beta = 2.5f;
    run_case("mlp tanh", t1, 1, 17, VAE_PREC_FP32);
    run_case("mlp tanh", t2, 0, 18, VAE_PREC_FP32);
    char why[200];
    if (vae_bf16_available(why, sizeof why)) {
        VaeConfig *c[3] = {&mlp, &conv, &resnet};
        const char *names[3] = {"mlp 5x4", "conv 8x4", "resnet 4x8"};
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 2; i++) {
                VaeConfig cfg = *c[k];
                cfg.loss = runs[i].loss;
                cfg.alpha = runs[i].alpha;
                cfg.beta = runs[i].beta;
                run_case(names[k], cfg, runs[i].use_eps, 11 + (uint64_t)i + 100 * (uint64_t)k, VAE_PREC_BF16);
            }
        run_case("mlp tanh", t1, 1, 17, VAE_PREC_BF16);
    } else {
        printf("bf16 cases not run: %s\n", why);
    }
    return check_done("test_vae_gradcheck");
}
