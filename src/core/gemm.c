/* The GEMM entry point (see vae/gemm.h): fp32 through cblas_sgemm, bf16
 * through a cached oneDNN matmul primitive over inputs rounded to bfloat16
 * in per-thread buffers. Built without oneDNN (VAE_HAVE_DNNL undefined)
 * only the fp32 path and the conversions exist. */
#include "vae/gemm.h"

#include <cblas.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define VAE_X86 1
#endif

#ifdef VAE_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#ifdef VAE_DNNL_OMP
#include <omp.h>
#endif
#endif

const char *vae_precision_name(VaePrecision p) {
    switch (p) {
    case VAE_PREC_FP32: return "fp32";
    case VAE_PREC_BF16: return "bf16";
    default: return "?";
    }
}

int vae_precision_parse(const char *s) {
    if (!s) return -1;
    if (strcmp(s, "fp32") == 0) return VAE_PREC_FP32;
    if (strcmp(s, "bf16") == 0) return VAE_PREC_BF16;
    return -1;
}

/* ---- f32 -> bf16, round to nearest even (VCVTNEPS2BF16's rules) ---- */

uint16_t vae_f32_to_bf16_scalar(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t mag = u & 0x7fffffffu;
    if (mag > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);   /* NaN: quiet, sign kept */
    if (mag < 0x00800000u) return (uint16_t)((u >> 16) & 0x8000u);   /* zero, subnormal: signed 0 */
    /* adding 0x7fff plus the lowest kept bit rounds half to even; a carry
       into the exponent is the correct rounding up (to infinity at the top) */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float vae_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void cvt_scalar(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = vae_f32_to_bf16_scalar(src[i]);
}

#ifdef VAE_X86
/* 32 values per instruction; the tail through masked loads and stores */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) static void cvt_avx512(uint16_t *dst,
                                                                                        const float *src,
                                                                                        size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh r = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void *)(dst + i), (__m512i)r);
    }
    for (; i < n; i += 16) {
        size_t left = n - i;
        __mmask16 k = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        __m256bh r = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, src + i));
        _mm256_mask_storeu_epi16((void *)(dst + i), k, (__m256i)r);
    }
}
#endif

static int cpu_has_avx512_bf16(void) {
#ifdef VAE_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

void vae_f32_to_bf16(uint16_t *dst, const float *src, size_t n) {
#ifdef VAE_X86
    static int have = -1;   /* a benign race: every thread computes the same value */
    if (have < 0) have = cpu_has_avx512_bf16();
    if (have) {
        cvt_avx512(dst, src, n);
        return;
    }
#endif
    cvt_scalar(dst, src, n);
}

/* ---- failures of the bf16 path: counted, the first one kept ---- */

static pthread_mutex_t g_fail_lock = PTHREAD_MUTEX_INITIALIZER;
static long g_failures;
static char g_fail_msg[256];

#ifdef VAE_HAVE_DNNL
static void note_failure(const char *fmt, ...) {
    pthread_mutex_lock(&g_fail_lock);
    if (g_failures++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_fail_msg, sizeof g_fail_msg, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&g_fail_lock);
}
#endif

long vae_gemm_failures(char *msg, size_t len) {
    pthread_mutex_lock(&g_fail_lock);
    long n = g_failures;
    if (msg && len) snprintf(msg, len, "%s", g_fail_msg);
    pthread_mutex_unlock(&g_fail_lock);
    return n;
}

/* ---- registered bf16 shadows and stable blocks (vae/gemm.h) ---- */

typedef struct {
    uintptr_t lo, hi;           /* the fp32 block's bytes [lo, hi) */
    const uint16_t *shadow;     /* its bf16 copy; NULL: a stable block (rounded once per
                                   vae_gemm_stable_begin, per thread) */
} Shadow;

static pthread_mutex_t g_shadow_lock = PTHREAD_MUTEX_INITIALIZER;
static Shadow g_shadows[VAE_GEMM_MAX_SHADOWS];
static int g_n_shadows;
static int g_n_stable;          /* stable blocks among them (read without the lock: atomics) */
static unsigned g_stable_gen;   /* bumped at every (un)registration of a stable block */

static int block_register(const float *base, size_t n, const uint16_t *shadow) {
    int rc = -1;
    pthread_mutex_lock(&g_shadow_lock);
    if (g_n_shadows < VAE_GEMM_MAX_SHADOWS) {
        g_shadows[g_n_shadows++] = (Shadow){(uintptr_t)base, (uintptr_t)(base + n), shadow};
        if (!shadow) {
            __atomic_add_fetch(&g_n_stable, 1, __ATOMIC_RELEASE);
            __atomic_add_fetch(&g_stable_gen, 1, __ATOMIC_RELEASE);
        }
        rc = 0;
    }
    pthread_mutex_unlock(&g_shadow_lock);
    return rc;
}

int vae_gemm_shadow_register(const float *base, size_t n, const uint16_t *shadow) {
    return shadow ? block_register(base, n, shadow) : -1;
}

int vae_gemm_stable_register(const float *base, size_t n) { return block_register(base, n, NULL); }

void vae_gemm_shadow_unregister(const float *base) {
    pthread_mutex_lock(&g_shadow_lock);
    for (int i = 0; i < g_n_shadows; i++)
        if (g_shadows[i].lo == (uintptr_t)base) {
            if (!g_shadows[i].shadow) {
                __atomic_sub_fetch(&g_n_stable, 1, __ATOMIC_RELEASE);
                __atomic_add_fetch(&g_stable_gen, 1, __ATOMIC_RELEASE);
            }
            g_shadows[i] = g_shadows[--g_n_shadows];
            break;
        }
    pthread_mutex_unlock(&g_shadow_lock);
}

#ifdef VAE_HAVE_DNNL
/* Where the stored (rows, cols) matrix src with row stride ld lies: in a
   shadowed block (returns the bf16 copy at the same offset), in a stable
   block (returns NULL, *stable = 1) or elsewhere (NULL, *stable = 0). A
   block only counts for a contiguous matrix wholly inside it. */
static const uint16_t *block_of(const float *src, int rows, int cols, int ld, int *stable) {
    *stable = 0;
    if (ld != cols) return NULL;
    uintptr_t lo = (uintptr_t)src, hi = (uintptr_t)(src + (size_t)rows * cols);
    const uint16_t *hit = NULL;
    pthread_mutex_lock(&g_shadow_lock);
    for (int i = 0; i < g_n_shadows; i++)
        if (lo >= g_shadows[i].lo && hi <= g_shadows[i].hi) {
            if (g_shadows[i].shadow) hit = g_shadows[i].shadow + (lo - g_shadows[i].lo) / sizeof(float);
            else *stable = 1;
            break;
        }
    pthread_mutex_unlock(&g_shadow_lock);
    return hit;
}
#endif

#ifdef VAE_HAVE_DNNL
/* fp32 GEMMs with an untransposed A (the layers' forward products and input
 * gradients: few rows, one worker's share of a batch) through oneDNN's
 * sgemm, faster there than OpenBLAS 0.3.21 (1 thread, batch 64, inside a
 * conv training step: the decoder's 256 -> 3136 layer forward 2.2 -> 1.8 ms,
 * both linear layers' input gradients ~1 ms less each; alone the MLP's
 * shapes 0-25 % faster). Not the weight gradients (A transposed, K = rows),
 * where OpenBLAS was as fast or faster, nor a long reduction into a narrow
 * transposed B (K > 2N: the encoder's 3136 -> 256 forward, 2.0 ms on
 * OpenBLAS, 2.6 on oneDNN). Same thread count as OpenBLAS has (one inside
 * the trainer's workers). VAE_SGEMM=openblas turns it off (benchmarks). */
static int use_dnnl_sgemm(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("VAE_SGEMM");
        on = !(e && strcmp(e, "openblas") == 0);
    }
    return on;
}
#endif

static void sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
#ifdef VAE_HAVE_DNNL
    if (!transA && !(transB && K > 2 * N) && M > 0 && N > 0 && K > 0 && use_dnnl_sgemm()) {
#ifdef VAE_DNNL_OMP
        int want = openblas_get_num_threads();
        if (want < 1) want = 1;
        if (omp_get_max_threads() != want) omp_set_num_threads(want);
#endif
        if (dnnl_sgemm('N', transB ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == dnnl_success) return;
    }
#endif
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ---- availability ---- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_bf16_ok;
static char g_why[200];

#ifdef VAE_HAVE_DNNL
static dnnl_engine_t g_engine;

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch ((int)isa) {
    case dnnl_cpu_isa_sse41: return "SSE4.1";
    case dnnl_cpu_isa_avx: return "AVX";
    case dnnl_cpu_isa_avx2: return "AVX2";
    case dnnl_cpu_isa_avx512_core: return "AVX-512";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX-512 with VNNI";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX-512 with BF16";
    case dnnl_cpu_isa_avx512_core_amx: return "AVX-512 with BF16 and AMX";
    default: return "another instruction set";
    }
}
#endif

static void detect(void) {
#ifndef VAE_HAVE_DNNL
    snprintf(g_why, sizeof g_why, "this vae was built without oneDNN (install libdnnl-dev and rebuild)");
#else
    if (!cpu_has_avx512_bf16()) {
        snprintf(g_why, sizeof g_why,
                 "this CPU has no AVX-512 BF16 instructions (Intel Cooper Lake, Sapphire Rapids or later; "
                 "AMD Zen 4 or later have them)");
        return;
    }
    /* oneDNN's own view, which DNNL_MAX_CPU_ISA can lower; ISA values are
       nested bit masks, so "includes bf16" is a mask test */
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) != (unsigned)dnnl_cpu_isa_avx512_core_bf16) {
        snprintf(g_why, sizeof g_why, "oneDNN runs %s kernels here (DNNL_MAX_CPU_ISA set?), bf16 needs AVX-512 BF16",
                 isa_name(isa));
        return;
    }
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) {
        snprintf(g_why, sizeof g_why, "oneDNN could not create its CPU engine");
        return;
    }
    g_bf16_ok = 1;
#endif
}

int vae_bf16_available(char *why, size_t len) {
    pthread_once(&g_once, detect);
    if (why && len) snprintf(why, len, "%s", g_bf16_ok ? "" : g_why);
    return g_bf16_ok;
}

void vae_sgemm_describe(char *buf, size_t len) {
#ifdef VAE_HAVE_DNNL
    if (use_dnnl_sgemm()) {
        const dnnl_version_t *v = dnnl_version();
        snprintf(buf, len,
                 "oneDNN %d.%d.%d sgemm for forward products and input gradients, OpenBLAS for weight gradients "
                 "(VAE_SGEMM=openblas: all on OpenBLAS)",
                 v->major, v->minor, v->patch);
        return;
    }
    snprintf(buf, len, "OpenBLAS cblas_sgemm (VAE_SGEMM=openblas)");
#else
    snprintf(buf, len, "OpenBLAS cblas_sgemm");
#endif
}

void vae_bf16_describe(char *buf, size_t len) {
    char why[200];
    if (!vae_bf16_available(why, sizeof why)) {
        snprintf(buf, len, "bf16: not available (%s)", why);
        return;
    }
#ifdef VAE_HAVE_DNNL
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, len, "bf16: available (oneDNN %d.%d.%d, %s)", v->major, v->minor, v->patch,
             isa_name(dnnl_get_effective_cpu_isa()));
#endif
}

#ifdef VAE_HAVE_DNNL
/* ---- primitive cache ---- */

typedef struct {
    int ta, tb, M, N, K, ldc, nthr;
    float alpha, beta;
    dnnl_memory_desc_t a_md, b_md, c_md, s_md;
    size_t scratch_bytes;
    dnnl_primitive_t prim;
} Prim;

static pthread_mutex_t g_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static Prim *g_cache;
static int g_n, g_cap;

/* row-major (rows, cols) bf16 matrix, packed, read transposed when trans:
   the logical (rows', cols') = trans ? (cols, rows) : (rows, cols) */
static dnnl_status_t packed_md(dnnl_memory_desc_t *md, int rows, int cols, int trans, dnnl_data_type_t dt) {
    dnnl_dims_t dims, strides;
    dims[0] = trans ? cols : rows;
    dims[1] = trans ? rows : cols;
    strides[0] = trans ? 1 : cols;
    strides[1] = trans ? cols : 1;
    return dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

static Prim *create_prim(int ta, int tb, int M, int N, int K, int ldc, int nthr, float alpha, float beta) {
    Prim p;
    memset(&p, 0, sizeof p);
    p.ta = ta, p.tb = tb, p.M = M, p.N = N, p.K = K, p.ldc = ldc, p.nthr = nthr, p.alpha = alpha, p.beta = beta;
    dnnl_dims_t cd = {M, N}, cs = {ldc, 1};
    /* A stored (M, K) or (K, M); B stored (K, N) or (N, K); both packed */
    if (packed_md(&p.a_md, ta ? K : M, ta ? M : K, ta, dnnl_bf16) != dnnl_success ||
        packed_md(&p.b_md, tb ? N : K, tb ? K : N, tb, dnnl_bf16) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&p.c_md, 2, cd, dnnl_f32, cs) != dnnl_success) {
        note_failure("oneDNN refused the memory descriptors of a %dx%dx%d GEMM", M, N, K);
        return NULL;
    }
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_matmul_desc_init(&desc, &p.a_md, &p.b_md, NULL, &p.c_md);
    if (st == dnnl_success) st = dnnl_primitive_attr_create(&attr);
    /* our own scratchpad per thread: concurrent calls never share one */
    if (st == dnnl_success) st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success && alpha != 1.0f) st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha);
    if (st == dnnl_success && beta != 0.0f) {
        /* C = alpha AB + beta C: the sum post-op reads C before writing it */
        st = dnnl_post_ops_create(&ops);
        if (st == dnnl_success) st = dnnl_post_ops_append_sum(ops, beta);
        if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, ops);
    }
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, &desc, attr, g_engine, NULL);
    if (st == dnnl_success) {
        const dnnl_memory_desc_t *s = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        if (s) p.s_md = *s;
        p.scratch_bytes = s ? dnnl_memory_desc_get_size(s) : 0;
        st = dnnl_primitive_create(&p.prim, pd);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) {
        note_failure("oneDNN could not create a bf16 matmul of %dx%dx%d (status %d)", M, N, K, (int)st);
        return NULL;
    }
    if (g_n == g_cap) {
        int cap = g_cap ? 2 * g_cap : 32;
        Prim *c = realloc(g_cache, (size_t)cap * sizeof *c);
        if (!c) {
            dnnl_primitive_destroy(p.prim);
            note_failure("out of memory caching a bf16 matmul");
            return NULL;
        }
        g_cache = c;
        g_cap = cap;
    }
    g_cache[g_n] = p;
    return &g_cache[g_n++];
}

static int same_call(const Prim *p, int ta, int tb, int M, int N, int K, int ldc, int nthr, float alpha,
                     float beta) {
    return p->M == M && p->N == N && p->K == K && p->ta == ta && p->tb == tb && p->ldc == ldc && p->nthr == nthr &&
           p->alpha == alpha && p->beta == beta;
}

/* The cached primitive for this call (created on first use), or NULL. The
   cache only grows, and entries are copied out under the lock, so the
   returned copy stays valid while other threads add entries. */
static int find_prim(Prim *out, int ta, int tb, int M, int N, int K, int ldc, int nthr, float alpha, float beta) {
    pthread_mutex_lock(&g_cache_lock);
    Prim *hit = NULL;
    for (int i = 0; i < g_n && !hit; i++) {
        if (same_call(&g_cache[i], ta, tb, M, N, K, ldc, nthr, alpha, beta)) hit = &g_cache[i];
    }
    if (!hit) hit = create_prim(ta, tb, M, N, K, ldc, nthr, alpha, beta);
    if (hit) *out = *hit;
    pthread_mutex_unlock(&g_cache_lock);
    return hit != NULL;
}

/* ---- per-thread state: a stream and the bf16 / scratchpad buffers ---- */

/* the bf16 copy of one operand read from a stable block since the thread's
   last vae_gemm_stable_begin */
typedef struct {
    const float *src;
    int rows, cols;
    uint16_t *buf;
    size_t cap;                     /* in bf16 values */
} Memo;

#define MEMO_SLOTS 24

/* A cached primitive as one thread runs it: its own memory objects for the
 * operands, the output and the scratchpad, created once and pointed at each
 * call's buffers (dnnl_memory_set_data_handle), so that a call costs no
 * lock, no search of the shared cache and no memory object creation (four
 * creations and destructions per call were ~5 % of a bf16 MLP step). */
typedef struct {
    Prim p;
    dnnl_memory_t a, b, c, s;       /* s NULL without a scratchpad */
} Bound;

#define BOUND_SLOTS 48

typedef struct {
    dnnl_stream_t stream;
    uint16_t *a, *b;
    size_t a_cap, b_cap;            /* in bf16 values */
    void *scratch;
    size_t scratch_cap;             /* bytes */
    Memo memo[MEMO_SLOTS];          /* [0, n_memo) are current; the buffers are kept */
    int n_memo;
    unsigned memo_gen;              /* g_stable_gen they were made under (blocks registered
                                       since may reuse the addresses) */
    Memo held;                      /* vae_gemm_hold's matrix (src NULL: none) */
    int held_done;                  /* held.buf holds its bf16 copy */
    Bound bound[BOUND_SLOTS];       /* [0, n_bound): this thread's primitives with their
                                       memory objects, most recently added last */
    int n_bound;
} ThreadState;

static pthread_key_t g_key;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

/* the memory objects of a bound primitive (those not created are NULL) */
static void bound_free(Bound *e) {
    if (e->a) dnnl_memory_destroy(e->a);
    if (e->b) dnnl_memory_destroy(e->b);
    if (e->c) dnnl_memory_destroy(e->c);
    if (e->s) dnnl_memory_destroy(e->s);
}

static void thread_state_free(void *v) {
    ThreadState *t = v;
    if (!t) return;
    if (t->stream) dnnl_stream_destroy(t->stream);
    free(t->a);
    free(t->b);
    free(t->scratch);
    for (int i = 0; i < MEMO_SLOTS; i++) free(t->memo[i].buf);
    free(t->held.buf);
    for (int i = 0; i < t->n_bound; i++) bound_free(&t->bound[i]);
    free(t);
}

static void make_key(void) {
    if (pthread_key_create(&g_key, thread_state_free) != 0) g_key = 0;
}

static ThreadState *thread_state(void) {
    pthread_once(&g_key_once, make_key);
    ThreadState *t = pthread_getspecific(g_key);
    if (t) return t;
    t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (dnnl_stream_create(&t->stream, g_engine, dnnl_stream_default_flags) != dnnl_success ||
        pthread_setspecific(g_key, t) != 0) {
        thread_state_free(t);
        return NULL;
    }
    return t;
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    /* 64-byte aligned, as the AVX-512 kernels like their operands */
    size_t bytes = (need * elem + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    if (!p) return -1;
    free(*buf);
    *buf = p;
    *cap = need;
    return 0;
}

/* src (rows, cols) with row stride ld -> dst packed (rows, cols) bf16 */
static void pack_bf16(uint16_t *dst, const float *src, int rows, int cols, int ld) {
    if (ld == cols) {
        vae_f32_to_bf16(dst, src, (size_t)rows * cols);
        return;
    }
    for (int r = 0; r < rows; r++) vae_f32_to_bf16(dst + (size_t)r * cols, src + (size_t)r * ld, (size_t)cols);
}

/* The bf16 operand for the stored (rows, cols) matrix src (row stride ld):
   a registered shadow; for a stable block, the copy this thread made since
   its last vae_gemm_stable_begin, made now if there is none; otherwise
   rounded into *tmp. NULL: out of memory. */
static const uint16_t *operand(ThreadState *t, const float *src, int rows, int cols, int ld, uint16_t **tmp,
                               size_t *tmp_cap) {
    size_t n = (size_t)rows * cols;
    Memo *h = &t->held;
    if (h->src == src && h->rows == rows && h->cols == cols && ld == cols) {
        if (!t->held_done) {
            if (grow((void **)&h->buf, &h->cap, n, sizeof(uint16_t)) != 0) return NULL;
            vae_f32_to_bf16(h->buf, src, n);
            t->held_done = 1;
        }
        return h->buf;
    }
    int stable;
    const uint16_t *hit = block_of(src, rows, cols, ld, &stable);
    if (hit) return hit;
    if (stable) {
        unsigned gen = __atomic_load_n(&g_stable_gen, __ATOMIC_ACQUIRE);
        if (t->memo_gen != gen) t->n_memo = 0, t->memo_gen = gen;
        for (int i = 0; i < t->n_memo; i++) {
            Memo *e = &t->memo[i];
            if (e->src == src && e->rows == rows && e->cols == cols) return e->buf;
        }
        if (t->n_memo < MEMO_SLOTS) {
            Memo *e = &t->memo[t->n_memo];
            if (grow((void **)&e->buf, &e->cap, n, sizeof(uint16_t)) != 0) return NULL;
            vae_f32_to_bf16(e->buf, src, n);
            e->src = src, e->rows = rows, e->cols = cols;
            t->n_memo++;
            return e->buf;
        }
    }
    if (grow((void **)tmp, tmp_cap, n, sizeof(uint16_t)) != 0) return NULL;
    pack_bf16(*tmp, src, rows, cols, ld);
    return *tmp;
}

/* This thread's bound primitive for the call, made on first use (the
 * primitive from the shared cache, memory objects of its own, pointing
 * nowhere yet); NULL when oneDNN fails (noted). With every slot taken the
 * oldest is reused. */
static Bound *bound_prim(ThreadState *t, int ta, int tb, int M, int N, int K, int ldc, int nthr, float alpha,
                         float beta) {
    for (int i = t->n_bound - 1; i >= 0; i--)
        if (same_call(&t->bound[i].p, ta, tb, M, N, K, ldc, nthr, alpha, beta)) return &t->bound[i];
    Bound e;
    memset(&e, 0, sizeof e);
    if (!find_prim(&e.p, ta, tb, M, N, K, ldc, nthr, alpha, beta)) return NULL;
    dnnl_status_t st = dnnl_memory_create(&e.a, &e.p.a_md, g_engine, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&e.b, &e.p.b_md, g_engine, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&e.c, &e.p.c_md, g_engine, DNNL_MEMORY_NONE);
    if (st == dnnl_success && e.p.scratch_bytes) st = dnnl_memory_create(&e.s, &e.p.s_md, g_engine, DNNL_MEMORY_NONE);
    if (st != dnnl_success) {
        bound_free(&e);
        note_failure("oneDNN could not create the memory objects of a %dx%dx%d GEMM (status %d)", M, N, K, (int)st);
        return NULL;
    }
    if (t->n_bound == BOUND_SLOTS) {
        bound_free(&t->bound[0]);
        memmove(&t->bound[0], &t->bound[1], (BOUND_SLOTS - 1) * sizeof *t->bound);
        t->n_bound--;
    }
    t->bound[t->n_bound] = e;
    return &t->bound[t->n_bound++];
}

static int bf16_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc) {
    /* as many threads as OpenBLAS would use on this thread (vae/gemm.h) */
    int nthr = openblas_get_num_threads();
    if (nthr < 1) nthr = 1;
#ifdef VAE_DNNL_OMP
    /* a per-thread setting in OpenMP: each worker keeps its own */
    if (omp_get_max_threads() != nthr) omp_set_num_threads(nthr);
#endif
    ThreadState *t = thread_state();
    if (!t) {
        note_failure("out of memory for a thread's bf16 state");
        return -1;
    }
    Bound *e = bound_prim(t, ta, tb, M, N, K, ldc, nthr, alpha, beta);
    if (!e) return -1;
    /* the operands in bf16: a registered shadow, a stable block's copy, or converted here */
    const uint16_t *a16 = operand(t, A, ta ? K : M, ta ? M : K, lda, &t->a, &t->a_cap);
    const uint16_t *b16 = operand(t, B, tb ? N : K, tb ? K : N, ldb, &t->b, &t->b_cap);
    if (!a16 || !b16 || grow(&t->scratch, &t->scratch_cap, e->p.scratch_bytes, 1) != 0) {
        note_failure("out of memory for the bf16 copies of a %dx%dx%d GEMM", M, N, K);
        return -1;
    }
    /* oneDNN takes non-const handles; the matmul only reads its inputs */
    dnnl_status_t st = dnnl_memory_set_data_handle(e->a, (void *)a16);
    if (st == dnnl_success) st = dnnl_memory_set_data_handle(e->b, (void *)b16);
    if (st == dnnl_success) st = dnnl_memory_set_data_handle(e->c, C);
    if (st == dnnl_success && e->s) st = dnnl_memory_set_data_handle(e->s, t->scratch);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[4] = {
            {DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}, {DNNL_ARG_SCRATCHPAD, e->s}};
        st = dnnl_primitive_execute(e->p.prim, t->stream, e->s ? 4 : 3, args);
        if (st == dnnl_success) st = dnnl_stream_wait(t->stream);
    }
    if (st != dnnl_success) {
        note_failure("oneDNN failed running a bf16 %dx%dx%d GEMM (status %d)", M, N, K, (int)st);
        return -1;
    }
    return 0;
}
#endif

void vae_gemm_stable_begin(void) {
#ifdef VAE_HAVE_DNNL
    /* every forward pass calls this: fp32 processes never touch oneDNN here */
    if (__atomic_load_n(&g_n_stable, __ATOMIC_ACQUIRE) == 0 || !vae_bf16_available(NULL, 0)) return;
    ThreadState *t = thread_state();
    if (t) t->n_memo = 0, t->memo_gen = __atomic_load_n(&g_stable_gen, __ATOMIC_ACQUIRE);
#endif
}

void vae_gemm_hold(VaePrecision prec, const float *src, int rows, int cols) {
#ifdef VAE_HAVE_DNNL
    if (prec != VAE_PREC_BF16 || !vae_bf16_available(NULL, 0)) return;
    ThreadState *t = thread_state();
    if (!t) return;
    t->held.src = src, t->held.rows = rows, t->held.cols = cols;
    t->held_done = 0;
#else
    (void)prec, (void)src, (void)rows, (void)cols;
#endif
}

void vae_gemm_release(VaePrecision prec) {
#ifdef VAE_HAVE_DNNL
    if (prec != VAE_PREC_BF16 || !vae_bf16_available(NULL, 0)) return;
    ThreadState *t = thread_state();
    if (t) t->held.src = NULL;
#else
    (void)prec;
#endif
}

void vae_gemm(VaePrecision prec, int transA, int transB, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc) {
#ifdef VAE_HAVE_DNNL
    if (prec == VAE_PREC_BF16 && M > 0 && N > 0) {
        if (K > 0 && vae_bf16_available(NULL, 0) &&
            bf16_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0)
            return;
        if (K > 0 && !vae_bf16_available(NULL, 0)) note_failure("bf16 GEMM requested where bf16 is not available");
    }
#else
    (void)prec;
#endif
    sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
