/* The training loop and everything it writes after each epoch: metrics.csv,
 * sample/reconstruction grids and the checkpoint. */
#include "vae/train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "vae/adam.h"
#include "vae/binarize.h"
#include "vae/curves.h"
#include "vae/fileio.h"
#include "vae/idx.h"
#include "vae/image.h"
#include "vae/workers.h"
#include "vae/schedule.h"

#define SAMPLE_SEED_SALT 0x5a3b1e5ULL
#define GRID_SAMPLES 64
#define GRID_RECON_PAIRS 4           /* rows of originals, each followed by its reconstructions */
#define GRID_COLS 8
#define VAL_SEED_SALT 0x7a11d0a7eULL   /* which images --val holds out: from the seed, not the shuffles */

void train_output_path(char *out, size_t len, const char *dir, const char *name) {
    snprintf(out, len, "%s/%s", dir, name);
}

/* ---- the run folder belongs to one run ----
 * An exclusive flock on the folder itself, held until vae_train returns: no
 * lock file is created, so a run that fails early leaves the folder as it
 * was. Linux lists flock holders in /proc/locks, which names the other run. */

/* pid holding a flock on the file (device, inode), or 0 when unknown */
static long lock_holder(dev_t dev, ino_t ino) {
    FILE *f = fopen("/proc/locks", "r");
    if (!f) return 0;
    char line[256];
    long pid = 0;
    while (!pid && fgets(line, sizeof line, f)) {
        char kind[16], mode[16];
        long p;
        unsigned maj, min;
        unsigned long long inode;
        /* "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF" */
        const char *q = strchr(line, ':');
        if (!q || sscanf(q + 1, "%15s %*15s %15s %ld %x:%x:%llu", kind, mode, &p, &maj, &min, &inode) != 6)
            continue;
        if (strcmp(kind, "FLOCK") == 0 && strcmp(mode, "WRITE") == 0 && maj == major(dev) && min == minor(dev) &&
            inode == (unsigned long long)ino && p > 0)
            pid = p;
    }
    fclose(f);
    return pid;
}

/* Takes the folder's lock (*fd >= 0 on success, to close at the end), then
 * checks what it already holds: a checkpoint is only replaced by --resume of
 * that same checkpoint, or with force. */
static int claim_run_folder(const TrainConfig *cfg, int *fd, VaeError *err) {
    const char *dir = cfg->out_dir;
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) return vae_fail(err, "%s: %s", dir, strerror(errno));
    if (flock(d, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        struct stat sb;
        long pid = e == EWOULDBLOCK && fstat(d, &sb) == 0 ? lock_holder(sb.st_dev, sb.st_ino) : 0;
        close(d);
        if (e != EWOULDBLOCK) return vae_fail(err, "%s: cannot lock the run folder: %s", dir, strerror(e));
        if (pid)
            return vae_fail(err, "%s: another vae train (pid %ld) is using this run folder; wait for it to finish "
                            "or choose another --out", dir, pid);
        return vae_fail(err, "%s: another vae train is using this run folder; wait for it to finish or choose "
                        "another --out", dir);
    }
    *fd = d;
    char ck[4200];
    train_output_path(ck, sizeof ck, dir, "model.safetensors");
    struct stat cs, rs;
    /* only a file is a checkpoint to protect; a folder, a device or a
       dangling link in its place fails at the first write, as before */
    if (cfg->force || stat(ck, &cs) != 0 || !S_ISREG(cs.st_mode)) return VAE_OK;
    if (!cfg->resume)
        return vae_fail(err, "%s: already holds a trained model (%s); continue it with --resume %s, or start "
                        "over with --force (which replaces it)", dir, ck, ck);
    if (stat(cfg->resume, &rs) == 0 && (cs.st_dev != rs.st_dev || cs.st_ino != rs.st_ino))
        return vae_fail(err, "%s: holds another checkpoint (%s) than the one resumed (%s); resume into its own "
                        "folder (leave out --out), choose another --out, or replace it with --force", dir, ck,
                        cfg->resume);
    return VAE_OK;
}

static const char METRICS_HEADER[] =
    "epoch,step,train_loss,train_recon,train_kl,test_loss,test_recon,test_kl,test_loss_mu,test_recon_mu,"
    "train_images_per_sec,train_seconds,val_loss,val_recon,val_kl,val_loss_mu,val_recon_mu,lr,kl_weight,warmup,free_bits,"
    "binarize,lr_decay,adam_beta1,adam_beta2,adam_eps\n";

/* Rewrites metrics.csv atomically: the rows of earlier epochs already there
 * (a resumed run keeps its history; a fresh run at epoch 1 keeps none),
 * then this epoch's row. */
static int write_metrics_row(const TrainConfig *cfg, const AdamConfig *adam, const TrainEpoch *e, VaeError *err) {
    const char *dir = cfg->out_dir;
    char path[4200];
    train_output_path(path, sizeof path, dir, "metrics.csv");
    uint8_t *old = NULL;
    size_t old_len = 0;
    VaeError ignored;
    if (vae_read_file(path, &old, &old_len, 64u << 20, &ignored) != VAE_OK) {
        old = NULL;
        old_len = 0;
    }
    size_t cap = sizeof METRICS_HEADER + old_len + 512;
    char *buf = malloc(cap);
    if (!buf) {
        free(old);
        return vae_fail(err, "%s: out of memory", path);
    }
    size_t used = (size_t)snprintf(buf, cap, "%s", METRICS_HEADER);
    /* keep well-formed rows of earlier epochs */
    for (size_t i = 0; i < old_len;) {
        size_t j = i;
        while (j < old_len && old[j] != '\n') j++;
        char *end = NULL;
        char first[32];
        size_t fl = j - i < sizeof first - 1 ? j - i : sizeof first - 1;
        memcpy(first, old + i, fl);
        first[fl] = '\0';
        long ep = strtol(first, &end, 10);
        if (end != first && *end == ',' && ep >= 1 && ep < e->epoch && j < old_len) {
            memcpy(buf + used, old + i, j - i + 1);
            used += j - i + 1;
        }
        i = j + 1;
    }
    free(old);
    used += (size_t)snprintf(buf + used, cap - used, "%d,%ld,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.1f,%.3f",
                             e->epoch, e->step, e->train_loss, e->train_recon, e->train_kl, e->test.loss,
                             e->test.recon, e->test.kl, e->test.loss_mu, e->test.recon_mu, e->images_per_sec,
                             e->seconds);
    /* validation columns stay empty without --val */
    if (e->has_val)
        used += (size_t)snprintf(buf + used, cap - used, ",%.6f,%.6f,%.6f,%.6f,%.6f", e->val.loss, e->val.recon,
                                 e->val.kl, e->val.loss_mu, e->val.recon_mu);
    else
        used += (size_t)snprintf(buf + used, cap - used, ",,,,,");
    used += (size_t)snprintf(buf + used, cap - used, ",%.7g,%.6f,%d,%.7g,%s,%d,%.7g,%.7g,%.7g\n", e->lr, e->kl_weight,
                             cfg->warmup, (double)cfg->free_bits, binarize_name((BinarizeMode)cfg->binarize),
                             cfg->lr_decay, (double)adam->beta1, (double)adam->beta2, (double)adam->eps);
    int rc = vae_write_file(path, buf, used, err);
    free(buf);
    return rc;
}

/* sample-NN.png: decoded z ~ N(0, I), the same z every epoch so the grids
 * show the model changing, not the noise. recon-NN.png: rows of test images,
 * each followed by a row of their reconstructions (z = mu). */
static int write_grids(Vae *m, VaeActs *g, const IdxImages *test, uint64_t seed, const char *dir, int epoch,
                       VaeError *err) {
    int Z = m->cfg.zdim;
    char name[64], path[4200];
    Rng r;
    rng_seed(&r, seed ^ SAMPLE_SEED_SALT);
    float *z = g->z;   /* g is dedicated to the grids, so its buffers are free */
    rng_normal(&r, z, (size_t)GRID_SAMPLES * Z);
    if (m->cfg.n_classes > 0) {
        /* a conditional model: one class per row */
        uint8_t lab[GRID_SAMPLES];
        for (int i = 0; i < GRID_SAMPLES; i++) lab[i] = (uint8_t)((i / GRID_COLS) % m->cfg.n_classes);
        vae_set_labels(m, g, lab, NULL, 0, GRID_SAMPLES);
    }
    vae_decode(m, g, z, GRID_SAMPLES);
    snprintf(name, sizeof name, "sample-%02d.png", epoch);
    train_output_path(path, sizeof path, dir, name);
    if (image_write_grid_png(path, g->xhat, GRID_SAMPLES, m->cfg.rows, m->cfg.cols, GRID_COLS, 2, err) != VAE_OK)
        return VAE_ERR;

    uint32_t n = GRID_RECON_PAIRS * GRID_COLS;
    if (n > test->count) n = test->count;
    idx_gather(test, NULL, 0, n, g->x);
    vae_set_labels(m, g, test->labels, NULL, 0, (int)n);
    VaeLoss unused;
    vae_forward(m, g, (int)n, 0, 0, &unused);
    snprintf(name, sizeof name, "recon-%02d.png", epoch);
    train_output_path(path, sizeof path, dir, name);
    return image_write_pairs_png(path, g->x, g->xhat, (int)n, m->cfg.rows, m->cfg.cols, GRID_COLS, 2, err);
}

/* What to do after a divergence, as a command that works: resume the last
 * good checkpoint with a tenth of the learning rate (--resume may change
 * --lr), or start again with it when no checkpoint was written yet. */
static void divergence_advice(const TrainConfig *cfg, const char *checkpoint, char *out, size_t len) {
    struct stat sb;
    double lower = (double)cfg->lr / 10;
    if (stat(checkpoint, &sb) == 0)
        snprintf(out, len, "the last checkpoint is kept; continue it with a lower learning rate: vae train "
                 "--resume %s --lr %g", checkpoint, lower);
    else if (cfg->resume)
        snprintf(out, len, "nothing was saved; continue from the checkpoint with a lower learning rate: vae train "
                 "--resume %s --out %s --lr %g", cfg->resume, cfg->out_dir, lower);
    else
        snprintf(out, len, "nothing was saved; start again with a lower learning rate, e.g. --lr %g", lower);
}

static void fill_state(TrainState *st, const TrainConfig *cfg, const AdamConfig *adam, int epoch, long step, long epoch_step,
                       const Rng *rng, uint32_t *order, uint32_t n_order, double sl, double sr, double sk,
                       long si) {
    memset(st, 0, sizeof *st);
    st->epoch = epoch;
    st->step = step;
    st->epoch_step = epoch_step;
    st->rng = *rng;
    st->order = epoch_step > 0 ? order : NULL;
    st->n_order = epoch_step > 0 ? n_order : 0;
    st->sum_loss = sl;
    st->sum_recon = sr;
    st->sum_kl = sk;
    st->sum_images = si;
    st->lr = cfg->lr;
    st->batch = cfg->batch;
    st->seed = cfg->seed;
    st->limit = cfg->limit;
    st->epochs = cfg->epochs;
    snprintf(st->dataset, sizeof st->dataset, "%s", cfg->data_dir);
    st->val = cfg->val;
    st->early_stop = cfg->early_stop;
    st->binarize = (BinarizeMode)cfg->binarize;
    st->warmup = cfg->warmup;
    st->free_bits = cfg->free_bits;
    st->lr_decay = cfg->lr_decay;
    st->adam_beta1 = adam->beta1;
    st->adam_beta2 = adam->beta2;
    st->adam_eps = adam->eps;
    st->precision = cfg->precision;
}

/* --val: V of the N images, picked by a generator seeded from the run's seed
   alone, are held out; the other N - V form the pool (in file order) that the
   epochs shuffle. With V = 0 the pool is 0..N-1 and nothing changes. val gets
   a copy of the held-out pixels (and labels, which a conditional model
   reads; val->labels is then owned, freed by the caller), so evaluation
   reads it like the test set. */
static int split_validation(const IdxImages *im, uint32_t N, uint32_t V, uint64_t seed, uint32_t *pool,
                            IdxImages *val, VaeError *err) {
    memset(val, 0, sizeof *val);
    uint32_t *perm = malloc((size_t)N * sizeof *perm);
    if (!perm) return vae_fail(err, "out of memory for the validation split");
    for (uint32_t i = 0; i < N; i++) perm[i] = i;
    if (V > 0) {
        Rng r;
        rng_seed(&r, seed ^ VAL_SEED_SALT);
        rng_shuffle(&r, perm, N);
    }
    /* both parts back in file order, so the pool does not depend on the shuffle's order */
    uint8_t *held = calloc(N, 1);
    size_t D = (size_t)im->rows * im->cols;
    val->pixels = V > 0 ? malloc((size_t)V * D) : NULL;
    uint8_t *labels = V > 0 && im->labels ? malloc(V) : NULL;
    if (!held || (V > 0 && !val->pixels) || (V > 0 && im->labels && !labels)) {
        free(perm);
        free(held);
        free(val->pixels);
        free(labels);
        val->pixels = NULL;
        return vae_fail(err, "out of memory for %u validation images", V);
    }
    for (uint32_t i = 0; i < V; i++) held[perm[i]] = 1;
    uint32_t np = 0, nv = 0;
    for (uint32_t i = 0; i < N; i++) {
        if (held[i]) {
            if (labels) labels[nv] = im->labels[i];
            memcpy(val->pixels + (size_t)nv++ * D, im->pixels + (size_t)i * D, D);
        } else
            pool[np++] = i;
    }
    val->labels = labels;
    val->count = V;
    val->rows = im->rows;
    val->cols = im->cols;
    free(perm);
    free(held);
    return VAE_OK;
}

/* ---- one step ---- */

/* the batch mean of each latent dimension's KL over the whole step: a share
   adds its per-dimension sums to the other shares' */
static int step_kl_dims(Vae *m, VaeActs *a, const TrainBatch *b, const TrainStepConfig *sc, VaeError *err) {
    int Z = m->cfg.zdim;
    if (b->B > 0) vae_batch_kl_dims(m, a, b->B, sc->kl_dims);
    else
        for (int j = 0; j < Z; j++) sc->kl_dims[j] = 0.0;
    if (!sc->sum_dims) return VAE_OK;
    for (int j = 0; j < Z; j++) sc->kl_dims[j] *= (double)b->B;
    if (sc->sum_dims(sc->kl_dims, Z, sc->reduce_ctx, err) != VAE_OK) return VAE_ERR;
    for (int j = 0; j < Z; j++) sc->kl_dims[j] /= (double)b->B_global;
    return VAE_OK;
}

TrainStepStatus train_step(Vae *m, VaeActs *a, const TrainBatch *b, const TrainStepConfig *sc, VaeLoss *loss,
                           const char **bad, VaeError *err) {
    size_t D = (size_t)m->in_dim, Z = (size_t)m->cfg.zdim;
    *bad = NULL;
    /* memmove: a share's noise may be a later slice of a->eps itself */
    if (b->x != a->x) memmove(a->x, b->x, (size_t)b->B * D * sizeof(float));
    if (b->eps != a->eps) memmove(a->eps, b->eps, (size_t)b->B * Z * sizeof(float));
    if (b->labels) vae_set_labels(m, a, b->labels, NULL, 0, b->B);
    vae_zero_grad(m);
    memset(loss, 0, sizeof *loss);
    /* a share may be empty (a last batch smaller than the rank count): it
       still takes part in every reduction */
    if (b->B > 0) vae_forward_scaled(m, a, b->B, b->B_global, 1, 1, loss);
    if (sc->kl_scale) {
        /* warm-up and free bits: the objective's KL term becomes
           beta * w * sum_j max(free_bits, KL_j), KL_j over the whole step */
        if (step_kl_dims(m, a, b, sc, err) != VAE_OK) return STEP_HOOK_FAILED;
        double term = schedule_kl_scales(sc->kl_dims, m->cfg.zdim, sc->free_bits, sc->kl_weight, sc->kl_scale);
        a->kl_dim_scale = sc->kl_scale;
        loss->loss = (double)m->cfg.alpha * loss->recon + (double)m->cfg.beta * term * b->B;
    }
    if (b->B > 0) vae_backward(m, a, b->B);
    /* every worker reaches the hook every step, even with a bad loss, so a
       collective reduction inside it never waits for a worker that left */
    if (sc->reduce && sc->reduce(m, loss, sc->reduce_ctx, err) != VAE_OK) return STEP_HOOK_FAILED;
    *bad = !isfinite(loss->recon) ? "reconstruction" : !isfinite(loss->kl) ? "KL" : NULL;
    if (*bad) return STEP_NONFINITE;
    /* Adam checks the gradients in its own pass; on failure the parameters
       in memory are spoiled, and the caller saves nothing */
    m->adam_t++;
    if (!adam_update(m->params, m->grads, m->adam_m, m->adam_v, m->n_params, &sc->adam, m->adam_t)) {
        *bad = "gradient";
        return STEP_NONFINITE;
    }
    return STEP_OK;
}

/* ---- the run: everything vae_train holds between its phases ---- */

typedef struct {
    const TrainConfig *cfg;
    const VaeDist *dist;            /* NULL: one process */
    int rank, ranks;
    IdxSplit train, test;
    IdxImages val;                  /* the held-out images (--val) */
    uint32_t N, V, NT;              /* images used, held out, trained on */
    uint32_t *pool;                 /* (N) the training pool: image numbers, file order */
    uint32_t *order;                /* (NT) this epoch's shuffle of the pool */
    uint32_t *batch_idx;            /* (batch) image numbers of this step */
    Vae m;
    VaeActs a, grid;                /* a: the whole step (its eps) and evaluation; grid: the PNGs */
    VaeWorkers workers;
    TrainState st;                  /* the loaded checkpoint's state, then the one saved */
    float *kl_scale;                /* (Z) KL gradient weights of this step */
    double *kl_dims;                /* (Z) batch-mean KL per dimension */
    uint8_t *bin_pixels, *bin_labels;   /* --binarize dynamic: this step's samples */
    double *noise_u;                /* (batch * zdim, rounded up to even) the step's noise, drawn */
    uint32_t *bin_index;
    int threads, lock_fd, kl_sched;
    AdamConfig adam;
    long steps;                     /* per epoch */
    /* where the run stands */
    int epoch;                      /* completed epochs */
    long step, epoch_step;          /* optimizer steps in all, and in this epoch */
    Rng rng;
    double sum_loss, sum_recon, sum_kl;
    long sum_images;
    double best_val;
    int best_epoch, bad_epochs;
    double kl_w;                    /* warm-up factor of the last step */
    double reduce_seconds;          /* in the MPI reduction hook */
} TrainRun;

static int is_root(const TrainRun *R) { return R->rank == 0; }

/* the step's hooks under MPI (ctx: the run): the gradient and loss sums
   over the ranks, timed (the time includes waiting for the slowest rank) */
static int run_reduce(Vae *m, VaeLoss *loss, void *ctx, VaeError *err) {
    TrainRun *R = ctx;
    double t0 = vae_now_seconds();
    int rc = vae_dist_grad_hook(m, loss, (void *)R->dist, err);
    R->reduce_seconds += vae_now_seconds() - t0;
    return rc;
}

static int run_sum_dims(double *v, int n, void *ctx, VaeError *err) {
    TrainRun *R = ctx;
    return vae_dist_sum_hook(v, n, (void *)R->dist, err);
}

static void run_free(TrainRun *R) {
    /* fill_state lends `order` to st; only a checkpoint's own order is st's to free */
    if (R->st.order == R->order) R->st.order = NULL;
    train_state_free(&R->st);
    free(R->order);
    free(R->pool);
    free(R->batch_idx);
    free((void *)R->val.labels);   /* split_validation's own copy */
    R->val.labels = NULL;
    idx_images_free(&R->val);
    vae_workers_free(&R->workers);
    free(R->kl_scale);
    free(R->kl_dims);
    free(R->bin_pixels);
    free(R->bin_index);
    free(R->bin_labels);
    free(R->noise_u);
    vae_acts_free(&R->grid);
    vae_acts_free(&R->a);
    vae_free(&R->m);
    idx_split_free(&R->test);
    idx_split_free(&R->train);
    if (R->lock_fd >= 0) close(R->lock_fd);
}

/* The data: both splits loaded and checked, the validation split, the
 * binarized copies. */
static int setup_data(TrainRun *R, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    if (idx_load_split(&R->train, cfg->data_dir, IDX_TRAIN, err) != VAE_OK) return VAE_ERR;
    if (idx_load_split(&R->test, cfg->data_dir, IDX_TEST, err) != VAE_OK) return VAE_ERR;
    const IdxImages *tr = &R->train.images, *te = &R->test.images;
    if (tr->rows != te->rows || tr->cols != te->cols)
        return vae_fail(err, "%s: training images are %ux%u but test images are %ux%u", cfg->data_dir, tr->rows,
                        tr->cols, te->rows, te->cols);
    uint32_t N = tr->count;
    if (cfg->limit > 0) {
        if ((uint64_t)cfg->limit > N)
            return vae_fail(err, "%s: --limit %ld exceeds the %u training images", R->train.images_path, cfg->limit, N);
        N = (uint32_t)cfg->limit;
    }
    if (cfg->val < 0 || (uint64_t)cfg->val >= N)
        return vae_fail(err, "%s: --val %ld leaves no training images (the run has %u)", R->train.images_path, cfg->val,
                        N);
    if (cfg->early_stop > 0 && cfg->val == 0) return vae_fail(err, "--early-stop needs a validation split (--val N)");
    R->N = N;
    R->V = (uint32_t)cfg->val;
    R->NT = N - R->V;
    R->pool = malloc((size_t)N * sizeof *R->pool);
    if (!R->pool) return vae_fail(err, "out of memory for the data order");
    if (split_validation(tr, N, R->V, cfg->seed, R->pool, &R->val, err) != VAE_OK) return VAE_ERR;
    /* binarized runs: the held-out images, like the test set, are sampled once */
    if (cfg->binarize != BINARIZE_NONE && R->val.count > 0) binarize_images(&R->val, binarize_key(BINARIZE_TEST_SEED, 1));
    /* binarized data: the test set once with the fixed seed every run shares,
       the training set once (static) or per use (dynamic, in the loop) */
    if (cfg->binarize != BINARIZE_NONE) binarize_images(&R->test.images, binarize_key(BINARIZE_TEST_SEED, 0));
    if (cfg->binarize == BINARIZE_STATIC) binarize_images(&R->train.images, binarize_key(cfg->seed, 0));
    return VAE_OK;
}

/* The model: the checkpoint continued, or a fresh one from the seed. */
static int setup_model(TrainRun *R, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    Vae *m = &R->m;
    const IdxImages *tr = &R->train.images;
    uint32_t N = R->N;
    if (cfg->resume) {
        TrainState *st = &R->st;
        if (checkpoint_load(cfg->resume, m, st, err) != VAE_OK) return VAE_ERR;
        if (m->cfg.rows != (int)tr->rows || m->cfg.cols != (int)tr->cols)
            return vae_fail(err, "%s: the model was trained on %dx%d images but %s has %ux%u", cfg->resume,
                            m->cfg.rows, m->cfg.cols, cfg->data_dir, tr->rows, tr->cols);
        if (st->val != cfg->val || st->early_stop != cfg->early_stop)
            return vae_fail(err, "%s: the checkpoint was trained with --val %ld --early-stop %d, not %ld and %d",
                            cfg->resume, st->val, st->early_stop, cfg->val, cfg->early_stop);
        if (st->epoch_step > 0 && st->n_order != R->NT)
            return vae_fail(err, "%s: the checkpoint's data order covers %u images but this run has %u", cfg->resume,
                            st->n_order, R->NT);
        /* a checkpoint taken inside an epoch also holds the data order */
        if (checkpoint_check_size(&m->cfg, N, cfg->data_dir, err) != VAE_OK) return VAE_ERR;
    } else {
        VaeConfig mc = cfg->model;
        mc.rows = (int)tr->rows;
        mc.cols = (int)tr->cols;
        if (mc.n_classes == VAE_CLASSES_FROM_DATA) {
            /* over the whole labels file, not the first N (--limit): the
               class count must not depend on how many images are used, and
               every label is checked against it below */
            int top = 0;
            for (uint32_t i = 0; i < R->train.labels.count; i++)
                if (R->train.labels.labels[i] > top) top = R->train.labels.labels[i];
            mc.n_classes = top + 1;
        }
        /* before the first step (and before allocating): a model whose
           checkpoint could not be loaded again would lose every epoch */
        if (checkpoint_check_size(&mc, N, cfg->data_dir, err) != VAE_OK) return VAE_ERR;
        if (vae_init(m, &mc, err) != VAE_OK) return VAE_ERR;
        rng_seed(&R->st.rng, cfg->seed);
        vae_init_params(m, &R->st.rng);
    }
    if (m->cfg.n_classes > 0) {
        /* every label the model will see must have a one-hot slot */
        const IdxSplit *sp[2] = {&R->train, &R->test};
        for (int k = 0; k < 2; k++)
            for (uint32_t i = 0; i < sp[k]->labels.count; i++)
                if (sp[k]->labels.labels[i] >= m->cfg.n_classes)
                    return vae_fail(err, "%s: label %u of image %u is outside the model's %d classes",
                                    sp[k]->labels_path, sp[k]->labels.labels[i], i, m->cfg.n_classes);
    }
    /* the batches come from the NT images trained on (N less the --val
       images): with k >= NT no batch has a k-th neighbour, and the entropy
       term would be left out of every step in silence */
    const uint32_t NT = R->NT;
    if (m->cfg.model == VAE_MODEL_EAE && (uint32_t)m->cfg.knn >= (cfg->batch < (int)NT ? (uint32_t)cfg->batch : NT))
        return vae_fail(err, "knn %d needs batches of more than %d images (this run trains on %u images in batches "
                        "of %d)", m->cfg.knn, m->cfg.knn, NT, cfg->batch);
    if (R->ranks > 1 && !vae_workers_can_split(m))
        return vae_fail(err, "an %s couples the images of a batch (batch norm, nearest-neighbour entropy); it trains "
                        "in one process (not under mpirun -np %d)", vae_model_name(m->cfg.model), R->ranks);
    return VAE_OK;
}

/* Activations, workers and the step's buffers. */
static int setup_buffers(TrainRun *R, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    Vae *m = &R->m;
    uint32_t NT = R->NT;
    /* a batch larger than the data never fills: size the buffers for what is used */
    int bmax = cfg->batch < (int)NT ? cfg->batch : (int)NT;
    /* this rank's share of a step: rows [B r / P, B (r+1) / P) */
    int share = (bmax + R->ranks - 1) / R->ranks;
    if (vae_acts_init(&R->a, m, bmax, err) != VAE_OK) return VAE_ERR;
    if (is_root(R) && cfg->artifacts && vae_acts_init_forward(&R->grid, m, GRID_SAMPLES, err) != VAE_OK) return VAE_ERR;
    /* each step's share is split across the workers (vae/workers.h);
       evaluation runs on OpenBLAS's threads */
    R->threads = cfg->threads > 0 ? cfg->threads : openblas_get_num_threads();
    if (vae_workers_init(&R->workers, m, R->threads, share, err) != VAE_OK) return VAE_ERR;
    /* the steps' GEMMs in cfg->precision; evaluation stays fp32 on the model itself */
    if (vae_workers_set_precision(&R->workers, cfg->precision, err) != VAE_OK) return VAE_ERR;
    R->order = malloc((size_t)NT * sizeof *R->order);
    R->batch_idx = malloc((size_t)bmax * sizeof *R->batch_idx);
    R->kl_scale = malloc((size_t)m->cfg.zdim * sizeof *R->kl_scale);
    R->kl_dims = malloc((size_t)m->cfg.zdim * sizeof *R->kl_dims);
    R->bin_pixels = malloc((size_t)bmax * R->train.images.rows * R->train.images.cols);
    R->bin_index = malloc((size_t)bmax * sizeof *R->bin_index);
    R->bin_labels = malloc((size_t)bmax);
    R->noise_u = malloc(((size_t)bmax * m->cfg.zdim + 1) * sizeof *R->noise_u);
    if (!R->order || !R->batch_idx || !R->kl_scale || !R->kl_dims || !R->bin_pixels || !R->bin_index ||
        !R->bin_labels || !R->noise_u)
        return vae_fail(err, "out of memory for the data order");
    if (R->st.epoch_step > 0) memcpy(R->order, R->st.order, (size_t)NT * sizeof *R->order);
    R->adam = (AdamConfig){cfg->lr, cfg->adam_beta1 > 0 ? cfg->adam_beta1 : 0.9f,
                           cfg->adam_beta2 > 0 ? cfg->adam_beta2 : 0.999f, cfg->adam_eps > 0 ? cfg->adam_eps : 1e-8f};
    /* KL warm-up and free bits: per-dimension weights of the KL gradient */
    R->kl_sched = cfg->warmup > 0 || cfg->free_bits > 0;
    if (R->kl_sched && m->cfg.model != VAE_MODEL_VAE)
        return vae_fail(err, "--warmup and --free-bits weight a KL term; an %s has none", vae_model_name(m->cfg.model));
    return VAE_OK;
}

/* MPI: every rank must hold the same settings, data and checkpoint; then
 * rank 0's parameters are every rank's (one broadcast, whatever each
 * loaded or drew). */
static int setup_same_everywhere(TrainRun *R, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    const VaeDist *d = R->dist;
    struct {
        VaeConfig model;
        int batch, epochs, binarize, warmup, lr_decay, early_stop, precision;
        float lr, free_bits, b1, b2, eps;
        long limit, val;
        uint64_t seed;
    } set;
    memset(&set, 0, sizeof set);   /* padding too: the bytes are compared */
    set.model = R->m.cfg;
    set.batch = cfg->batch;
    set.epochs = cfg->epochs;
    set.binarize = cfg->binarize;
    set.warmup = cfg->warmup;
    set.lr_decay = cfg->lr_decay;
    set.early_stop = cfg->early_stop;
    set.precision = (int)cfg->precision;
    set.lr = cfg->lr;
    set.free_bits = cfg->free_bits;
    set.b1 = R->adam.beta1;
    set.b2 = R->adam.beta2;
    set.eps = R->adam.eps;
    set.limit = cfg->limit;
    set.val = cfg->val;
    set.seed = cfg->seed;
    if (vae_dist_same(d, &set, sizeof set, "settings (options)", err) != VAE_OK) return VAE_ERR;
    const IdxSplit *sp[2] = {&R->train, &R->test};
    const char *names[2][2] = {{"training images", "training labels"}, {"test images", "test labels"}};
    for (int k = 0; k < 2; k++) {
        const IdxImages *im = &sp[k]->images;
        char what[4400];
        snprintf(what, sizeof what, "%s (%s)", names[k][0], sp[k]->images_path);
        if (vae_dist_same(d, im->pixels, (size_t)im->count * im->rows * im->cols, what, err) != VAE_OK) return VAE_ERR;
        snprintf(what, sizeof what, "%s (%s)", names[k][1], sp[k]->labels_path);
        if (vae_dist_same(d, sp[k]->labels.labels, sp[k]->labels.count, what, err) != VAE_OK) return VAE_ERR;
    }
    struct {
        int epoch;
        long epoch_step, adam_t, sum_images;
        double sum_loss, best_val;
        Rng rng;
    } where;
    memset(&where, 0, sizeof where);
    where.epoch = R->st.epoch;
    where.epoch_step = R->st.epoch_step;
    where.adam_t = R->m.adam_t;
    where.sum_images = R->st.sum_images;
    where.sum_loss = R->st.sum_loss;
    where.best_val = R->st.best_val_loss;
    where.rng = R->st.rng;
    if (vae_dist_same(d, &where, sizeof where, cfg->resume ? "checkpoint state" : "initial state", err) != VAE_OK)
        return VAE_ERR;
    if (R->st.epoch_step > 0 &&
        vae_dist_same(d, R->order, (size_t)R->NT * sizeof *R->order, "checkpoint's data order", err) != VAE_OK)
        return VAE_ERR;
    /* params, gradients (zero) and Adam's moments: one block; a failing
       broadcast is MPI's failure, seen by every rank */
    return vae_dist_bcast(d, R->m.params, 4 * R->m.n_params * sizeof(float), err);
}

/* Rank 0: the run folder, created and claimed, with its config.ini; after
 * every check, so a run refused at start-up writes nothing. */
static int setup_folder(TrainRun *R, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    if (!is_root(R)) return VAE_OK;
    if (vae_make_dirs(cfg->out_dir, err) != VAE_OK) return VAE_ERR;
    if (R->lock_fd < 0 && claim_run_folder(cfg, &R->lock_fd, err) != VAE_OK) return VAE_ERR;
    if (cfg->config_text) {
        char cpath[4200];
        train_output_path(cpath, sizeof cpath, cfg->out_dir, "config.ini");
        if (vae_write_file(cpath, cfg->config_text, strlen(cfg->config_text), err) != VAE_OK) return VAE_ERR;
    }
    return VAE_OK;
}

static int run_setup(TrainRun *R, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    struct stat sb;
    if (cfg->batch < 1) return vae_fail(err, "batch size must be >= 1");
    if (R->ranks > 1 && cfg->reduce) return vae_fail(err, "a reduction hook and MPI cannot be combined");
    /* a folder that exists is claimed at once, before anything is loaded;
       one that does not is created and claimed right before the first write */
    if (is_root(R) && stat(cfg->out_dir, &sb) == 0 && S_ISDIR(sb.st_mode) &&
        claim_run_folder(cfg, &R->lock_fd, err) != VAE_OK)
        return VAE_ERR;
    if (setup_data(R, err) != VAE_OK) return VAE_ERR;
    if (setup_model(R, err) != VAE_OK) return VAE_ERR;
    return setup_buffers(R, err);
}

/* the run's position from the loaded (or fresh) state */
static void run_position(TrainRun *R) {
    R->steps = ((long)R->NT + R->cfg->batch - 1) / R->cfg->batch;
    R->epoch = R->st.epoch;
    R->step = R->m.adam_t;
    R->epoch_step = R->st.epoch_step;
    R->rng = R->st.rng;
    R->sum_loss = R->st.sum_loss;
    R->sum_recon = R->st.sum_recon;
    R->sum_kl = R->st.sum_kl;
    R->sum_images = R->st.sum_images;
    R->best_val = R->st.best_val_loss;
    R->best_epoch = R->st.best_epoch;
    R->bad_epochs = R->st.bad_epochs;
    R->kl_w = 1.0;
    train_state_free(&R->st);
}

/* The checkpoint (and, on the best epoch, best.safetensors) at the run's
 * position; epoch_step > 0 also saves the epoch's data order and sums. */
static int save_checkpoint(TrainRun *R, const char *path, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    if (R->epoch_step > 0)
        fill_state(&R->st, cfg, &R->adam, R->epoch, R->step, R->epoch_step, &R->rng, R->order, R->NT, R->sum_loss,
                   R->sum_recon, R->sum_kl, R->sum_images);
    else
        fill_state(&R->st, cfg, &R->adam, R->epoch, R->step, 0, &R->rng, NULL, 0, 0, 0, 0, 0);
    R->st.best_val_loss = R->best_val;
    R->st.best_epoch = R->best_epoch;
    R->st.bad_epochs = R->bad_epochs;
    return checkpoint_save(path, &R->m, &R->st, err);
}

/* One optimizer step of `B` images (the pool's order[first ..]): this
 * rank's share through the workers, or through train_step when the KL is
 * scheduled per dimension. */
static int run_step(TrainRun *R, int ep, uint32_t first, int B, VaeLoss *l, const char **bad, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    Vae *m = &R->m;
    VaeActs *a = &R->a;
    const int Z = m->cfg.zdim;
    const IdxImages *im = &R->train.images;
    /* order indexes the pool of training images (the identity without --val) */
    for (int b = 0; b < B; b++) R->batch_idx[b] = R->pool[R->order[first + (uint32_t)b]];
    /* the whole step's noise in one draw, whatever the rank and worker
       count; this rank takes rows [r0, r0 + n) of it (the workers turn
       their rows' uniforms into normals themselves: the same values) */
    if (R->kl_sched) rng_normal(&R->rng, a->eps, (size_t)B * Z);
    else rng_normal_uniforms(&R->rng, R->noise_u, (size_t)B * Z);
    int r0 = (int)((long)B * R->rank / R->ranks), n = (int)((long)B * (R->rank + 1) / R->ranks) - r0;
    const uint32_t *idx = R->batch_idx + r0;
    const int dist = R->ranks > 1;
    if (R->kl_sched) {
        /* warm-up and free bits need the step's KL per dimension between the
           forward and the backward pass: the single-buffer step */
        if (cfg->binarize == BINARIZE_DYNAMIC)
            binarize_gather(im, idx, 0, (uint32_t)n, binarize_key(cfg->seed, (uint64_t)ep), a->x);
        else
            idx_gather(im, idx, 0, (uint32_t)n, a->x);
        vae_set_labels(m, a, R->train.labels.labels, idx, 0, n);
        R->kl_w = schedule_kl_weight(cfg->warmup, R->epoch, R->epoch_step, R->steps);
        TrainStepConfig sc = {R->adam, dist ? run_reduce : cfg->reduce, dist ? (void *)R : cfg->reduce_ctx, R->kl_w,
                              cfg->free_bits, R->kl_scale, R->kl_dims, dist ? run_sum_dims : NULL};
        TrainBatch tb = {a->x, NULL, a->eps + (size_t)r0 * Z, n, B};
        return train_step(m, a, &tb, &sc, l, bad, err) == STEP_HOOK_FAILED ? VAE_ERR : VAE_OK;
    }
    /* each worker gathers its own rows (and labels) */
    const IdxImages *src = im;
    const uint8_t *lab = R->train.labels.labels;
    IdxImages bin = {0};
    if (cfg->binarize == BINARIZE_DYNAMIC) {
        /* this share's fresh Bernoulli samples, keyed by (seed, epoch, image) */
        binarize_rows_u8(im, idx, (uint32_t)n, binarize_key(cfg->seed, (uint64_t)ep), R->bin_pixels);
        for (int b = 0; b < n; b++) {
            R->bin_index[b] = (uint32_t)b;
            if (lab) R->bin_labels[b] = lab[idx[b]];
        }
        bin.pixels = R->bin_pixels;
        bin.count = (uint32_t)n;
        bin.rows = im->rows;
        bin.cols = im->cols;
        src = &bin;
        idx = R->bin_index;
        lab = lab ? R->bin_labels : NULL;
    }
    VaeStepConfig wsc = {R->adam, dist ? run_reduce : cfg->reduce, dist ? (void *)R : cfg->reduce_ctx, R->noise_u,
                         (size_t)r0 * Z};
    if (vae_workers_step(&R->workers, src, lab, idx, NULL, n, B, &wsc, l, bad, err) ==
        VAE_STEP_HOOK_FAILED)
        return VAE_ERR;   /* the hook's message is in err */
    return VAE_OK;
}

/* The stop request every rank agrees on at a step boundary: the highest
 * signal any rank received (0: go on). One small all-reduce under MPI. */
static int agreed_stop(const TrainRun *R, int local, int *out, VaeError *err) {
    *out = local;
    if (R->ranks <= 1) return VAE_OK;
    return vae_dist_max_i(R->dist, out, 1, err);
}

typedef enum { EPOCH_DONE, EPOCH_STOPPED } EpochEnd;

/* The steps of epoch R->epoch + 1 from R->epoch_step on. A stop request
 * saves the checkpoint mid-epoch (rank 0) and returns EPOCH_STOPPED. */
static int run_epoch(TrainRun *R, TrainResult *res, double *secs, long *images, EpochEnd *end, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    const uint32_t NT = R->NT;
    int ep = R->epoch + 1;
    *end = EPOCH_DONE;
    R->adam.lr = schedule_lr(cfg->lr, cfg->lr_decay, R->epoch);
    if (R->epoch_step == 0) {
        for (uint32_t i = 0; i < NT; i++) R->order[i] = i;
        rng_shuffle(&R->rng, R->order, NT);
        R->sum_loss = R->sum_recon = R->sum_kl = 0;
        R->sum_images = 0;
    }
    double t0 = vae_now_seconds();
    long images_this_call = 0;
    for (; R->epoch_step < R->steps; R->epoch_step++) {
        uint32_t first = (uint32_t)(R->epoch_step * cfg->batch);
        int B = NT - first < (uint32_t)cfg->batch ? (int)(NT - first) : cfg->batch;
        VaeLoss l;
        const char *bad = NULL;
        if (run_step(R, ep, first, B, &l, &bad, err) != VAE_OK) return VAE_ERR;
        if (bad) {
            char advice[4400];
            divergence_advice(cfg, res->checkpoint, advice, sizeof advice);
            /* the loss and gradients were summed over the ranks: every rank sees this */
            res->collective_error = 1;
            return vae_fail(err, "epoch %d, step %ld: the %s term is not finite; training stopped (%s)", ep,
                            R->epoch_step + 1, bad, advice);
        }
        R->step++;
        R->sum_loss += l.loss;
        R->sum_recon += l.recon;
        R->sum_kl += l.kl;
        R->sum_images += B;
        images_this_call += B;
        res->train_images += B;

        /* every step, so what a callback sees never depends on timing;
           the command layer decides how often to redraw */
        if (cfg->on_progress && is_root(R)) {
            double t = vae_now_seconds() - t0;
            TrainProgress p = {ep, cfg->epochs, R->epoch_step + 1, R->steps, R->sum_loss / (double)R->sum_images,
                               t > 0 ? (double)images_this_call / t : 0, 0};
            p.eta_seconds = p.images_per_sec > 0 ? (double)(NT - (first + (uint32_t)B)) / p.images_per_sec : 0;
            cfg->on_progress(&p, cfg->ctx);
        }
        int stop;
        if (agreed_stop(R, cfg->stop ? (int)*cfg->stop : 0, &stop, err) != VAE_OK) return VAE_ERR;
        if (stop) {
            res->train_seconds += vae_now_seconds() - t0;
            R->epoch_step++;
            if (is_root(R) && save_checkpoint(R, res->checkpoint, err) != VAE_OK) return VAE_ERR;
            res->stop_signal = stop;
            *end = EPOCH_STOPPED;
            return VAE_OK;
        }
    }
    *secs = vae_now_seconds() - t0;
    *images = images_this_call;
    res->train_seconds += *secs;
    /* a bf16 GEMM that oneDNN could not run (out of memory) ran in fp32:
       stop rather than present the run as bf16 */
    char gmsg[256];
    if (cfg->precision == VAE_PREC_BF16 && vae_gemm_failures(gmsg, sizeof gmsg) > 0)
        return vae_fail(err, "bf16 training: %s", gmsg);
    return VAE_OK;
}

/* The test or validation metrics of n images of im in batches of the
 * step's size: on the workers' activation blocks (the trainer's
 * full-batch block R->a then holds only the steps' noise, and its
 * activations are never touched) unless they are sized for a smaller share
 * (MPI ranks); OpenBLAS on all the threads afterwards, as before. */
static int evaluate(TrainRun *R, const IdxImages *im, uint32_t n, EvalMetrics *out, VaeError *err) {
    int batch = R->a.max_batch, rows = R->workers.acts[0].max_batch, k = R->workers.n;
    if ((batch + k - 1) / k <= rows) {
        if (vae_evaluate_workers(&R->workers, im, n, batch, R->cfg->seed, out, err) != VAE_OK) return VAE_ERR;
    } else {
        openblas_set_num_threads(R->threads);
        vae_evaluate(&R->m, &R->a, im, n, R->cfg->seed, out);
    }
    openblas_set_num_threads(R->threads);   /* the steps ran OpenBLAS on one thread per worker */
    return VAE_OK;
}

/* Rank 0 after the epoch's steps: the test (and validation) metrics, the
 * early-stopping bookkeeping. A non-finite test or validation loss is an
 * error (the last checkpoint is kept). */
static int epoch_evaluate(TrainRun *R, const TrainResult *res, TrainEpoch *e, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    int ep = e->epoch;
    if (evaluate(R, &R->test.images, R->test.images.count, &e->test, err) != VAE_OK) return VAE_ERR;
    /* finite training steps can still leave a model whose test loss
       overflows; saving it would replace the last good checkpoint */
    if (!isfinite(e->test.loss) || !isfinite(e->test.loss_mu)) {
        char advice[4400];
        divergence_advice(cfg, res->checkpoint, advice, sizeof advice);
        return vae_fail(err, "epoch %d, step %ld: the test-set %s term is not finite; training stopped (%s)", ep,
                        R->epoch_step,
                        !isfinite(e->test.recon) || !isfinite(e->test.recon_mu) ? "reconstruction" : "KL", advice);
    }
    if (R->V > 0) {
        if (evaluate(R, &R->val, R->V, &e->val, err) != VAE_OK) return VAE_ERR;
        e->has_val = 1;
        if (!isfinite(e->val.loss) || !isfinite(e->val.loss_mu))
            return vae_fail(err, "epoch %d: the validation loss is not finite; training stopped (the last checkpoint "
                            "is kept; try a lower --lr)", ep);
        /* early stopping watches the sampled-z loss: the objective, with eps fixed by the seed */
        if (R->best_epoch == 0 || e->val.loss < R->best_val) {
            R->best_val = e->val.loss;
            R->best_epoch = ep;
            R->bad_epochs = 0;
            e->best = 1;
        } else {
            R->bad_epochs++;
        }
    }
    return VAE_OK;
}

/* Rank 0 after the evaluation: metrics.csv, curves and grids, the
 * checkpoint, and best.safetensors on the best epoch. */
static int epoch_write(TrainRun *R, const TrainResult *res, const TrainEpoch *e, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    if (write_metrics_row(cfg, &R->adam, e, err) != VAE_OK) return VAE_ERR;
    if (cfg->artifacts && train_write_curves(cfg->out_dir, err) != VAE_OK) return VAE_ERR;
    if (cfg->artifacts && write_grids(&R->m, &R->grid, &R->test.images, cfg->seed, cfg->out_dir, e->epoch, err) != VAE_OK)
        return VAE_ERR;
    if (save_checkpoint(R, res->checkpoint, err) != VAE_OK) return VAE_ERR;
    if (e->best) {
        /* the best model so far, beside the last one; a complete checkpoint, so it resumes too */
        char bpath[4200];
        train_output_path(bpath, sizeof bpath, cfg->out_dir, "best.safetensors");
        if (save_checkpoint(R, bpath, err) != VAE_OK) return VAE_ERR;
    }
    return VAE_OK;
}

/* The epochs, from where the run stands to cfg->epochs or a stop. */
static int run_epochs(TrainRun *R, TrainResult *res, VaeError *err) {
    const TrainConfig *cfg = R->cfg;
    while (R->epoch < cfg->epochs) {
        int ep = R->epoch + 1;
        if (cfg->early_stop > 0 && R->bad_epochs >= cfg->early_stop) {
            res->early_stopped = 1;   /* a resumed run that had already stopped */
            break;
        }
        double secs = 0;
        long images = 0;
        EpochEnd end;
        if (run_epoch(R, res, &secs, &images, &end, err) != VAE_OK) return VAE_ERR;
        if (end == EPOCH_STOPPED) {
            res->outcome = TRAIN_STOPPED;
            res->epoch = R->epoch;
            res->step = R->step;
            return VAE_OK;
        }
        TrainEpoch e = {0};
        e.epoch = ep;
        e.epochs = cfg->epochs;
        e.step = R->step;
        double si = R->sum_images > 0 ? (double)R->sum_images : 1.0;
        e.train_loss = R->sum_loss / si;
        e.train_recon = R->sum_recon / si;
        e.train_kl = R->sum_kl / si;
        e.seconds = secs;
        e.lr = R->adam.lr;
        e.kl_weight = R->kl_w;
        e.images_per_sec = secs > 0 ? (double)images / secs : 0;
        if (is_root(R) && epoch_evaluate(R, res, &e, err) != VAE_OK) return VAE_ERR;
        R->epoch = ep;
        R->epoch_step = 0;
        if (is_root(R) && epoch_write(R, res, &e, err) != VAE_OK) return VAE_ERR;
        res->last = e;
        res->epochs_run++;
        if (cfg->on_epoch && is_root(R)) cfg->on_epoch(&e, cfg->ctx);
        /* what rank 0 decided (early stopping) and any stop request during
           the evaluation, the same on every rank */
        int agreed[2] = {is_root(R) ? R->bad_epochs : 0, cfg->stop ? (int)*cfg->stop : 0};
        if (R->ranks > 1 && vae_dist_max_i(R->dist, agreed, 2, err) != VAE_OK) return VAE_ERR;
        R->bad_epochs = agreed[0];
        if (agreed[1]) {
            res->stop_signal = agreed[1];
            break;   /* a stop during evaluation: the epoch is saved */
        }
        if (cfg->early_stop > 0 && R->bad_epochs >= cfg->early_stop) {
            res->early_stopped = 1;
            break;
        }
    }
    res->best_epoch = R->best_epoch;
    res->best_val_loss = R->best_val;
    if (is_root(R) && res->epochs_run == 0 && (R->epoch >= cfg->epochs || res->early_stopped)) {
        /* nothing left to train: still report where the model stands */
        res->last.epoch = R->epoch;
        res->last.epochs = cfg->epochs;
        res->last.step = R->step;
        if (evaluate(R, &R->test.images, R->test.images.count, &res->last.test, err) != VAE_OK) return VAE_ERR;
    }
    res->outcome = R->epoch < cfg->epochs && !res->early_stopped ? TRAIN_STOPPED : TRAIN_DONE;
    res->epoch = R->epoch;
    res->step = R->step;
    return VAE_OK;
}

int vae_train(const TrainConfig *cfg, TrainResult *res, VaeError *err) {
    memset(res, 0, sizeof *res);
    TrainRun R;
    memset(&R, 0, sizeof R);
    R.cfg = cfg;
    R.lock_fd = -1;
    R.dist = cfg->dist && cfg->dist->size > 1 ? cfg->dist : NULL;
    R.rank = R.dist ? R.dist->rank : 0;
    R.ranks = R.dist ? R.dist->size : 1;
    train_output_path(res->checkpoint, sizeof res->checkpoint, cfg->out_dir, "model.safetensors");

    int rc = run_setup(&R, err);
    if (R.dist) {
        /* start-up: every rank reports, so a rank that failed (a bad data
           path on one node) stops them all with its message, never a hang;
           rank 0 writes its folder only when every rank is ready */
        rc = vae_dist_agree(R.dist, rc, err);
        if (rc == VAE_OK) rc = setup_same_everywhere(&R, err);
        if (rc == VAE_OK) rc = vae_dist_agree(R.dist, setup_folder(&R, err), err);
        res->collective_error = rc != VAE_OK;
    } else if (rc == VAE_OK) {
        rc = setup_folder(&R, err);
    }
    if (rc == VAE_OK) {
        run_position(&R);
        rc = run_epochs(&R, res, err);
    }
    res->reduce_seconds = R.reduce_seconds;
    run_free(&R);
    return rc;
}
