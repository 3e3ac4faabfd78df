/* Kozachenko-Leonenko entropy estimate and its gradient (see vae/entropy.h).
 * O(n^2 d) distances per call: a training batch is small (n = 128 by
 * default), so the brute force is both exact and cheap. */
#include "vae/entropy.h"

#include <math.h>

#define EULER_GAMMA 0.57721566490153286061
#define PI 3.14159265358979323846
#define MIN_DIST2 1e-12   /* (1e-6)^2: duplicate points */

size_t knn_entropy_scratch_floats(int n) { return 4 * (size_t)(n > 0 ? n : 1); }

double digamma_int(int n) {
    double s = -EULER_GAMMA;
    for (int j = 1; j < n; j++) s += 1.0 / j;
    return s;
}

double log_unit_ball_volume(int d) { return 0.5 * d * log(PI) - lgamma(0.5 * d + 1.0); }

static double dist2(const float *a, const float *b, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) {
        double t = (double)a[j] - b[j];
        s += t * t;
    }
    return s;
}

double knn_entropy(const float *z, int n, int d, int k, float *dz, float scale, float *scratch) {
    if (n < 2 || k < 1 || k >= n) return 0.0;
    /* the k best (distance^2, index) so far, kept sorted by insertion */
    float *best_d = scratch;
    int *best_i = (int *)(scratch + n);
    double sum_log = 0;
    for (int i = 0; i < n; i++) {
        int have = 0;
        const float *zi = z + (size_t)i * d;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            float d2 = (float)dist2(zi, z + (size_t)j * d, d);
            if (have == k && !(d2 < best_d[k - 1])) continue;   /* ties: keep the lower index */
            int p = have < k ? have++ : k - 1;
            while (p > 0 && best_d[p - 1] > d2) {
                best_d[p] = best_d[p - 1];
                best_i[p] = best_i[p - 1];
                p--;
            }
            best_d[p] = d2;
            best_i[p] = j;
        }
        int nb = best_i[k - 1];
        /* recomputed in double so forward and gradient agree with a double reference */
        double e2 = dist2(zi, z + (size_t)nb * d, d);
        if (e2 < MIN_DIST2) {
            sum_log += 0.5 * log(MIN_DIST2);
            continue;
        }
        sum_log += 0.5 * log(e2);
        if (dz) {
            /* d/dz_i of (d/n) * 0.5 * log |z_i - z_nb|^2 = (d/n) (z_i - z_nb) / e2; opposite for z_nb */
            double c = scale * (double)d / n / e2;
            float *gi = dz + (size_t)i * d, *gn = dz + (size_t)nb * d;
            const float *zn = z + (size_t)nb * d;
            for (int j = 0; j < d; j++) {
                float g = (float)(c * ((double)zi[j] - zn[j]));
                gi[j] += g;
                gn[j] -= g;
            }
        }
    }
    return (double)d / n * sum_log + log_unit_ball_volume(d) + digamma_int(n) - digamma_int(k);
}
