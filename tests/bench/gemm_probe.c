/* GEMM-only speed bound for one training step of the default model
 * (784-400-20, fused mu/logvar head): times exactly the 11 cblas_sgemm calls
 * of a step, with the trainer's row-major layout and transpose flags.
 * With --split the batch is cut across T threads that each run the step's
 * GEMMs single-threaded on their rows, as vae's training workers do (its own
 * bound; without --split, OpenBLAS threads each GEMM itself).
 * --precision bf16 runs the same calls through vae_gemm in bf16 (oneDNN,
 * vae/gemm.h), the GEMM bound of vae train --precision bf16.
 * Used by scripts/bench.sh; prints ms/step and the bound in images/s. */
#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vae/gemm.h"
#include "vae/pool.h"

#define N_LAYERS 4

/* The default model's linear layers as (in, out), in forward order:
 * enc.0 784->400, head 400->40 (mu | logvar), dec.0 20->400, dec.1 400->784. */
static const int LAYER_IN[N_LAYERS] = {784, 400, 20, 400};
static const int LAYER_OUT[N_LAYERS] = {400, 40, 400, 784};

typedef struct {
    float *in[N_LAYERS];    /* (B, in)   layer input */
    float *out[N_LAYERS];   /* (B, out)  layer output / its gradient dout */
    float *din[N_LAYERS];   /* (B, in)   input gradient (unused for layer 0) */
    float *W[N_LAYERS];     /* (out, in) weight, nn.Linear layout */
    float *dW[N_LAYERS];    /* (out, in) weight gradient, accumulated */
} Bufs;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Strict integer option parsing: the whole string must be a number in range. */
static int parse_int(const char *s, const char *opt, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "gemm_probe: %s: '%s' is not an integer in %ld..%ld\n", opt, s, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Small deterministic values in [-0.5, 0.5): no denormals, and the beta=1
 * accumulation into dW stays far from overflow over many steps. */
static float *alloc_filled(size_t n, unsigned *state) {
    float *p = malloc(n * sizeof(float));
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) {
        *state = *state * 1664525u + 1013904223u;
        p[i] = (float)(*state >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

static int bufs_init(Bufs *b, int B) {
    unsigned st = 12345u;
    memset(b, 0, sizeof *b);
    for (int l = 0; l < N_LAYERS; l++) {
        size_t nin = (size_t)LAYER_IN[l], nout = (size_t)LAYER_OUT[l], nb = (size_t)B;
        b->in[l] = alloc_filled(nb * nin, &st);
        b->out[l] = alloc_filled(nb * nout, &st);
        b->din[l] = alloc_filled(nb * nin, &st);
        b->W[l] = alloc_filled(nout * nin, &st);
        b->dW[l] = alloc_filled(nout * nin, &st);
        if (!b->in[l] || !b->out[l] || !b->din[l] || !b->W[l] || !b->dW[l]) return -1;
    }
    return 0;
}

static void bufs_free(Bufs *b) {
    for (int l = 0; l < N_LAYERS; l++) {
        free(b->in[l]);
        free(b->out[l]);
        free(b->din[l]);
        free(b->W[l]);
        free(b->dW[l]);
    }
}

static VaePrecision g_prec = VAE_PREC_FP32;

/* One step's GEMMs, as linear_forward / linear_backward issue them
 * (vae_gemm in fp32 is this cblas_sgemm call). */
static void step(Bufs *b, int B) {
    /* forward: out (B, OUT) = in (B, IN) . W^T */
    for (int l = 0; l < N_LAYERS; l++) {
        int nin = LAYER_IN[l], nout = LAYER_OUT[l];  /* not I/O: <complex.h> via cblas.h defines I */
        vae_gemm(g_prec, 0, 1, B, nout, nin, 1.0f, b->in[l], nin, b->W[l], nin, 0.0f, b->out[l], nout);
    }
    /* backward, last layer first: dW (OUT, IN) += dout^T . in;
     * din (B, IN) = dout . W, except for the first layer (input has no grad) */
    for (int l = N_LAYERS - 1; l >= 0; l--) {
        int nin = LAYER_IN[l], nout = LAYER_OUT[l];  /* not I/O: <complex.h> via cblas.h defines I */
        vae_gemm(g_prec, 1, 0, nout, nin, B, 1.0f, b->out[l], nout, b->in[l], nin, 1.0f, b->dW[l], nin);
        if (l > 0)
            vae_gemm(g_prec, 0, 0, B, nin, nout, 1.0f, b->out[l], nout, b->W[l], nin, 0.0f, b->din[l], nin);
    }
}

/* --split: one set of buffers per thread, each over its share of the rows */
typedef struct {
    int n, rows[64];
    Bufs b[64];
    VaePool *pool;
} Split;

static void split_job(void *ctx, int k) {
    Split *sp = ctx;
    if (sp->rows[k] > 0) step(&sp->b[k], sp->rows[k]);
}

static void run_step(Bufs *b, Split *sp, int B) {
    if (sp) vae_pool_run(sp->pool, split_job, sp);
    else step(b, B);
}

static double step_flops(int B) {
    double f = 0;
    for (int l = 0; l < N_LAYERS; l++) {
        double mk = 2.0 * B * LAYER_IN[l] * LAYER_OUT[l];
        f += mk;             /* forward */
        f += mk;             /* dW */
        if (l > 0) f += mk;  /* din */
    }
    return f;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* one n^3 sgemm, timed like the step: the median of the rounds */
static int square_probe(int n, int threads, int round_ms, int rounds, int json) {
    openblas_set_num_threads(threads);
    size_t nn = (size_t)n * n;
    float *A = malloc(nn * sizeof *A), *Bm = malloc(nn * sizeof *Bm), *C = malloc(nn * sizeof *C);
    double *ms = malloc((size_t)rounds * sizeof(double));
    if (!A || !Bm || !C || !ms) { fprintf(stderr, "gemm_probe: out of memory\n"); return 1; }
    for (size_t i = 0; i < nn; i++) A[i] = Bm[i] = (float)(i % 7) * 0.1f;
    int warm = 0;
    double t0 = now_s();
    while (warm < 3 || now_s() - t0 < 0.2) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A, n, Bm, n, 0.0f, C, n);
        warm++;
    }
    long reps = (long)(round_ms / 1000.0 / ((now_s() - t0) / warm));
    if (reps < 2) reps = 2;
    for (int r = 0; r < rounds; r++) {
        double t = now_s();
        for (long k = 0; k < reps; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A, n, Bm, n, 0.0f, C, n);
        ms[r] = (now_s() - t) * 1000.0 / (double)reps;
    }
    qsort(ms, (size_t)rounds, sizeof(double), cmp_double);
    double gflops = 2.0 * n * (double)n * n / (ms[rounds / 2] * 1e6);
    if (json)
        printf("{\"square\": %d, \"threads\": %d, \"ms\": %.4f, \"gflops\": %.2f, \"openblas_config\": \"%s\"}\n", n,
               threads, ms[rounds / 2], gflops, openblas_get_config());
    else
        printf("gemm_probe: one %d^3 sgemm, %d thread(s): %.3f ms, %.1f GFLOP/s  [%s]\n", n, threads, ms[rounds / 2],
               gflops, openblas_get_config());
    if (C[0] != C[0]) fprintf(stderr, "gemm_probe: NaN in results\n");
    free(A), free(Bm), free(C), free(ms);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: gemm_probe [--batch B] [--threads T] [--split] [--precision P] [--ms MS] [--rounds R] [--json]\n"
            "  Times the 11 cblas_sgemm calls of one training step of the default\n"
            "  784-400-20 VAE (forward 4, backward dW 4 + din 3).\n"
            "  --batch B     batch size (default 128)\n"
            "  --threads T   OpenBLAS threads via openblas_set_num_threads (default 1)\n"
            "  --split       instead: T threads (at most 64), each running the GEMMs on its\n"
            "                share of the batch with a single-threaded OpenBLAS\n"
            "  --precision P fp32 (cblas_sgemm, default) or bf16 (oneDNN, where available)\n"
            "  --ms MS       approximate measuring time per round in ms (default 300)\n"
            "  --rounds R    timed rounds; the median round is reported (default 7)\n"
            "  --square N    instead: one N x N x N cblas_sgemm on T OpenBLAS threads, the\n"
            "                machine's sgemm rate (what conv/resnet FLOP/s are compared with)\n"
            "  --json        print one JSON object instead of text\n");
}

int main(int argc, char **argv) {
    int B = 128, threads = 1, round_ms = 300, rounds = 7, json = 0, split = 0, square = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int *target = NULL;
        long lo = 1, hi = 1;
        if (strcmp(a, "--json") == 0) { json = 1; continue; }
        if (strcmp(a, "--split") == 0) { split = 1; continue; }
        if (strcmp(a, "--precision") == 0) {
            int p = i + 1 < argc ? vae_precision_parse(argv[i + 1]) : -1;
            if (p < 0) { fprintf(stderr, "gemm_probe: --precision needs fp32 or bf16\n"); return 2; }
            char why[200];
            if (p == VAE_PREC_BF16 && !vae_bf16_available(why, sizeof why)) {
                fprintf(stderr, "gemm_probe: --precision: bf16 is not available: %s\n", why);
                return 2;
            }
            g_prec = (VaePrecision)p;
            i++;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return 0; }
        if (strcmp(a, "--batch") == 0) { target = &B; hi = 1 << 16; }
        else if (strcmp(a, "--threads") == 0) { target = &threads; hi = 1024; }
        else if (strcmp(a, "--ms") == 0) { target = &round_ms; hi = 600000; }
        else if (strcmp(a, "--rounds") == 0) { target = &rounds; hi = 1000; }
        else if (strcmp(a, "--square") == 0) { target = &square; hi = 8192; }
        else {
            fprintf(stderr, "gemm_probe: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) { fprintf(stderr, "gemm_probe: %s needs a value\n", a); return 2; }
        if (parse_int(argv[++i], a, lo, hi, target) != 0) return 2;
    }

    if (square) return square_probe(square, threads, round_ms, rounds, json);
    if (split && threads > 64) { fprintf(stderr, "gemm_probe: --split takes at most 64 threads\n"); return 2; }
    openblas_set_num_threads(split ? 1 : threads);
    Bufs b;
    if (bufs_init(&b, B) != 0) {
        fprintf(stderr, "gemm_probe: out of memory for batch %d\n", B);
        bufs_free(&b);
        return 1;
    }
    static Split sp_store;
    Split *sp = NULL;
    if (split) {
        sp = &sp_store;
        sp->n = threads;
        VaeError perr;
        if (vae_pool_create(&sp->pool, threads, &perr) != VAE_OK) {
            fprintf(stderr, "gemm_probe: %s\n", perr.msg);
            return 1;
        }
        for (int k = 0; k < threads; k++) {
            sp->rows[k] = (int)((long)B * (k + 1) / threads - (long)B * k / threads);
            if (bufs_init(&sp->b[k], sp->rows[k] > 0 ? sp->rows[k] : 1) != 0) {
                fprintf(stderr, "gemm_probe: out of memory for batch %d\n", B);
                return 1;
            }
        }
    }

    /* Warm-up: thread pool start, page faults, caches; also sizes the rounds. */
    int warm = 0;
    double t0 = now_s();
    while (warm < 5 || now_s() - t0 < 0.2) { run_step(&b, sp, B); warm++; }
    double per_step = (now_s() - t0) / warm;
    long steps = (long)(round_ms / 1000.0 / per_step);
    if (steps < 3) steps = 3;

    double *ms = malloc((size_t)rounds * sizeof(double));
    if (!ms) { bufs_free(&b); fprintf(stderr, "gemm_probe: out of memory\n"); return 1; }
    for (int r = 0; r < rounds; r++) {
        double t = now_s();
        for (long s = 0; s < steps; s++) run_step(&b, sp, B);
        ms[r] = (now_s() - t) * 1000.0 / (double)steps;
    }
    qsort(ms, (size_t)rounds, sizeof(double), cmp_double);
    double med = ms[rounds / 2], best = ms[0];
    double ips = B * 1000.0 / med, gflops = step_flops(B) / (med * 1e6);
    double checksum = 0;   /* keeps the work observable */
    for (int l = 0; l < N_LAYERS; l++) checksum += b.dW[l][0];

    if (json)
        printf("{\"batch\": %d, \"threads\": %d, \"split\": %d, \"steps_per_round\": %ld, \"rounds\": %d, "
               "\"ms_per_step\": %.4f, \"ms_per_step_best\": %.4f, \"images_per_sec\": %.1f, "
               "\"gflop_per_step\": %.4f, \"gflops\": %.2f, \"precision\": \"%s\", \"openblas_config\": \"%s\"}\n",
               B, threads, split, steps, rounds, med, best, ips, step_flops(B) / 1e9, gflops,
               vae_precision_name(g_prec), openblas_get_config());
    else
        printf("gemm_probe: batch %d, %d thread(s)%s: %.3f ms/step (best %.3f), "
               "GEMM-only bound %.0f images/s, %.1f GFLOP/s (%.3f GFLOP/step), %s  [%s]\n",
               B, threads, split ? " split" : "", med, best, ips, gflops, step_flops(B) / 1e9,
               vae_precision_name(g_prec), openblas_get_config());
    if (checksum != checksum) fprintf(stderr, "gemm_probe: NaN in results\n");
    free(ms);
    bufs_free(&b);
    if (sp) {
        for (int k = 0; k < sp->n; k++) bufs_free(&sp->b[k]);
        vae_pool_free(sp->pool);
    }
    return 0;
}
