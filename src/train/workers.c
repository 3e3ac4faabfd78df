/* Data-parallel training steps over a pool of worker threads (see
 * vae/workers.h, vae/pool.h): per-worker rows, activations and gradient
 * buffers; one fused gradient-sum + Adam pass split by parameter range. */
#include "vae/workers.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vae/rng.h"

int vae_workers_can_split(const Vae *m) {
    for (int l = 0; l < m->lay.n_layers; l++)
        if (m->lay.layers[l].kind == LAYER_LATENT_BN) return 0;
    return 1;
}

int vae_workers_init(VaeWorkers *w, Vae *m, int n, int max_batch, VaeError *err) {
    memset(w, 0, sizeof *w);
    if (n < 1 || n > VAE_MAX_WORKERS) return vae_fail(err, "%d workers is out of range (1..%d)", n, VAE_MAX_WORKERS);
    if (max_batch < 1) return vae_fail(err, "batch size %d must be >= 1", max_batch);
    /* more workers than rows would leave some idle; a batch-coupled model
       keeps its batch whole */
    if (n > max_batch) n = max_batch;
    if (!vae_workers_can_split(m)) n = 1;
    w->n = n;
    w->max_batch = max_batch;
    w->model = m;
    w->views = calloc((size_t)n, sizeof *w->views);
    w->acts = calloc((size_t)n, sizeof *w->acts);
    w->loss = calloc((size_t)n, sizeof *w->loss);
    w->finite = calloc((size_t)n, sizeof *w->finite);
    if (!w->views || !w->acts || !w->loss || !w->finite) {
        vae_workers_free(w);
        return vae_fail(err, "out of memory for %d workers", n);
    }
    if (n > 1 && vae_pool_create(&w->pool, n, err) != VAE_OK) {
        vae_workers_free(w);
        return VAE_ERR;
    }
    size_t extra;
    if (vae_mul_size((size_t)(n - 1), m->n_params, &extra) != 0 || vae_mul_size(extra, sizeof(float), &extra) != 0) {
        vae_workers_free(w);
        return vae_fail(err, "gradient buffers for %d workers are too large", n);
    }
    if (n > 1) {
        w->grad_block = calloc(extra, 1);
        if (!w->grad_block) {
            vae_workers_free(w);
            return vae_fail(err, "out of memory for the gradients of %d workers", n);
        }
    }
    memset(m->grads, 0, m->n_params * sizeof(float));   /* the steps keep them zero */
    int rows = (max_batch + n - 1) / n;
    for (int k = 0; k < n; k++) {
        w->grad[k] = k == 0 ? m->grads : w->grad_block + (size_t)(k - 1) * m->n_params;
        /* a view shares the parameters and accumulates into its own buffer */
        w->views[k] = *m;
        w->views[k].grads = w->grad[k];
        if (vae_acts_init(&w->acts[k], m, rows, err) != VAE_OK) {
            vae_workers_free(w);
            return VAE_ERR;
        }
        w->acts[k].skip_xhat = 1;   /* a step never reads the reconstructions */
    }
    /* VAE_DEFER_WGRAD=0: the weight gradients in each worker's backward pass
       as before (benchmarks, and tests comparing the two) */
    const char *e = getenv("VAE_DEFER_WGRAD");
    w->defer = w->acts[0].defer_wgrad_ok && !(e && strcmp(e, "0") == 0);
    for (int k = 0; k < n; k++) w->acts[k].defer_wgrad = w->defer;
    return VAE_OK;
}

/* the workers' activation blocks up to their gradients (which may share
   memory within a pass) or scratch (im2col buffers, rewritten within a
   pass), as stable blocks of the bf16 GEMMs (vae/gemm.h) */
static void stable_blocks(VaeWorkers *w, int on) {
    for (int k = 0; k < w->n; k++) {
        VaeActs *a = &w->acts[k];
        float *end = a->dblock ? a->dblock : a->scratch;
        if (!a->block || end <= a->block) continue;
        if (!on) vae_gemm_shadow_unregister(a->block);
        else if (vae_gemm_stable_register(a->block, (size_t)(end - a->block)) != 0)
            break;   /* table full: those GEMMs just convert at every call */
    }
    w->stable = on;
}

void vae_workers_free(VaeWorkers *w) {
    if (!w) return;
    if (w->shadow) vae_gemm_shadow_unregister(w->model->params);
    free(w->shadow);
    if (w->stable) stable_blocks(w, 0);
    if (w->acts)
        for (int k = 0; k < w->n; k++) vae_acts_free(&w->acts[k]);
    free(w->acts);
    free(w->views);
    free(w->loss);
    free(w->finite);
    free(w->grad_block);
    vae_pool_free(w->pool);
    memset(w, 0, sizeof *w);
}

int vae_workers_set_precision(VaeWorkers *w, VaePrecision p, VaeError *err) {
    char why[200];
    if (p == VAE_PREC_BF16 && !vae_bf16_available(why, sizeof why))
        return vae_fail(err, "bf16 training is not available: %s", why);
    if (w->shadow) {
        vae_gemm_shadow_unregister(w->model->params);
        free(w->shadow);
        w->shadow = NULL;
    }
    if (w->stable) stable_blocks(w, 0);
    w->shadow_t = -1;
    if (p == VAE_PREC_BF16) {
        w->shadow = malloc(w->model->n_params * sizeof *w->shadow);
        if (!w->shadow) return vae_fail(err, "out of memory for the bf16 copy of the parameters");
        if (vae_gemm_shadow_register(w->model->params, w->model->n_params, w->shadow) != 0) {
            free(w->shadow);
            w->shadow = NULL;   /* the GEMMs convert the weights themselves */
        }
        stable_blocks(w, 1);
    }
    for (int k = 0; k < w->n; k++) w->views[k].precision = p;
    return VAE_OK;
}

static void worker_range(const VaeWorkers *w, int k, size_t *lo, size_t *hi);

void vae_workers_params_changed(VaeWorkers *w) { w->shadow_t = -1; }

/* Worker k's share of the step: gather, forward, backward on its rows. */
static void worker_pass(VaeWorkers *w, int k, const IdxImages *im, const uint8_t *labels, const uint32_t *index,
                        const float *eps, const VaeStepConfig *sc, int B, int B_global) {
    int n = w->n, Z = w->model->cfg.zdim;
    int r0 = (int)((long)B * k / n), r1 = (int)((long)B * (k + 1) / n), rows = r1 - r0;
    memset(&w->loss[k], 0, sizeof w->loss[k]);
    if (rows == 0) return;
    VaeActs *a = &w->acts[k];
    idx_gather(im, index + r0, 0, (uint32_t)rows, a->x);
    if (labels) vae_set_labels(&w->views[k], a, labels, index + r0, 0, rows);
    if (sc->noise_u)
        rng_normal_range(a->eps, sc->noise_u, sc->noise_first + (size_t)r0 * Z, sc->noise_first + (size_t)r1 * Z);
    else
        memcpy(a->eps, eps + (size_t)r0 * Z, (size_t)rows * Z * sizeof(float));
    vae_forward_scaled(&w->views[k], a, rows, B_global, 1, 1, &w->loss[k]);
    vae_backward(&w->views[k], a, rows);
}

/* Worker k's parameter range [lo, hi): cut at multiples of 16 floats so no
 * two workers write one cache line. */
static void worker_range(const VaeWorkers *w, int k, size_t *lo, size_t *hi) {
    size_t n = w->model->n_params;
    size_t per = (n + (size_t)w->n - 1) / (size_t)w->n;
    per = (per + 15) / 16 * 16;
    *lo = per * (size_t)k;
    *hi = *lo + per;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}

/* Adam on parameters [lo, hi) over the sum of the first n_g gradient
 * buffers; returns 0 when a gradient was not finite. In bf16 the
 * parameters' shadow is refreshed chunk by chunk, right after Adam wrote
 * them (still in cache: a whole layer's share of parameters, moments and
 * gradient, 2.5 MB for 784 x 400 / 2, outgrows L2), instead of in a pass of
 * its own at the next step. */
static int adam_range(VaeWorkers *w, size_t lo, size_t hi, int n_g, const AdamConfig *cfg, long t) {
    Vae *m = w->model;
    float *g[VAE_MAX_WORKERS];
    size_t chunk = w->shadow ? 8192 : hi - lo;
    int finite = 1;
    for (size_t c = lo; c < hi; c += chunk) {
        size_t e = hi - c < chunk ? hi : c + chunk;
        for (int j = 0; j < n_g; j++) g[j] = w->grad[j] + c;
        finite &= adam_update_sum(m->params + c, g, n_g, m->adam_m + c, m->adam_v + c, e - c, cfg, t);
        if (w->shadow) vae_f32_to_bf16(w->shadow + c, m->params + c, e - c);
    }
    return finite;
}

/* Adam on worker k's range, over the sum of the first n_g gradient buffers */
static void worker_adam(VaeWorkers *w, int k, int n_g, const AdamConfig *cfg, long t) {
    size_t lo, hi;
    worker_range(w, k, &lo, &hi);
    w->finite[k] = lo < hi ? adam_range(w, lo, hi, n_g, cfg, t) : 1;
}

/* Deferred weight gradients (w->defer): worker k forms the gradient of its
 * share [o0, o1) of each linear layer's output rows over the whole batch
 * (every worker's rows, in worker order) straight into model->grads, and
 * with adam set updates those parameters at once, while their gradient is
 * still in this core's cache, clearing it. No per-worker gradient buffers
 * are summed: the Adam pass reads one gradient, not n, and writes none back
 * to memory. */
static void worker_wgrad(VaeWorkers *w, int k, int B, int adam, const AdamConfig *cfg, long t) {
    Vae *m = w->model;
    int n = w->n, rows[VAE_MAX_WORKERS];
    VaeActs *acts[VAE_MAX_WORKERS];
    for (int j = 0; j < n; j++) {
        rows[j] = (int)((long)B * (j + 1) / n) - (int)((long)B * j / n);
        acts[j] = &w->acts[j];
    }
    int finite = 1;
    for (int i = 0; i < m->lay.n_layers; i++) {
        /* odd workers take the layers last to first: while one core runs a
           layer's Adam (memory-bound) the other is more often in a GEMM
           (compute-bound) than in the same kind of pass */
        int l = k % 2 ? m->lay.n_layers - 1 - i : i;
        const VaeLayer *L = &m->lay.layers[l];
        if (L->kind != LAYER_LINEAR) continue;
        int o0 = (int)((long)L->c * k / n), o1 = (int)((long)L->c * (k + 1) / n);
        if (o0 >= o1) continue;
        /* view 0: the workers' precision, gradients in model->grads */
        vae_backward_wgrad(&w->views[0], acts, rows, n, l, o0, o1);
        if (!adam) continue;
        const VaeTensor *W = &m->lay.tensors[L->param[0]], *b = &m->lay.tensors[L->param[1]];
        size_t wa = W->offset + (size_t)o0 * L->ic, ba = b->offset + (size_t)o0;
        /* one gradient: grad[0], which is model->grads */
        finite &= adam_range(w, wa, wa + (size_t)(o1 - o0) * L->ic, 1, cfg, t);
        finite &= adam_range(w, ba, ba + (size_t)(o1 - o0), 1, cfg, t);
    }
    w->finite[k] = finite;
}

/* model->grads += the other workers' buffers on worker k's range, in worker
   order, clearing them (the same sums adam_update_sum would form) */
static void worker_fold(VaeWorkers *w, int k) {
    size_t lo, hi;
    worker_range(w, k, &lo, &hi);
    float *restrict g0 = w->grad[0];
    for (int j = 1; j < w->n; j++) {
        float *restrict gj = w->grad[j];
        for (size_t i = lo; i < hi; i++) {
            g0[i] += gj[i];
            gj[i] = 0.0f;
        }
    }
}

/* the step's loss sums, in worker order; identical on every thread */
static VaeLoss total_loss(const VaeWorkers *w) {
    VaeLoss s = {0, 0, 0};
    for (int k = 0; k < w->n; k++) {
        s.loss += w->loss[k].loss;
        s.recon += w->loss[k].recon;
        s.kl += w->loss[k].kl;
    }
    return s;
}

static const char *bad_term(const VaeLoss *s) {
    return !isfinite(s->recon) ? "reconstruction" : !isfinite(s->kl) ? "KL" : NULL;
}

typedef struct {
    VaeWorkers *w;
    const IdxImages *im;
    const uint8_t *labels;
    const uint32_t *index;
    const float *eps;
    int B, B_global;
    const VaeStepConfig *sc;
    long t;                     /* the Adam step to take */
} StepJob;

/* everything thread k does in a step */
static void step_job(void *ctx, int k) {
    StepJob *j = ctx;
    VaeWorkers *w = j->w;
    if (w->shadow && w->shadow_t != w->model->adam_t) {
        /* the bf16 weights of this step, unless the last step's Adam pass
           left them current (the parameters changed some other way: a
           load, a broadcast, vae_workers_params_changed) */
        size_t lo, hi;
        worker_range(w, k, &lo, &hi);
        if (lo < hi) vae_f32_to_bf16(w->shadow + lo, w->model->params + lo, hi - lo);
        vae_pool_barrier(w->pool);
    }
    worker_pass(w, k, j->im, j->labels, j->index, j->eps, j->sc, j->B, j->B_global);
    vae_pool_barrier(w->pool);
    int n_g = w->n;
    VaeLoss s;
    if (w->defer && !j->sc->reduce) {
        s = total_loss(w);   /* the same sums on every thread */
        w->finite[k] = 1;
        if (!bad_term(&s)) worker_wgrad(w, k, j->B, 1, &j->sc->adam, j->t);
        return;
    }
    if (j->sc->reduce) {
        /* the hook sees the process's whole gradient in model->grads */
        if (w->defer) worker_wgrad(w, k, j->B, 0, NULL, 0);
        else worker_fold(w, k);
        vae_pool_barrier(w->pool);
        if (k == 0) {
            w->step_loss = total_loss(w);
            w->hook_rc = j->sc->reduce(w->model, &w->step_loss, j->sc->reduce_ctx, w->hook_err);
        }
        vae_pool_barrier(w->pool);
        w->finite[k] = 1;
        if (w->hook_rc != VAE_OK) return;
        s = w->step_loss;
        n_g = 1;
    } else {
        s = total_loss(w);   /* the same sums on every thread */
    }
    w->finite[k] = 1;
    if (!bad_term(&s)) worker_adam(w, k, n_g, &j->sc->adam, j->t);
}

VaeStepStatus vae_workers_step(VaeWorkers *w, const IdxImages *im, const uint8_t *labels, const uint32_t *index,
                               const float *eps, int B, int B_global, const VaeStepConfig *sc, VaeLoss *loss,
                               const char **bad, VaeError *err) {
    StepJob job = {w, im, labels, index, eps, B, B_global, sc, w->model->adam_t + 1};
    *bad = NULL;
    w->hook_err = err;
    if (w->n == 1) {
        step_job(&job, 0);
    } else {
        /* the workers are the threads: OpenBLAS runs each GEMM on its
           caller's thread (a threaded OpenBLAS would serialise their calls) */
        if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
        vae_pool_run(w->pool, step_job, &job);
    }
    if (!sc->reduce) {
        w->step_loss = total_loss(w);
        w->hook_rc = VAE_OK;
    }
    *loss = w->step_loss;
    if (w->hook_rc != VAE_OK) return VAE_STEP_HOOK_FAILED;
    if ((*bad = bad_term(loss)) != NULL) return VAE_STEP_NONFINITE;
    /* Adam ran: the parameters moved (possibly spoiled, when a gradient was
       not finite; the caller then saves nothing), and their bf16 shadow
       with them */
    w->model->adam_t++;
    if (w->shadow) w->shadow_t = w->model->adam_t;
    for (int k = 0; k < w->n; k++)
        if (!w->finite[k]) {
            *bad = "gradient";
            return VAE_STEP_NONFINITE;
        }
    return VAE_STEP_OK;
}
