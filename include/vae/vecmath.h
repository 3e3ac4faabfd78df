/* Branch-free float exp and log1p for the hot element-wise loops, written so
 * the compiler can vectorize them (libm calls block vectorization without
 * -ffast-math), and VAE_HOT, which compiles a hot function for AVX-512, AVX2
 * and baseline x86-64 and picks one at load time, so the default portable
 * binary still uses the wide registers. Accuracy: within a few float ulps of
 * libm (tests/test_vecmath.c checks it). */
#ifndef VAE_VECMATH_H
#define VAE_VECMATH_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(VAE_NO_CLONES) && \
    !defined(__SANITIZE_ADDRESS__)
#define VAE_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VAE_HOT
#endif

/* exp(x) for x <= 0, Cephes-style: x = n ln2 + r with |r| <= ln2/2, a degree-6
 * polynomial for exp(r), and 2^n put straight into the exponent bits. Inputs
 * below -87 are clamped there (exp(-87) ~ 1.6e-38, the smallest normal range),
 * which changes nothing that the losses can see. */
static inline float vec_exp_nonpos(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 0.0f ? 0.0f : x;
    /* round-to-nearest by the 1.5 * 2^23 trick: exact for |v| < 2^22 */
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    /* a NaN input stays NaN (through p), but converting NaN to int is
       undefined behaviour: convert 0 instead (found by fuzz_checkpoint) */
    int32_t bits = ((int32_t)(n == n ? n : 0.0f) + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* log1p(e) for e in [0, 1]: with t = e / (2 + e) in [0, 1/3],
 * log1p(e) = 2 atanh(t) = 2 (t + t^3/3 + t^5/5 + ...); eight terms leave a
 * truncation error below 2e-9 relative, and small e keeps full precision. */
static inline float vec_log1p_unit(float e) {
    float t = e / (2.0f + e);
    float u = t * t;
    float s = 1.0f / 15.0f;
    s = s * u + 1.0f / 13.0f;
    s = s * u + 1.0f / 11.0f;
    s = s * u + 1.0f / 9.0f;
    s = s * u + 1.0f / 7.0f;
    s = s * u + 1.0f / 5.0f;
    s = s * u + 1.0f / 3.0f;
    s = s * u + 1.0f;
    return 2.0f * t * s;
}

/* tanh(x), Cephes-style: for |x| < 0.625 the odd polynomial
 * x + x^3 P(x^2) (no cancellation near 0), else (1 - e) / (1 + e) with
 * e = exp(-2|x|) (which goes to 0, so large |x| gives +-1), sign restored.
 * Both branches are computed and one selected, so loops vectorize. */
static inline float vec_tanh(float x) {
    float a = x < 0.0f ? -x : x;
    float e = vec_exp_nonpos(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = a + a * z * p;
    float r = a < 0.625f ? small : big;
    return x < 0.0f ? -r : r;
}

#endif
