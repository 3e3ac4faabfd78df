/* Exact t-SNE (van der Maaten & Hinton 2008) for embedding a few thousand
 * latent means in 2-D: Gaussian affinities calibrated to a perplexity by
 * binary search, Student-t affinities in the map, gradient descent with early
 * exaggeration, momentum and per-coordinate gains. O(n^2) time and memory,
 * so meant for n up to ~5,000. Deterministic for a given seed. */
#ifndef VAE_TSNE_H
#define VAE_TSNE_H

#include <stdint.h>
#include "vae/common.h"

typedef struct {
    double perplexity;          /* effective neighbours, 30; needs 3*perplexity < n */
    int iterations;             /* total gradient steps, 1000 */
    int exaggeration_iters;     /* P is multiplied by `exaggeration` for the first ones, 250 */
    double exaggeration;        /* 12 */
    int momentum_switch;        /* momentum_initial before this iteration, momentum_final after, 250 */
    double momentum_initial;    /* 0.5 */
    double momentum_final;      /* 0.8 */
    double learning_rate;       /* 200 */
    double min_gain;            /* 0.01 */
    uint64_t seed;              /* initial map ~ N(0, 1e-4^2 I) from the project's Rng */
    int threads;                /* worker threads for the O(n^2) loops, >= 1 */
    /* Called every `report_every` iterations (and after the last) with the KL
     * divergence KL(P || Q) of the un-exaggerated P; optional. */
    int report_every;           /* 0 = never */
    void (*on_report)(int iter, double kl, void *ctx);
    void *ctx;
} TsneConfig;

/* Fills the defaults above (seed 1, threads 1, no reporting). */
void tsne_default_config(TsneConfig *c);

/* Embeds x (n, d) row-major into y (n, 2) row-major, caller-allocated.
 * *kl_out (may be NULL) receives the final KL(P || Q). Errors: n < 2, d < 1,
 * a perplexity out of range for n, a non-finite input, or out of memory. */
int tsne_run(const TsneConfig *c, const float *x, int n, int d, double *y, double *kl_out, VaeError *err);

/* The first step of tsne_run, exposed for testing: fills p (n, n) with the
 * conditional affinities p_{j|i} (row i sums to 1, p_{i|i} = 0), each row's
 * Gaussian width found by bisection so that 2^H(P_i) (H in bits) equals the
 * perplexity to within 1e-5 in entropy. Same errors as tsne_run. */
int tsne_conditional_affinities(const float *x, int n, int d, double perplexity, int threads, float *p,
                                VaeError *err);

#endif
