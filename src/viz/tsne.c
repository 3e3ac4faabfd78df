/* Exact t-SNE (perplexity calibration, dense P, O(n^2) gradient) and the
 * gradient descent both methods share (see include/vae/tsne.h); Barnes-Hut's
 * trees are in tsne_bh.c. The per-point loops are split by rows over a few
 * threads; each row's work is independent and sums over rows are taken in row
 * order afterwards, so the result does not depend on the thread count. */
#include "vae/tsne.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vae/rng.h"
#include "tsne_internal.h"

void tsne_default_config(TsneConfig *c) {
    memset(c, 0, sizeof *c);
    c->perplexity = 30.0;
    c->iterations = 1000;
    c->exaggeration_iters = 250;
    c->exaggeration = 12.0;
    c->momentum_switch = 250;
    c->momentum_initial = 0.5;
    c->momentum_final = 0.8;
    c->learning_rate = 200.0;
    c->min_gain = 0.01;
    c->seed = 1;
    c->threads = 1;
    c->method = TSNE_AUTO;
    c->theta = 0.5;
}

TsneMethod tsne_method_for(const TsneConfig *c, int n) {
    if (c->method != TSNE_AUTO) return c->method;
    return n <= TSNE_EXACT_MAX_N ? TSNE_EXACT : TSNE_BARNES_HUT;
}

/* ---- a minimal "run f over row ranges on T threads" helper ---- */

typedef struct {
    void (*fn)(void *ctx, int row0, int row1, int part);
    void *ctx;
    int row0, row1, part;
} RowJob;

static void *row_job_main(void *arg) {
    RowJob *j = arg;
    j->fn(j->ctx, j->row0, j->row1, j->part);
    return NULL;
}

void tsne_run_rows(int n, int threads, void (*fn)(void *, int, int, int), void *ctx) {
    if (threads < 1) threads = 1;
    if (threads > TSNE_MAX_THREADS) threads = TSNE_MAX_THREADS;
    if (threads > n) threads = n;
    RowJob jobs[TSNE_MAX_THREADS];
    pthread_t tid[TSNE_MAX_THREADS];
    int started[TSNE_MAX_THREADS] = {0};
    for (int k = 0; k < threads; k++) {
        jobs[k].fn = fn;
        jobs[k].ctx = ctx;
        jobs[k].row0 = (int)((long long)n * k / threads);
        jobs[k].row1 = (int)((long long)n * (k + 1) / threads);
        jobs[k].part = k;
    }
    for (int k = 1; k < threads; k++) started[k] = pthread_create(&tid[k], NULL, row_job_main, &jobs[k]) == 0;
    row_job_main(&jobs[0]);
    for (int k = 1; k < threads; k++) {
        if (started[k])
            pthread_join(tid[k], NULL);
        else
            row_job_main(&jobs[k]);
    }
}

/* ---- input affinities ---- */

void tsne_calibrate_row(const double *dist2, int m, double log_perp, double *p) {
    double dmin = INFINITY;
    for (int j = 0; j < m; j++)
        if (dist2[j] < dmin) dmin = dist2[j];
    double beta = 1.0, lo = 0.0, hi = INFINITY, sum = 0;
    for (int it = 0; it < 200; it++) {
        double wsum = 0;
        sum = 0;
        for (int j = 0; j < m; j++) {
            double e = exp(-beta * (dist2[j] - dmin));
            sum += e;
            wsum += e * (dist2[j] - dmin);
        }
        double h = log(sum) + beta * wsum / sum;
        double diff = h - log_perp;
        if (fabs(diff) < 1e-5) break;
        if (diff > 0) { /* too flat: sharpen */
            lo = beta;
            beta = isinf(hi) ? beta * 2 : (beta + hi) / 2;
        } else {
            hi = beta;
            beta = (beta + lo) / 2;
        }
    }
    for (int j = 0; j < m; j++) p[j] = exp(-beta * (dist2[j] - dmin)) / sum;
}

typedef struct {
    const float *x;
    int n, d;
    double log_perp;
    float *p;           /* (n, n): row i holds p_{j|i} */
    double *dist;       /* (threads, 2n) scratch: squared distances of one row, and their p */
} CalibCtx;

/* Row i: p_{j|i} = exp(-beta d_ij) / sum_k exp(-beta d_ik) over every j != i. */
static void calibrate_rows(void *arg, int row0, int row1, int part) {
    CalibCtx *c = arg;
    int n = c->n, d = c->d;
    double *dist = c->dist + (size_t)part * 2 * n, *prow = dist + n;
    for (int i = row0; i < row1; i++) {
        const float *xi = c->x + (size_t)i * d;
        int m = 0;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            const float *xj = c->x + (size_t)j * d;
            double s = 0;
            for (int k = 0; k < d; k++) {
                double t = (double)xi[k] - (double)xj[k];
                s += t * t;
            }
            dist[m++] = s;
        }
        tsne_calibrate_row(dist, m, c->log_perp, prow);
        float *pi = c->p + (size_t)i * n;
        m = 0;
        for (int j = 0; j < n; j++) pi[j] = j == i ? 0.0f : (float)prow[m++];
    }
}

/* ---- gradient ---- */

typedef struct {
    const float *p;     /* (n, n) symmetric P */
    const double *y;    /* (n, 2) */
    int n;
    double exag;
    double *attr;       /* (n, 2): sum_j p_ij num_ij (y_i - y_j) */
    double *rep;        /* (n, 2): sum_j num_ij^2 (y_i - y_j) */
    double *zrow;       /* (n): sum_j num_ij of each row, summed in row order
                           afterwards so Z does not depend on the thread count */
} GradCtx;

/* With num_ij = 1 / (1 + |y_i - y_j|^2) and Z = sum_{k!=l} num_kl, the
 * gradient is dC/dy_i = 4 sum_j (exag p_ij - num_ij / Z) num_ij (y_i - y_j)
 * = 4 (exag attr_i - rep_i / Z): one pass per row, no Q matrix stored. */
static void gradient_rows(void *arg, int row0, int row1, int part) {
    GradCtx *g = arg;
    int n = g->n;
    for (int i = row0; i < row1; i++) {
        double z = 0, yi0 = g->y[2 * i], yi1 = g->y[2 * i + 1];
        double a0 = 0, a1 = 0, r0 = 0, r1 = 0;
        const float *pi = g->p + (size_t)i * n;
        /* j == i adds nothing to the sums (y_i - y_i = 0, p_ii = 0) except
           num_ii = 1 to z, taken off after the loop: no branch inside */
        for (int j = 0; j < n; j++) {
            double d0 = yi0 - g->y[2 * j], d1 = yi1 - g->y[2 * j + 1];
            double num = 1.0 / (1.0 + d0 * d0 + d1 * d1);
            double pn = (double)pi[j] * num, nn = num * num;
            a0 += pn * d0;
            a1 += pn * d1;
            r0 += nn * d0;
            r1 += nn * d1;
            z += num;
        }
        z -= 1.0;
        g->attr[2 * i] = a0;
        g->attr[2 * i + 1] = a1;
        g->rep[2 * i] = r0;
        g->rep[2 * i + 1] = r1;
        g->zrow[i] = z;
    }
}

typedef struct {
    const float *p;
    const double *y;
    int n;
    double log_z;
    double *klrow;      /* (n) */
} KlCtx;

static void kl_rows(void *arg, int row0, int row1, int part) {
    KlCtx *k = arg;
    int n = k->n;
    for (int i = row0; i < row1; i++) {
        double s = 0;
        const float *pi = k->p + (size_t)i * n;
        for (int j = 0; j < n; j++) {
            if (j == i || pi[j] <= 0) continue;
            double d0 = k->y[2 * i] - k->y[2 * j], d1 = k->y[2 * i + 1] - k->y[2 * j + 1];
            double log_q = -log1p(d0 * d0 + d1 * d1) - k->log_z;
            s += (double)pi[j] * (log((double)pi[j]) - log_q);
        }
        k->klrow[i] = s;
    }
}

/* KL(P || Q) for the current map; needs Z from the last gradient pass. */
static double tsne_kl(const float *p, const double *y, int n, double zsum, int threads, double *klrow) {
    KlCtx k = {p, y, n, log(zsum), klrow};
    tsne_run_rows(n, threads, kl_rows, &k);
    double s = 0;
    for (int i = 0; i < n; i++) s += klrow[i];
    return s;
}

/* gradient terms of every row into g, and Z = sum of num_ij over i != j */
static double tsne_gradient(GradCtx *g, int threads) {
    tsne_run_rows(g->n, threads, gradient_rows, g);
    double z = 0;
    for (int i = 0; i < g->n; i++) z += g->zrow[i];
    return z;
}

int tsne_check_input(const float *x, int n, int d, double perplexity, VaeError *err) {
    if (n < 2 || d < 1) return vae_fail(err, "t-SNE: needs at least 2 points of dimension >= 1 (got %d x %d)", n, d);
    if (!(perplexity >= 1.0) || 3.0 * perplexity > (double)(n - 1))
        return vae_fail(err, "t-SNE: perplexity %g is out of range for %d points (needs 1 <= perplexity <= %g)",
                        perplexity, n, (double)(n - 1) / 3.0);
    size_t nd, nn;
    if (vae_mul_size((size_t)n, (size_t)d, &nd) != 0 || vae_mul_size((size_t)n, (size_t)n, &nn) != 0 ||
        vae_mul_size(nn, sizeof(float), &nn) != 0)
        return vae_fail(err, "t-SNE: %d points is too many", n);
    for (size_t i = 0; i < nd; i++)
        if (!isfinite(x[i])) return vae_fail(err, "t-SNE: input value %zu is not finite", i);
    return VAE_OK;
}

int tsne_conditional_affinities(const float *x, int n, int d, double perplexity, int threads, float *p,
                                VaeError *err) {
    if (tsne_check_input(x, n, d, perplexity, err) != VAE_OK) return VAE_ERR;
    threads = tsne_clamp_threads(threads);
    double *dist = malloc((size_t)threads * 2 * (size_t)n * sizeof(double));
    if (!dist) return vae_fail(err, "t-SNE: out of memory for %d points", n);
    CalibCtx cc = {x, n, d, log(perplexity), p, dist};
    tsne_run_rows(n, threads, calibrate_rows, &cc);
    free(dist);
    return VAE_OK;
}

/* Exact t-SNE's P (n, n): calibrated rows, symmetrised p_ij = (p_{j|i} + p_{i|j}) / 2n,
 * floored at 1e-12 so log() stays finite. NULL with a message on failure. */
static float *dense_affinities(const float *x, int n, int d, double perplexity, int threads, VaeError *err) {
    float *p = malloc((size_t)n * (size_t)n * sizeof(float)); /* size checked by tsne_check_input */
    if (!p) {
        vae_fail(err, "t-SNE: out of memory for %d points (%zu MB); use Barnes-Hut", n,
                 ((size_t)n * (size_t)n * sizeof(float)) >> 20);
        return NULL;
    }
    if (tsne_conditional_affinities(x, n, d, perplexity, threads, p, err) != VAE_OK) {
        free(p);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            float v = (float)(((double)p[(size_t)i * n + j] + (double)p[(size_t)j * n + i]) / (2.0 * n));
            if (v < 1e-12f) v = 1e-12f;
            p[(size_t)i * n + j] = p[(size_t)j * n + i] = v;
        }
        p[(size_t)i * n + i] = 0.0f;
    }
    return p;
}

void tsne_gradient_exact(const float *p, const double *y, int n, double exag, int threads, double *grad) {
    double *work = malloc((size_t)n * 5 * sizeof(double));
    if (!work) { /* a void function for tests; they pass small n */
        for (int i = 0; i < 2 * n; i++) grad[i] = NAN;
        return;
    }
    GradCtx g = {p, y, n, exag, work, work + 2 * (size_t)n, work + 4 * (size_t)n};
    double z = tsne_gradient(&g, tsne_clamp_threads(threads));
    for (int i = 0; i < 2 * n; i++) grad[i] = 4.0 * (exag * g.attr[i] - g.rep[i] / z);
    free(work);
}

int tsne_gradient_bh(const TsneSparse *p, const double *y, int n, double exag, double theta, int threads,
                     double *grad, VaeError *err) {
    TsneBh *bh = NULL;
    double *work = malloc((size_t)n * 5 * sizeof(double));
    if (!work || tsne_bh_init(&bh, n, err) != VAE_OK) {
        free(work);
        return work ? VAE_ERR : vae_fail(err, "t-SNE: out of memory for %d points", n);
    }
    double *attr = work, *rep = work + 2 * (size_t)n, *zrow = work + 4 * (size_t)n;
    double z = tsne_bh_terms(bh, p, y, theta, tsne_clamp_threads(threads), attr, rep, zrow);
    tsne_bh_free(bh);
    if (z < 0) {
        free(work);
        return vae_fail(err, "t-SNE: out of memory for the quadtree of %d points", n);
    }
    for (int i = 0; i < 2 * n; i++) grad[i] = 4.0 * (exag * attr[i] - rep[i] / z);
    free(work);
    return VAE_OK;
}

int tsne_kl_divergence(const float *x, int n, int d, double perplexity, const double *y, int threads, double *kl,
                       VaeError *err) {
    if (tsne_check_input(x, n, d, perplexity, err) != VAE_OK) return VAE_ERR;
    threads = tsne_clamp_threads(threads);
    float *p = dense_affinities(x, n, d, perplexity, threads, err);
    double *work = p ? malloc((size_t)n * 6 * sizeof(double)) : NULL;
    if (!work) {
        free(p);
        return p ? vae_fail(err, "t-SNE: out of memory for %d points", n) : VAE_ERR;
    }
    GradCtx g = {p, y, n, 1.0, work, work + 2 * (size_t)n, work + 4 * (size_t)n};
    double z = tsne_gradient(&g, threads);
    *kl = tsne_kl(p, y, n, z, threads, work + 5 * (size_t)n);
    free(p);
    free(work);
    return VAE_OK;
}

int tsne_run(const TsneConfig *c, const float *x, int n, int d, double *y, double *kl_out, VaeError *err) {
    if (tsne_check_input(x, n, d, c->perplexity, err) != VAE_OK) return VAE_ERR;
    if (c->iterations < 1 || !(c->learning_rate > 0) || !(c->exaggeration >= 1) || !(c->min_gain > 0) ||
        !(c->theta >= 0 && c->theta <= 10) || c->method < TSNE_AUTO || c->method > TSNE_BARNES_HUT)
        return vae_fail(err, "t-SNE: invalid settings (iterations %d, learning rate %g, exaggeration %g, theta %g)",
                        c->iterations, c->learning_rate, c->exaggeration, c->theta);
    int threads = tsne_clamp_threads(c->threads);
    int bh_method = tsne_method_for(c, n) == TSNE_BARNES_HUT;
    float *p = NULL;
    TsneSparse sp = {0};
    TsneBh *bh = NULL;
    /* per point: attr (2), rep (2), update (2), gains (2), row Z (1), row KL (1) */
    double *work = malloc((size_t)n * 10 * sizeof(double));
    if (!work) return vae_fail(err, "t-SNE: out of memory for %d points", n);
    if (bh_method) {
        if (tsne_sparse_affinities(x, n, d, c->perplexity, threads, &sp, err) != VAE_OK ||
            tsne_bh_init(&bh, n, err) != VAE_OK) {
            tsne_sparse_free(&sp);
            free(work);
            return VAE_ERR;
        }
    } else if (!(p = dense_affinities(x, n, d, c->perplexity, threads, err))) {
        free(work);
        return VAE_ERR;
    }

    double *attr = work, *rep = work + 2 * (size_t)n, *upd = work + 4 * (size_t)n, *gains = work + 6 * (size_t)n;
    double *zrow = work + 8 * (size_t)n, *klrow = work + 9 * (size_t)n;
    Rng r;
    rng_seed(&r, c->seed);
    for (int i = 0; i < 2 * n; i++) {
        float v;
        rng_normal(&r, &v, 1);
        y[i] = 1e-4 * (double)v;
        upd[i] = 0;
        gains[i] = 1;
    }
    int rc = VAE_OK;
    double zsum = 1;
    /* it == iterations: one more pass for the final map's Z and KL */
    for (int it = 0; it <= c->iterations; it++) {
        double exag = it < c->exaggeration_iters ? c->exaggeration : 1.0;
        double mom = it < c->momentum_switch ? c->momentum_initial : c->momentum_final;
        if (bh_method) {
            zsum = tsne_bh_terms(bh, &sp, y, c->theta, threads, attr, rep, zrow);
            if (zsum < 0) {
                rc = vae_fail(err, "t-SNE: out of memory for the quadtree of %d points", n);
                break;
            }
        } else {
            GradCtx g = {p, y, n, exag, attr, rep, zrow};
            zsum = tsne_gradient(&g, threads);
        }
        if (it == c->iterations) break;
        if (c->on_report && c->report_every > 0 && it > 0 && it % c->report_every == 0)
            c->on_report(it, bh_method ? tsne_bh_kl(&sp, y, zsum) : tsne_kl(p, y, n, zsum, threads, klrow), c->ctx);
        double mean0 = 0, mean1 = 0;
        for (int i = 0; i < 2 * n; i++) {
            double grad = 4.0 * (exag * attr[i] - rep[i] / zsum);
            /* gains grow while the gradient keeps pointing against the last
               step's direction (the step keeps going downhill) and shrink when
               it flips */
            gains[i] = (grad > 0) != (upd[i] > 0) ? gains[i] + 0.2 : gains[i] * 0.8;
            if (gains[i] < c->min_gain) gains[i] = c->min_gain;
            upd[i] = mom * upd[i] - c->learning_rate * gains[i] * grad;
            y[i] += upd[i];
            if (i % 2 == 0)
                mean0 += y[i];
            else
                mean1 += y[i];
        }
        for (int i = 0; i < n; i++) {
            y[2 * i] -= mean0 / n;
            y[2 * i + 1] -= mean1 / n;
        }
    }
    if (rc == VAE_OK) {
        double kl = bh_method ? tsne_bh_kl(&sp, y, zsum) : tsne_kl(p, y, n, zsum, threads, klrow);
        if (c->on_report && c->report_every > 0) c->on_report(c->iterations, kl, c->ctx);
        if (kl_out) *kl_out = kl;
        int ok = 1;
        for (int i = 0; i < 2 * n; i++) ok &= isfinite(y[i]) != 0;
        if (!ok) rc = vae_fail(err, "t-SNE: the map diverged (non-finite coordinates)");
    }
    free(p);
    tsne_sparse_free(&sp);
    tsne_bh_free(bh);
    free(work);
    return rc;
}
