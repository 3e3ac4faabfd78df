/* The entropic autoencoder's latent layer: batch normalisation without
 * learnable scale or shift, z = (h - mean) / sqrt(var + BN_EPS), and the
 * Kozachenko-Leonenko k-nearest-neighbour entropy estimate of the batch of
 * codes, whose negative (times lambda) joins the loss:
 *   H(z) ~ (d/n) sum_i log eps_k(i) + log V_d + psi(n) - psi(k)
 * eps_k(i) = distance from z_i to its k-th nearest neighbour in the batch,
 * V_d = pi^(d/2) / Gamma(d/2 + 1) the volume of the unit d-ball.
 * Among distributions with mean 0 and variance 1 per coordinate the standard
 * normal has the largest entropy, so maximising H under the normalisation
 * pushes the codes toward N(0, I).
 * The neighbour choice is piecewise constant, so the gradient flows through
 * the distances only. Running mean/var (the layer's two tensors, PyTorch's
 * BatchNorm1d(affine=False) buffers) are used outside training. */
#include <math.h>
#include <string.h>

#include "vae/entropy.h"
#include "vae/layers.h"

void vae_latent_bn_fwd(VaeLayerRun *r);
void vae_latent_bn_bwd(VaeLayerRun *r);
size_t vae_latent_bn_scratch(const VaeLayer *L, int B);

#define BN_EPS 1e-5f

/* batch mean and 1/sqrt(biased var + eps) of column j of h (B, Z) */
static void column_stats(const float *h, int B, int Z, int j, double *mean, double *var) {
    double s = 0;
    for (int b = 0; b < B; b++) s += h[(size_t)b * Z + j];
    double mu = s / B, v = 0;
    for (int b = 0; b < B; b++) {
        double d = h[(size_t)b * Z + j] - mu;
        v += d * d;
    }
    *mean = mu;
    *var = v / B;
}

/* ---- forward: in h (B, Z) -> out z (B, Z); r->kl = -H * B ---- */
void vae_latent_bn_fwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    const int B = r->B, Z = L->c;
    const float *h = r->in[0];
    float *z = r->out;
    if (r->training) {
        float *rmean = r->state[0], *rvar = r->state[1];
        const float m = L->momentum;
        for (int j = 0; j < Z; j++) {
            double mu, var;
            column_stats(h, B, Z, j, &mu, &var);
            float inv = (float)(1.0 / sqrt(var + BN_EPS));
            for (int b = 0; b < B; b++) z[(size_t)b * Z + j] = (float)(h[(size_t)b * Z + j] - mu) * inv;
            /* PyTorch keeps the unbiased variance as its running estimate */
            double unbiased = B > 1 ? var * B / (B - 1) : var;
            rmean[j] = (1.0f - m) * rmean[j] + m * (float)mu;
            rvar[j] = (1.0f - m) * rvar[j] + m * (float)unbiased;
        }
    } else {
        const float *rmean = r->p[0], *rvar = r->p[1];
        for (int j = 0; j < Z; j++) {
            float inv = 1.0f / sqrtf(rvar[j] + BN_EPS);
            for (int b = 0; b < B; b++) z[(size_t)b * Z + j] = (h[(size_t)b * Z + j] - rmean[j]) * inv;
        }
    }
    r->kl = B > L->knn ? -knn_entropy(z, B, Z, L->knn, NULL, 0.0f, r->scratch) * B : 0.0;
}

/* ---- backward: dout (B, Z) (+ the entropy term's gradient) -> din (B, Z) += ---- */
void vae_latent_bn_bwd(VaeLayerRun *r) {
    const VaeLayer *L = r->L;
    const int B = r->B, Z = L->c;
    const float *z = r->out, *h = r->in[0];
    float *dz = r->dout;
    /* objective term kl_scale * (-H * B): d/dz = -kl_scale * B * dH/dz */
    if (B > L->knn) knn_entropy(z, B, Z, L->knn, dz, -r->kl_scale * (float)B, r->scratch);
    if (!r->din[0]) return;
    if (!r->training) {
        const float *rvar = r->p[1];
        for (int j = 0; j < Z; j++) {
            float inv = 1.0f / sqrtf(rvar[j] + BN_EPS);
            for (int b = 0; b < B; b++) r->din[0][(size_t)b * Z + j] += dz[(size_t)b * Z + j] * inv;
        }
        return;
    }
    /* dh = inv/B * (B dz - sum(dz) - zhat * sum(dz * zhat)), per column */
    for (int j = 0; j < Z; j++) {
        double mu, var, s = 0, sz = 0;
        column_stats(h, B, Z, j, &mu, &var);
        double inv = 1.0 / sqrt(var + BN_EPS);
        for (int b = 0; b < B; b++) {
            double g = dz[(size_t)b * Z + j];
            s += g;
            sz += g * z[(size_t)b * Z + j];
        }
        for (int b = 0; b < B; b++) {
            double g = dz[(size_t)b * Z + j];
            r->din[0][(size_t)b * Z + j] += (float)(inv / B * (B * g - s - z[(size_t)b * Z + j] * sz));
        }
    }
}

size_t vae_latent_bn_scratch(const VaeLayer *L, int B) { return knn_entropy_scratch_floats(B); }
