/* The input affinities of t-SNE: each row p_{.|i} is a distribution (sums to
 * 1, p_{i|i} = 0) whose perplexity 2^H (H in bits) matches the one asked for,
 * and it is Gaussian in the distance: nearer points never get less weight. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "vae/rng.h"
#include "vae/tsne.h"

#define N 200
#define DIM 5

int main(void) {
    static float x[N * DIM], p[N * N];
    Rng r;
    rng_seed(&r, 11);
    rng_normal(&r, x, N * DIM);
    /* spread the scale over points so widths differ a lot from row to row */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < DIM; k++) x[i * DIM + k] *= (float)(1 + i % 7) * 3.0f;
    const double perps[3] = {5, 30, 60};
    for (int t = 0; t < 3; t++) {
        VaeError err = {{0}};
        int rc = tsne_conditional_affinities(x, N, DIM, perps[t], 2, p, &err);
        CHECK_MSG(rc == VAE_OK, "affinities: %s", err.msg);
        double sums[N], ones[N], perp[N], want[N];
        int diag_ok = 1, monotone_bad = 0;
        for (int i = 0; i < N; i++) {
            double s = 0, h = 0;
            for (int j = 0; j < N; j++) {
                double v = p[(size_t)i * N + j];
                s += v;
                if (v > 0) h -= v * log2(v);
            }
            sums[i] = s;
            ones[i] = 1;
            perp[i] = pow(2.0, h);
            want[i] = perps[t];
            diag_ok &= p[(size_t)i * N + i] == 0.0f;
            /* Gaussian in distance: compare every pair of other points */
            for (int j = 0; j < N; j += 3)
                for (int k = 1; k < N; k += 5) {
                    if (j == i || k == i) continue;
                    double dj = 0, dk = 0;
                    for (int c = 0; c < DIM; c++) {
                        double a = x[i * DIM + c] - x[j * DIM + c], b = x[i * DIM + c] - x[k * DIM + c];
                        dj += a * a;
                        dk += b * b;
                    }
                    if (dj < dk * (1 - 1e-6) && p[(size_t)i * N + j] < p[(size_t)i * N + k]) monotone_bad++;
                }
        }
        char what[64];
        snprintf(what, sizeof what, "row sums, perplexity %g", perps[t]);
        check_close_d(what, sums, ones, N, 1e-5, 0);
        snprintf(what, sizeof what, "row perplexities, target %g", perps[t]);
        check_close_d(what, perp, want, N, 0, 1e-3);
        CHECK(diag_ok);
        CHECK_MSG(monotone_bad == 0, "%d pairs where a nearer point has a smaller affinity", monotone_bad);
    }
    return check_done("test_tsne_perplexity_calibration");
}
