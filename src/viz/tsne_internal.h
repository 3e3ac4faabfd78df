/* Pieces shared by exact t-SNE (tsne.c) and Barnes-Hut t-SNE (tsne_bh.c);
 * private to src/viz, not a public API. */
#ifndef VAE_TSNE_INTERNAL_H
#define VAE_TSNE_INTERNAL_H

#include "vae/tsne.h"

#define TSNE_MAX_THREADS 64

/* Splits [0, n) into `threads` contiguous parts; part k runs fn(ctx, a, b, k)
 * on its own thread (part 0 on the caller). Falls back to running a part on
 * the caller if a thread cannot start. */
void tsne_run_rows(int n, int threads, void (*fn)(void *ctx, int row0, int row1, int part), void *ctx);

/* Fills p[0..m) with exp(-beta * dist2[k]) / sum, beta found by bisection so
 * that the entropy (nats) equals log_perp to within 1e-5. dist2 are squared
 * distances to m other points; they are shifted by their minimum before exp
 * so nothing underflows to 0 for the nearest. */
void tsne_calibrate_row(const double *dist2, int m, double log_perp, double *p);

/* Input checks shared by every entry point (sizes, perplexity, finiteness). */
int tsne_check_input(const float *x, int n, int d, double perplexity, VaeError *err);

static inline int tsne_clamp_threads(int t) { return t < 1 ? 1 : (t > TSNE_MAX_THREADS ? TSNE_MAX_THREADS : t); }

/* The Barnes-Hut gradient's working memory (quadtree nodes), reused across
 * iterations. */
typedef struct TsneBh TsneBh;
int tsne_bh_init(TsneBh **bh, int n, VaeError *err);
void tsne_bh_free(TsneBh *bh);
/* attr (n, 2) = sum_j p_ij num_ij (y_i - y_j), rep (n, 2) ~ sum_j num_ij^2 (y_i - y_j),
 * zrow (n) ~ sum_j num_ij (the last two through the quadtree); returns Z = sum zrow
 * in row order, or a negative value when out of memory. */
double tsne_bh_terms(TsneBh *bh, const TsneSparse *p, const double *y, double theta, int threads, double *attr,
                     double *rep, double *zrow);
/* KL(P || Q) over P's entries, with Q_ij = num_ij / z. */
double tsne_bh_kl(const TsneSparse *p, const double *y, double z);

#endif
