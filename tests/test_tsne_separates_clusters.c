/* t-SNE on three well-separated Gaussian clusters in 10-D: in the 2-D map the
 * mean distance between points of one cluster is much smaller than between
 * clusters, and the KL divergence falls once early exaggeration is over. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "vae/rng.h"
#include "vae/tsne.h"

#define N_PER 60
#define N_CLUSTERS 3
#define N (N_PER * N_CLUSTERS)
#define DIM 10

typedef struct {
    int iters[64];
    double kl[64];
    int n;
} KlLog;

static void log_kl(int iter, double kl, void *ctx) {
    KlLog *l = ctx;
    if (l->n < 64) {
        l->iters[l->n] = iter;
        l->kl[l->n] = kl;
        l->n++;
    }
}

int main(void) {
    static float x[N * DIM];
    static double y[N * 2];
    int label[N];
    Rng r;
    rng_seed(&r, 42);
    /* cluster c sits at 20 along axis c (pairwise centre distance ~28), unit spread */
    for (int i = 0; i < N; i++) {
        int c = i % N_CLUSTERS;
        label[i] = c;
        rng_normal(&r, x + (size_t)i * DIM, DIM);
        x[(size_t)i * DIM + c] += 20.0f;
    }
    TsneConfig cfg;
    tsne_default_config(&cfg);
    cfg.perplexity = 15;
    cfg.seed = 7;
    cfg.report_every = 50;
    KlLog log = {{0}, {0}, 0};
    cfg.on_report = log_kl;
    cfg.ctx = &log;
    VaeError err = {{0}};
    double kl = -1;
    int rc = tsne_run(&cfg, x, N, DIM, y, &kl, &err);
    CHECK_MSG(rc == VAE_OK, "tsne_run: %s", err.msg);

    double intra = 0, inter = 0;
    long n_intra = 0, n_inter = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            double d = hypot(y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
            if (label[i] == label[j]) {
                intra += d;
                n_intra++;
            } else {
                inter += d;
                n_inter++;
            }
        }
    intra /= (double)n_intra;
    inter /= (double)n_inter;
    printf("mean distance within clusters %.3f, between %.3f, final KL %.4f\n", intra, inter, kl);
    CHECK_MSG(inter > 5 * intra, "clusters not separated: within %.3f, between %.3f", intra, inter);

    /* every point's nearest neighbour in the map belongs to its own cluster */
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        int best = -1;
        double bd = INFINITY;
        for (int j = 0; j < N; j++) {
            if (j == i) continue;
            double d = hypot(y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
            if (d < bd) bd = d, best = j;
        }
        wrong += label[best] != label[i];
    }
    CHECK_MSG(wrong == 0, "%d points have a nearest neighbour from another cluster", wrong);

    /* KL reported at 50, 100, ..., 950 and at the end (1000) */
    CHECK_MSG(log.n == 20, "%d KL reports, expected 20", log.n);
    CHECK(log.iters[log.n - 1] == 1000);
    CHECK(kl >= 0 && isfinite(kl));
    CHECK_MSG(log.kl[log.n - 1] == kl, "last report %.6f differs from the returned KL %.6f", log.kl[log.n - 1], kl);
    /* after exaggeration ends (iteration 250) the descent minimises KL itself:
       it must not rise much between reports and must end well below where it
       started */
    int first = -1;
    for (int k = 0; k < log.n; k++)
        if (log.iters[k] >= 300 && first < 0) first = k;
    CHECK(first > 0);
    for (int k = first + 1; k < log.n; k++)
        CHECK_MSG(log.kl[k] <= log.kl[k - 1] * 1.01 + 1e-6, "KL rose from %.5f (iter %d) to %.5f (iter %d)",
                  log.kl[k - 1], log.iters[k - 1], log.kl[k], log.iters[k]);
    CHECK_MSG(log.kl[0] > kl, "KL at iteration 50 (%.4f) not above the final %.4f", log.kl[0], kl);
    return check_done("test_tsne_separates_clusters");
}
