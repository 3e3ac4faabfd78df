/* Barnes-Hut t-SNE against exact t-SNE on the same small set (five Gaussian
 * clusters in 10-D): both separate the clusters (every point's nearest map
 * neighbour in its own cluster), BH's map is as good under exact t-SNE's own
 * objective (its KL(P || Q) within 10% of the exact map's), and BH is
 * reproducible for a seed whatever the thread count. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "vae/rng.h"
#include "vae/tsne.h"

#define N_PER 80
#define N_CLUSTERS 5
#define N (N_PER * N_CLUSTERS)
#define DIM 10
#define PERP 20

static int nn_wrong(const double *y, const int *label) {
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
    return wrong;
}

static int run(TsneMethod m, int threads, uint64_t seed, const float *x, double *y, double *kl) {
    TsneConfig c;
    tsne_default_config(&c);
    c.method = m;
    c.perplexity = PERP;
    c.seed = seed;
    c.threads = threads;
    VaeError err = {{0}};
    int rc = tsne_run(&c, x, N, DIM, y, kl, &err);
    if (rc != VAE_OK) fprintf(stderr, "tsne_run: %s\n", err.msg);
    return rc;
}

int main(void) {
    static float x[N * DIM];
    static double ye[N * 2], yb[N * 2], yb3[N * 2], yb_other[N * 2];
    int label[N];
    Rng r;
    rng_seed(&r, 17);
    /* cluster c centred at 8 along axis c (centres ~11 apart), unit spread:
       separated, but close enough that the map has to get the layout right */
    for (int i = 0; i < N; i++) {
        label[i] = i % N_CLUSTERS;
        rng_normal(&r, x + (size_t)i * DIM, DIM);
        x[(size_t)i * DIM + label[i]] += 8.0f;
    }
    double kl_e, kl_b, kl_b3, kl_o;
    TsneConfig probe;
    tsne_default_config(&probe);
    CHECK(tsne_method_for(&probe, N) == TSNE_EXACT);
    CHECK(tsne_method_for(&probe, TSNE_EXACT_MAX_N + 1) == TSNE_BARNES_HUT);
    CHECK(run(TSNE_EXACT, 2, 3, x, ye, &kl_e) == VAE_OK);
    CHECK(run(TSNE_BARNES_HUT, 1, 3, x, yb, &kl_b) == VAE_OK);
    CHECK(run(TSNE_BARNES_HUT, 3, 3, x, yb3, &kl_b3) == VAE_OK);
    CHECK(run(TSNE_BARNES_HUT, 1, 4, x, yb_other, &kl_o) == VAE_OK);

    CHECK_MSG(nn_wrong(ye, label) == 0, "exact: %d points with a nearest neighbour from another cluster", nn_wrong(ye, label));
    CHECK_MSG(nn_wrong(yb, label) == 0, "BH: %d points with a nearest neighbour from another cluster", nn_wrong(yb, label));

    /* both maps judged by the exact objective */
    double obj_e, obj_b;
    VaeError err = {{0}};
    CHECK(tsne_kl_divergence(x, N, DIM, PERP, ye, 2, &obj_e, &err) == VAE_OK);
    CHECK(tsne_kl_divergence(x, N, DIM, PERP, yb, 2, &obj_b, &err) == VAE_OK);
    printf("KL(P||Q) under exact P: exact map %.4f, Barnes-Hut map %.4f (BH's own sparse KL %.4f)\n", obj_e, obj_b,
           kl_b);
    /* the exact run's reported KL is the same objective */
    check_close_d("exact map: reported KL vs tsne_kl_divergence", &kl_e, &obj_e, 1, 0, 1e-6);
    CHECK_MSG(obj_b <= obj_e * 1.10, "BH map's KL %.4f is more than 10%% above the exact map's %.4f", obj_b, obj_e);
    CHECK_MSG(obj_b > 0.0 && obj_e > 0.0, "a KL divergence of 0 for a 10-D set in 2-D");

    CHECK_MSG(memcmp(yb, yb3, sizeof yb) == 0 && kl_b == kl_b3, "BH: 1 and 3 threads give different maps");
    CHECK_MSG(memcmp(yb, yb_other, sizeof yb) != 0, "BH: seeds 3 and 4 gave the same map");
    return check_done("test_tsne_bh_vs_exact");
}
