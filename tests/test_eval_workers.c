/* Evaluation on the training workers' activation blocks
 * (vae_evaluate_workers, what vae train uses) against vae_evaluate on one
 * block of the whole batch: the same per-image means of every loss term,
 * within tolerance (the GEMMs see other row counts), for 1, 2 and 3 workers,
 * a batch that does not divide the data and one that does not divide among
 * the workers, for an MLP, a conv and a conditional model; the same worker
 * count twice gives identical numbers; a batch larger than the workers'
 * rows is refused. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "vae/eval.h"
#include "vae/rng.h"
#include "vae/workers.h"

#define ROWS 8
#define COLS 12
#define N_IMAGES 23

static void compare(const char *what, const EvalMetrics *got, const EvalMetrics *ref) {
    double g[5] = {got->loss, got->recon, got->kl, got->loss_mu, got->recon_mu};
    double r[5] = {ref->loss, ref->recon, ref->kl, ref->loss_mu, ref->recon_mu};
    check_close_d(what, g, r, 5, 1e-5, 1e-5);
    CHECK_MSG(got->images == ref->images, "%s: %ld images, want %ld", what, got->images, ref->images);
}

static void run(const IdxImages *im, VaeArch arch, int classes) {
    VaeConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.rows = ROWS, mc.cols = COLS, mc.zdim = 3, mc.arch = arch, mc.n_hidden = 1, mc.hidden[0] = 16;
    mc.n_channels = arch == VAE_ARCH_MLP ? 0 : 2, mc.channels[0] = 4, mc.channels[1] = 8;
    mc.n_classes = classes;
    mc.loss = VAE_LOSS_BCE, mc.alpha = mc.beta = 1.0f;
    Vae m;
    VaeError err;
    if (vae_init(&m, &mc, &err) != VAE_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    Rng rng;
    rng_seed(&rng, 3);
    vae_init_params(&m, &rng);
    static const int BATCH[] = {7, 23, 1};
    for (size_t bi = 0; bi < sizeof BATCH / sizeof BATCH[0]; bi++) {
        int B = BATCH[bi];
        EvalMetrics ref, got, again;
        if (vae_evaluate_images(&m, im, B, 42, &ref, &err) != VAE_OK) {
            CHECK_MSG(0, "%s", err.msg);
            continue;
        }
        CHECK_MSG(ref.loss > 0 && ref.recon > 0, "%s: a positive reference loss", vae_arch_name(arch));
        for (int n = 1; n <= 3; n++) {
            VaeWorkers w;
            if (vae_workers_init(&w, &m, n, B, &err) != VAE_OK) {
                CHECK_MSG(0, "%s", err.msg);
                continue;
            }
            char what[120];
            snprintf(what, sizeof what, "%s%s, batch %d, %d worker(s)", vae_arch_name(arch), classes ? " (labels)" : "",
                     B, n);
            CHECK_MSG(vae_evaluate_workers(&w, im, N_IMAGES, B, 42, &got, &err) == VAE_OK, "%s: %s", what, err.msg);
            compare(what, &got, &ref);
            CHECK_MSG(vae_evaluate_workers(&w, im, N_IMAGES, B, 42, &again, &err) == VAE_OK, "%s: again", what);
            CHECK_MSG(memcmp(&got, &again, sizeof got) == 0, "%s: the same numbers twice", what);
            /* rows for B images split n ways: a batch needing more is refused */
            int too_big = w.n * w.acts[0].max_batch + 1;
            CHECK_MSG(vae_evaluate_workers(&w, im, N_IMAGES, too_big, 42, &got, &err) == VAE_ERR,
                      "%s: a batch of %d is refused", what, too_big);
            vae_workers_free(&w);
        }
    }
    vae_free(&m);
}

int main(void) {
    const char *dir = check_tmpdir();
    if (check_write_blobs(dir, "t", N_IMAGES, ROWS, COLS, 9)) {
        CHECK_MSG(0, "writing the data set");
        return check_done("test_eval_workers");
    }
    char path[600];
    snprintf(path, sizeof path, "%s/t-images-idx3-ubyte", dir);
    IdxImages im;
    VaeError err;
    if (idx_load_images(&im, path, &err) != VAE_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return check_done("test_eval_workers");
    }
    /* labels for the conditional model */
    static uint8_t labels[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++) labels[i] = (uint8_t)(i % 4);
    run(&im, VAE_ARCH_MLP, 0);
    run(&im, VAE_ARCH_CONV, 0);
    const uint8_t *saved = im.labels;
    im.labels = labels;
    run(&im, VAE_ARCH_MLP, 4);
    im.labels = saved;
    idx_images_free(&im);
    return check_done("test_eval_workers");
}
