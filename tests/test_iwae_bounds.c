/* Properties of the importance-weighted estimate on a small trained model
 * (12x12 blobs, binarized):
 *  - log-mean-exp: closed forms, no overflow, empty and -inf inputs;
 *  - K = 1 is the ELBO path: with the same eps, log p^(x) of every image
 *    equals -(recon from vae_forward + log q(z|x) - log p(z)), the densities
 *    written out here in double;
 *  - the estimate is >= the mean log w of its own samples (Jensen), rises
 *    with K = 1, 10, 100, 1000, and K = 1000 lies above the analytic ELBO;
 *  - the numbers do not depend on the thread count or the rows per pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/binarize.h"
#include "vae/checkpoint.h"
#include "vae/idx.h"
#include "vae/iwae.h"
#include "vae/train.h"

#define N_TEST 40
#define LOG2PI 1.8378770664093453

static void log_mean_exp_cases(void) {
    double a[3] = {-3.5, -3.5, -3.5};
    double got = iw_log_mean_exp(a, 3), want = -3.5;
    check_close_d("lme of equal values", &got, &want, 1, 1e-12, 0);
    double b[2] = {0.0, log(3.0)};
    got = iw_log_mean_exp(b, 2);
    want = log(2.0);
    check_close_d("lme {0, log 3} = log 2", &got, &want, 1, 1e-12, 0);
    double c[2] = {-1000.0, -1000.0 + log(3.0)};   /* exp underflows without the shift */
    got = iw_log_mean_exp(c, 2);
    want = -1000.0 + log(2.0);
    check_close_d("lme far below 0", &got, &want, 1, 1e-9, 0);
    double d[2] = {800.0, -INFINITY};
    got = iw_log_mean_exp(d, 2);
    want = 800.0 - log(2.0);
    check_close_d("lme with a -inf term", &got, &want, 1, 1e-9, 0);
    CHECK(iw_log_mean_exp(d, 0) == -INFINITY);
}

static double mean(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s / n;
}

int main(void) {
    log_mean_exp_cases();
    const char *dir = check_tmpdir();
    char data[4200], out[4200], ck[4300];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(out, sizeof out, "%s/run", dir);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", data);
    if (system(cmd) != 0 || check_write_blobs(data, "train", 1500, 12, 12, 3) ||
        check_write_blobs(data, "t10k", N_TEST, 12, 12, 4)) {
        CHECK_MSG(0, "writing the data set");
        return check_done("test_iwae_bounds");
    }
    TrainConfig tc;
    memset(&tc, 0, sizeof tc);
    tc.model.zdim = 4;
    tc.model.n_hidden = 1;
    tc.model.hidden[0] = 48;
    tc.model.loss = VAE_LOSS_BCE;
    tc.model.alpha = tc.model.beta = 1.0f;
    tc.lr = 3e-3f;
    tc.batch = 32;
    tc.epochs = 4;
    tc.seed = 5;
    tc.data_dir = data;
    tc.out_dir = out;
    TrainResult res;
    VaeError err;
    if (!CHECK_MSG(vae_train(&tc, &res, &err) == VAE_OK, "train: %s", err.msg)) return check_done("test_iwae_bounds");
    snprintf(ck, sizeof ck, "%s/model.safetensors", out);
    Vae m;
    if (!CHECK_MSG(checkpoint_load(ck, &m, NULL, &err) == VAE_OK, "load: %s", err.msg))
        return check_done("test_iwae_bounds");
    IdxSplit test;
    if (!CHECK_MSG(idx_load_split(&test, data, IDX_TEST, &err) == VAE_OK, "%s", err.msg)) return check_done("test_iwae_bounds");
    binarize_images(&test.images, binarize_key(BINARIZE_TEST_SEED, 0));
    int D = m.in_dim, Z = m.cfg.zdim, n = N_TEST;
    float *x = malloc((size_t)n * D * sizeof *x);
    double *logp = malloc((size_t)n * 4 * sizeof *logp), *elbo = logp + n, *ref = logp + 2 * n, *tmp = logp + 3 * n;
    idx_gather(&test.images, NULL, 0, (uint32_t)n, x);

    /* K = 1 against the ELBO path with the same eps */
    IwConfig ic = {0};
    ic.K = 1;
    ic.seed = 77;
    ic.threads = 1;
    IwResult r1;
    CHECK(vae_iw_estimate(&m, x, n, &ic, logp, elbo, &r1, &err) == VAE_OK);
    VaeActs a;
    CHECK(vae_acts_init(&a, &m, 1, &err) == VAE_OK);
    double kl_analytic = 0, recon_sum = 0;
    for (int i = 0; i < n; i++) {
        memcpy(a.x, x + (size_t)i * D, (size_t)D * sizeof(float));
        iw_image_eps(ic.seed, i, 1, Z, a.eps);
        VaeLoss l;
        vae_forward(&m, &a, 1, 1, 0, &l);
        float mu[16], lv[16];
        vae_encode(&m, &a, 1, mu, lv);
        double logq = 0, logpz = 0;
        for (int j = 0; j < Z; j++) {
            double z = a.z[j];
            logq += -0.5 * (LOG2PI + lv[j] + (z - mu[j]) * (z - mu[j]) / exp((double)lv[j]));
            logpz += -0.5 * (LOG2PI + z * z);
        }
        ref[i] = -(l.recon + logq - logpz);
        kl_analytic += l.kl;
        recon_sum += l.recon;
    }
    check_close_d("K = 1 equals the ELBO path (same eps)", logp, ref, (size_t)n, 0, 1e-5);
    check_close_d("K = 1: log p^ equals mean log w", logp, elbo, (size_t)n, 0, 1e-12);

    /* rising with K, above the samples' own mean, above the analytic ELBO */
    double prev = -INFINITY;
    int Ks[4] = {1, 10, 100, 1000};
    for (int t = 0; t < 4; t++) {
        ic.K = Ks[t];
        IwResult r;
        CHECK(vae_iw_estimate(&m, x, n, &ic, logp, elbo, &r, &err) == VAE_OK);
        int jensen = 1;
        for (int i = 0; i < n; i++) jensen &= logp[i] >= elbo[i] - 1e-9;
        CHECK_MSG(jensen, "K = %d: log p^ >= mean log w for every image", Ks[t]);
        CHECK_MSG(r.mean_logp > prev, "K = %d: mean log p^ %.4f rises above %.4f", Ks[t], r.mean_logp, prev);
        CHECK_MSG(fabs(r.mean_logp - mean(logp, n)) < 1e-9, "K = %d: result is the mean", Ks[t]);
        printf("K = %4d: mean log p^ %.4f (se %.4f), mean log w %.4f\n", Ks[t], r.mean_logp, r.se_logp, r.mean_elbo);
        prev = r.mean_logp;
    }
    double elbo_analytic = -(recon_sum + kl_analytic) / n;
    printf("analytic ELBO %.4f\n", elbo_analytic);
    CHECK_MSG(prev > elbo_analytic, "K = 1000: %.4f above the analytic ELBO %.4f", prev, elbo_analytic);

    /* threads and rows per pass change nothing (beyond BLAS rounding) */
    ic.K = 50;
    IwResult r;
    CHECK(vae_iw_estimate(&m, x, n, &ic, ref, elbo, &r, &err) == VAE_OK);
    ic.threads = 3;
    ic.rows = 7;   /* K > rows: each image in passes of 7 rows */
    CHECK(vae_iw_estimate(&m, x, n, &ic, tmp, elbo, &r, &err) == VAE_OK);
    check_close_d("3 threads, 7 rows per pass vs 1 thread", tmp, ref, (size_t)n, 0, 1e-6);
    ic.rows = 160; /* several images per pass */
    CHECK(vae_iw_estimate(&m, x, n, &ic, tmp, elbo, &r, &err) == VAE_OK);
    check_close_d("160 rows per pass vs 1024", tmp, ref, (size_t)n, 0, 1e-6);
    /* and the checks can fail: another seed gives other numbers */
    ic.seed = 78;
    CHECK(vae_iw_estimate(&m, x, n, &ic, tmp, elbo, &r, &err) == VAE_OK);
    size_t wi;
    double we;
    CHECK_MSG(!tol_close(tmp, ref, (size_t)n, 0, 1e-6, &wi, &we), "another seed is told apart");

    /* an SSE model is refused with a message */
    Vae mse;
    VaeConfig c2 = m.cfg;
    c2.loss = VAE_LOSS_MSE;
    CHECK(vae_init(&mse, &c2, &err) == VAE_OK);
    CHECK(vae_iw_estimate(&mse, x, n, &ic, tmp, elbo, &r, &err) == VAE_ERR);
    check_contains("SSE refused", err.msg, "Bernoulli");
    vae_free(&mse);

    vae_acts_free(&a);
    free(x);
    free(logp);
    idx_split_free(&test);
    vae_free(&m);
    return check_done("test_iwae_bounds");
}
