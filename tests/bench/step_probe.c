/* Times training steps of the default model (or --arch conv|resnet at the
 * defaults: zdim 20, FC 256, channels 32,64) in-process, step by step, so a
 * shared machine's noise can be filtered (the fastest decile of steps is
 * what the step costs when it has the cores). Two ways to run a step:
 *   --mode workers  vae_workers_step, the trainer's path (vae/workers.h)
 *   --mode blas     one thread of element-wise work around OpenBLAS's own
 *                   threaded GEMMs (the trainer before the workers), with
 *                   per-phase times: gather, forward, backward, Adam
 * --precision bf16 runs the steps' GEMMs in bf16 (vae/gemm.h).
 * Used while tuning; prints one JSON object with --json. */
#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vae/adam.h"
#include "vae/idx.h"
#include "vae/rng.h"
#include "vae/vae.h"
#include "vae/workers.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* the process's CPU time: with one thread, what a step costs on a shared
   machine without the time other processes held the core */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse_int(const char *s, const char *opt, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "step_probe: %s: '%s' is not an integer in %ld..%ld\n", opt, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* quantile q of xs (sorted in place) */
static double quant(double *xs, int n, double q) {
    qsort(xs, (size_t)n, sizeof *xs, cmp_double);
    int i = (int)(q * (n - 1) + 0.5);
    return xs[i];
}

int main(int argc, char **argv) {
    int B = 128, threads = 1, steps = 400, json = 0, workers_mode = 1, arch = VAE_ARCH_MLP, prec = VAE_PREC_FP32;
    const char *data = "data/mnist";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) { json = 1; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "step_probe: %s needs a value (or is unknown)\n", a); return 2; }
        const char *v = argv[++i];
        if (strcmp(a, "--batch") == 0) { if (parse_int(v, a, 1, 1 << 16, &B)) return 2; }
        else if (strcmp(a, "--threads") == 0) { if (parse_int(v, a, 1, VAE_MAX_WORKERS, &threads)) return 2; }
        else if (strcmp(a, "--steps") == 0) { if (parse_int(v, a, 10, 1000000, &steps)) return 2; }
        else if (strcmp(a, "--data") == 0) data = v;
        else if (strcmp(a, "--arch") == 0) {
            if ((arch = vae_arch_parse(v)) < 0) { fprintf(stderr, "step_probe: --arch: '%s' is not mlp, conv or resnet\n", v); return 2; }
        }
        else if (strcmp(a, "--precision") == 0) {
            if ((prec = vae_precision_parse(v)) < 0) {
                fprintf(stderr, "step_probe: --precision: '%s' is not fp32 or bf16\n", v);
                return 2;
            }
        }
        else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "workers") == 0) workers_mode = 1;
            else if (strcmp(v, "blas") == 0) workers_mode = 0;
            else { fprintf(stderr, "step_probe: --mode: '%s' is not workers or blas\n", v); return 2; }
        } else { fprintf(stderr, "step_probe: unknown option '%s'\n", a); return 2; }
    }

    VaeError err;
    IdxSplit train = {0};
    if (idx_load_split(&train, data, IDX_TRAIN, &err) != VAE_OK) {
        fprintf(stderr, "step_probe: %s\n", err.msg);
        return 1;
    }
    VaeConfig mc = {0};
    mc.rows = (int)train.images.rows;
    mc.cols = (int)train.images.cols;
    mc.zdim = 20;
    mc.arch = (VaeArch)arch;
    mc.n_hidden = 1;
    mc.hidden[0] = arch == VAE_ARCH_MLP ? 400 : 256;
    mc.n_channels = arch == VAE_ARCH_MLP ? 0 : 2;
    mc.channels[0] = 32;
    mc.channels[1] = 64;
    mc.loss = VAE_LOSS_BCE;
    mc.alpha = mc.beta = 1.0f;
    Vae m;
    VaeActs a;
    VaeWorkers w = {0};
    Rng rng;
    rng_seed(&rng, 1);
    if (vae_init(&m, &mc, &err) != VAE_OK || vae_acts_init(&a, &m, B, &err) != VAE_OK ||
        (workers_mode && vae_workers_init(&w, &m, threads, B, &err) != VAE_OK) ||
        (workers_mode && vae_workers_set_precision(&w, (VaePrecision)prec, &err) != VAE_OK)) {
        fprintf(stderr, "step_probe: %s\n", err.msg);
        return 1;
    }
    vae_init_params(&m, &rng);
    if (!workers_mode) m.precision = (VaePrecision)prec;
    uint32_t N = train.images.count;
    uint32_t *order = malloc((size_t)N * sizeof *order);
    double *t_step = malloc((size_t)steps * sizeof(double)), *t_ph[4], *t_cpu = malloc((size_t)steps * sizeof(double));
    for (int k = 0; k < 4; k++) t_ph[k] = malloc((size_t)steps * sizeof(double));
    if (!order || !t_step || !t_cpu || !t_ph[0] || !t_ph[1] || !t_ph[2] || !t_ph[3]) return 1;
    for (uint32_t i = 0; i < N; i++) order[i] = i;
    rng_shuffle(&rng, order, N);
    openblas_set_num_threads(workers_mode ? 1 : threads);
    AdamConfig ac = {1e-3f, 0.9f, 0.999f, 1e-8f};
    double *noise_u = malloc(((size_t)B * mc.zdim + 1) * sizeof *noise_u);
    if (!noise_u) return 1;
    /* the noise as the trainer hands it over: drawn here, transformed by the workers */
    VaeStepConfig sc = {ac, NULL, NULL, noise_u, 0};
    int Z = mc.zdim;
    int warm = steps / 10 + 5;
    uint32_t pos = 0;
    for (int s = -warm; s < steps; s++) {
        if (pos + (uint32_t)B > N) pos = 0;
        double c0 = cpu_s(), t0 = now_s(), t1 = t0, t2 = t0, t3 = t0;
        VaeLoss l;
        if (workers_mode) {
            rng_normal_uniforms(&rng, noise_u, (size_t)B * Z);
            const char *bad;
            vae_workers_step(&w, &train.images, NULL, order + pos, NULL, B, B, &sc, &l, &bad, &err);
        } else {
            idx_gather(&train.images, order + pos, 0, (uint32_t)B, a.x);
            rng_normal(&rng, a.eps, (size_t)B * Z);
            vae_zero_grad(&m);
            t1 = now_s();
            vae_forward(&m, &a, B, 1, 1, &l);
            t2 = now_s();
            vae_backward(&m, &a, B);
            t3 = now_s();
            adam_update(m.params, m.grads, m.adam_m, m.adam_v, m.n_params, &ac, s + warm + 1);
        }
        double t4 = now_s();
        pos += (uint32_t)B;
        if (s < 0) continue;
        t_step[s] = t4 - t0;
        t_cpu[s] = cpu_s() - c0;
        t_ph[0][s] = t1 - t0;
        t_ph[1][s] = t2 - t1;
        t_ph[2][s] = t3 - t2;
        t_ph[3][s] = t4 - t3;
    }
    double med = quant(t_step, steps, 0.5), p10 = quant(t_step, steps, 0.1), best = t_step[0];
    double cpu_p10 = quant(t_cpu, steps, 0.1), cpu_med = quant(t_cpu, steps, 0.5);
    static const char *const PH[4] = {"gather+eps+zero", "forward", "backward", "adam"};
    if (json) {
        printf("{\"mode\":\"%s\",\"arch\":\"%s\",\"precision\":\"%s\",\"batch\":%d,\"threads\":%d,\"steps\":%d,"
               "\"ms_median\":%.4f,\"ms_p10\":%.4f,\"ms_best\":%.4f,\"images_per_sec_median\":%.1f,"
               "\"images_per_sec_p10\":%.1f,\"cpu_ms_p10\":%.4f,\"cpu_ms_median\":%.4f",
               workers_mode ? "workers" : "blas", vae_arch_name((VaeArch)arch), vae_precision_name((VaePrecision)prec),
               B, threads, steps, med * 1e3, p10 * 1e3, best * 1e3, B / med, B / p10, cpu_p10 * 1e3, cpu_med * 1e3);
        if (!workers_mode)
            for (int k = 0; k < 4; k++) printf(",\"ms_p10_%s\":%.4f", PH[k], quant(t_ph[k], steps, 0.1) * 1e3);
        printf(",\"openblas\":\"%s\"}\n", openblas_get_config());
    } else {
        printf("step_probe %s, %s, %s, batch %d, %d thread(s): median %.3f ms, fastest decile %.3f ms, best %.3f ms"
               " per step -> %.0f images/s (median), %.0f (fastest decile)\n",
               workers_mode ? "workers" : "blas", vae_arch_name((VaeArch)arch), vae_precision_name((VaePrecision)prec),
               B, threads, med * 1e3, p10 * 1e3, best * 1e3, B / med, B / p10);
        printf("  process CPU time per step: fastest decile %.3f ms, median %.3f ms (all threads, spinning included)\n",
               cpu_p10 * 1e3, cpu_med * 1e3);
        if (!workers_mode)
            for (int k = 0; k < 4; k++)
                printf("  %-16s fastest decile %.3f ms, median %.3f ms\n", PH[k], quant(t_ph[k], steps, 0.1) * 1e3,
                       quant(t_ph[k], steps, 0.5) * 1e3);
    }
    vae_workers_free(&w);
    vae_acts_free(&a);
    vae_free(&m);
    idx_split_free(&train);
    free(order);
    free(noise_u);
    free(t_step);
    free(t_cpu);
    for (int k = 0; k < 4; k++) free(t_ph[k]);
    return 0;
}
