/* The Barnes-Hut gradient against the exact one for the same P: with theta 0
 * the quadtree visits every point and the two agree to rounding (duplicate
 * map points included); with theta 0.5 the far field is approximated, so they
 * differ, but by a few percent of the gradient's size at most. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "vae/rng.h"
#include "vae/tsne.h"

#define N 400
#define DIM 6

static double rel_err(const double *a, const double *b, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

int main(void) {
    static float x[N * DIM], dense[N * N];
    static double y[N * 2], g_exact[N * 2], g_bh[N * 2], g_bh3[N * 2];
    Rng r;
    rng_seed(&r, 21);
    rng_normal(&r, x, N * DIM);
    float yf[N * 2];
    rng_normal(&r, yf, N * 2);
    /* a map with structure at several scales: four blobs of different
       spreads, and points 10..14 exactly on top of point 3 */
    for (int i = 0; i < N; i++) {
        double s = 1.0 + (i % 4) * 3.0;
        y[2 * i] = s * yf[2 * i] + 20.0 * (i % 4);
        y[2 * i + 1] = s * yf[2 * i + 1] - 10.0 * (i % 2);
    }
    for (int i = 10; i < 15; i++) y[2 * i] = y[6], y[2 * i + 1] = y[7];

    TsneSparse p;
    VaeError err = {{0}};
    CHECK_MSG(tsne_sparse_affinities(x, N, DIM, 10, 2, &p, &err) == VAE_OK, "affinities: %s", err.msg);
    for (size_t s = 0; s < (size_t)N * N; s++) dense[s] = 0;
    for (int i = 0; i < N; i++)
        for (size_t e = p.row[i]; e < p.row[i + 1]; e++) dense[(size_t)i * N + p.col[e]] = (float)p.val[e];
    /* compare with P rounded to float in both, so only the method differs */
    for (int i = 0; i < N; i++)
        for (size_t e = p.row[i]; e < p.row[i + 1]; e++) p.val[e] = (double)(float)p.val[e];

    const double exags[2] = {1.0, 12.0};
    for (int t = 0; t < 2; t++) {
        tsne_gradient_exact(dense, y, N, exags[t], 2, g_exact);
        CHECK_MSG(tsne_gradient_bh(&p, y, N, exags[t], 0.0, 1, g_bh, &err) == VAE_OK, "bh: %s", err.msg);
        double scale = 0;
        for (int i = 0; i < 2 * N; i++) scale = fmax(scale, fabs(g_exact[i]));
        char what[64];
        snprintf(what, sizeof what, "theta 0 vs exact, exaggeration %g", exags[t]);
        check_close_d(what, g_bh, g_exact, 2 * N, 1e-9 * scale, 1e-9);

        CHECK(tsne_gradient_bh(&p, y, N, exags[t], 0.5, 1, g_bh, &err) == VAE_OK);
        CHECK(tsne_gradient_bh(&p, y, N, exags[t], 0.5, 3, g_bh3, &err) == VAE_OK);
        double e = rel_err(g_bh, g_exact, 2 * N);
        printf("exaggeration %g: theta 0.5 relative error %.4g\n", exags[t], e);
        CHECK_MSG(e < 0.03, "theta 0.5: relative error %.4g", e);
        CHECK_MSG(e > 1e-7, "theta 0.5 gave the exact gradient (%.3g): nothing was approximated", e);
        int same = 1;
        for (int i = 0; i < 2 * N; i++) same &= g_bh[i] == g_bh3[i];
        CHECK_MSG(same, "theta 0.5: 1 and 3 threads differ");
    }
    tsne_sparse_free(&p);
    return check_done("test_tsne_bh_gradient");
}
