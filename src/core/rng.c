/* xoshiro256** seeded by splitmix64 (Blackman & Vigna), Box-Muller normals,
 * Lemire's unbiased bounded integers and a Fisher-Yates shuffle. */
#include "vae/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(Rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t rng_below(Rng *r, uint32_t n) {
    if (n <= 1) return 0;   /* [0, 1) has one value; [0, 0) none, and 0 is the safe answer */
    /* multiply-shift with rejection of the short first interval */
    uint64_t m = (uint64_t)(uint32_t)(rng_next(r) >> 32) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)(uint32_t)(rng_next(r) >> 32) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double rng_uniform(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

void rng_normal_uniforms(Rng *r, double *u, size_t n) {
    for (size_t i = 0; i < n; i += 2) {
        /* 1 - u lies in (0, 1], so the log is finite */
        u[i] = 1.0 - rng_uniform(r);
        u[i + 1] = rng_uniform(r);
    }
}

/* pair p's normals: radius times cos (output p) and sin (output p + 1) */
void rng_normal_range(float *out, const double *u, size_t i0, size_t i1) {
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t p = i0 & ~(size_t)1; p < i1; p += 2) {
        double rad = sqrt(-2.0 * log(u[p]));
        float c = (float)(rad * cos(two_pi * u[p + 1]));
        float s = (float)(rad * sin(two_pi * u[p + 1]));
        if (p >= i0) out[p - i0] = c;
        if (p + 1 < i1) out[p + 1 - i0] = s;
    }
}

void rng_normal(Rng *r, float *out, size_t n) {
    double u[256];   /* an even chunk: pairs never straddle two */
    for (size_t c = 0; c < n; c += 256) {
        size_t m = n - c < 256 ? n - c : 256;
        rng_normal_uniforms(r, u, m);
        rng_normal_range(out + c, u, 0, m);
    }
}

void rng_shuffle(Rng *r, uint32_t *idx, uint32_t n) {
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
