/* The vantage-point tree's k nearest neighbours are exactly those of a sorted
 * brute-force search, ties and duplicate points included, for any thread
 * count; k out of range is refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/rng.h"
#include "vae/tsne.h"

#define N 600
#define DIM 7
#define K 25

typedef struct {
    double d2;
    int idx;
} Pair;

static int pair_cmp(const void *a, const void *b) {
    const Pair *x = a, *y = b;
    if (x->d2 != y->d2) return x->d2 < y->d2 ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int main(void) {
    static float x[N * DIM];
    static int nbr[N * K], nbr3[N * K], ref_nbr[N * K];
    static double d2[N * K], d2_3[N * K], ref_d2[N * K];
    static Pair all[N];
    Rng r;
    rng_seed(&r, 5);
    rng_normal(&r, x, N * DIM);
    /* points 0..39 copy points 100..139 (duplicates: distance 0, ties broken by
       index), and points 200..299 sit on an integer lattice so many distances tie */
    memcpy(x, x + 100 * DIM, 40 * DIM * sizeof(float));
    for (int i = 200; i < 300; i++)
        for (int k = 0; k < DIM; k++) x[i * DIM + k] = (float)((i * (k + 3)) % 4);
    for (int i = 0; i < N; i++) {
        int m = 0;
        for (int j = 0; j < N; j++) {
            if (j == i) continue;
            double s = 0;
            for (int k = 0; k < DIM; k++) {
                double t = (double)x[i * DIM + k] - (double)x[j * DIM + k];
                s += t * t;
            }
            all[m++] = (Pair){s, j};
        }
        qsort(all, (size_t)m, sizeof *all, pair_cmp);
        for (int k = 0; k < K; k++) {
            ref_nbr[i * K + k] = all[k].idx;
            ref_d2[i * K + k] = all[k].d2;
        }
    }
    VaeError err = {{0}};
    CHECK_MSG(tsne_knn(x, N, DIM, K, 1, nbr, d2, &err) == VAE_OK, "knn: %s", err.msg);
    CHECK_MSG(tsne_knn(x, N, DIM, K, 3, nbr3, d2_3, &err) == VAE_OK, "knn, 3 threads: %s", err.msg);
    int wrong = 0, first = -1;
    for (int s = 0; s < N * K; s++)
        if (nbr[s] != ref_nbr[s] || fabs(d2[s] - ref_d2[s]) > 1e-12 * ref_d2[s]) {
            if (first < 0) first = s;
            wrong++;
        }
    CHECK_MSG(wrong == 0, "%d of %d neighbours differ from brute force (first: point %d, rank %d: %d at %g, want %d at %g)",
              wrong, N * K, first / K, first % K, first >= 0 ? nbr[first] : 0, first >= 0 ? d2[first] : 0,
              first >= 0 ? ref_nbr[first] : 0, first >= 0 ? ref_d2[first] : 0);
    CHECK_MSG(memcmp(nbr, nbr3, sizeof nbr) == 0 && memcmp(d2, d2_3, sizeof d2) == 0, "1 and 3 threads differ");
    /* a duplicate's nearest neighbour is its twin at distance 0 */
    CHECK(nbr[5 * K] == 105 && d2[5 * K] == 0.0);
    CHECK(tsne_knn(x, N, DIM, N, 1, nbr, d2, &err) == VAE_ERR);
    check_contains("k = n", err.msg, "nearest neighbours");
    CHECK(tsne_knn(x, N, DIM, 0, 1, nbr, d2, &err) == VAE_ERR);
    return check_done("test_tsne_knn_brute_force");
}
