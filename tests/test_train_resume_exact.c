/* Library-level resume: vae_train stopped through TrainConfig.stop (as the
 * SIGINT handler does) at the last step of an epoch, and in the middle of an
 * epoch, then resumed, ends with the same parameters, Adam moments, step count
 * and RNG state, bit for bit, as a run that was never stopped; with one
 * training worker and with two (each half of every batch on its own thread). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "vae/checkpoint.h"
#include "vae/train.h"

#define ROWS 28
#define COLS 28
#define N_TRAIN 2000
#define N_TEST 64
#define EPOCHS 3

typedef struct {
    volatile sig_atomic_t *stop;
    int epoch;          /* stop in this epoch ... */
    int at_last_step;   /* ... at its last step, or at the first report before it */
    long stopped_at;    /* the in-epoch step reported when the stop was requested */
} StopCtx;

static void stop_when(const TrainProgress *p, void *ctx) {
    StopCtx *c = ctx;
    if (*c->stop || p->epoch != c->epoch) return;
    if (c->at_last_step ? p->step == p->steps : p->step < p->steps) {
        *c->stop = 1;
        c->stopped_at = p->step;
    }
}

static int g_threads = 1, g_batch = 4;

static TrainConfig config(const char *data, const char *out) {
    TrainConfig tc;
    memset(&tc, 0, sizeof tc);
    tc.threads = g_threads;
    tc.model.zdim = 2;
    tc.model.n_hidden = 1;
    tc.model.hidden[0] = 128;
    tc.model.loss = VAE_LOSS_BCE;
    tc.model.alpha = 1.0f;
    tc.model.beta = 1.0f;
    tc.lr = 1e-3f;
    tc.batch = g_batch;
    tc.epochs = EPOCHS;
    tc.seed = 42;
    tc.data_dir = data;
    tc.out_dir = out;
    return tc;
}

/* the two checkpoints hold the same model and the same training state */
static void compare(const char *what, const char *a_path, const char *b_path) {
    Vae a, b;
    TrainState sa, sb;
    VaeError err;
    if (checkpoint_load(a_path, &a, &sa, &err) != VAE_OK) {
        CHECK_MSG(0, "%s: %s", what, err.msg);
        return;
    }
    if (checkpoint_load(b_path, &b, &sb, &err) != VAE_OK) {
        CHECK_MSG(0, "%s: %s", what, err.msg);
        vae_free(&a);
        train_state_free(&sa);
        return;
    }
    CHECK_MSG(a.n_params == b.n_params, "%s: same parameter count", what);
    if (a.n_params == b.n_params) {
        size_t bytes = a.n_params * sizeof(float);
        CHECK_MSG(memcmp(a.params, b.params, bytes) == 0, "%s: parameters identical", what);
        CHECK_MSG(memcmp(a.adam_m, b.adam_m, bytes) == 0, "%s: Adam first moments identical", what);
        CHECK_MSG(memcmp(a.adam_v, b.adam_v, bytes) == 0, "%s: Adam second moments identical", what);
    }
    CHECK_MSG(a.adam_t == b.adam_t, "%s: Adam step %ld vs %ld", what, a.adam_t, b.adam_t);
    CHECK_MSG(sa.epoch == EPOCHS && sb.epoch == EPOCHS, "%s: both at epoch %d (%d, %d)", what, EPOCHS, sa.epoch,
              sb.epoch);
    CHECK_MSG(sa.step == sb.step, "%s: total steps %ld vs %ld", what, sa.step, sb.step);
    CHECK_MSG(memcmp(&sa.rng, &sb.rng, sizeof sa.rng) == 0, "%s: RNG state identical", what);
    vae_free(&a);
    vae_free(&b);
    train_state_free(&sa);
    train_state_free(&sb);
}

/* metrics.csv rows without the two timing columns */
static int same_metrics(const char *a_dir, const char *b_dir) {
    char pa[800], pb[800], la[512], lb[512];
    snprintf(pa, sizeof pa, "%s/metrics.csv", a_dir);
    snprintf(pb, sizeof pb, "%s/metrics.csv", b_dir);
    FILE *fa = fopen(pa, "r"), *fb = fopen(pb, "r");
    int same = fa && fb, rows = 0;
    while (same) {
        char *ga = fgets(la, sizeof la, fa), *gb = fgets(lb, sizeof lb, fb);
        if (!ga || !gb) {
            same = !ga && !gb;
            break;
        }
        /* cut after the 10th comma: epoch .. test_recon_mu */
        char *ca = la, *cb = lb;
        for (int k = 0; k < 10 && ca && cb; k++) {
            ca = strchr(ca, ',');
            cb = strchr(cb, ',');
            if (ca) ca++;
            if (cb) cb++;
        }
        same = ca && cb && (ca - la) == (cb - lb) && memcmp(la, lb, (size_t)(ca - la)) == 0;
        rows++;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same && rows == EPOCHS + 1;
}

static void run_case(const char *data, int threads) {
    char dir[512], ref[600], run[600], ck_ref[700], ck_run[700];
    g_threads = threads;
    /* two workers split each batch: 10 rows each, and fewer steps to synchronise */
    g_batch = threads > 1 ? 20 : 4;
    snprintf(dir, sizeof dir, "%s/t%d", check_tmpdir(), threads);
    mkdir(dir, 0777);
    printf("with %d worker(s):\n", threads);
    VaeError err;
    TrainResult res;

    /* the reference: all epochs in one call */
    snprintf(ref, sizeof ref, "%s/ref", dir);
    TrainConfig tc = config(data, ref);
    int rc = vae_train(&tc, &res, &err);
    CHECK_MSG(rc == VAE_OK, "reference run: %s", rc == VAE_OK ? "ok" : err.msg);
    CHECK(res.outcome == TRAIN_DONE && res.epoch == EPOCHS);
    snprintf(ck_ref, sizeof ck_ref, "%s/model.safetensors", ref);

    for (int mid = 0; mid <= 1; mid++) {
        const char *what = mid ? "stop inside epoch 2" : "stop at the last step of epoch 1";
        snprintf(run, sizeof run, "%s/run%d", dir, mid);
        snprintf(ck_run, sizeof ck_run, "%s/model.safetensors", run);
        volatile sig_atomic_t stop = 0;
        StopCtx sc = {&stop, mid ? 2 : 1, !mid, 0};
        tc = config(data, run);
        tc.stop = &stop;
        tc.on_progress = stop_when;
        tc.ctx = &sc;
        rc = vae_train(&tc, &res, &err);
        CHECK_MSG(rc == VAE_OK, "%s: %s", what, rc == VAE_OK ? "ok" : err.msg);
        CHECK_MSG(res.outcome == TRAIN_STOPPED, "%s: reported as stopped", what);
        CHECK_MSG(stop == 1, "%s: the stop was requested", what);

        Vae m;
        TrainState st;
        if (checkpoint_load(ck_run, &m, &st, &err) == VAE_OK) {
            long steps = (N_TRAIN + tc.batch - 1) / tc.batch;
            /* the checkpoint is taken after the step on which the stop came */
            CHECK_MSG(st.epoch == sc.epoch - 1, "%s: checkpoint at %d completed epochs", what, st.epoch);
            CHECK_MSG(st.epoch_step == sc.stopped_at, "%s: checkpoint after in-epoch step %ld (stop at %ld)", what,
                      st.epoch_step, sc.stopped_at);
            CHECK_MSG(st.order != NULL && st.n_order == N_TRAIN, "%s: the epoch's data order is stored", what);
            CHECK_MSG(st.step == (long)(sc.epoch - 1) * steps + st.epoch_step, "%s: total step %ld", what, st.step);
            if (mid && sc.stopped_at == steps) printf("note: the first report of epoch 2 came at its last step\n");
            vae_free(&m);
            train_state_free(&st);
        } else {
            CHECK_MSG(0, "%s: checkpoint after the stop: %s", what, err.msg);
        }

        tc = config(data, run);
        tc.resume = ck_run;
        rc = vae_train(&tc, &res, &err);
        CHECK_MSG(rc == VAE_OK, "%s, resumed: %s", what, rc == VAE_OK ? "ok" : err.msg);
        CHECK_MSG(res.outcome == TRAIN_DONE && res.epoch == EPOCHS, "%s: resumed run finished", what);
        compare(what, ck_ref, ck_run);
        CHECK_MSG(same_metrics(ref, run), "%s: metrics.csv rows equal the reference's", what);
    }
}

int main(void) {
    char data[512];
    snprintf(data, sizeof data, "%s/data", check_tmpdir());
    mkdir(data, 0777);
    if (check_write_blobs(data, "train", N_TRAIN, ROWS, COLS, 1) || check_write_blobs(data, "t10k", N_TEST, ROWS, COLS, 2)) {
        CHECK_MSG(0, "writing the data set");
        return check_done("test_train_resume_exact");
    }
    run_case(data, 1);
    run_case(data, 2);
    return check_done("test_train_resume_exact");
}
