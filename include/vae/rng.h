/* The project's own seeded random generator (xoshiro256**, seeded through
 * splitmix64): same seed, same stream on every platform, and a state small
 * enough to store in a checkpoint so a resumed run continues the same stream. */
#ifndef VAE_RNG_H
#define VAE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
/* uniform integer in [0, n), unbiased (n >= 1) */
uint32_t rng_below(Rng *r, uint32_t n);
/* uniform double in [0, 1) with 53 random bits */
double rng_uniform(Rng *r);
/* n standard normals (Box-Muller, both values of each pair used) */
void rng_normal(Rng *r, float *out, size_t n);
/* rng_normal in two parts, so the draws stay in stream order while the
 * transform (log, sqrt, sin, cos: ~95 % of the time) runs on several
 * threads: rng_normal_uniforms draws into u the 2 * ceil(n / 2) uniforms
 * rng_normal(r, ., n) would draw, and rng_normal_range writes normals
 * [i0, i1) of those n to out[0 .. i1 - i0). Together they give rng_normal's
 * values bit for bit, whatever the ranges. */
void rng_normal_uniforms(Rng *r, double *u, size_t n);
void rng_normal_range(float *out, const double *u, size_t i0, size_t i1);
/* Fisher-Yates shuffle of idx[0..n) */
void rng_shuffle(Rng *r, uint32_t *idx, uint32_t n);

#endif
