/* The project RNG: same seed gives the same stream and different seeds
 * differ; rng_below stays in range and is uniform (chi-square with a loose
 * bound); rng_uniform lies in [0, 1); normals have mean 0 and variance 1
 * (5-sigma bounds over 1e5 draws); known first outputs; shuffle yields a permutation that
 * actually moves things. The state copies like a value (checkpoints rely on
 * that). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/rng.h"

/* Known answers from an independent Python transcription of splitmix64 and
 * xoshiro256** (its splitmix64(0) = 0xe220a8397b1dcdaf, the published value),
 * so the stream is the documented algorithm and stays stable across builds. */
static void test_known_answers(void) {
    Rng r;
    rng_seed(&r, 42);
    CHECK(r.s[0] == 0xbdd732262feb6e95ULL && r.s[3] == 0x581ce1ff0e4ae394ULL);
    CHECK(rng_next(&r) == 0x15780b2e0c2ec716ULL);
    CHECK(rng_next(&r) == 0x6104d9866d113a7eULL);
    CHECK(rng_next(&r) == 0xae17533239e499a1ULL);
    rng_seed(&r, 0);
    CHECK(r.s[0] == 0xe220a8397b1dcdafULL);
}

static void test_determinism(void) {
    Rng a, b, c;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    rng_seed(&c, 43);
    int same = 1, differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a), y = rng_next(&b), z = rng_next(&c);
        same &= x == y;
        differ += x != z;
    }
    CHECK(same);
    CHECK(differ == 1000);
    /* a copied state continues the same stream */
    Rng d = a;
    int cont = 1;
    for (int i = 0; i < 100; i++) cont &= rng_next(&a) == rng_next(&d);
    CHECK(cont);
    /* seed 0 is fine too (splitmix64 never yields the all-zero state here) */
    Rng e;
    rng_seed(&e, 0);
    CHECK(e.s[0] | e.s[1] | e.s[2] | e.s[3]);
    CHECK(rng_next(&e) != rng_next(&e));
    /* normals are deterministic as well */
    float n1[7], n2[7];
    rng_seed(&a, 5);
    rng_seed(&b, 5);
    rng_normal(&a, n1, 7);
    rng_normal(&b, n2, 7);
    CHECK(memcmp(n1, n2, sizeof n1) == 0);
}

static void test_below(void) {
    Rng r;
    rng_seed(&r, 7);
    enum { K = 10, DRAWS = 100000 };
    long count[K] = {0};
    int in_range = 1;
    for (int i = 0; i < DRAWS; i++) {
        uint32_t v = rng_below(&r, K);
        if (v >= K) {
            in_range = 0;
            break;
        }
        count[v]++;
    }
    CHECK(in_range);
    /* chi-square with 9 degrees of freedom: mean 9, P(> 40) < 1e-5 */
    double chi2 = 0, e = (double)DRAWS / K;
    for (int k = 0; k < K; k++) chi2 += (count[k] - e) * (count[k] - e) / e;
    CHECK_MSG(chi2 < 40.0, "rng_below chi-square %.2f over 9 dof", chi2);
    /* n = 1 always gives 0; a large non-power-of-two n stays in range */
    int ok1 = 1, okbig = 1;
    uint32_t big = 3000000019u, hi = 0;
    for (int i = 0; i < 1000; i++) {
        ok1 &= rng_below(&r, 1) == 0;
        uint32_t v = rng_below(&r, big);
        okbig &= v < big;
        if (v > hi) hi = v;
    }
    CHECK(ok1);
    CHECK(okbig);
    CHECK(hi > big / 2); /* the upper half is reached */
}

static void test_uniform_and_normal(void) {
    Rng r;
    rng_seed(&r, 11);
    enum { DRAWS = 100000 };
    int in01 = 1;
    double su = 0;
    for (int i = 0; i < DRAWS; i++) {
        double u = rng_uniform(&r);
        in01 &= u >= 0.0 && u < 1.0;
        su += u;
    }
    CHECK(in01);
    /* mean of U(0,1): sd 1/sqrt(12 n) */
    double mean_u = su / DRAWS, half = 0.5;
    check_close_d("uniform mean", &mean_u, &half, 1, 5.0 / sqrt(12.0 * DRAWS), 0);

    float *z = malloc(DRAWS * sizeof *z);
    if (!CHECK(z != NULL)) return;
    rng_normal(&r, z, DRAWS);
    double s = 0, s2 = 0;
    int finite = 1;
    for (int i = 0; i < DRAWS; i++) {
        finite &= isfinite(z[i]);
        s += z[i];
        s2 += (double)z[i] * z[i];
    }
    CHECK(finite);
    double mean = s / DRAWS, var = s2 / DRAWS - mean * mean, zero = 0, one = 1;
    /* sd of the mean 1/sqrt(n); of the variance sqrt(2/n) */
    check_close_d("normal mean", &mean, &zero, 1, 5.0 / sqrt((double)DRAWS), 0);
    check_close_d("normal variance", &var, &one, 1, 5.0 * sqrt(2.0 / DRAWS), 0);
    /* an odd count fills every element (the last pair is cut in half) */
    float odd[3] = {NAN, NAN, NAN};
    rng_normal(&r, odd, 3);
    CHECK(isfinite(odd[0]) && isfinite(odd[1]) && isfinite(odd[2]));
    free(z);
}

/* rng_normal split into in-order draws and a transform by ranges (the
 * trainer's workers each transform their own rows): any cut, odd ones
 * through a pair included, gives rng_normal's values bit for bit, leaves
 * the stream where rng_normal leaves it, and each value is Box-Muller of
 * its pair's uniforms (formula written out here) */
static void test_normal_split(void) {
    enum { N = 601 };   /* odd, and more than one of rng_normal's chunks */
    Rng a, b;
    rng_seed(&a, 5);
    rng_seed(&b, 5);
    float whole[N], parts[N];
    double u[N + 1];
    rng_normal(&a, whole, N);
    rng_normal_uniforms(&b, u, N);
    size_t cuts[] = {0, 1, 4, 259, 600, N};
    for (int c = 0; c + 1 < (int)(sizeof cuts / sizeof cuts[0]); c++)
        rng_normal_range(parts + cuts[c], u, cuts[c], cuts[c + 1]);
    CHECK_MSG(memcmp(whole, parts, sizeof whole) == 0, "ranges cut anywhere give rng_normal's values");
    CHECK_MSG(rng_next(&a) == rng_next(&b), "both leave the stream at the same place");
    float want[N];
    for (int i = 0; i < N; i++) {
        int p = i & ~1;
        double rad = sqrt(-2.0 * log(u[p])), th = 6.283185307179586 * u[p + 1];
        want[i] = (float)(rad * (i & 1 ? sin(th) : cos(th)));
    }
    check_close("Box-Muller of each pair", whole, want, N, 1e-6f, 1e-6f);
}

static void test_shuffle(void) {
    Rng r;
    rng_seed(&r, 3);
    enum { N = 1000 };
    uint32_t idx[N];
    for (uint32_t i = 0; i < N; i++) idx[i] = i;
    rng_shuffle(&r, idx, N);
    int seen[N] = {0}, perm = 1, moved = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (idx[i] >= N || seen[idx[i]]) perm = 0;
        else seen[idx[i]] = 1;
        moved += idx[i] != i;
    }
    CHECK(perm);
    CHECK(moved > N / 2);
    /* every position equally likely: element 0 over 3 slots, 30000 shuffles */
    long where[3] = {0};
    for (int t = 0; t < 30000; t++) {
        uint32_t s[3] = {0, 1, 2};
        rng_shuffle(&r, s, 3);
        for (int k = 0; k < 3; k++)
            if (s[k] == 0) where[k]++;
    }
    double chi2 = 0;
    for (int k = 0; k < 3; k++) chi2 += (where[k] - 10000.0) * (where[k] - 10000.0) / 10000.0;
    CHECK_MSG(chi2 < 25.0, "shuffle position chi-square %.2f over 2 dof", chi2);
    /* n = 0 and n = 1 are no-ops */
    uint32_t one = 5;
    rng_shuffle(&r, &one, 1);
    rng_shuffle(&r, NULL, 0);
    CHECK(one == 5);
}

int main(void) {
    test_known_answers();
    test_determinism();
    test_below();
    test_uniform_and_normal();
    test_normal_split();
    test_shuffle();
    return check_done("test_rng_statistics");
}
