/* Barnes-Hut's sparse input affinities: with K = 3 * perplexity = n - 1
 * neighbours they are exact t-SNE's symmetrised P; with fewer, P is still
 * symmetric (exactly), sums to 1, and holds each point's K nearest
 * neighbours at least. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "vae/rng.h"
#include "vae/tsne.h"

#define N 151
#define DIM 5

static double lookup(const TsneSparse *p, int i, int j) {
    for (size_t e = p->row[i]; e < p->row[i + 1]; e++)
        if (p->col[e] == j) return p->val[e];
    return 0;
}

int main(void) {
    static float x[N * DIM], cond[N * N];
    static double want[N * N], got[N * N];
    Rng r;
    rng_seed(&r, 8);
    rng_normal(&r, x, N * DIM);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < DIM; k++) x[i * DIM + k] *= (float)(1 + i % 5);
    VaeError err = {{0}};
    TsneSparse p;
    double perp = (N - 1) / 3.0;
    CHECK(tsne_conditional_affinities(x, N, DIM, perp, 1, cond, &err) == VAE_OK);
    CHECK_MSG(tsne_sparse_affinities(x, N, DIM, perp, 2, &p, &err) == VAE_OK, "%s", err.msg);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            want[i * N + j] = ((double)cond[i * N + j] + (double)cond[j * N + i]) / (2.0 * N);
            got[i * N + j] = lookup(&p, i, j);
        }
    /* the dense rows were rounded to float */
    check_close_d("K = n - 1: sparse P vs exact P", got, want, (size_t)N * N, 1e-12, 1e-6);
    CHECK(p.row[N] == (size_t)N * (N - 1));
    tsne_sparse_free(&p);

    perp = 5;
    int k = 15;
    CHECK_MSG(tsne_sparse_affinities(x, N, DIM, perp, 3, &p, &err) == VAE_OK, "%s", err.msg);
    static int nbr[N * 15];
    static double d2[N * 15];
    CHECK(tsne_knn(x, N, DIM, k, 1, nbr, d2, &err) == VAE_OK);
    double total = 0;
    int asym = 0, missing = 0, unsorted = 0, diag = 0;
    for (int i = 0; i < N; i++) {
        for (size_t e = p.row[i]; e < p.row[i + 1]; e++) {
            total += p.val[e];
            asym += lookup(&p, p.col[e], i) != p.val[e];
            diag += p.col[e] == i;
            if (e > p.row[i]) unsorted += p.col[e] <= p.col[e - 1];
        }
        for (int s = 0; s < k; s++) missing += !(lookup(&p, i, nbr[i * k + s]) > 0);
    }
    double one = 1;
    check_close_d("perplexity 5: P sums to 1", &total, &one, 1, 0, 1e-12);
    CHECK_MSG(asym == 0, "%d entries where p_ij != p_ji", asym);
    CHECK_MSG(missing == 0, "%d of the K nearest neighbours have no affinity", missing);
    CHECK_MSG(unsorted == 0 && diag == 0, "columns unsorted (%d) or on the diagonal (%d)", unsorted, diag);
    CHECK_MSG(p.row[N] < (size_t)N * 2 * k, "%zu entries: not sparse", p.row[N]);
    tsne_sparse_free(&p);
    CHECK(tsne_sparse_affinities(x, N, DIM, 60, 1, &p, &err) == VAE_ERR);
    check_contains("perplexity too large", err.msg, "out of range");
    return check_done("test_tsne_bh_affinities");
}
