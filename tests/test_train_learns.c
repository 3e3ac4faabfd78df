/* A short training run learns. After about 300 Adam steps the test loss (per
 * image, sampled z) must be far below the loss of the best model that ignores
 * its input — every pixel predicted by its training-set mean, a closed-form
 * reference computed here — and, on real MNIST (when data/mnist exists), below
 * a stated absolute bound: 150 nats after 300 steps (PyTorch reaches 127 after
 * the 469 steps of a full epoch). Only when the data/mnist folder is missing
 * does it train on blobs it writes; a folder that fails to load fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "check.h"
#include "vae/idx.h"
#include "vae/train.h"

/* mean over the test images of the BCE of predicting each pixel by its
 * training mean (clamped away from 0 and 1 so the logs stay finite) */
static double mean_image_bce(const IdxImages *train, const IdxImages *test) {
    size_t D = (size_t)train->rows * train->cols;
    double *p = calloc(D, sizeof *p);
    if (!p) return NAN;
    for (uint32_t n = 0; n < train->count; n++)
        for (size_t i = 0; i < D; i++) p[i] += train->pixels[n * D + i] / 255.0;
    for (size_t i = 0; i < D; i++) {
        p[i] /= train->count;
        p[i] = p[i] < 1e-6 ? 1e-6 : p[i] > 1 - 1e-6 ? 1 - 1e-6 : p[i];
    }
    double total = 0;
    for (uint32_t n = 0; n < test->count; n++)
        for (size_t i = 0; i < D; i++) {
            double x = test->pixels[n * D + i] / 255.0;
            total -= x * log(p[i]) + (1 - x) * log(1 - p[i]);
        }
    free(p);
    return total / test->count;
}

int main(void) {
    char data[4200];
    snprintf(data, sizeof data, "%s/data/mnist", check_source_dir());
    IdxSplit train = {0}, test = {0};
    VaeError err;
    /* only a missing folder means "no MNIST here"; a folder that is there
       but does not load is a failure, not a reason to test something else */
    struct stat sb;
    int real = stat(data, &sb) == 0;
    if (real) {
        if (!CHECK_MSG(idx_load_split(&train, data, IDX_TRAIN, &err) == VAE_OK, "loading MNIST: %s", err.msg))
            return check_done("test_train_learns");
        printf("training on real MNIST in %s\n", data);
    } else {
        idx_split_free(&train);
        snprintf(data, sizeof data, "%s/blobs", check_tmpdir());
        mkdir(data, 0777);
        if (check_write_blobs(data, "train", 3000, 12, 12, 7) || check_write_blobs(data, "t10k", 500, 12, 12, 8)) {
            CHECK_MSG(0, "writing the data set");
            return check_done("test_train_learns");
        }
        printf("no MNIST in data/mnist: training on blobs in %s\n", data);
        CHECK(idx_load_split(&train, data, IDX_TRAIN, &err) == VAE_OK);
    }
    CHECK(idx_load_split(&test, data, IDX_TEST, &err) == VAE_OK);
    double baseline = mean_image_bce(&train.images, &test.images);
    idx_split_free(&train);
    idx_split_free(&test);

    TrainConfig tc = {0};
    tc.model.zdim = real ? 20 : 4;
    tc.model.n_hidden = 1;
    tc.model.hidden[0] = real ? 400 : 128;
    tc.model.loss = VAE_LOSS_BCE;
    tc.model.alpha = 1;
    tc.model.beta = 1;
    tc.lr = real ? 1e-3f : 3e-3f;
    tc.batch = real ? 128 : 32;
    tc.epochs = real ? 1 : 3;
    tc.limit = real ? 300 * 128 : 0;   /* 300 steps either way (3 x 94 on blobs) */
    tc.seed = 1;
    tc.data_dir = data;
    tc.out_dir = check_path("run");
    TrainResult res;
    int rc = vae_train(&tc, &res, &err);
    CHECK_MSG(rc == VAE_OK, "training: %s", rc == VAE_OK ? "ok" : err.msg);
    double loss = res.last.test.loss;
    printf("after %ld steps: test loss %.2f (recon %.2f, kl %.2f); mean-image baseline %.2f\n", res.step, loss,
           res.last.test.recon, res.last.test.kl, baseline);
    CHECK(res.step >= 280);
    CHECK_MSG(loss < 0.75 * baseline, "test loss %.2f is not below 0.75 x the mean-image baseline %.2f", loss,
              baseline);
    if (real) CHECK_MSG(loss < 150.0, "test loss %.2f after 300 steps on MNIST is not below 150", loss);
    return check_done("test_train_learns");
}
