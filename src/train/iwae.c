/* Importance-weighted log-likelihood estimate (see vae/iwae.h). Images are
 * split into groups whose samples fill one decoder pass of up to `rows` rows
 * (or, for K > rows, one image's samples in several passes); worker threads
 * take groups in turn, each with its own buffers, so only the model's
 * parameters are shared (read-only). */
#include "vae/iwae.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vae/nn.h"
#include "vae/rng.h"

#define IW_MAX_THREADS 256

double iw_log_mean_exp(const double *v, long n) {
    if (n <= 0) return -INFINITY;
    double mx = -INFINITY;
    for (long i = 0; i < n; i++)
        if (v[i] > mx) mx = v[i];
    if (!isfinite(mx)) return mx;   /* all -inf (or a +inf/NaN, passed on) */
    double s = 0.0;
    for (long i = 0; i < n; i++) s += exp(v[i] - mx);
    return mx + log(s / (double)n);
}

/* One generator per image: the stream of image i never depends on which
 * thread or chunk handles it. */
static void image_rng(Rng *r, uint64_t seed, long index) {
    rng_seed(r, (seed ^ IW_SEED_SALT) + 0x9e3779b97f4a7c15ULL * (uint64_t)(index + 1));
}

/* One call of rng_normal per sample (row), so drawing the K rows in pieces
 * gives the same numbers as drawing them at once. */
static void draw_rows(Rng *r, float *out, int rows, int Z) {
    for (int k = 0; k < rows; k++) rng_normal(r, out + (size_t)k * Z, (size_t)Z);
}

void iw_image_eps(uint64_t seed, long index, int K, int Z, float *out) {
    Rng r;
    image_rng(&r, seed, index);
    draw_rows(&r, out, K, Z);
}

typedef struct {
    Vae *m;
    const float *x;
    long n;
    const IwConfig *cfg;
    int G;                  /* images per group */
    int chunk;              /* decoder rows per pass */
    long n_groups;
    double *logp, *elbo;    /* (n) each, owned by the caller of the workers */
    pthread_mutex_t lock;
    long next_group, done;
    int failed;
} IwShared;

typedef struct {
    IwShared *sh;
    VaeActs a;
    float *mu, *logvar;     /* (G, Z) */
    float *eps, *z;         /* (chunk, Z) */
    double *logw;           /* (G * K) */
    int started;
} IwWorker;

/* log w for `rows` samples in one decoder pass; row r belongs to image
 * r / per_image of the group (its mu, logvar and x), with w->eps holding the
 * rows' noise. z = mu + eps * sd as the ELBO path computes it, so K = 1
 * reproduces that path. */
static void score_pass(IwWorker *w, int rows, int per_image, const float *x_first, double *logw) {
    Vae *m = w->sh->m;
    int Z = m->cfg.zdim, D = m->in_dim;
    for (int r = 0; r < rows; r++) {
        const float *mu = w->mu + (size_t)(r / per_image) * Z, *lv = w->logvar + (size_t)(r / per_image) * Z;
        const float *e = w->eps + (size_t)r * Z;
        float *zr = w->z + (size_t)r * Z;
        double q_minus_p = 0.0;
        for (int j = 0; j < Z; j++) {
            float sd = expf(0.5f * lv[j]);
            zr[j] = mu[j] + e[j] * sd;
            /* log q(z|x) - log p(z) per dimension; the 2 pi terms cancel */
            q_minus_p += -0.5 * (double)e[j] * e[j] - 0.5 * (double)lv[j] + 0.5 * (double)zr[j] * zr[j];
        }
        logw[r] = -q_minus_p;
    }
    /* (rows, Z) -> logits (rows, D); log p(x|z) = -BCE, the same kernel as the loss */
    const float *logits = vae_decode_logits(m, &w->a, w->z, rows);
    for (int r = 0; r < rows; r++)
        logw[r] -= bce_logits_forward_backward(NULL, NULL, logits + (size_t)r * D,
                                               x_first + (size_t)(r / per_image) * D, 1, D, 0.0f);
}

static void run_group(IwWorker *w, long g) {
    IwShared *sh = w->sh;
    Vae *m = sh->m;
    const IwConfig *cfg = sh->cfg;
    int Z = m->cfg.zdim, D = m->in_dim, K = cfg->K;
    long first = g * sh->G;
    int G = (int)(sh->n - first < sh->G ? sh->n - first : sh->G);
    const float *x = sh->x + (size_t)first * D;
    memcpy(w->a.x, x, (size_t)G * D * sizeof(float));
    vae_encode(m, &w->a, G, w->mu, w->logvar);
    if (K <= sh->chunk) {
        /* every sample of the group's images in one pass, image-major */
        for (int i = 0; i < G; i++) {
            float *e = w->eps + (size_t)i * K * Z;
            if (cfg->eps) memcpy(e, cfg->eps + (size_t)(first + i) * K * Z, (size_t)K * Z * sizeof(float));
            else iw_image_eps(cfg->seed, first + i, K, Z, e);
        }
        score_pass(w, G * K, K, x, w->logw);
    } else {
        /* one image (G = 1) with K > chunk: its samples in passes of `chunk` rows */
        Rng r;
        image_rng(&r, cfg->seed, first);
        for (int k0 = 0; k0 < K; k0 += sh->chunk) {
            int rows = K - k0 < sh->chunk ? K - k0 : sh->chunk;
            if (cfg->eps) memcpy(w->eps, cfg->eps + ((size_t)first * K + k0) * Z, (size_t)rows * Z * sizeof(float));
            else draw_rows(&r, w->eps, rows, Z);
            score_pass(w, rows, rows, x, w->logw + k0);
        }
    }
    for (int i = 0; i < G; i++) {
        const double *lw = w->logw + (size_t)i * K;
        double s = 0.0;
        for (int k = 0; k < K; k++) s += lw[k];
        sh->logp[first + i] = iw_log_mean_exp(lw, K);
        sh->elbo[first + i] = s / K;
    }
}

static void *worker_main(void *arg) {
    IwWorker *w = arg;
    IwShared *sh = w->sh;
    for (;;) {
        pthread_mutex_lock(&sh->lock);
        long g = sh->failed ? sh->n_groups : sh->next_group++;
        pthread_mutex_unlock(&sh->lock);
        if (g >= sh->n_groups) break;
        run_group(w, g);
        pthread_mutex_lock(&sh->lock);
        long first = g * sh->G;
        sh->done += sh->n - first < sh->G ? sh->n - first : sh->G;
        if (sh->cfg->on_progress) sh->cfg->on_progress(sh->done, sh->n, sh->cfg->ctx);
        pthread_mutex_unlock(&sh->lock);
    }
    return NULL;
}

static void worker_free(IwWorker *w) {
    vae_acts_free(&w->a);
    free(w->mu);
    free(w->logw);
}

static int worker_init(IwWorker *w, IwShared *sh, VaeError *err) {
    memset(w, 0, sizeof *w);
    w->sh = sh;
    int Z = sh->m->cfg.zdim, K = sh->cfg->K;
    if (vae_acts_init(&w->a, sh->m, sh->chunk, err) != VAE_OK) return VAE_ERR;
    size_t nf = (size_t)2 * sh->G * Z + (size_t)2 * sh->chunk * Z;
    w->mu = malloc(nf * sizeof(float));
    w->logw = malloc((size_t)sh->G * K * sizeof(double));
    if (!w->mu || !w->logw) {
        worker_free(w);
        return vae_fail(err, "out of memory for the importance samples");
    }
    w->logvar = w->mu + (size_t)sh->G * Z;
    w->eps = w->logvar + (size_t)sh->G * Z;
    w->z = w->eps + (size_t)sh->chunk * Z;
    return VAE_OK;
}

int vae_iw_estimate(Vae *m, const float *x, long n, const IwConfig *cfg, double *logp, double *elbo,
                    IwResult *res, VaeError *err) {
    memset(res, 0, sizeof *res);
    if (m->cfg.loss != VAE_LOSS_BCE)
        return vae_fail(err, "the importance-weighted likelihood needs a Bernoulli decoder (a --loss bce model); "
                             "an SSE model defines no normalised likelihood");
    if (m->cfg.model != VAE_MODEL_VAE || m->cfg.n_classes > 0)
        return vae_fail(err, "the importance-weighted likelihood needs an unconditional VAE (a Gaussian q(z|x)); "
                             "this is %s%s", m->cfg.n_classes > 0 ? "a conditional " : "an ", vae_model_name(m->cfg.model));
    if (cfg->K < 1) return vae_fail(err, "K = %d: need at least one importance sample", cfg->K);
    if (n < 1) return vae_fail(err, "no images to evaluate");
    int rows = cfg->rows > 0 ? cfg->rows : IW_DEFAULT_ROWS;
    int threads = cfg->threads < 1 ? 1 : cfg->threads > IW_MAX_THREADS ? IW_MAX_THREADS : cfg->threads;

    IwShared sh;
    memset(&sh, 0, sizeof sh);
    sh.m = m;
    sh.x = x;
    sh.n = n;
    sh.cfg = cfg;
    /* several images per pass when their samples fit, else one image in pieces */
    sh.G = cfg->K >= rows ? 1 : rows / cfg->K;
    if (sh.G > n) sh.G = (int)n;
    sh.chunk = sh.G > 1 ? sh.G * cfg->K : (cfg->K < rows ? cfg->K : rows);
    sh.n_groups = (n + sh.G - 1) / sh.G;
    if ((long)threads > sh.n_groups) threads = (int)sh.n_groups;
    double *lp = logp, *el = elbo;
    double *own = NULL;
    if (!lp || !el) {
        own = malloc((size_t)n * 2 * sizeof(double));
        if (!own) return vae_fail(err, "out of memory for %ld images", n);
        if (!lp) lp = own;
        if (!el) el = own + n;
    }
    sh.logp = lp;
    sh.elbo = el;
    pthread_mutex_init(&sh.lock, NULL);

    IwWorker *ws = calloc((size_t)threads, sizeof *ws);
    int rc = VAE_OK, have = 0;
    if (!ws) rc = vae_fail(err, "out of memory for %d threads", threads);
    for (int t = 0; rc == VAE_OK && t < threads; t++) {
        if (worker_init(&ws[t], &sh, err) != VAE_OK) rc = VAE_ERR;
        else have++;
    }
    double t0 = vae_now_seconds();
    if (rc == VAE_OK) {
        /* several workers each run single-threaded GEMMs; one worker lets
           BLAS use its own threads */
        int blas_threads = openblas_get_num_threads();
        if (threads > 1) openblas_set_num_threads(1);
        pthread_t tid[IW_MAX_THREADS];
        int started[IW_MAX_THREADS] = {0};
        for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, worker_main, &ws[t]) == 0;
        worker_main(&ws[0]);
        for (int t = 1; t < threads; t++)
            if (started[t]) pthread_join(tid[t], NULL);
        if (threads > 1) openblas_set_num_threads(blas_threads);
    }
    res->seconds = vae_now_seconds() - t0;
    for (int t = 0; t < have; t++) worker_free(&ws[t]);
    free(ws);
    pthread_mutex_destroy(&sh.lock);
    if (rc == VAE_OK) {
        double s = 0, se = 0, sq = 0;
        for (long i = 0; i < n; i++) {
            s += lp[i];
            se += el[i];
        }
        double mean = s / (double)n;
        for (long i = 0; i < n; i++) sq += (lp[i] - mean) * (lp[i] - mean);
        res->images = n;
        res->K = cfg->K;
        res->mean_logp = mean;
        res->se_logp = n > 1 ? sqrt(sq / (double)(n - 1) / (double)n) : 0.0;
        res->mean_elbo = se / (double)n;
    }
    free(own);
    return rc;
}

int vae_posterior_stats(Vae *m, const float *x, long n, int batch, double *var_mu, double *kl_dim, int *active,
                        VaeError *err) {
    int Z = m->cfg.zdim, D = m->in_dim;
    if (m->cfg.model != VAE_MODEL_VAE || m->cfg.n_classes > 0)
        return vae_fail(err, "active units and KL per dimension need an unconditional VAE");
    if (n < 1) return vae_fail(err, "no images to evaluate");
    if (batch < 1) batch = 1;
    if (batch > n) batch = (int)n;
    VaeActs a;
    if (vae_acts_init(&a, m, batch, err) != VAE_OK) return VAE_ERR;
    float *mu = malloc((size_t)batch * Z * 2 * sizeof *mu);
    double *mean = calloc((size_t)Z, sizeof *mean);
    if (!mu || !mean) {
        free(mu);
        free(mean);
        vae_acts_free(&a);
        return vae_fail(err, "out of memory for %d latent dimensions", Z);
    }
    float *lv = mu + (size_t)batch * Z;
    for (int j = 0; j < Z; j++) var_mu[j] = kl_dim[j] = 0.0;
    /* Welford's update: stable for means far from zero */
    long seen = 0;
    for (long first = 0; first < n; first += batch) {
        int B = n - first < batch ? (int)(n - first) : batch;
        memcpy(a.x, x + (size_t)first * D, (size_t)B * D * sizeof(float));
        vae_encode(m, &a, B, mu, lv);
        for (int r = 0; r < B; r++) {
            seen++;
            for (int j = 0; j < Z; j++) {
                double u = mu[(size_t)r * Z + j], l = lv[(size_t)r * Z + j];
                double d = u - mean[j];
                mean[j] += d / (double)seen;
                var_mu[j] += d * (u - mean[j]);
                kl_dim[j] += -0.5 * (1.0 + l - u * u - exp(l));
            }
        }
    }
    int act = 0;
    for (int j = 0; j < Z; j++) {
        var_mu[j] /= (double)n;
        kl_dim[j] /= (double)n;
        act += var_mu[j] > IW_ACTIVE_VAR;
    }
    *active = act;
    free(mu);
    free(mean);
    vae_acts_free(&a);
    return VAE_OK;
}
