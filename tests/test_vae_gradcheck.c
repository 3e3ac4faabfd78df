/* Whole-model gradient check: every element of every parameter tensor of a
 * small VAE, for both losses, with sampled eps held fixed and with z = mu,
 * and with loss weights alpha/beta != 1. The reference is a double-precision
 * re-implementation of the forward written here from the architecture in
 * vae.h (finding tensors by name; ReLU or tanh hidden layers), independent of the code under test; its
 * central finite differences are compared with vae_backward's gradients. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/rng.h"
#include "vae/vae.h"

#define ROWS 5
#define COLS 4
#define D (ROWS * COLS)
#define ZD 3
#define NB 4
#define FD_H 1e-6

/* ---- the double reference ---- */
typedef struct {
    const Vae *m;          /* only for the config and tensor offsets by name */
    double *P;             /* (n_params) double copy of the parameters */
    const double *x;       /* (NB, D) */
    const double *eps;     /* (NB, ZD) or NULL for z = mu */
    double recon, kl;      /* batch sums of the last evaluation */
    double mu[NB * ZD];    /* encoder means of the last evaluation */
    double xhat[NB * D];
} Ref;

#define MAXW 64

/* y (out) = W x + b, W (out, in) found under name prefix */
/* act: 0 none, 1 ReLU, 2 tanh */
static void ref_linear(const Ref *r, const char *prefix, const double *in, int n_in, double *y, int n_out, int act) {
    char name[64];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const VaeTensor *tw = vae_find_tensor(r->m, name);
    snprintf(name, sizeof name, "%s.bias", prefix);
    const VaeTensor *tb = vae_find_tensor(r->m, name);
    if (!tw || !tb || tw->shape[0] != n_out || tw->shape[1] != n_in || tb->shape[0] != n_out) {
        fprintf(stderr, "reference: tensor %s missing or misshapen\n", prefix);
        exit(1);
    }
    const double *W = r->P + tw->offset, *b = r->P + tb->offset;
    for (int o = 0; o < n_out; o++) {
        double s = b[o];
        for (int i = 0; i < n_in; i++) s += W[(size_t)o * n_in + i] * in[i];
        y[o] = act == 2 ? tanh(s) : act == 1 && s < 0 ? 0 : s;
    }
}

/* batch mean of alpha * R + beta * KL */
static double ref_objective(void *p) {
    Ref *r = p;
    const VaeConfig *c = &r->m->cfg;
    int k = c->n_hidden, act = c->hidden_act == VAE_ACT_TANH ? 2 : 1;
    double total = 0;
    r->recon = r->kl = 0;
    for (int b = 0; b < NB; b++) {
        double h[MAXW], h2[MAXW], head[2 * ZD], z[ZD];
        char prefix[16];
        const double *in = r->x + b * D;
        int n_in = D;
        for (int i = 0; i < k; i++) {
            snprintf(prefix, sizeof prefix, "enc.%d", i);
            ref_linear(r, prefix, in, n_in, i % 2 ? h2 : h, c->hidden[i], act);
            in = i % 2 ? h2 : h;
            n_in = c->hidden[i];
        }
        ref_linear(r, "head", in, n_in, head, 2 * ZD, 0);
        double kl = 0;
        for (int j = 0; j < ZD; j++) {
            double mu = head[j], lv = head[ZD + j];
            z[j] = r->eps ? mu + r->eps[b * ZD + j] * exp(0.5 * lv) : mu;
            kl += 0.5 * (exp(lv) + mu * mu - 1 - lv);
            r->mu[b * ZD + j] = mu;
        }
        in = z;
        n_in = ZD;
        for (int i = 0; i < k; i++) {
            snprintf(prefix, sizeof prefix, "dec.%d", i);
            int n_out = c->hidden[k - 1 - i];
            ref_linear(r, prefix, in, n_in, i % 2 ? h2 : h, n_out, act);
            in = i % 2 ? h2 : h;
            n_in = n_out;
        }
        double logits[D];
        snprintf(prefix, sizeof prefix, "dec.%d", k);
        ref_linear(r, prefix, in, n_in, logits, D, 0);
        double rec = 0;
        for (int i = 0; i < D; i++) {
            double s = 1 / (1 + exp(-logits[i])), x = r->x[b * D + i];
            r->xhat[b * D + i] = s;
            rec += c->loss == VAE_LOSS_MSE ? (s - x) * (s - x) : -x * log(s) - (1 - x) * log(1 - s);
        }
        r->recon += rec;
        r->kl += kl;
        total += c->alpha * rec + c->beta * kl;
    }
    return total / NB;
}

static void run_case_act(VaeLossKind loss, int use_eps, float alpha, float beta, uint64_t seed, VaeAct act) {
    char tag[96];
    snprintf(tag, sizeof tag, "%s %s alpha=%g beta=%g%s", loss == VAE_LOSS_MSE ? "mse" : "bce",
             use_eps ? "eps" : "z=mu", alpha, beta, act == VAE_ACT_TANH ? " tanh" : "");
    VaeConfig cfg = {.rows = ROWS, .cols = COLS, .zdim = ZD, .n_hidden = 2, .hidden = {6, 5},
                     .loss = loss, .alpha = alpha, .beta = beta, .hidden_act = act};
    Vae m;
    VaeActs a;
    VaeError err;
    if (!CHECK_MSG(vae_init(&m, &cfg, &err) == VAE_OK, "%s: vae_init: %s", tag, err.msg)) return;
    if (!CHECK_MSG(vae_acts_init(&a, &m, NB, &err) == VAE_OK, "%s: acts: %s", tag, err.msg)) {
        vae_free(&m);
        return;
    }
    Rng rng;
    rng_seed(&rng, seed);
    vae_init_params(&m, &rng);
    /* with hidden layers this narrow, PyTorch's init leaves many ReLUs dead;
     * a positive shift of the biases keeps most units (and gradients) alive */
    for (int t = 0; t < m.lay.n_tensors; t++)
        if (m.lay.tensors[t].ndim == 1)
            for (size_t i = 0; i < m.lay.tensors[t].size; i++) m.params[m.lay.tensors[t].offset + i] += 0.3f;
    /* inputs in [0, 1] with some exact 0s and 1s, as real images have */
    for (int i = 0; i < NB * D; i++) {
        double u = rng_uniform(&rng);
        a.x[i] = u < 0.15 ? 0.0f : u > 0.85 ? 1.0f : (float)rng_uniform(&rng);
    }
    rng_normal(&rng, a.eps, NB * ZD);

    size_t n = m.n_params;
    double *P = malloc(n * sizeof *P), *fd = malloc(n * sizeof *fd), *an = malloc(n * sizeof *an);
    double xd[NB * D], ed[NB * ZD];
    if (!P || !fd || !an) {
        CHECK_MSG(0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) P[i] = m.params[i];
    for (int i = 0; i < NB * D; i++) xd[i] = a.x[i];
    for (int i = 0; i < NB * ZD; i++) ed[i] = a.eps[i];
    Ref r = {.m = &m, .P = P, .x = xd, .eps = use_eps ? ed : NULL};

    /* forward: loss terms against the double reference */
    VaeLoss L;
    vae_zero_grad(&m);
    vae_forward(&m, &a, NB, use_eps, 1, &L);
    double obj = ref_objective(&r);
    double got[3] = {L.recon, L.kl, L.loss / NB}, want[3] = {r.recon, r.kl, obj};
    char what[160];
    snprintf(what, sizeof what, "%s: recon, kl, objective vs double forward", tag);
    check_close_d(what, got, want, 3, 1e-6, 1e-5);
    double xh[NB * D];
    for (int i = 0; i < NB * D; i++) xh[i] = a.xhat[i];
    snprintf(what, sizeof what, "%s: xhat", tag);
    check_close_d(what, xh, r.xhat, NB * D, 1e-6, 1e-5);

    /* backward against central differences of the double objective */
    vae_backward(&m, &a, NB);
    for (size_t i = 0; i < n; i++) {
        double keep = P[i];
        P[i] = keep + FD_H;
        double up = ref_objective(&r);
        P[i] = keep - FD_H;
        double down = ref_objective(&r);
        P[i] = keep;
        fd[i] = (up - down) / (2 * FD_H);
    }
    /* per tensor, so a failure names the tensor. Float gradients through a few
     * small GEMMs carry ~1e-6 relative error (measured: they pass at 1e-6 + 1e-5|ref|); FD in double ~1e-9. */
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero += fabs(fd[i]) > 1e-8;
    for (int t = 0; t < m.lay.n_tensors; t++) {
        const VaeTensor *T = &m.lay.tensors[t];
        for (size_t i = 0; i < T->size; i++) an[i] = m.grads[T->offset + i];
        snprintf(what, sizeof what, "%s: grad %s", tag, T->name);
        check_close_d(what, an, fd + T->offset, T->size, 1e-5, 1e-4);
    }
    /* most gradients must be nonzero, or the comparison above says little */
    CHECK_MSG(nonzero > (int)(n * 3 / 4), "%s: only %d of %zu gradients nonzero", tag, nonzero, n);

    /* a second forward/backward accumulates: grads become twice the FD */
    vae_forward(&m, &a, NB, use_eps, 1, &L);
    vae_backward(&m, &a, NB);
    for (size_t i = 0; i < n; i++) {
        an[i] = m.grads[i];
        fd[i] *= 2;
    }
    snprintf(what, sizeof what, "%s: accumulated grads", tag);
    check_close_d(what, an, fd, n, 2e-5, 1e-4);

    /* encode_mean and decode agree with the reference's mu and decoder */
    float mu[NB * ZD];
    vae_encode_mean(&m, &a, NB, mu);
    double mud[NB * ZD];
    for (int i = 0; i < NB * ZD; i++) mud[i] = mu[i];
    r.eps = NULL;
    ref_objective(&r); /* z = mu: r.xhat becomes decode(mu) */
    snprintf(what, sizeof what, "%s: encode_mean", tag);
    check_close_d(what, mud, r.mu, NB * ZD, 1e-6, 1e-5);
    vae_decode(&m, &a, mu, NB);
    for (int i = 0; i < NB * D; i++) xh[i] = a.xhat[i];
    snprintf(what, sizeof what, "%s: decode(mu)", tag);
    check_close_d(what, xh, r.xhat, NB * D, 1e-6, 1e-5);

done:
    free(P);
    free(fd);
    free(an);
    vae_acts_free(&a);
    vae_free(&m);
}

static void run_case(VaeLossKind loss, int use_eps, float alpha, float beta, uint64_t seed) {
    run_case_act(loss, use_eps, alpha, beta, seed, VAE_ACT_RELU);
}

int main(void) {
    /* tanh hidden layers (Burda et al.'s MLP) */
    run_case_act(VAE_LOSS_BCE, 1, 1.0f, 1.0f, 17, VAE_ACT_TANH);
    run_case_act(VAE_LOSS_MSE, 0, 0.7f, 2.5f, 18, VAE_ACT_TANH);
    run_case(VAE_LOSS_BCE, 1, 0.7f, 2.5f, 11);
    run_case(VAE_LOSS_BCE, 0, 0.7f, 2.5f, 12);
    run_case(VAE_LOSS_MSE, 1, 0.7f, 2.5f, 13);
    run_case(VAE_LOSS_MSE, 0, 0.7f, 2.5f, 14);
    run_case(VAE_LOSS_BCE, 1, 1.0f, 1.0f, 15);
    run_case(VAE_LOSS_MSE, 1, 1.0f, 0.0f, 16);
    return check_done("test_vae_gradcheck");
}
