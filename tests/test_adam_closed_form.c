/* Adam against closed forms. With a constant gradient g the bias-corrected
 * moments are exactly g and g^2 at every step, so each step moves p by
 * lr * g / (|g| + eps) (about lr * sign(g)); a zero gradient leaves p alone;
 * and the raw moments after step 1 are (1-b1) g and (1-b2) g^2. A double
 * re-implementation of the textbook update covers changing gradients. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "vae/adam.h"
#include "vae/rng.h"

#define N 16

static void test_constant_gradient(void) {
    AdamConfig c = {1e-3f, 0.9f, 0.999f, 1e-8f};
    float p[N], g[N], m[N], v[N], want[N];
    double pd[N];
    for (int i = 0; i < N; i++) {
        /* magnitudes from 1e-6 to 1e2, both signs, one zero */
        g[i] = (float)((i % 2 ? -1.0 : 1.0) * pow(10.0, -6.0 + 8.0 * i / (N - 1)));
        p[i] = pd[i] = 0.25f * (float)i - 1.0f;
    }
    g[5] = 0.0f;
    memset(m, 0, sizeof m);
    memset(v, 0, sizeof v);
    adam_update(p, g, m, v, N, &c, 1);
    float wm[N], wv[N];
    for (int i = 0; i < N; i++) {
        wm[i] = (float)((1.0 - 0.9f) * g[i]);
        wv[i] = (float)((1.0 - 0.999f) * (double)g[i] * g[i]);
    }
    check_close("adam m after step 1", m, wm, N, 0, 1e-6);
    check_close("adam v after step 1", v, wv, N, 0, 1e-5);
    for (int t = 1; t <= 5; t++) {
        if (t > 1) adam_update(p, g, m, v, N, &c, t);
        for (int i = 0; i < N; i++) {
            pd[i] -= 1e-3 * g[i] / (fabs((double)g[i]) + 1e-8);
            want[i] = (float)pd[i];
        }
        char what[64];
        snprintf(what, sizeof what, "adam constant gradient, step %d", t);
        /* the moments carry float rounding of ~1e-7 relative; p ~1 */
        check_close(what, p, want, N, 1e-7, 1e-6);
    }
    CHECK(p[5] == 0.25f * 5 - 1.0f);  /* zero gradient: exactly unmoved */
    /* the first step is essentially lr * sign(g) for |g| >> eps */
    double moved = (double)(0.25f * 15 - 1.0f) - p[15], five_lr = 5e-3 * (g[15] > 0 ? 1 : -1);
    check_close_d("adam 5 steps of constant large g move 5 lr", &moved, &five_lr, 1, 1e-6, 0);
}

/* textbook Adam in double over random, changing gradients */
static void test_random_gradients(void) {
    AdamConfig c = {0.01f, 0.8f, 0.95f, 1e-4f};
    Rng r;
    rng_seed(&r, 99);
    float p[N], g[N], m[N], v[N], got[N];
    double pd[N], md[N] = {0}, vd[N] = {0};
    rng_normal(&r, p, N);
    for (int i = 0; i < N; i++) pd[i] = p[i];
    memset(m, 0, sizeof m);
    memset(v, 0, sizeof v);
    for (int t = 1; t <= 10; t++) {
        rng_normal(&r, g, N);
        adam_update(p, g, m, v, N, &c, t);
        for (int i = 0; i < N; i++) {
            md[i] = 0.8f * md[i] + (1 - (double)0.8f) * g[i];
            vd[i] = 0.95f * vd[i] + (1 - (double)0.95f) * (double)g[i] * g[i];
            double mh = md[i] / (1 - pow(0.8f, t)), vh = vd[i] / (1 - pow(0.95f, t));
            pd[i] -= 0.01f * mh / (sqrt(vh) + 1e-4f);
        }
    }
    for (int i = 0; i < N; i++) got[i] = (float)pd[i];
    check_close("adam 10 random steps vs double", p, got, N, 1e-6, 1e-5);
}

/* A first moment that decays into the subnormal range (a pixel that is never
 * on) is flushed to zero, in both entry points, and its weight is left alone
 * as the exact update would leave it (it moves by < 2^-100); normal moments
 * next to it still follow the closed form; the caller's MXCSR comes back. */
static void test_subnormal_moments(void) {
#if defined(__x86_64__) || defined(__SSE__)
    AdamConfig c = {1e-3f, 0.9f, 0.999f, 1e-8f};
    float p[4] = {0.5f, -0.25f, 1.0f, 2.0f}, g[4] = {0.0f, 0.0f, 0.5f, 0.0f};
    float m[4] = {0x1p-130f, -0x1p-127f, 0.0f, 0x1p-120f}, v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    float p0[4];
    memcpy(p0, p, sizeof p);
    CHECK(fpclassify(m[0]) == FP_SUBNORMAL && fpclassify(m[1]) == FP_SUBNORMAL);
    adam_update(p, g, m, v, 4, &c, 100);
    CHECK(m[0] == 0.0f && m[1] == 0.0f);            /* flushed, not 0.9 x subnormal */
    float wm2 = 0.1f * 0.5f, wm3 = 0.9f * 0x1p-120f;  /* normal ones as ever */
    check_close("adam normal moments beside subnormal ones", &m[2], &wm2, 1, 0, 1e-6);
    check_close("adam a small normal moment decays", &m[3], &wm3, 1, 0, 1e-6);
    check_close("adam weights of flushed moments unchanged", p, p0, 2, 0, 0);
    /* the summing entry point (the trainer's) too */
    float m2[2] = {0x1p-140f, 0x1p-128f}, v2[2] = {0, 0}, q[2] = {1.0f, -1.0f}, ga[2] = {0, 0}, gb[2] = {0, 0};
    float *gs[2] = {ga, gb};
    adam_update_sum(q, gs, 2, m2, v2, 2, &c, 100);
    CHECK(m2[0] == 0.0f && m2[1] == 0.0f);
    /* outside Adam subnormals are as the caller set them (MXCSR restored) */
    volatile float tiny = 0x1p-126f;
    volatile float half = tiny * 0.5f;
    CHECK(fpclassify(half) == FP_SUBNORMAL);
#endif
}

int main(void) {
    test_constant_gradient();
    test_random_gradients();
    test_subnormal_moments();
    return check_done("test_adam_closed_form");
}
