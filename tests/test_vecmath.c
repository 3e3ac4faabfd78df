/* The vectorizable exp and log1p used by the loss kernels, and tanh (the
 * hidden activation), must agree with libm (in double) to float precision
 * over their whole input range. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "vae/vecmath.h"

int main(void) {
    enum { N = 200001 };
    double *got = malloc(N * sizeof *got), *ref = malloc(N * sizeof *ref);
    if (!got || !ref) return 1;
    /* exp on [-87, 0], dense grid plus the ends */
    for (int i = 0; i < N; i++) {
        float x = (float)(-87.0 * i / (N - 1));
        got[i] = vec_exp_nonpos(x);
        ref[i] = exp((double)x);
    }
    check_close_d("exp on [-87, 0]", got, ref, N, 0.0, 4e-7);
    /* below the clamp the result stays a tiny non-negative number */
    CHECK(vec_exp_nonpos(-1000.0f) >= 0.0f && vec_exp_nonpos(-1000.0f) < 2e-38f);
    CHECK(vec_exp_nonpos(0.0f) == 1.0f);
    /* log1p on [0, 1], including tiny arguments where log(1 + e) would lose everything */
    for (int i = 0; i < N; i++) {
        float e = (float)((double)i / (N - 1));
        if (i < 1000) e = (float)pow(10.0, -38.0 + 38.0 * i / 1000.0);
        got[i] = vec_log1p_unit(e);
        ref[i] = log1p((double)e);
    }
    check_close_d("log1p on [0, 1]", got, ref, N, 0.0, 4e-7);
    /* tanh on [-12, 12] (both branches, the switch at 0.625, saturation),
       plus tiny arguments where tanh(x) = x */
    for (int i = 0; i < N; i++) {
        float x = (float)(-12.0 + 24.0 * i / (N - 1));
        if (i < 1000) x = (float)pow(10.0, -30.0 + 29.0 * i / 1000.0);
        got[i] = vec_tanh(x);
        ref[i] = tanh((double)x);
    }
    check_close_d("tanh on [-12, 12]", got, ref, N, 0.0, 4e-7);
    CHECK(vec_tanh(0.0f) == 0.0f && vec_tanh(50.0f) == 1.0f && vec_tanh(-50.0f) == -1.0f);
    free(got);
    free(ref);
    return check_done("test_vecmath");
}
