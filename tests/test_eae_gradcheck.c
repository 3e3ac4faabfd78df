/* The entropic autoencoder's pieces against independent references: the
 * Kozachenko-Leonenko entropy estimate against a double-precision brute
 * force written here (full sort of the distances), its gradient and the
 * latent batch-norm layer's backward against central finite differences of
 * that reference, the constants against closed forms, and the running
 * statistics against PyTorch's update rule. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/entropy.h"
#include "vae/layers.h"
#include "vae/rng.h"

#define N 11
#define DZ 3
#define FD_H 1e-6
#define BN_EPS 1e-5

static Rng rng;

/* ---- double reference: sort every point's distances, take the k-th ---- */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double ref_entropy(const double *z, int n, int d, int k) {
    double s = 0, dist[64];
    for (int i = 0; i < n; i++) {
        int m = 0;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            double t = 0;
            for (int c = 0; c < d; c++) t += (z[i * d + c] - z[j * d + c]) * (z[i * d + c] - z[j * d + c]);
            dist[m++] = sqrt(t);
        }
        qsort(dist, (size_t)m, sizeof *dist, cmp_double);
        s += log(dist[k - 1]);
    }
    double psi_n = -0.57721566490153286061, psi_k = -0.57721566490153286061;
    for (int j = 1; j < n; j++) psi_n += 1.0 / j;
    for (int j = 1; j < k; j++) psi_k += 1.0 / j;
    double log_vd = 0.5 * d * log(3.14159265358979323846) - lgamma(0.5 * d + 1);
    return (double)d / n * s + log_vd + psi_n - psi_k;
}

/* batch norm (biased variance) of h (n, d) in double */
static void ref_bn(const double *h, int n, int d, double *z) {
    for (int c = 0; c < d; c++) {
        double mu = 0, var = 0;
        for (int i = 0; i < n; i++) mu += h[i * d + c];
        mu /= n;
        for (int i = 0; i < n; i++) var += (h[i * d + c] - mu) * (h[i * d + c] - mu);
        var /= n;
        for (int i = 0; i < n; i++) z[i * d + c] = (h[i * d + c] - mu) / sqrt(var + BN_EPS);
    }
}

static void test_constants(void) {
    double got[4] = {digamma_int(1), digamma_int(4), log_unit_ball_volume(2), log_unit_ball_volume(3)};
    double want[4] = {-0.57721566490153286061, -0.57721566490153286061 + 1 + 0.5 + 1.0 / 3,
                      log(3.14159265358979323846), log(4.0 / 3.0 * 3.14159265358979323846)};
    check_close_d("digamma and unit-ball volumes", got, want, 4, 1e-12, 1e-12);
}

static void test_entropy(int k) {
    float z[N * DZ], dz[N * DZ], scratch[4 * N];
    double zd[N * DZ], fd[N * DZ];
    for (int i = 0; i < N * DZ; i++) {
        z[i] = (float)(2.0 * rng_uniform(&rng) - 1.0);
        zd[i] = z[i];
        dz[i] = 0;
    }
    double want = ref_entropy(zd, N, DZ, k);
    double got = knn_entropy(z, N, DZ, k, dz, 1.0f, scratch);
    char what[96];
    snprintf(what, sizeof what, "entropy value, k=%d", k);
    check_close_d(what, &got, &want, 1, 1e-9, 1e-6);
    for (int i = 0; i < N * DZ; i++) {
        double keep = zd[i];
        zd[i] = keep + FD_H;
        double up = ref_entropy(zd, N, DZ, k);
        zd[i] = keep - FD_H;
        double dn = ref_entropy(zd, N, DZ, k);
        zd[i] = keep;
        fd[i] = (up - dn) / (2 * FD_H);
    }
    double g[N * DZ];
    for (int i = 0; i < N * DZ; i++) g[i] = dz[i];
    snprintf(what, sizeof what, "entropy gradient vs finite differences, k=%d", k);
    check_close_d(what, g, fd, N * DZ, 1e-5, 1e-4);
    /* the gradient is scaled and accumulated, not overwritten */
    float dz2[N * DZ];
    for (int i = 0; i < N * DZ; i++) dz2[i] = 1.0f;
    knn_entropy(z, N, DZ, k, dz2, -2.0f, scratch);
    float want2[N * DZ];
    for (int i = 0; i < N * DZ; i++) want2[i] = 1.0f - 2.0f * dz[i];
    snprintf(what, sizeof what, "entropy gradient scale and accumulate, k=%d", k);
    check_close(what, dz2, want2, N * DZ, 1e-6, 1e-5);
}

/* J(h) = sum w * z + c * (-H(z) * n), z = BN(h): the layer's objective with
 * the weight kl_scale = c, as vae_backward runs it */
static double ref_objective(const double *h, const double *w, double c, int k) {
    double z[N * DZ], s = 0;
    ref_bn(h, N, DZ, z);
    for (int i = 0; i < N * DZ; i++) s += w[i] * z[i];
    return s - c * ref_entropy(z, N, DZ, k) * N;
}

static void test_latent_bn(void) {
    const int k = 2;
    const double c = 0.3;
    VaeLayer L;
    memset(&L, 0, sizeof L);
    L.kind = LAYER_LATENT_BN;
    L.n_in = 1;
    L.ic = DZ, L.ih = 1, L.iw = 1;
    L.c = DZ, L.h = 1, L.w = 1;
    L.knn = k;
    L.momentum = 0.1f;
    float h[N * DZ], z[N * DZ], dz[N * DZ], dh[N * DZ], rmean[DZ], rvar[DZ];
    float scratch[4 * N];
    double hd[N * DZ], w[N * DZ], fd[N * DZ];
    for (int i = 0; i < N * DZ; i++) {
        h[i] = (float)(3.0 * rng_uniform(&rng) - 1.0);
        hd[i] = h[i];
        w[i] = 2.0 * rng_uniform(&rng) - 1.0;
        dz[i] = (float)w[i];
        dh[i] = 0;
    }
    for (int j = 0; j < DZ; j++) rmean[j] = 0.0f, rvar[j] = 1.0f;
    VaeLayerRun r;
    memset(&r, 0, sizeof r);
    r.L = &L;
    r.B = N;
    r.in[0] = h;
    r.din[0] = dh;
    r.out = z;
    r.dout = dz;
    r.p[0] = rmean, r.p[1] = rvar;
    r.state[0] = rmean, r.state[1] = rvar;
    r.scratch = scratch;
    r.training = 1;
    r.kl_scale = (float)c;
    vae_layer_ops[LAYER_LATENT_BN].forward(&r);

    double zref[N * DZ];
    ref_bn(hd, N, DZ, zref);
    float zf[N * DZ];
    for (int i = 0; i < N * DZ; i++) zf[i] = (float)zref[i];
    check_close("latent_bn forward (batch statistics)", z, zf, N * DZ, 1e-6, 1e-5);
    double reg = r.kl, want_reg = -ref_entropy(zref, N, DZ, k) * N;
    check_close_d("latent_bn regulariser = -H * batch", &reg, &want_reg, 1, 1e-6, 1e-6);

    /* running statistics: PyTorch's rule, unbiased variance */
    float want_m[DZ], want_v[DZ];
    for (int j = 0; j < DZ; j++) {
        double mu = 0, var = 0;
        for (int i = 0; i < N; i++) mu += hd[i * DZ + j];
        mu /= N;
        for (int i = 0; i < N; i++) var += (hd[i * DZ + j] - mu) * (hd[i * DZ + j] - mu);
        want_m[j] = (float)(0.1 * mu);
        want_v[j] = (float)(0.9 + 0.1 * var / (N - 1));
    }
    check_close("latent_bn running mean", rmean, want_m, DZ, 1e-7, 1e-6);
    check_close("latent_bn running var", rvar, want_v, DZ, 1e-7, 1e-6);

    vae_layer_ops[LAYER_LATENT_BN].backward(&r);
    for (int i = 0; i < N * DZ; i++) {
        double keep = hd[i];
        hd[i] = keep + FD_H;
        double up = ref_objective(hd, w, c, k);
        hd[i] = keep - FD_H;
        double dn = ref_objective(hd, w, c, k);
        hd[i] = keep;
        fd[i] = (up - dn) / (2 * FD_H);
    }
    double g[N * DZ];
    for (int i = 0; i < N * DZ; i++) g[i] = dh[i];
    check_close_d("latent_bn backward (with the entropy term) vs finite differences", g, fd, N * DZ, 2e-4, 2e-4);

    /* outside training: the running statistics, and no update */
    float before_m[DZ], before_v[DZ];
    memcpy(before_m, rmean, sizeof rmean);
    memcpy(before_v, rvar, sizeof rvar);
    r.training = 0;
    vae_layer_ops[LAYER_LATENT_BN].forward(&r);
    float want_z[N * DZ];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < DZ; j++)
            want_z[i * DZ + j] = (h[i * DZ + j] - rmean[j]) / sqrtf(rvar[j] + (float)BN_EPS);
    check_close("latent_bn forward (running statistics)", z, want_z, N * DZ, 1e-6, 1e-5);
    check_close("latent_bn: no update outside training (mean)", rmean, before_m, DZ, 0, 0);
    check_close("latent_bn: no update outside training (var)", rvar, before_v, DZ, 0, 0);
}

int main(void) {
    rng_seed(&rng, 2024);
    test_constants();
    test_entropy(1);
    test_entropy(3);
    test_latent_bn();
    return check_done("test_eae_gradcheck");
}
