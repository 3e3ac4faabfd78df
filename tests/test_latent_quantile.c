/* latent_normal_quantile against independent values (Python's
 * statistics.NormalDist.inv_cdf, Wichura's AS241, and printed tables), the
 * closed form Phi(q(p)) = p through erfc, symmetry and the edge cases; the
 * manifold quantile grid's ends, spacing in p and order. */
#include <math.h>
#include <stdio.h>

#include "check.h"
#include "vae/latent.h"

static double phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* one comparison through the shared tolerance helper, named with its p */
static void close_at(const char *what, double p, double got, double ref, double atol, double rtol) {
    char name[96];
    snprintf(name, sizeof name, "%s at p = %.17g", what, p);
    check_close_d(name, &got, &ref, 1, atol, rtol);
}

int main(void) {
    /* known quantiles: p, Phi^-1(p) */
    static const double known[][2] = {
        {0.5, 0.0},
        {0.975, 1.959963984540054},
        {0.95, 1.6448536269514722},
        {0.05, -1.6448536269514722},
        {0.001, -3.090232306167813},
        {1e-10, -6.361340902404056},
        {0.3, -0.5244005127080407},
        {0.8413447460685429, 1.0}, /* Phi(1) */
        {0.022750131948179195, -2.0}, /* Phi(-2) */
    };
    int nk = (int)(sizeof known / sizeof known[0]);
    for (int i = 0; i < nk; i++) {
        close_at("known quantile", known[i][0], latent_normal_quantile(known[i][0]), known[i][1], 1e-12, 1e-12);
    }

    /* Phi(q(p)) = p over a spread of p, both tails included */
    for (int e = -300; e <= -1; e += 13) {
        double p = pow(10.0, e / 10.0);
        double q = latent_normal_quantile(p), back = phi(q);
        close_at("Phi(q(p))", p, back, p, 0, 1e-12);
        /* symmetry: q(1 - p) = -q(p), where 1 - p is representable well */
        if (p > 1e-6) {
            close_at("q(1-p) = -q(p)", p, latent_normal_quantile(1.0 - p), -q, 1e-9, 1e-9);
        }
    }

    /* edges */
    CHECK(isinf(latent_normal_quantile(0.0)) && latent_normal_quantile(0.0) < 0);
    CHECK(isinf(latent_normal_quantile(1.0)) && latent_normal_quantile(1.0) > 0);
    CHECK(isnan(latent_normal_quantile(-0.1)));
    CHECK(isnan(latent_normal_quantile(1.5)));
    CHECK(isnan(latent_normal_quantile(NAN)));

    /* the manifold grid: p over [0.05, 0.95], so the ends are -+1.6449 and an
       odd count has 0 in the middle; increasing; p evenly spaced */
    double q[21];
    latent_quantile_grid(21, q);
    double lo = -1.6448536269514722, hi = 1.6448536269514722, zero = 0.0;
    CHECK(check_close_d("grid first", &q[0], &lo, 1, 1e-12, 1e-12));
    CHECK(check_close_d("grid last", &q[20], &hi, 1, 1e-12, 1e-12));
    CHECK(check_close_d("grid middle", &q[10], &zero, 1, 1e-12, 0));
    int increasing = 1;
    for (int k = 1; k < 21; k++) increasing &= q[k] > q[k - 1];
    CHECK(increasing);
    for (int k = 0; k < 21; k++) {
        double want = 0.05 + 0.9 * k / 20.0;
        close_at("Phi of the grid", want, phi(q[k]), want, 1e-13, 1e-12);
    }
    double two[2];
    latent_quantile_grid(2, two);
    CHECK(check_close_d("2-step grid", two, (double[]){lo, hi}, 2, 1e-12, 1e-12));
    return check_done("test_latent_quantile");
}
