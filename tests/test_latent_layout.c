/* Manifold layouts (rows per latent size, tile order: z0 grows to the right,
 * z1 upwards, traversals change one dimension each) and interpolation (exact
 * ends, evenly spaced in between). */
#include <math.h>
#include <string.h>

#include "check.h"
#include "vae/latent.h"

int main(void) {
    VaeError err;
    enum { S = 5 };
    double q[S];
    latent_quantile_grid(S, q);

    CHECK(latent_manifold_rows(1, S, 0) == 1);
    CHECK(latent_manifold_rows(2, S, 0) == S);
    CHECK(latent_manifold_rows(7, S, 0) == 7);
    CHECK(latent_manifold_rows(7, S, 3) == 3);
    CHECK(latent_manifold_rows(7, S, 99) == 7);

    /* zdim 1: one strip, increasing */
    float z1[S];
    CHECK(latent_manifold_fill(1, S, 0, NULL, z1, &err) == VAE_OK);
    for (int k = 0; k < S; k++) CHECK_MSG(z1[k] == (float)q[k], "strip tile %d", k);

    /* zdim 2: tile r*S + k has z0 = q[k], z1 = q[S-1-r] */
    float z2[S * S * 2];
    CHECK(latent_manifold_fill(2, S, 0, NULL, z2, &err) == VAE_OK);
    int ok = 1;
    for (int r = 0; r < S; r++)
        for (int k = 0; k < S; k++) {
            const float *t = z2 + (r * S + k) * 2;
            ok &= t[0] == (float)q[k] && t[1] == (float)q[S - 1 - r];
        }
    CHECK_MSG(ok, "zdim-2 grid order");
    /* top-left is (low z0, high z1), bottom-right (high z0, low z1) */
    CHECK(z2[0] < 0 && z2[1] > 0);
    CHECK(z2[(S * S - 1) * 2] > 0 && z2[(S * S - 1) * 2 + 1] < 0);

    /* zdim 4: row j traverses dimension j around the centre */
    const float c[4] = {0.5f, -1.0f, 2.0f, 0.25f};
    float z4[4 * S * 4];
    CHECK(latent_manifold_fill(4, S, 0, c, z4, &err) == VAE_OK);
    ok = 1;
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < S; k++)
            for (int j = 0; j < 4; j++) {
                float want = j == r ? c[j] + (float)q[k] : c[j];
                ok &= z4[(r * S + k) * 4 + j] == want;
            }
    CHECK_MSG(ok, "zdim-4 traversals");
    /* --dims 2: only the first two rows, the same values */
    float z4d[2 * S * 4];
    CHECK(latent_manifold_fill(4, S, 2, c, z4d, &err) == VAE_OK);
    CHECK(memcmp(z4d, z4, sizeof z4d) == 0);

    /* refusals */
    CHECK(latent_manifold_fill(4, S, 0, NULL, z4, &err) == VAE_ERR);
    CHECK(check_contains("no centre", err.msg, "centre"));
    CHECK(latent_manifold_fill(2, 1, 0, NULL, z2, &err) == VAE_ERR);
    CHECK(check_contains("one step", err.msg, "steps"));
    CHECK(latent_manifold_fill(0, S, 0, NULL, z2, &err) == VAE_ERR);

    /* interpolation: the ends exactly, evenly spaced between */
    const float a[3] = {0.1f, -2.0f, 3.3f}, b[3] = {1.7f, 0.4f, -0.9f};
    enum { N = 7 };
    float zi[N * 3];
    latent_interpolate(a, b, 3, N, zi);
    CHECK(memcmp(zi, a, sizeof a) == 0);
    CHECK(memcmp(zi + (N - 1) * 3, b, sizeof b) == 0);
    double got[N * 3], want[N * 3];
    for (int k = 0; k < N; k++)
        for (int j = 0; j < 3; j++) {
            double t = (double)k / (N - 1);
            got[k * 3 + j] = zi[k * 3 + j];
            want[k * 3 + j] = (1 - t) * a[j] + t * b[j];
        }
    CHECK(check_close_d("interpolation", got, want, N * 3, 1e-6, 1e-6));
    float two[2 * 3];
    latent_interpolate(a, b, 3, 2, two);
    CHECK(memcmp(two, a, sizeof a) == 0 && memcmp(two + 3, b, sizeof b) == 0);
    return check_done("test_latent_layout");
}
