/* Times the training step's gradient all-reduce alone (vae_dist_sum_f, one
 * MPI_Allreduce in place over N floats), for the README's scaling model:
 *   mpirun -np 2 build/allreduce_probe [floats (652824: the default model)] [reps]
 * Prints, on rank 0, the median and fastest-decile time per call and the
 * bandwidth S/t. Without an MPI launcher it is a world of one (no cost). */
#include <stdio.h>
#include <stdlib.h>

#include "vae/common.h"
#include "vae/dist.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 652824, reps = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
    if (n < 1 || reps < 1) {
        fprintf(stderr, "usage: allreduce_probe [floats] [reps]\n");
        return 2;
    }
    VaeDist d;
    VaeError err;
    if (vae_dist_init(&d, &argc, &argv, &err) != VAE_OK) {
        fprintf(stderr, "allreduce_probe: %s\n", err.msg);
        return 1;
    }
    float *g = calloc((size_t)n, sizeof *g);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!g || !t) return 1;
    int rc = 0;
    for (long r = -5; r < reps && rc == 0; r++) {   /* 5 warm-up calls */
        double t0 = vae_now_seconds();
        rc = vae_dist_sum_f(&d, g, (size_t)n, &err);
        if (r >= 0) t[r] = vae_now_seconds() - t0;
    }
    if (rc != 0) fprintf(stderr, "allreduce_probe: %s\n", err.msg);
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    if (d.rank == 0 && rc == 0)
        printf("{\"ranks\":%d,\"floats\":%ld,\"bytes\":%ld,\"median_us\":%.1f,\"p10_us\":%.1f,\"GB_per_s\":%.2f}\n", d.size,
               n, n * 4, 1e6 * t[reps / 2], 1e6 * t[reps / 10], (double)n * 4 / t[reps / 2] / 1e9);
    free(g);
    free(t);
    vae_dist_finalize(&d);
    return rc == 0 ? 0 : 1;
}
