/* The shared tolerance helper must accept values within atol + rtol*|ref|
 * and reject everything else — including NaN — or every numerical test that
 * relies on it could pass vacuously. */
#include <math.h>
#include <stdio.h>

#include "check.h"

int main(void) {
    double ref[3] = {1.0, -2.0, 100.0};
    double near[3] = {1.0 + 1e-7, -2.0 - 1e-7, 100.0 + 1e-5};
    double far[3] = {1.0, -2.0, 100.1};
    double nan_[3] = {1.0, NAN, 100.0};
    size_t wi;
    double ex;
    CHECK(tol_close(near, ref, 3, 1e-6, 1e-6, &wi, &ex) == 1);
    /* a deliberately wrong value: the helper must say no and point at it */
    CHECK(tol_close(far, ref, 3, 1e-6, 1e-6, &wi, &ex) == 0);
    CHECK(wi == 2);
    CHECK(tol_close(nan_, ref, 3, 1e9, 1e9, &wi, &ex) == 0);
    CHECK(wi == 1);
    /* rtol scales with |ref|: 0.05 off at 100 passes with rtol 1e-3 only */
    double off[1] = {100.05}, r100[1] = {100.0};
    CHECK(tol_close(off, r100, 1, 0.0, 1e-3, NULL, NULL) == 1);
    CHECK(tol_close(off, r100, 1, 0.0, 1e-4, NULL, NULL) == 0);
    /* check_close itself must count a failure; undo it afterwards */
    float g[2] = {1.0f, 2.5f}, r[2] = {1.0f, 2.0f};
    int before = check_failed;
    fprintf(stderr, "(the next FAIL line is expected)\n");
    int ok = check_close("self-test", g, r, 2, 1e-3, 1e-3);
    int counted = check_failed - before;
    check_failed = before;
    CHECK(ok == 0 && counted == 1);
    return check_done("test_check_tolerance");
}
