/* t-SNE is reproducible: the same seed gives bit-identical maps whatever the
 * thread count, and another seed gives a different map. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "vae/rng.h"
#include "vae/tsne.h"

#define N 120
#define DIM 5

static int run(uint64_t seed, int threads, const float *x, double *y) {
    TsneConfig c;
    tsne_default_config(&c);
    c.perplexity = 10;
    c.iterations = 300;
    c.seed = seed;
    c.threads = threads;
    VaeError err = {{0}};
    int rc = tsne_run(&c, x, N, DIM, y, NULL, &err);
    if (rc != VAE_OK) fprintf(stderr, "tsne_run: %s\n", err.msg);
    return rc;
}

int main(void) {
    static float x[N * DIM];
    static double a[N * 2], b[N * 2], c[N * 2], d[N * 2];
    Rng r;
    rng_seed(&r, 3);
    rng_normal(&r, x, N * DIM);
    CHECK(run(5, 1, x, a) == VAE_OK);
    CHECK(run(5, 1, x, b) == VAE_OK);
    CHECK(run(5, 3, x, c) == VAE_OK);
    CHECK(run(6, 1, x, d) == VAE_OK);
    CHECK_MSG(memcmp(a, b, sizeof a) == 0, "same seed, same threads: maps differ");
    CHECK_MSG(memcmp(a, c, sizeof a) == 0, "same seed, 1 vs 3 threads: maps differ");
    CHECK_MSG(memcmp(a, d, sizeof a) != 0, "seeds 5 and 6 gave the same map");
    /* the map is centred (mean removed every step) and not collapsed */
    double m0 = 0, m1 = 0, spread = 0;
    for (int i = 0; i < N; i++) m0 += a[2 * i], m1 += a[2 * i + 1];
    for (int i = 0; i < N; i++) spread += (a[2 * i] - m0 / N) * (a[2 * i] - m0 / N);
    double zero = 0, mean[2] = {m0 / N, m1 / N}, zeros[2] = {zero, zero};
    check_close_d("map mean", mean, zeros, 2, 1e-9, 0);
    CHECK_MSG(spread / N > 1.0, "map variance %.3g: collapsed", spread / N);
    return check_done("test_tsne_deterministic");
}
