/* Every implementation oneDNN offers for the primitives of a training step,
 * timed: the conv model's convolutions (forward, backward data, backward
 * weights; 28x28, channels 32,64) and the default MLP's matmuls, in fp32 and
 * bf16, one thread, at one worker's share of a batch. Each candidate's time
 * includes the reorders between our plain fp32 buffers and the layouts it
 * chose (what the trainer pays), and the primitive alone. Run it under
 * ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 to see what a CPU without AMX (AMD
 * Zen 4/5) gets. Used to decide conv_dnnl.c's and gemm.c's choices.
 *   dnnl_impl_probe [batch (64)] [repetitions (15)]
 *   dnnl_impl_probe matmul TA TB M N K REPS   (one vae_gemm shape) */
#include <errno.h>
#ifdef VAE_DNNL_OMP
#include <omp.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define OK(x)                                                                                                  \
    do {                                                                                                       \
        if ((x) != dnnl_success) {                                                                             \
            fprintf(stderr, "dnnl_impl_probe: %s failed at line %d\n", #x, __LINE__);                          \
            exit(1);                                                                                           \
        }                                                                                                      \
    } while (0)

static dnnl_engine_t eng;
static dnnl_stream_t strm;
static int reps = 15;

static dnnl_memory_t mem_filled(const dnnl_memory_desc_t *md) {
    dnnl_memory_t m;
    OK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    void *p;
    OK(dnnl_memory_get_data_handle(m, &p));
    size_t n = dnnl_memory_desc_get_size(md);
    /* small values, no NaN in any format: bytes of 0x3c (f32 ~0.011, bf16 ~0.011) */
    memset(p, 0x3c, n);
    return m;
}

/* one argument: our plain f32 buffer, the primitive's, the reorder between */
typedef struct {
    int arg, output;
    dnnl_memory_t user, mem;
    dnnl_primitive_t re;
} Arg;

static void arg_make(Arg *a, int arg, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
                     int output) {
    a->arg = arg;
    a->output = output;
    a->user = mem_filled(user_md);
    a->re = NULL;
    if (dnnl_memory_desc_equal(user_md, prim_md)) {
        a->mem = a->user;
        return;
    }
    a->mem = mem_filled(prim_md);
    dnnl_primitive_desc_t pd;
    if (output) OK(dnnl_reorder_primitive_desc_create(&pd, prim_md, eng, user_md, eng, NULL));
    else OK(dnnl_reorder_primitive_desc_create(&pd, user_md, eng, prim_md, eng, NULL));
    OK(dnnl_primitive_create(&a->re, pd));
    dnnl_primitive_desc_destroy(pd);
}

static void arg_free(Arg *a) {
    if (a->re) dnnl_primitive_destroy(a->re);
    if (a->mem != a->user) dnnl_memory_destroy(a->mem);
    dnnl_memory_destroy(a->user);
}

static void run_re(Arg *a) {
    if (!a->re) return;
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, a->output ? a->mem : a->user}, {DNNL_ARG_TO, a->output ? a->user : a->mem}};
    OK(dnnl_primitive_execute(a->re, strm, 2, ra));
}

/* Times pd with the user layouts umd[i] for its arguments (query what[i]). */
static void time_pd(const_dnnl_primitive_desc_t pd, int n, const int *argk, const dnnl_query_t *what,
                    const int *idx, const dnnl_memory_desc_t *const *umd, const int *out, double flop) {
    Arg a[6];
    dnnl_exec_arg_t ea[7];
    for (int i = 0; i < n; i++) {
        arg_make(&a[i], argk[i], umd[i], dnnl_primitive_desc_query_md(pd, what[i], idx[i]), out[i]);
        ea[i].arg = argk[i];
        ea[i].memory = a[i].mem;
    }
    int ne = n;
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    dnnl_memory_t sm = NULL;
    if (smd && dnnl_memory_desc_get_size(smd) > 0) {
        sm = mem_filled(smd);
        ea[ne].arg = DNNL_ARG_SCRATCHPAD;
        ea[ne++].memory = sm;
    }
    dnnl_primitive_t p;
    OK(dnnl_primitive_create(&p, pd));
    double best_all = 1e9, best_prim = 1e9;
    for (int r = 0; r <= reps; r++) {
        double t0 = now_s();
        for (int i = 0; i < n; i++)
            if (!a[i].output) run_re(&a[i]);
        OK(dnnl_stream_wait(strm));
        double t1 = now_s();
        OK(dnnl_primitive_execute(p, strm, ne, ea));
        OK(dnnl_stream_wait(strm));
        double t2 = now_s();
        for (int i = 0; i < n; i++)
            if (a[i].output) run_re(&a[i]);
        OK(dnnl_stream_wait(strm));
        double t3 = now_s();
        if (r == 0) continue;
        if (t3 - t0 < best_all) best_all = t3 - t0;
        if (t2 - t1 < best_prim) best_prim = t2 - t1;
    }
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    printf("    %-32s total %8.3f ms  primitive %8.3f ms  %6.1f GFLOP/s\n", impl, best_all * 1e3, best_prim * 1e3,
           flop / best_prim * 1e-9);
    dnnl_primitive_destroy(p);
    if (sm) dnnl_memory_destroy(sm);
    for (int i = 0; i < n; i++) arg_free(&a[i]);
}

/* every implementation of op (with hint for backward passes) */
static void each_impl(const_dnnl_op_desc_t op, const_dnnl_primitive_desc_t hint, int n, const int *argk,
                      const dnnl_query_t *what, const int *idx, const dnnl_memory_desc_t *const *umd, const int *out,
                      double flop) {
    dnnl_primitive_desc_iterator_t it;
    if (dnnl_primitive_desc_iterator_create(&it, op, NULL, eng, hint) != dnnl_success) {
        printf("    (no implementation)\n");
        return;
    }
    do {
        dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
        if (!pd) break;
        const char *impl = "?";
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        /* the reference loops take seconds and are never chosen */
        if (strncmp(impl, "ref", 3) != 0) time_pd(pd, n, argk, what, idx, umd, out, flop);
        dnnl_primitive_desc_destroy(pd);
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
}

/* conv (tr=0) or transposed conv (tr=1) 4x4 stride 2 pad 1 */
static void conv_case(const char *name, int tr, int B, int ic, int ih, int c, dnnl_data_type_t lo) {
    int oh = tr ? ih * 2 : ih / 2;
    dnnl_dims_t src = {B, ic, ih, ih}, dst = {B, c, oh, oh}, w = {c, ic, 4, 4}, bias = {c};
    dnnl_dims_t st = {2, 2}, pad = {1, 1};
    dnnl_memory_desc_t src_u, dst_u, w_u, b_u, src_a, dst_a, w_a, dsrc_a, ddst_a, dw_a;
    OK(dnnl_memory_desc_init_by_tag(&src_u, 4, src, dnnl_f32, dnnl_bacd));
    OK(dnnl_memory_desc_init_by_tag(&dst_u, 4, dst, dnnl_f32, dnnl_bacd));
    OK(dnnl_memory_desc_init_by_tag(&w_u, 4, w, dnnl_f32, tr ? dnnl_iohw : dnnl_oihw));
    OK(dnnl_memory_desc_init_by_tag(&b_u, 1, bias, dnnl_f32, dnnl_x));
    OK(dnnl_memory_desc_init_by_tag(&src_a, 4, src, lo, dnnl_format_tag_any));
    OK(dnnl_memory_desc_init_by_tag(&dst_a, 4, dst, dnnl_f32, dnnl_format_tag_any));
    OK(dnnl_memory_desc_init_by_tag(&w_a, 4, w, lo, dnnl_format_tag_any));
    OK(dnnl_memory_desc_init_by_tag(&dsrc_a, 4, src, dnnl_f32, dnnl_format_tag_any));
    OK(dnnl_memory_desc_init_by_tag(&ddst_a, 4, dst, lo, dnnl_format_tag_any));
    OK(dnnl_memory_desc_init_by_tag(&dw_a, 4, w, dnnl_f32, dnnl_format_tag_any));
    /* multiply-adds: output pixels x kernel x in channels (either direction) */
    double flop = 2.0 * B * (tr ? ih * ih : oh * oh) * 16.0 * ic * c;
    const char *dt = lo == dnnl_bf16 ? "bf16" : "fp32";
    union {
        dnnl_convolution_desc_t c;
        dnnl_deconvolution_desc_t d;
    } fd, bd, wd;
    if (tr) {
        OK(dnnl_deconvolution_forward_desc_init(&fd.d, dnnl_forward_training, dnnl_deconvolution_direct, &src_a, &w_a,
                                                NULL, &dst_a, st, pad, pad));
        OK(dnnl_deconvolution_backward_data_desc_init(&bd.d, dnnl_deconvolution_direct, &dsrc_a, &w_a, &ddst_a, st,
                                                      pad, pad));
        OK(dnnl_deconvolution_backward_weights_desc_init(&wd.d, dnnl_deconvolution_direct, &src_a, &dw_a,
                                                         lo == dnnl_bf16 ? NULL : &b_u, &ddst_a, st, pad, pad));
    } else {
        OK(dnnl_convolution_forward_desc_init(&fd.c, dnnl_forward_training, dnnl_convolution_direct, &src_a, &w_a,
                                              &b_u, &dst_a, st, pad, pad));
        OK(dnnl_convolution_backward_data_desc_init(&bd.c, dnnl_convolution_direct, &dsrc_a, &w_a, &ddst_a, st, pad,
                                                    pad));
        OK(dnnl_convolution_backward_weights_desc_init(&wd.c, dnnl_convolution_direct, &src_a, &dw_a,
                                                       lo == dnnl_bf16 ? NULL : &b_u, &ddst_a, st, pad, pad));
    }
    dnnl_primitive_desc_t hint;
    OK(dnnl_primitive_desc_create(&hint, &fd, NULL, eng, NULL));
    printf("%s %s %dx%dx%d -> %dx%dx%d, batch %d, %s\n", name, tr ? "convT" : "conv", ic, ih, ih, c, oh, oh, B, dt);
    {
        int ak[] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
        dnnl_query_t q[] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_weights_md, dnnl_query_dst_md};
        int ix[] = {0, 0, 1, 0}, out[] = {0, 0, 0, 1};
        const dnnl_memory_desc_t *u[] = {&src_u, &w_u, &b_u, &dst_u};
        printf("  forward\n");
        if (tr) {
            int ak2[] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
            dnnl_query_t q2[] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md};
            int ix2[] = {0, 0, 0}, out2[] = {0, 0, 1};
            const dnnl_memory_desc_t *u2[] = {&src_u, &w_u, &dst_u};
            each_impl(&fd, NULL, 3, ak2, q2, ix2, u2, out2, flop);
        } else {
            each_impl(&fd, NULL, 4, ak, q, ix, u, out, flop);
        }
    }
    {
        int ak[] = {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC};
        dnnl_query_t q[] = {dnnl_query_diff_dst_md, dnnl_query_weights_md, dnnl_query_diff_src_md};
        int ix[] = {0, 0, 0}, out[] = {0, 0, 1};
        const dnnl_memory_desc_t *u[] = {&dst_u, &w_u, &src_u};
        printf("  backward data\n");
        each_impl(&bd, hint, 3, ak, q, ix, u, out, flop);
    }
    {
        int ak[] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS};
        dnnl_query_t q[] = {dnnl_query_src_md, dnnl_query_diff_dst_md, dnnl_query_diff_weights_md,
                            dnnl_query_diff_weights_md};
        int ix[] = {0, 0, 0, 1}, out[] = {0, 0, 1, 1};
        const dnnl_memory_desc_t *u[] = {&src_u, &dst_u, &w_u, &b_u};
        printf("  backward weights\n");
        each_impl(&wd, hint, lo == dnnl_bf16 ? 3 : 4, ak, q, ix, u, out, flop);
    }
    dnnl_primitive_desc_destroy(hint);
}

/* C (M, N) = op(A) op(B), row-major, A/B transposed as stored */
static void matmul_case(int ta, int tb, int M, int N, int K, dnnl_data_type_t lo, int b_any) {
    dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {M, N};
    dnnl_dims_t as = {ta ? 1 : K, ta ? M : 1}, bs = {tb ? 1 : N, tb ? K : 1}, cs = {N, 1};
    dnnl_memory_desc_t a_md, b_md, c_md, au, bu;
    OK(dnnl_memory_desc_init_by_strides(&a_md, 2, ad, lo, as));
    if (b_any) OK(dnnl_memory_desc_init_by_tag(&b_md, 2, bd, lo, dnnl_format_tag_any));
    else OK(dnnl_memory_desc_init_by_strides(&b_md, 2, bd, lo, bs));
    OK(dnnl_memory_desc_init_by_strides(&c_md, 2, cd, dnnl_f32, cs));
    OK(dnnl_memory_desc_init_by_strides(&au, 2, ad, dnnl_f32, as));
    OK(dnnl_memory_desc_init_by_strides(&bu, 2, bd, dnnl_f32, bs));
    dnnl_matmul_desc_t md;
    OK(dnnl_matmul_desc_init(&md, &a_md, &b_md, NULL, &c_md));
    printf("matmul %c%c %dx%dx%d %s%s (totals include reordering A and B from f32)\n", ta ? 'T' : 'N',
           tb ? 'T' : 'N', M, N, K, lo == dnnl_bf16 ? "bf16" : "fp32", b_any ? ", B in its chosen layout" : "");
    if (!b_any && lo == dnnl_f32) {
        /* what the fp32 path runs */
        size_t na = (size_t)M * K, nb = (size_t)K * N;
        float *A = calloc(na, 4), *Bm = calloc(nb, 4), *C = calloc((size_t)M * N, 4);
        if (!A || !Bm || !C) exit(1);
        double best = 1e9;
        for (int r = 0; r <= reps; r++) {
            double t0 = now_s();
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                        A, ta ? M : K, Bm, tb ? K : N, 0.0f, C, N);
            double t = now_s() - t0;
            if (r > 0 && t < best) best = t;
        }
        printf("    %-32s total %8.3f ms  primitive %8.3f ms  %6.1f GFLOP/s\n", "cblas_sgemm", best * 1e3,
               best * 1e3, 2.0 * M * N * K / best * 1e-9);
        free(A), free(Bm), free(C);
    }
    int ak[] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    dnnl_query_t q[] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md};
    int ix[] = {0, 0, 0}, out[] = {0, 0, 1};
    const dnnl_memory_desc_t *u[] = {&au, &bu, &c_md};
    each_impl(&md, NULL, 3, ak, q, ix, u, out, 2.0 * M * N * K);
}

static int parse_pos(const char *s, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 0 || v > hi) return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv) {
    int B = 64;
    if (argc == 8 && strcmp(argv[1], "matmul") == 0) {
        /* one shape: matmul TA TB M N K REPS */
        int sh[6];
        for (int i = 0; i < 6; i++)
            if (parse_pos(argv[i + 2], 1 << 20, &sh[i]) != 0) {
                fprintf(stderr, "usage: dnnl_impl_probe matmul TA TB M N K REPS\n");
                return 2;
            }
        reps = sh[5] > 0 ? sh[5] : 1;
#ifdef VAE_DNNL_OMP
        omp_set_num_threads(1);
#endif
        openblas_set_num_threads(1);
        OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
        OK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
        matmul_case(sh[0], sh[1], sh[2], sh[3], sh[4], dnnl_f32, 0);
        matmul_case(sh[0], sh[1], sh[2], sh[3], sh[4], dnnl_bf16, 0);
        return 0;
    }
    for (int i = 1; i < argc && i < 3; i++) {
        char *end;
        errno = 0;
        long v = strtol(argv[i], &end, 10);
        if (errno || *end || end == argv[i] || v < 1 || v > 100000) {
            fprintf(stderr, "usage: dnnl_impl_probe [batch] [repetitions]\n");
            return 2;
        }
        if (i == 1) B = (int)v;
        else reps = (int)v;
    }
#ifdef VAE_DNNL_OMP
    omp_set_num_threads(1);
#endif
    openblas_set_num_threads(1);
    OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    OK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    printf("oneDNN %d.%d.%d, effective ISA mask 0x%x; fastest of %d, 1 thread\n", v->major, v->minor, v->patch,
           (unsigned)dnnl_get_effective_cpu_isa(), reps);
    for (int p = 0; p < 2; p++) {
        dnnl_data_type_t lo = p ? dnnl_bf16 : dnnl_f32;
        conv_case("enc.0", 0, B, 1, 28, 32, lo);
        conv_case("enc.1", 0, B, 32, 14, 64, lo);
        conv_case("dec.3", 1, B, 64, 7, 32, lo);
        conv_case("dec.4", 1, B, 32, 14, 1, lo);
    }
    /* the default MLP's step at B rows: forward NT, weight gradient TN, input gradient NN */
    static const int IN[4] = {784, 400, 20, 400}, OUT[4] = {400, 40, 400, 784};
    for (int l = 0; l < 4; l++)
        for (int p = 0; p < 2; p++) {
            dnnl_data_type_t lo = p ? dnnl_bf16 : dnnl_f32;
            matmul_case(0, 1, B, OUT[l], IN[l], lo, 0);
            if (p) matmul_case(0, 1, B, OUT[l], IN[l], lo, 1);
            matmul_case(1, 0, OUT[l], IN[l], B, lo, 0);
            if (l > 0) matmul_case(0, 0, B, IN[l], OUT[l], lo, 0);
            if (l > 0 && p) matmul_case(0, 0, B, IN[l], OUT[l], lo, 1);
        }
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return 0;
}
