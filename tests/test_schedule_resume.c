/* Resume continues the schedules exactly: a run with dynamic binarization,
 * a 2-epoch KL warm-up, free bits, Burda's lr stages and non-default Adam
 * settings, stopped inside epoch 2 (inside the warm-up, before the lr stage
 * and warm-up boundaries) and resumed to epoch 4, ends bit for bit where the
 * uninterrupted run does (parameters, Adam moments, RNG), with the same
 * metrics rows (timings aside); the checkpoint records every setting, and
 * metrics.csv shows the lr stages and the warm-up factor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "vae/checkpoint.h"
#include "vae/schedule.h"
#include "vae/train.h"

#define N_TRAIN 600
#define BATCH 16
#define EPOCHS 4

typedef struct {
    volatile sig_atomic_t *stop;
} StopCtx;

static void stop_mid_epoch2(const TrainProgress *p, void *ctx) {
    StopCtx *c = ctx;
    if (p->epoch == 2 && p->step == p->steps / 2) *c->stop = 1;
}

static TrainConfig config(const char *data, const char *out) {
    TrainConfig tc;
    memset(&tc, 0, sizeof tc);
    tc.model.zdim = 5;
    tc.model.n_hidden = 1;
    tc.model.hidden[0] = 32;
    tc.model.loss = VAE_LOSS_BCE;
    tc.model.alpha = 1.0f;
    tc.model.beta = 1.0f;
    tc.lr = 3e-3f;
    tc.batch = BATCH;
    tc.epochs = EPOCHS;
    tc.seed = 8;
    tc.data_dir = data;
    tc.out_dir = out;
    tc.binarize = BINARIZE_DYNAMIC;
    tc.warmup = 2;
    tc.free_bits = 0.05f;
    tc.lr_decay = 1;
    tc.adam_beta1 = 0.8f;
    tc.adam_beta2 = 0.99f;
    tc.adam_eps = 1e-4f;
    return tc;
}

/* the rows of metrics.csv with the two timing columns (11, 12) blanked */
static int read_rows(const char *dir, char rows[][512], int max) {
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "r");
    int n = 0;
    char line[512];
    while (f && n < max && fgets(line, sizeof line, f)) {
        char *out = rows[n++];
        int col = 1;
        for (char *p = line; *p; p++) {
            if (col != 11 && col != 12) *out++ = *p;
            if (*p == ',') col++;
        }
        *out = '\0';
    }
    if (f) fclose(f);
    return n;
}

/* column k (1-based) of a raw metrics row as a number */
static double column(const char *dir, int row, int k) {
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "r");
    double v = NAN;
    for (int r = 0; f && r <= row && fgets(line, sizeof line, f); r++) {
        if (r != row) continue;
        char *p = line;
        for (int c = 1; c < k && p; c++) {
            p = strchr(p, ',');
            if (p) p++;
        }
        if (p) v = strtod(p, NULL);
    }
    if (f) fclose(f);
    return v;
}

int main(void) {
    const char *dir = check_tmpdir();
    char data[512], ref[512], run[512], ck_ref[600], ck_run[600];
    snprintf(data, sizeof data, "%s/data", dir);
    mkdir(data, 0777);
    if (check_write_blobs(data, "train", N_TRAIN, 10, 10, 1) || check_write_blobs(data, "t10k", 50, 10, 10, 2)) {
        CHECK_MSG(0, "writing the data set");
        return check_done("test_schedule_resume");
    }
    VaeError err;
    TrainResult res;
    snprintf(ref, sizeof ref, "%s/ref", dir);
    snprintf(ck_ref, sizeof ck_ref, "%s/model.safetensors", ref);
    TrainConfig tc = config(data, ref);
    CHECK_MSG(vae_train(&tc, &res, &err) == VAE_OK, "reference run: %s", err.msg);

    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(ck_run, sizeof ck_run, "%s/model.safetensors", run);
    volatile sig_atomic_t stop = 0;
    StopCtx sc = {&stop};
    tc = config(data, run);
    tc.stop = &stop;
    tc.on_progress = stop_mid_epoch2;
    tc.ctx = &sc;
    CHECK_MSG(vae_train(&tc, &res, &err) == VAE_OK && res.outcome == TRAIN_STOPPED, "stopped run");
    Vae m;
    TrainState st;
    if (CHECK_MSG(checkpoint_load(ck_run, &m, &st, &err) == VAE_OK, "%s", err.msg)) {
        CHECK_MSG(st.epoch == 1 && st.epoch_step > 0, "stopped inside epoch 2 (epoch %d, step %ld)", st.epoch,
                  st.epoch_step);
        CHECK(st.binarize == BINARIZE_DYNAMIC && st.warmup == 2 && st.free_bits == 0.05f && st.lr_decay == 1);
        CHECK(st.adam_beta1 == 0.8f && st.adam_beta2 == 0.99f && st.adam_eps == 1e-4f);
        vae_free(&m);
        train_state_free(&st);
    }
    tc = config(data, run);
    tc.resume = ck_run;
    CHECK_MSG(vae_train(&tc, &res, &err) == VAE_OK && res.outcome == TRAIN_DONE, "resumed run");

    Vae a, b;
    TrainState sa, sb;
    if (CHECK(checkpoint_load(ck_ref, &a, &sa, &err) == VAE_OK && checkpoint_load(ck_run, &b, &sb, &err) == VAE_OK)) {
        size_t bytes = a.n_params * sizeof(float);
        CHECK_MSG(a.n_params == b.n_params && memcmp(a.params, b.params, bytes) == 0, "parameters identical");
        CHECK_MSG(memcmp(a.adam_m, b.adam_m, bytes) == 0 && memcmp(a.adam_v, b.adam_v, bytes) == 0,
                  "Adam moments identical");
        CHECK_MSG(memcmp(&sa.rng, &sb.rng, sizeof sa.rng) == 0 && sa.step == sb.step, "RNG and step identical");
        vae_free(&a);
        vae_free(&b);
        train_state_free(&sa);
        train_state_free(&sb);
    }
    static char ra[EPOCHS + 2][512], rb[EPOCHS + 2][512];
    int na = read_rows(ref, ra, EPOCHS + 2), nb = read_rows(run, rb, EPOCHS + 2);
    CHECK_MSG(na == EPOCHS + 1 && nb == na, "metrics.csv has a header and %d rows (%d, %d)", EPOCHS, na, nb);
    for (int i = 0; i < na && i < nb; i++) CHECK_MSG(strcmp(ra[i], rb[i]) == 0, "metrics row %d equal:\n%s%s", i, ra[i], rb[i]);
    CHECK_MSG(strstr(ra[0], "lr,kl_weight,warmup,free_bits,binarize,lr_decay,adam_beta1,adam_beta2,adam_eps") != NULL,
              "metrics.csv names the schedule columns");
    CHECK_MSG(strstr(ra[1], ",2,0.05,dynamic,1,0.8,0.99,0.0001") != NULL, "epoch 1 row records the settings: %s", ra[1]);
    /* lr: stage 0 for epoch 1, stage 1 for epochs 2-4; warm-up factor at each epoch's last step */
    long steps = (N_TRAIN + BATCH - 1) / BATCH;
    double lr[EPOCHS], kw[EPOCHS], want_lr[EPOCHS], want_kw[EPOCHS];
    for (int e = 0; e < EPOCHS; e++) {
        lr[e] = column(ref, e + 1, 18);
        kw[e] = column(ref, e + 1, 19);
        want_lr[e] = 3e-3 * pow(10.0, -(e == 0 ? 0 : 1) / 7.0);
        want_kw[e] = schedule_kl_weight(2, e, steps - 1, steps);
    }
    check_close_d("lr per epoch (Burda's stages)", lr, want_lr, EPOCHS, 0, 1e-6);
    check_close_d("warm-up factor per epoch", kw, want_kw, EPOCHS, 1e-6, 0);
    CHECK(kw[0] < 0.5 && kw[1] < 1.0 && kw[2] == 1.0);
    return check_done("test_schedule_resume");
}
