/* A full disk during training (the n-th write fails with ENOSPC, through the
 * vae_fileio_fail_after hook) makes vae_train return an error naming the file,
 * for every n: the checkpoint of the last finished epoch stays byte for byte
 * as it was and no temp file is left in the run folder. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "vae/checkpoint.h"
#include "vae/fileio.h"
#include "vae/train.h"

#define SIDE 8
#define N_TRAIN 200
#define N_TEST 40

static TrainConfig config(const char *data, const char *out, int epochs) {
    TrainConfig tc;
    memset(&tc, 0, sizeof tc);
    tc.model.zdim = 2;
    tc.model.n_hidden = 1;
    tc.model.hidden[0] = 16;
    tc.model.loss = VAE_LOSS_BCE;
    tc.model.alpha = 1.0f;
    tc.model.beta = 1.0f;
    tc.lr = 1e-3f;
    tc.batch = 32;
    tc.epochs = epochs;
    tc.seed = 3;
    tc.data_dir = data;
    tc.out_dir = out;
    tc.artifacts = 1;     /* PNG grids too: every kind of file the run writes */
    return tc;
}

/* whole file into a malloc'd buffer; NULL if it cannot be read */
static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0, r;
    do {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            uint8_t *q = realloc(buf, cap);
            if (!q) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = q;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    *len = n;
    return buf;
}

/* names in dir containing ".tmp" (leftovers of an atomic write) */
static int temp_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp")) n++;
    closedir(d);
    return n;
}

int main(void) {
    const char *dir = check_tmpdir();
    char data[512], run[512], ck[600];
    snprintf(data, sizeof data, "%s/data", dir);
    mkdir(data, 0777);
    if (check_write_blobs(data, "train", N_TRAIN, SIDE, SIDE, 1) || check_write_blobs(data, "t10k", N_TEST, SIDE, SIDE, 2)) {
        CHECK_MSG(0, "writing the data set");
        return check_done("test_train_write_failure");
    }
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(ck, sizeof ck, "%s/model.safetensors", run);
    VaeError err;
    TrainResult res;

    /* a fresh run whose first write fails: an error, and no checkpoint at all */
    TrainConfig tc = config(data, run, 1);
    vae_fileio_fail_after = 1;
    int rc = vae_train(&tc, &res, &err);
    vae_fileio_fail_after = 0;
    CHECK_MSG(rc == VAE_ERR, "first write fails: vae_train reports an error");
    if (rc == VAE_ERR) check_contains("first write fails", err.msg, "No space left on device");
    struct stat sb;
    CHECK_MSG(stat(ck, &sb) != 0, "no checkpoint after a failed first epoch");
    CHECK_MSG(temp_files(run) == 0, "no temp files after a failed first epoch");

    /* one good epoch */
    rc = vae_train(&tc, &res, &err);
    CHECK_MSG(rc == VAE_OK, "epoch 1: %s", rc == VAE_OK ? "ok" : err.msg);
    size_t good_len = 0;
    uint8_t *good = slurp(ck, &good_len);
    CHECK_MSG(good != NULL && good_len > 8, "epoch 1 checkpoint readable");
    if (!good) return check_done("test_train_write_failure");

    /* epoch 2 with the n-th write failing, for every n until a run gets through */
    int failures = 0, hit_checkpoint = 0, finished = 0;
    for (int n = 1; n <= 64 && !finished; n++) {
        tc = config(data, run, 2);
        tc.resume = ck;
        vae_fileio_fail_after = n;
        rc = vae_train(&tc, &res, &err);
        vae_fileio_fail_after = 0;
        if (rc == VAE_OK) {
            finished = 1;
            break;
        }
        failures++;
        CHECK_MSG(strstr(err.msg, run) != NULL && strstr(err.msg, "No space left on device") != NULL,
                  "write %d fails: message names the file and the reason: %s", n, err.msg);
        if (strstr(err.msg, "model.safetensors")) hit_checkpoint = 1;
        size_t len = 0;
        uint8_t *now = slurp(ck, &len);
        CHECK_MSG(now && len == good_len && memcmp(now, good, len) == 0,
                  "write %d fails: the epoch-1 checkpoint is unchanged", n);
        free(now);
        CHECK_MSG(temp_files(run) == 0, "write %d fails: no temp files left", n);
        Vae m;
        TrainState st;
        if (checkpoint_load(ck, &m, &st, &err) == VAE_OK) {
            CHECK_MSG(st.epoch == 1, "write %d fails: the checkpoint still loads at epoch 1", n);
            vae_free(&m);
            train_state_free(&st);
        } else {
            CHECK_MSG(0, "write %d fails: the checkpoint no longer loads: %s", n, err.msg);
        }
    }
    CHECK_MSG(failures >= 4, "metrics, two grids and the checkpoint each failed once (%d failures)", failures);
    CHECK_MSG(hit_checkpoint, "one of the failures was the checkpoint's own write");
    CHECK_MSG(finished, "with enough room, epoch 2 completes");
    free(good);
    return check_done("test_train_write_failure");
}
