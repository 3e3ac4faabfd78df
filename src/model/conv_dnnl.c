/* Convolution and transposed convolution through oneDNN's primitives
 * (direct AVX-512/AVX2 kernels, no im2col matrix; fp32, or bf16 inputs with
 * fp32 accumulation and outputs for --precision bf16), the optional fast path of
 * layers_conv.c (built with -DVAE_DNNL=auto|ON when libdnnl-dev is there).
 * Our activations stay in the (C, B, H, W) layout of vae/layers.h: each call
 * reorders its inputs into the layouts the primitive chose and its outputs
 * back, accumulating (+=) where the layer contract says so (input and
 * parameter gradients). Primitives are made once per (activation block,
 * layer, batch size, precision) and kept in the block's VaeDnnl cache; a layer oneDNN
 * refuses is marked and runs on the im2col path from then on. */
#include "vae/conv_dnnl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VAE_HAVE_DNNL

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#ifdef VAE_DNNL_OMP
#include <omp.h>
#endif

#include "vae/nn.h"

#define MAX_PORTS 5

/* One argument of a primitive: our buffer (plain layout, handle set per
 * call) and, when the primitive wants another layout or the result must be
 * added rather than stored, its own buffer and the reorder between them. */
typedef struct {
    int arg;                    /* DNNL_ARG_* */
    int output;                 /* written by the primitive */
    dnnl_memory_t user, mem;    /* mem == user: no reorder */
    dnnl_primitive_t reorder;   /* user -> mem (inputs), mem -> user (+= with accumulate) */
    dnnl_primitive_t store;     /* accumulating output ports: mem -> user (=), for a caller
                                   whose buffer holds nothing yet (din_store) */
    int borrowed;               /* mem belongs to another port, which has already filled it */
    int transient;              /* mem lives in the cache's arena at byte offset off: its
                                   contents matter only within one forward or backward call */
    size_t off, size;
} Port;

typedef struct {
    dnnl_primitive_t p;         /* NULL: not made (no input gradient wanted) */
    int n;
    Port port[MAX_PORTS];
} Prim;

typedef struct {
    int B;                      /* batch the primitives were made for; 0: none */
    int nthr;                   /* and the OpenMP thread count */
    VaePrecision prec;          /* and the precision (bf16: bf16 inputs, fp32 outputs) */
    int fwd_done;               /* the forward pass ran on these primitives (its reordered
                                   input is there for the weight gradient) */
    int failed[VAE_PREC_COUNT]; /* oneDNN refused the layer in this precision: im2col from now on */
    int own_bias;               /* the weight-gradient pass reads bf16: bias_grad_rows sums the bias */
    VaePrecision pass_prec[3];  /* what each pass reads (PASS_*): prec, or fp32 (slow_amx) */
    Prim fwd, bwd_data, bwd_w;
} DnnlLayer;

/* The reordered copies a primitive reads or writes within one call (all
 * but the forward input, which the weight gradient reads in the backward
 * pass) live in one arena per cache, shared by the layers (they run one
 * after another on one thread): the cache holds the largest layer's copies
 * rather than every layer's. */
struct VaeDnnl {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    int failed;                 /* no engine: every layer takes the im2col path */
    DnnlLayer *layer[VAE_MAX_LAYERS];
    char *arena;
    size_t arena_size;
};

#define ARENA_ALIGN 4096

int vae_dnnl_available(void) { return 1; }

void vae_dnnl_describe(char *buf, size_t len) {
    const dnnl_version_t *v = dnnl_version();
    const char *force = getenv("VAE_CONV");
    snprintf(buf, len, "oneDNN %d.%d.%d%s", v->major, v->minor, v->patch,
             force && strcmp(force, "im2col") == 0 ? " (off: VAE_CONV=im2col, im2col + sgemm)" : "");
}

static void prim_free(Prim *P) {
    for (int i = 0; i < P->n; i++) {
        Port *pt = &P->port[i];
        if (pt->reorder) dnnl_primitive_destroy(pt->reorder);
        if (pt->store) dnnl_primitive_destroy(pt->store);
        if (pt->mem && pt->mem != pt->user && !pt->borrowed) dnnl_memory_destroy(pt->mem);
        if (pt->user) dnnl_memory_destroy(pt->user);
    }
    if (P->p) dnnl_primitive_destroy(P->p);
    memset(P, 0, sizeof *P);
}

static void layer_free(DnnlLayer *d) {
    /* the borrowers first */
    prim_free(&d->bwd_data);
    prim_free(&d->bwd_w);
    prim_free(&d->fwd);
    d->B = 0;
    d->fwd_done = 0;
}

void vae_dnnl_free(VaeDnnl *c) {
    if (!c) return;
    for (int l = 0; l < VAE_MAX_LAYERS; l++)
        if (c->layer[l]) {
            layer_free(c->layer[l]);
            free(c->layer[l]);
        }
    if (c->st) dnnl_stream_destroy(c->st);
    if (c->eng) dnnl_engine_destroy(c->eng);
    free(c->arena);
    free(c);
}

static const dnnl_memory_desc_t *q_mem(const_dnnl_memory_t m) {
    const dnnl_memory_desc_t *md = NULL;
    dnnl_memory_get_memory_desc(m, &md);
    return md;
}

/* Adds argument `arg` to P: user_md is our layout, prim_md the primitive's.
 * A transient port's copy gets its place in the arena from arena_place. */
static int port_add(Prim *P, dnnl_engine_t eng, int arg, const dnnl_memory_desc_t *user_md,
                    const dnnl_memory_desc_t *prim_md, int output, int accumulate, int transient) {
    Port *pt = &P->port[P->n++];
    pt->arg = arg;
    pt->output = output;
    if (dnnl_memory_create(&pt->user, user_md, eng, DNNL_MEMORY_NONE) != dnnl_success) return -1;
    if (!accumulate && dnnl_memory_desc_equal(user_md, prim_md)) {
        pt->mem = pt->user;
        return 0;
    }
    if (dnnl_memory_create(&pt->mem, prim_md, eng, transient ? DNNL_MEMORY_NONE : DNNL_MEMORY_ALLOCATE) !=
        dnnl_success)
        return -1;
    if (transient) {
        pt->transient = 1;
        pt->size = (dnnl_memory_desc_get_size(prim_md) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    }
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    if (accumulate) {
        /* user += reorder(mem) */
        if (dnnl_primitive_attr_create(&attr) != dnnl_success || dnnl_post_ops_create(&ops) != dnnl_success ||
            dnnl_post_ops_append_sum(ops, 1.0f) != dnnl_success ||
            dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success)
            goto out;
    }
    if (output ? dnnl_reorder_primitive_desc_create(&pd, prim_md, eng, user_md, eng, attr)
               : dnnl_reorder_primitive_desc_create(&pd, user_md, eng, prim_md, eng, attr))
        goto out;
    if (dnnl_primitive_create(&pt->reorder, pd) == dnnl_success) rc = 0;
    dnnl_primitive_desc_destroy(pd);
    if (rc == 0 && accumulate && output) {
        rc = -1;
        if (dnnl_reorder_primitive_desc_create(&pd, prim_md, eng, user_md, eng, NULL)) goto out;
        if (dnnl_primitive_create(&pt->store, pd) == dnnl_success) rc = 0;
        dnnl_primitive_desc_destroy(pd);
    }
out:
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* Input port `to` reads what input port `from` (of a primitive that runs
 * before it on the same data) has already reordered, when both want the same
 * layout: the forward pass's reordered input serves the weight gradient, the
 * weight gradient's reordered output gradient serves the input gradient. */
static void port_share(Port *to, const Port *from) {
    if (!from->reorder || !to->reorder || from->output || to->output) return;
    if (!dnnl_memory_desc_equal(q_mem(from->mem), q_mem(to->mem))) return;
    dnnl_primitive_destroy(to->reorder);
    dnnl_memory_destroy(to->mem);
    to->reorder = NULL;
    to->mem = from->mem;
    to->borrowed = 1;
}

/* Places the transient copies of the primitives P[0..n) (those of one
 * call: the forward pass, or the backward pass's two) one after another from
 * the start of the arena; returns the bytes they need. */
static size_t arena_place(Prim *const *P, int n) {
    size_t off = 0;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < P[k]->n; i++) {
            Port *pt = &P[k]->port[i];
            if (!pt->transient || pt->borrowed) continue;
            pt->off = off;
            off += pt->size;
        }
    return off;
}

/* Runs P with our buffers h[i] for its ports, in port order, its transient
 * copies in arena; store: accumulating outputs are stored instead (their
 * buffers hold nothing yet). */
static int prim_exec(Prim *P, dnnl_stream_t st, char *arena, void *const *h, int store) {
    dnnl_exec_arg_t args[MAX_PORTS];
    for (int i = 0; i < P->n; i++) {
        Port *pt = &P->port[i];
        if (dnnl_memory_set_data_handle(pt->user, h[i]) != dnnl_success) return -1;
        if (pt->transient && !pt->borrowed && dnnl_memory_set_data_handle(pt->mem, arena + pt->off) != dnnl_success)
            return -1;
        if (!pt->output && pt->reorder) {
            dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, pt->user}, {DNNL_ARG_TO, pt->mem}};
            if (dnnl_primitive_execute(pt->reorder, st, 2, ra) != dnnl_success) return -1;
        }
        args[i].arg = pt->arg;
        args[i].memory = pt->mem;
    }
    if (dnnl_primitive_execute(P->p, st, P->n, args) != dnnl_success) return -1;
    for (int i = 0; i < P->n; i++) {
        Port *pt = &P->port[i];
        if (pt->output && pt->reorder) {
            dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, pt->mem}, {DNNL_ARG_TO, pt->user}};
            if (dnnl_primitive_execute(store && pt->store ? pt->store : pt->reorder, st, 2, ra) != dnnl_success)
                return -1;
        }
    }
    return dnnl_stream_wait(st) == dnnl_success ? 0 : -1;
}

/* A primitive that was made but does not run is a broken invariant (no
 * caller could recover: outputs may be half accumulated). */
static void prim_run(Prim *P, dnnl_stream_t st, char *arena, void *const *h, int store) {
    if (prim_exec(P, st, arena, h, store) != 0) {
        fprintf(stderr, "vae: %s:%d: a oneDNN convolution primitive failed to execute\n", __FILE__, __LINE__);
        abort();
    }
}

static const dnnl_memory_desc_t *q(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int i) {
    return dnnl_primitive_desc_query_md(pd, what, i);
}

/* oneDNN's reference kernels (plain loops, for shapes its fast kernels do
 * not cover) are slower than im2col + sgemm: such a layer stays there. */
static int is_reference(const_dnnl_primitive_desc_t pd) {
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl) return 1;
    return strncmp(impl, "ref", 3) == 0;
}

/* A conv2d reading a one-channel image in fp32 (the first layer of the
 * MNIST models; bf16 keeps it on im2col). A conv_transpose2d writing one
 * channel stays on im2col: oneDNN's gemm-based kernel for it ran the last
 * layer at 3.4 ms against 2.1 (batch 64, forward + backward). */
static int one_channel_input(const VaeLayer *L, VaePrecision prec) {
    return prec == VAE_PREC_FP32 && L->kind == LAYER_CONV2D && L->ic == 1;
}

/* oneDNN 2.6's AMX convolution kernels other than its brgemm ones
 * (jit:avx512_core_amx_bf16 for the backward passes, and a transposed
 * convolution's forward, itself a backward-data pass) ran 1.3-1.6x slower
 * than its fp32 kernels at this project's shapes, its brgemm ones (brgconv:
 * a convolution's forward, a transposed one's backward data) 1.8x faster
 * (tests/bench/dnnl_impl_probe and in-step timings, batch 64 and 128, one
 * thread, 2026-11-22). A bf16 pass oneDNN would give such a kernel runs in
 * fp32 instead (unrounded inputs: never less accurate). CPUs without AMX
 * (AMD Zen 4 and 5) get oneDNN's bf16 kernels as they are. */
static int slow_amx(const_dnnl_primitive_desc_t pd) {
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl) return 0;
    return strstr(impl, "amx") != NULL && strncmp(impl, "brg", 3) != 0;
}

enum { PASS_FWD, PASS_BWD_DATA, PASS_BWD_W };

/* The primitive descriptor of one pass of layer L at batch B whose inputs
 * are read as dt (bf16: src, weights, diff_dst; outputs are always fp32),
 * in oneDNN's choice of layouts; hint: the forward pass's (backward passes).
 * bias: the backward-weights pass sums the bias gradient too. NULL: refused. */
static dnnl_primitive_desc_t pass_pd(dnnl_engine_t eng, const VaeLayer *L, int B, int pass, dnnl_data_type_t dt,
                                     const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint, int bias) {
    int tr = L->kind == LAYER_CONVT2D;
    dnnl_dims_t src = {B, L->ic, L->ih, L->iw}, dst = {B, L->c, L->h, L->w}, bd = {L->c};
    dnnl_dims_t w = {L->c, L->ic, L->kernel, L->kernel};
    dnnl_dims_t strides = {L->stride, L->stride}, pad = {L->pad, L->pad};
    dnnl_memory_desc_t src_a, dst_a, w_a, b_a;
    /* the operand read: dt; the one written: fp32; a one-channel input (the
       only kind that gets here is fp32's, vae_dnnl_conv_narrow) plain nchw */
    dnnl_format_tag_t src_tag = !tr && L->ic == 1 ? dnnl_abcd : dnnl_format_tag_any;
    if (dnnl_memory_desc_init_by_tag(&src_a, 4, src, pass == PASS_BWD_DATA ? dnnl_f32 : dt, src_tag) ||
        dnnl_memory_desc_init_by_tag(&dst_a, 4, dst, pass == PASS_FWD ? dnnl_f32 : dt, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&w_a, 4, w, pass == PASS_BWD_W ? dnnl_f32 : dt, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&b_a, 1, bd, dnnl_f32, dnnl_x))
        return NULL;
    union {
        dnnl_convolution_desc_t c;
        dnnl_deconvolution_desc_t d;
    } od;
    dnnl_status_t st;
    const dnnl_memory_desc_t *b = pass == PASS_FWD ? (tr ? NULL : &b_a) : bias ? &b_a : NULL;
    if (tr) {
        if (pass == PASS_FWD)
            st = dnnl_deconvolution_forward_desc_init(&od.d, dnnl_forward_training, dnnl_deconvolution_direct, &src_a,
                                                      &w_a, b, &dst_a, strides, pad, pad);
        else if (pass == PASS_BWD_DATA)
            st = dnnl_deconvolution_backward_data_desc_init(&od.d, dnnl_deconvolution_direct, &src_a, &w_a, &dst_a,
                                                            strides, pad, pad);
        else
            st = dnnl_deconvolution_backward_weights_desc_init(&od.d, dnnl_deconvolution_direct, &src_a, &w_a, b,
                                                               &dst_a, strides, pad, pad);
    } else {
        if (pass == PASS_FWD)
            st = dnnl_convolution_forward_desc_init(&od.c, dnnl_forward_training, dnnl_convolution_direct, &src_a,
                                                    &w_a, b, &dst_a, strides, pad, pad);
        else if (pass == PASS_BWD_DATA)
            st = dnnl_convolution_backward_data_desc_init(&od.c, dnnl_convolution_direct, &src_a, &w_a, &dst_a,
                                                          strides, pad, pad);
        else
            st = dnnl_convolution_backward_weights_desc_init(&od.c, dnnl_convolution_direct, &src_a, &w_a, b, &dst_a,
                                                             strides, pad, pad);
    }
    dnnl_primitive_desc_t pd = NULL;
    if (st != dnnl_success || dnnl_primitive_desc_create(&pd, &od, attr, eng, hint) != dnnl_success) return NULL;
    return pd;
}

/* Makes the three primitives of layer L at batch B. In bf16 the primitives
 * read bf16 (src, weights, diff_dst: the reorders from our fp32 buffers
 * round them, to nearest even) and write fp32 (dst, diff_src,
 * diff_weights), accumulating in fp32: what vae_gemm does for the im2col
 * path; except a pass slow_amx() sends to fp32. The bias gradient, an
 * element-wise sum, stays ours in a bf16 weight-gradient pass (fp32 over
 * the fp32 output gradient; oneDNN would sum its bf16 copy). */
static int layer_make(DnnlLayer *d, dnnl_engine_t eng, const VaeLayer *L, int B, int want_din, VaePrecision prec,
                      size_t *arena_need) {
    const int bf16 = prec == VAE_PREC_BF16;
    int tr = L->kind == LAYER_CONVT2D;
    dnnl_dims_t src = {B, L->ic, L->ih, L->iw}, dst = {B, L->c, L->h, L->w}, bias = {L->c};
    dnnl_dims_t w = {L->c, L->ic, L->kernel, L->kernel};
    dnnl_memory_desc_t src_u, dst_u, w_u, b_u;
    /* activations (C, B, H, W): logical (N, C, H, W) stored C-major = "bacd";
       Conv2d weights (OC, IC, k, k) = oihw; ConvTranspose2d (IC, OC, k, k) = iohw.
       A one-channel input is the same memory as plain nchw, which oneDNN's
       kernels read as it is: no reorder, no padding to 16 channels. */
    int plain_src = one_channel_input(L, prec);
    if (dnnl_memory_desc_init_by_tag(&src_u, 4, src, dnnl_f32, plain_src ? dnnl_abcd : dnnl_bacd) ||
        dnnl_memory_desc_init_by_tag(&dst_u, 4, dst, dnnl_f32, dnnl_bacd) ||
        dnnl_memory_desc_init_by_tag(&w_u, 4, w, dnnl_f32, tr ? dnnl_iohw : dnnl_oihw) ||
        dnnl_memory_desc_init_by_tag(&b_u, 1, bias, dnnl_f32, dnnl_x))
        return -1;

    int rc = -1;
    /* hint[0]: the fp32 forward pass, hint[1]: the bf16 one (made as needed) */
    dnnl_primitive_desc_t hint[2] = {NULL, NULL}, fpd = NULL, dpd = NULL, wpd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    /* forward, with the ReLU fused as a post-op; oneDNN 2.6 runs a transposed
       convolution's bias and post-ops in a slow generic loop (88 ms of a
       120 ms step), so there bias_act_rows adds them afterwards */
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) goto out;
    if (L->act == VAE_ACT_RELU && !tr) {
        if (dnnl_post_ops_create(&ops) != dnnl_success ||
            dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f) != dnnl_success ||
            dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success)
            goto out;
    }
    if (bf16 && !(hint[1] = pass_pd(eng, L, B, PASS_FWD, dnnl_bf16, attr, NULL, 0))) goto out;
    if (!bf16 || slow_amx(hint[1])) {
        if (!(hint[0] = pass_pd(eng, L, B, PASS_FWD, dnnl_f32, attr, NULL, 0))) goto out;
        fpd = hint[0];
    } else {
        fpd = hint[1];
    }
    d->pass_prec[PASS_FWD] = fpd == hint[1] ? VAE_PREC_BF16 : VAE_PREC_FP32;
    d->pass_prec[PASS_BWD_DATA] = d->pass_prec[PASS_BWD_W] = VAE_PREC_FP32;
    /* the backward passes: in bf16 unless slow_amx sends them to fp32 */
    for (int pass = PASS_BWD_DATA; pass <= PASS_BWD_W; pass++) {
        if (pass == PASS_BWD_DATA && !want_din) continue;
        dnnl_primitive_desc_t pd = NULL;
        if (bf16) {
            /* bf16 weight gradient: our fp32 bias sum */
            pd = pass_pd(eng, L, B, pass, dnnl_bf16, NULL, hint[1], 0);
            if (pd && slow_amx(pd)) {
                dnnl_primitive_desc_destroy(pd);
                pd = NULL;
            } else if (!pd) {
                goto out;
            }
        }
        if (!pd) {
            if (!hint[0] && !(hint[0] = pass_pd(eng, L, B, PASS_FWD, dnnl_f32, attr, NULL, 0))) goto out;
            if (!(pd = pass_pd(eng, L, B, pass, dnnl_f32, NULL, hint[0], 1))) goto out;
            if (pass == PASS_BWD_W) d->own_bias = 0;
        } else {
            d->pass_prec[pass] = VAE_PREC_BF16;
            if (pass == PASS_BWD_W) d->own_bias = 1;
        }
        if (pass == PASS_BWD_DATA) dpd = pd;
        else wpd = pd;
    }
    const dnnl_memory_desc_t *dbias = d->own_bias ? NULL : &b_u;
    if (is_reference(fpd) || (dpd && is_reference(dpd)) || is_reference(wpd)) goto out;
    /* ports in the order the callers pass their buffers; every reordered copy
       but the forward input's (kept for the weight gradient) is transient */
    Prim *F = &d->fwd, *D = &d->bwd_data, *W = &d->bwd_w;
    if (port_add(F, eng, DNNL_ARG_SRC, &src_u, q(fpd, dnnl_query_src_md, 0), 0, 0, 0) ||
        port_add(F, eng, DNNL_ARG_WEIGHTS, &w_u, q(fpd, dnnl_query_weights_md, 0), 0, 0, 1) ||
        (!tr && port_add(F, eng, DNNL_ARG_BIAS, &b_u, q(fpd, dnnl_query_weights_md, 1), 0, 0, 1)) ||
        port_add(F, eng, DNNL_ARG_DST, &dst_u, q(fpd, dnnl_query_dst_md, 0), 1, 0, 1) ||
        dnnl_primitive_create(&F->p, fpd))
        goto out;
    if (dpd && (port_add(D, eng, DNNL_ARG_DIFF_DST, &dst_u, q(dpd, dnnl_query_diff_dst_md, 0), 0, 0, 1) ||
                port_add(D, eng, DNNL_ARG_WEIGHTS, &w_u, q(dpd, dnnl_query_weights_md, 0), 0, 0, 1) ||
                port_add(D, eng, DNNL_ARG_DIFF_SRC, &src_u, q(dpd, dnnl_query_diff_src_md, 0), 1, 1, 1) ||
                dnnl_primitive_create(&D->p, dpd)))
        goto out;
    if (port_add(W, eng, DNNL_ARG_SRC, &src_u, q(wpd, dnnl_query_src_md, 0), 0, 0, 1) ||
        port_add(W, eng, DNNL_ARG_DIFF_DST, &dst_u, q(wpd, dnnl_query_diff_dst_md, 0), 0, 0, 1) ||
        port_add(W, eng, DNNL_ARG_DIFF_WEIGHTS, &w_u, q(wpd, dnnl_query_diff_weights_md, 0), 1, 1, 1) ||
        (dbias && port_add(W, eng, DNNL_ARG_DIFF_BIAS, &b_u, q(wpd, dnnl_query_diff_weights_md, 1), 1, 1, 1)) ||
        dnnl_primitive_create(&W->p, wpd))
        goto out;
    port_share(&W->port[0], &F->port[0]);        /* src */
    if (D->p) port_share(&D->port[0], &W->port[1]); /* diff_dst */
    /* the forward and the backward call each have the arena to themselves */
    Prim *fwd[1] = {F}, *bwd[2] = {W, D};
    size_t nf = arena_place(fwd, 1), nb = arena_place(bwd, 2);
    *arena_need = nf > nb ? nf : nb;
    d->B = B;
    rc = 0;
out:
    for (int i = 0; i < 2; i++)
        if (hint[i]) dnnl_primitive_desc_destroy(hint[i]);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    if (wpd) dnnl_primitive_desc_destroy(wpd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (rc != 0) layer_free(d);
    return rc;
}

int vae_dnnl_conv_narrow(const VaeLayer *L, VaePrecision prec) {
    return (L->kind == LAYER_CONVT2D ? L->c : L->ic) < 16 && !one_channel_input(L, prec);
}

int vae_dnnl_conv_pass_precision(VaeDnnl *const *cache, int l, int pass) {
    if (!cache || !*cache || l < 0 || l >= VAE_MAX_LAYERS || pass < 0 || pass > 2) return -1;
    const DnnlLayer *d = (*cache)->layer[l];
    return d && d->B > 0 ? (int)d->pass_prec[pass] : -1;
}

/* Layer l's primitives at batch B, made on first use; NULL: use im2col. */
static DnnlLayer *layer_get(VaeDnnl **cache, int l, const VaeLayer *L, int B, int nthr, VaePrecision prec) {
    if ((int)prec < 0 || prec >= VAE_PREC_COUNT) return NULL;
    if (!cache || l < 0 || l >= VAE_MAX_LAYERS) return NULL;
    VaeDnnl *c = *cache;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return NULL;
        /* VAE_CONV=im2col: the reference path for every layer (benchmarks, checks) */
        const char *force = getenv("VAE_CONV");
        if (force && strcmp(force, "im2col") == 0) c->failed = 1;
        else if (dnnl_engine_create(&c->eng, dnnl_cpu, 0) != dnnl_success ||
            dnnl_stream_create(&c->st, c->eng, dnnl_stream_default_flags) != dnnl_success)
            c->failed = 1;
        *cache = c;
    }
    if (c->failed) return NULL;
    DnnlLayer *d = c->layer[l];
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d) return NULL;
        c->layer[l] = d;
    }
    if (d->failed[prec]) return NULL;
    if (vae_dnnl_conv_narrow(L, prec)) {
        d->failed[prec] = 1;
        return NULL;
    }
    if (d->B == B && d->nthr == nthr && d->prec == prec) return d;
    layer_free(d);
    /* all three at once (a first layer's unused input-gradient pass too), so
       a layer runs wholly on one path */
    size_t need = 0;
    if (layer_make(d, c->eng, L, B, 1, prec, &need) != 0) {
        d->failed[prec] = 1;
        return NULL;
    }
    if (need > c->arena_size) {
        /* the copies' contents never outlive a call: no need to keep them */
        free(c->arena);
        c->arena = aligned_alloc(ARENA_ALIGN, need);
        c->arena_size = c->arena ? need : 0;
        if (!c->arena) {
            layer_free(d);
            return NULL;   /* out of memory: im2col this time, try again next call */
        }
    }
    d->nthr = nthr;
    d->prec = prec;
    return d;
}

/* oneDNN's OpenMP threads follow the caller's OpenBLAS setting: one inside
 * the trainer's workers (each works on its share of the batch), all cores
 * for a single caller. The setting is per calling thread. */
static int match_threads(void) {
    int want = openblas_get_num_threads();
    if (want < 1) want = 1;
#ifdef VAE_DNNL_OMP
    if (omp_get_max_threads() != want) omp_set_num_threads(want);
#endif
    return want;
}

int vae_dnnl_conv_forward(VaeDnnl **cache, int l, const VaeLayer *L, int B, float *out, const float *in,
                          const float *W, const float *b, VaePrecision prec) {
    /* before making primitives: they are planned for the thread count */
    DnnlLayer *d = layer_get(cache, l, L, B, match_threads(), prec);
    if (!d) return -1;
    if (L->kind == LAYER_CONVT2D) {
        void *h[3] = {(void *)in, (void *)W, out};
        prim_run(&d->fwd, (*cache)->st, (*cache)->arena, h, 0);
        bias_act_rows(out, b, L->c, (size_t)B * L->h * L->w, L->act == VAE_ACT_RELU);
    } else {
        void *h[4] = {(void *)in, (void *)W, (void *)b, out};
        prim_run(&d->fwd, (*cache)->st, (*cache)->arena, h, 0);
    }
    d->fwd_done = 1;
    return 0;
}

int vae_dnnl_conv_backward(VaeDnnl **cache, int l, const VaeLayer *L, int B, float *din, int din_store, float *dW,
                           float *db, const float *dout, const float *in, const float *W, VaePrecision prec) {
    /* before making primitives: they are planned for the thread count */
    DnnlLayer *d = layer_get(cache, l, L, B, match_threads(), prec);
    if (!d) return -1;
    if (d->bwd_w.port[0].borrowed && !d->fwd_done) {
        /* primitives made since the forward pass: reorder the input here */
        Port *src = &d->fwd.port[0];
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, src->user}, {DNNL_ARG_TO, src->mem}};
        if (dnnl_memory_set_data_handle(src->user, (void *)in) != dnnl_success ||
            dnnl_primitive_execute(src->reorder, (*cache)->st, 2, ra) != dnnl_success) {
            fprintf(stderr, "vae: %s:%d: a oneDNN reorder failed to execute\n", __FILE__, __LINE__);
            abort();
        }
    }
    void *hw[4] = {(void *)in, (void *)dout, dW, db};
    prim_run(&d->bwd_w, (*cache)->st, (*cache)->arena, hw, 0);
    if (d->own_bias) bias_grad_rows(db, dout, L->c, (size_t)B * L->h * L->w);
    if (!din) return 0;
    void *hd[3] = {(void *)dout, (void *)W, din};
    prim_run(&d->bwd_data, (*cache)->st, (*cache)->arena, hd, din_store);
    return 0;
}

#else /* no oneDNN: the im2col path runs every layer */

int vae_dnnl_available(void) { return 0; }

int vae_dnnl_conv_narrow(const VaeLayer *L, VaePrecision prec) {
    (void)prec;
    return (L->kind == LAYER_CONVT2D ? L->c : L->ic) < 16;
}

int vae_dnnl_conv_pass_precision(VaeDnnl *const *cache, int l, int pass) {
    (void)cache, (void)l, (void)pass;
    return -1;
}

void vae_dnnl_describe(char *buf, size_t len) { snprintf(buf, len, "im2col + sgemm (built without oneDNN)"); }

void vae_dnnl_free(VaeDnnl *c) { (void)c; }

int vae_dnnl_conv_forward(VaeDnnl **cache, int l, const VaeLayer *L, int B, float *out, const float *in,
                          const float *W, const float *b, VaePrecision prec) {
    (void)cache, (void)l, (void)L, (void)B, (void)out, (void)in, (void)W, (void)b, (void)prec;
    return -1;
}

int vae_dnnl_conv_backward(VaeDnnl **cache, int l, const VaeLayer *L, int B, float *din, int din_store, float *dW,
                           float *db, const float *dout, const float *in, const float *W, VaePrecision prec) {
    (void)cache, (void)l, (void)L, (void)B, (void)din, (void)din_store, (void)dW, (void)db, (void)dout, (void)in,
        (void)W, (void)prec;
    return -1;
}

#endif
