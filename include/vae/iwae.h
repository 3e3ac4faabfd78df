/* Importance-weighted log-likelihood (Burda, Grosse & Salakhutdinov 2015):
 * for each image x, K draws z_k = mu + sigma * eps_k from q(z|x) and
 *   log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x),
 *   log p^(x) = log (1/K) sum_k exp(log w_k)        (stable log-mean-exp),
 * a lower bound on log p(x) that rises with K; K = 1 is the ELBO with a
 * one-sample estimate of the KL. log p(x|z) is the Bernoulli likelihood,
 * -BCE summed over pixels, so it is a likelihood only for binary images; the
 * training weights alpha and beta play no part. SSE models are refused.
 *
 * The K samples of an image (or the samples of several images) go through
 * the decoder together, up to `rows` rows per GEMM; the eps of image i come
 * from their own generator (seed, i), so the result does not depend on the
 * chunking or on the thread count (beyond BLAS rounding). */
#ifndef VAE_IWAE_H
#define VAE_IWAE_H

#include <stdint.h>
#include "vae/common.h"
#include "vae/vae.h"

#define IW_SEED_SALT 0x1a7e5eedc0ffeeULL
#define IW_DEFAULT_ROWS 1024

typedef struct {
    int K;                  /* importance samples per image, >= 1 */
    uint64_t seed;          /* eps stream (see iw_image_eps) */
    int threads;            /* worker threads (each with its own buffers) */
    int rows;               /* decoder rows per GEMM; 0 = IW_DEFAULT_ROWS */
    /* Optional: eps given instead of drawn, (n, K, Z) floats, image-major.
     * What the PyTorch cross-check and the tests use. */
    const float *eps;
    /* Called from worker threads (serialised by a lock) as images finish. */
    void (*on_progress)(long done, long total, void *ctx);
    void *ctx;
} IwConfig;

typedef struct {
    long images;
    int K;
    double mean_logp;       /* mean over images of log p^(x), nats */
    double se_logp;         /* its standard error over images */
    double mean_elbo;       /* mean over images and samples of log w_k */
    double seconds;
} IwResult;

/* The eps of image `index`: K x Z standard normals, sample-major. */
void iw_image_eps(uint64_t seed, long index, int K, int Z, float *out);

/* x: (n, D) images in [0, 1]. logp (n) and elbo (n), may be NULL, receive
 * the per-image log p^(x) and mean log w_k. Errors: an SSE model, K < 1,
 * out of memory, a thread that cannot start. */
int vae_iw_estimate(Vae *m, const float *x, long n, const IwConfig *cfg, double *logp, double *elbo,
                    IwResult *res, VaeError *err);

/* Active units and the per-dimension KL over n images x (n, D), encoded in
 * batches of up to `batch`: var_mu[j] is the variance over images (1/n, as
 * numpy's var) of the posterior mean mu_j, kl_dim[j] the mean over images of
 * KL(q(z_j|x) || N(0, 1)); a unit is active when var_mu[j] > IW_ACTIVE_VAR
 * (Burda et al.'s definition). *active receives the count. */
#define IW_ACTIVE_VAR 0.01
int vae_posterior_stats(Vae *m, const float *x, long n, int batch, double *var_mu, double *kl_dim, int *active,
                        VaeError *err);

/* log (1/n) sum exp(v_i), stable (shifted by the maximum); -inf for n = 0. */
double iw_log_mean_exp(const double *v, long n);

#endif
