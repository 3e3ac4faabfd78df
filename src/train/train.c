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

/* The training steps' GEMMs in precision p: the workers' views of the model
   carry it; evaluation, the grids and the checkpoint use the model itself,
   which stays fp32 (a test loss comparable across precisions). */
static int set_precision(VaeWorkers *w, VaePrecision p, VaeError *err) {
    char why[200];
    if (p == VAE_PREC_BF16 && !vae_bf16_available(why, sizeof why))
        return vae_fail(err, "bf16 training is not available: %s", why);
    for (int k = 0; k < w->n; k++) w->views[k].precision = p;
    return VAE_OK;
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

TrainStepStatus train_step(Vae *m, VaeActs *a, const TrainBatch *b, const TrainStepConfig *sc, VaeLoss *loss,
                           const char **bad, VaeError *err) {
    size_t D = (size_t)m->in_dim, Z = (size_t)m->cfg.zdim;
    *bad = NULL;
    if (b->x != a->x) memcpy(a->x, b->x, (size_t)b->B * D * sizeof(float));
    if (b->eps != a->eps) memcpy(a->eps, b->eps, (size_t)b->B * Z * sizeof(float));
    if (b->labels) vae_set_labels(m, a, b->labels, NULL, 0, b->B);
    vae_zero_grad(m);
    vae_forward_scaled(m, a, b->B, b->B_global, 1, 1, loss);
    vae_backward(m, a, b->B);
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

int vae_train(const TrainConfig *cfg, TrainResult *res, VaeError *err) {
    memset(res, 0, sizeof *res);
    IdxSplit train = {0}, test = {0};
    Vae m = {0};
    VaeActs a = {0}, grid = {0};
    VaeWorkers workers = {0};
    TrainState st = {0};
    uint32_t *order = NULL, *pool = NULL, *batch_idx = NULL;
    IdxImages val = {0};
    float *kl_scale = NULL;         /* (Z) KL gradient weights of this step */
    uint8_t *bin_pixels = NULL, *bin_labels = NULL;   /* --binarize dynamic: this batch's samples */
    uint32_t *bin_index = NULL;
    double *kl_dims = NULL;         /* (Z) batch-mean KL per dimension */
    int rc = VAE_ERR, lock_fd = -1;
    struct stat sb;

    if (cfg->batch < 1) return vae_fail(err, "batch size must be >= 1");
    /* a folder that exists is claimed at once, before anything is loaded;
       one that does not is created and claimed right before the first write */
    if (stat(cfg->out_dir, &sb) == 0 && S_ISDIR(sb.st_mode) && claim_run_folder(cfg, &lock_fd, err) != VAE_OK)
        goto done;
    if (idx_load_split(&train, cfg->data_dir, IDX_TRAIN, err) != VAE_OK) goto done;
    if (idx_load_split(&test, cfg->data_dir, IDX_TEST, err) != VAE_OK) goto done;
    if (train.images.rows != test.images.rows || train.images.cols != test.images.cols) {
        vae_fail(err, "%s: training images are %ux%u but test images are %ux%u", cfg->data_dir,
                 train.images.rows, train.images.cols, test.images.rows, test.images.cols);
        goto done;
    }
    uint32_t N = train.images.count;
    if (cfg->limit > 0) {
        if ((uint64_t)cfg->limit > N) {
            vae_fail(err, "%s: --limit %ld exceeds the %u training images", train.images_path, cfg->limit, N);
            goto done;
        }
        N = (uint32_t)cfg->limit;
    }
    if (cfg->val < 0 || (uint64_t)cfg->val >= N) {
        vae_fail(err, "%s: --val %ld leaves no training images (the run has %u)", train.images_path, cfg->val, N);
        goto done;
    }
    if (cfg->early_stop > 0 && cfg->val == 0) {
        vae_fail(err, "--early-stop needs a validation split (--val N)");
        goto done;
    }
    const uint32_t V = (uint32_t)cfg->val, NT = N - V;   /* held out, and trained on */
    pool = malloc((size_t)N * sizeof *pool);
    if (!pool) {
        vae_fail(err, "out of memory for the data order");
        goto done;
    }
    if (split_validation(&train.images, N, V, cfg->seed, pool, &val, err) != VAE_OK) goto done;
    /* binarized runs: the held-out images, like the test set, are sampled once */
    if (cfg->binarize != BINARIZE_NONE && val.count > 0) binarize_images(&val, binarize_key(BINARIZE_TEST_SEED, 1));

    /* binarized data: the test set once with the fixed seed every run shares,
       the training set once (static) or per use (dynamic, in the loop) */
    if (cfg->binarize != BINARIZE_NONE) binarize_images(&test.images, binarize_key(BINARIZE_TEST_SEED, 0));
    if (cfg->binarize == BINARIZE_STATIC) binarize_images(&train.images, binarize_key(cfg->seed, 0));

    if (cfg->resume) {
        if (checkpoint_load(cfg->resume, &m, &st, err) != VAE_OK) goto done;
        if (m.cfg.rows != (int)train.images.rows || m.cfg.cols != (int)train.images.cols) {
            vae_fail(err, "%s: the model was trained on %dx%d images but %s has %ux%u", cfg->resume, m.cfg.rows,
                     m.cfg.cols, cfg->data_dir, train.images.rows, train.images.cols);
            goto done;
        }
        if (st.val != cfg->val || st.early_stop != cfg->early_stop) {
            vae_fail(err, "%s: the checkpoint was trained with --val %ld --early-stop %d, not %ld and %d", cfg->resume,
                     st.val, st.early_stop, cfg->val, cfg->early_stop);
            goto done;
        }
        if (st.epoch_step > 0 && st.n_order != NT) {
            vae_fail(err, "%s: the checkpoint's data order covers %u images but this run has %u", cfg->resume,
                     st.n_order, NT);
            goto done;
        }
        /* a checkpoint taken inside an epoch also holds the data order */
        if (checkpoint_check_size(&m.cfg, N, cfg->data_dir, err) != VAE_OK) goto done;
    } else {
        VaeConfig mc = cfg->model;
        mc.rows = (int)train.images.rows;
        mc.cols = (int)train.images.cols;
        if (mc.n_classes == VAE_CLASSES_FROM_DATA) {
            int top = 0;
            for (uint32_t i = 0; i < N; i++)
                if (train.labels.labels[i] > top) top = train.labels.labels[i];
            mc.n_classes = top + 1;
        }
        /* before the first step (and before allocating): a model whose
           checkpoint could not be loaded again would lose every epoch */
        if (checkpoint_check_size(&mc, N, cfg->data_dir, err) != VAE_OK) goto done;
        if (vae_init(&m, &mc, err) != VAE_OK) goto done;
        rng_seed(&st.rng, cfg->seed);
        vae_init_params(&m, &st.rng);
    }
    if (m.cfg.n_classes > 0) {
        /* every label the model will see must have a one-hot slot */
        const IdxSplit *sp[2] = {&train, &test};
        for (int k = 0; k < 2; k++)
            for (uint32_t i = 0; i < sp[k]->labels.count; i++)
                if (sp[k]->labels.labels[i] >= m.cfg.n_classes) {
                    vae_fail(err, "%s: label %u of image %u is outside the model's %d classes", sp[k]->labels_path,
                             sp[k]->labels.labels[i], i, m.cfg.n_classes);
                    goto done;
                }
    }
    if (m.cfg.model == VAE_MODEL_EAE && m.cfg.knn >= (cfg->batch < (int)N ? cfg->batch : (int)N)) {
        vae_fail(err, "knn %d needs batches of more than %d images", m.cfg.knn, m.cfg.knn);
        goto done;
    }
    /* a batch larger than the data never fills: size the buffers for what is used */
    if (vae_acts_init(&a, &m, cfg->batch < (int)NT ? cfg->batch : (int)NT, err) != VAE_OK) goto done;
    if (cfg->artifacts && vae_acts_init_forward(&grid, &m, GRID_SAMPLES, err) != VAE_OK) goto done;
    /* each step's batch is split across the workers (vae/workers.h);
       evaluation runs on OpenBLAS's threads */
    const int threads = cfg->threads > 0 ? cfg->threads : openblas_get_num_threads();
    if (vae_workers_init(&workers, &m, threads, cfg->batch < (int)NT ? cfg->batch : (int)NT, err) != VAE_OK)
        goto done;
    if (set_precision(&workers, cfg->precision, err) != VAE_OK) goto done;
    if (vae_make_dirs(cfg->out_dir, err) != VAE_OK) goto done;
    if (lock_fd < 0 && claim_run_folder(cfg, &lock_fd, err) != VAE_OK) goto done;
    if (cfg->config_text) {
        char cpath[4200];
        train_output_path(cpath, sizeof cpath, cfg->out_dir, "config.ini");
        if (vae_write_file(cpath, cfg->config_text, strlen(cfg->config_text), err) != VAE_OK) goto done;
    }
    order = malloc((size_t)NT * sizeof *order);
    batch_idx = malloc((size_t)(cfg->batch < (int)NT ? cfg->batch : (int)NT) * sizeof *batch_idx);
    kl_scale = malloc((size_t)m.cfg.zdim * sizeof *kl_scale);
    kl_dims = malloc((size_t)m.cfg.zdim * sizeof *kl_dims);
    {
        size_t bmax = (size_t)(cfg->batch < (int)NT ? cfg->batch : (int)NT);
        bin_pixels = malloc(bmax * train.images.rows * train.images.cols);
        bin_index = malloc(bmax * sizeof *bin_index);
        bin_labels = malloc(bmax);
    }
    if (!order || !batch_idx || !kl_scale || !kl_dims || !bin_pixels || !bin_index || !bin_labels) {
        vae_fail(err, "out of memory for the data order");
        goto done;
    }
    if (st.epoch_step > 0) memcpy(order, st.order, (size_t)NT * sizeof *order);
    train_output_path(res->checkpoint, sizeof res->checkpoint, cfg->out_dir, "model.safetensors");

    AdamConfig adam = {cfg->lr, cfg->adam_beta1 > 0 ? cfg->adam_beta1 : 0.9f,
                       cfg->adam_beta2 > 0 ? cfg->adam_beta2 : 0.999f, cfg->adam_eps > 0 ? cfg->adam_eps : 1e-8f};
    /* KL warm-up and free bits: per-dimension weights of the KL gradient */
    const int kl_sched = cfg->warmup > 0 || cfg->free_bits > 0;
    if (kl_sched && m.cfg.model != VAE_MODEL_VAE) {
        vae_fail(err, "--warmup and --free-bits weight a KL term; an %s has none", vae_model_name(m.cfg.model));
        goto done;
    }
    const long steps = ((long)NT + cfg->batch - 1) / cfg->batch;
    const int Z = m.cfg.zdim;
    int epoch = st.epoch;
    long step = m.adam_t, epoch_step = st.epoch_step;
    Rng rng = st.rng;
    double sum_loss = st.sum_loss, sum_recon = st.sum_recon, sum_kl = st.sum_kl;
    long sum_images = st.sum_images;
    double best_val = st.best_val_loss;
    int best_epoch = st.best_epoch, bad_epochs = st.bad_epochs;
    train_state_free(&st);

    double kl_w = 1.0;
    while (epoch < cfg->epochs) {
        int ep = epoch + 1;
        if (cfg->early_stop > 0 && bad_epochs >= cfg->early_stop) {
            res->early_stopped = 1;   /* a resumed run that had already stopped */
            break;
        }
        adam.lr = schedule_lr(cfg->lr, cfg->lr_decay, epoch);
        if (epoch_step == 0) {
            for (uint32_t i = 0; i < NT; i++) order[i] = i;
            rng_shuffle(&rng, order, NT);
            sum_loss = sum_recon = sum_kl = 0;
            sum_images = 0;
        }
        double t0 = vae_now_seconds();
        long images_this_call = 0;
        for (; epoch_step < steps; epoch_step++) {
            uint32_t first = (uint32_t)(epoch_step * cfg->batch);
            int B = NT - first < (uint32_t)cfg->batch ? (int)(NT - first) : cfg->batch;
            /* order indexes the pool of training images (the identity without --val) */
            for (int b = 0; b < B; b++) batch_idx[b] = pool[order[first + (uint32_t)b]];
            VaeLoss l;
            const char *bad = NULL;
            if (kl_sched) {
                /* warm-up and free bits need the batch's KL per dimension between the
                   forward and the backward pass: the single-buffer step */
                if (cfg->binarize == BINARIZE_DYNAMIC)
                    binarize_gather(&train.images, batch_idx, 0, (uint32_t)B, binarize_key(cfg->seed, (uint64_t)ep), a.x);
                else
                    idx_gather(&train.images, batch_idx, 0, (uint32_t)B, a.x);
                vae_set_labels(&m, &a, train.labels.labels, batch_idx, 0, B);
                rng_normal(&rng, a.eps, (size_t)B * Z);
                vae_zero_grad(&m);
                vae_forward(&m, &a, B, 1, 1, &l);
                /* the objective's KL term becomes beta * w * sum_j max(free_bits, KL_j) */
                kl_w = schedule_kl_weight(cfg->warmup, epoch, epoch_step, steps);
                vae_batch_kl_dims(&m, &a, B, kl_dims);
                double term = schedule_kl_scales(kl_dims, Z, cfg->free_bits, kl_w, kl_scale);
                a.kl_dim_scale = kl_scale;
                l.loss = (double)m.cfg.alpha * l.recon + (double)m.cfg.beta * term * B;
                bad = !isfinite(l.recon) ? "reconstruction" : !isfinite(l.kl) ? "KL" : NULL;
                if (!bad) {
                    vae_backward(&m, &a, B);
                    m.adam_t = step + 1;
                    if (!adam_update(m.params, m.grads, m.adam_m, m.adam_v, m.n_params, &adam, step + 1))
                        bad = "gradient";
                }
            } else {
                /* the whole batch's noise in one draw, whatever the worker count;
                   each worker gathers its own rows (and labels) */
                rng_normal(&rng, a.eps, (size_t)B * Z);
                const IdxImages *src = &train.images;
                const uint32_t *idx = batch_idx;
                const uint8_t *lab = train.labels.labels;
                IdxImages bin = {0};
                if (cfg->binarize == BINARIZE_DYNAMIC) {
                    /* this batch's fresh Bernoulli samples, keyed by (seed, epoch, image) */
                    binarize_rows_u8(&train.images, batch_idx, (uint32_t)B, binarize_key(cfg->seed, (uint64_t)ep), bin_pixels);
                    for (int b = 0; b < B; b++) {
                        bin_index[b] = (uint32_t)b;
                        if (lab) bin_labels[b] = lab[batch_idx[b]];
                    }
                    bin.pixels = bin_pixels;
                    bin.count = (uint32_t)B;
                    bin.rows = train.images.rows;
                    bin.cols = train.images.cols;
                    src = &bin;
                    idx = bin_index;
                    lab = lab ? bin_labels : NULL;
                }
                VaeStepConfig wsc = {adam, cfg->reduce, cfg->reduce_ctx};
                if (vae_workers_step(&workers, src, lab, idx, a.eps, B, B, &wsc, &l, &bad, err) == VAE_STEP_HOOK_FAILED)
                    goto done;   /* the hook's message is in err */
            }
            if (bad) {
                char advice[4400];
                divergence_advice(cfg, res->checkpoint, advice, sizeof advice);
                vae_fail(err, "epoch %d, step %ld: the %s term is not finite; training stopped (%s)", ep,
                         epoch_step + 1, bad, advice);
                goto done;
            }
            step++;
            sum_loss += l.loss;
            sum_recon += l.recon;
            sum_kl += l.kl;
            sum_images += B;
            images_this_call += B;
            res->train_images += B;

            /* every step, so what a callback sees never depends on timing;
               the command layer decides how often to redraw */
            if (cfg->on_progress) {
                double t = vae_now_seconds() - t0;
                TrainProgress p = {ep, cfg->epochs, epoch_step + 1, steps, sum_loss / (double)sum_images,
                                   t > 0 ? (double)images_this_call / t : 0, 0};
                p.eta_seconds = p.images_per_sec > 0 ? (double)(NT - (first + (uint32_t)B)) / p.images_per_sec : 0;
                cfg->on_progress(&p, cfg->ctx);
            }
            if (cfg->stop && *cfg->stop) {
                res->train_seconds += vae_now_seconds() - t0;
                epoch_step++;
                fill_state(&st, cfg, &adam, epoch, step, epoch_step, &rng, order, NT, sum_loss, sum_recon, sum_kl,
                           sum_images);
                st.best_val_loss = best_val;
                st.best_epoch = best_epoch;
                st.bad_epochs = bad_epochs;
                if (checkpoint_save(res->checkpoint, &m, &st, err) != VAE_OK) goto done;
                res->outcome = TRAIN_STOPPED;
                res->epoch = epoch;
                res->step = step;
                rc = VAE_OK;
                goto done;
            }
        }
        double secs = vae_now_seconds() - t0;
        res->train_seconds += secs;
        /* a bf16 GEMM that oneDNN could not run (out of memory) ran in fp32:
           stop rather than present the run as bf16 */
        char gmsg[256];
        if (cfg->precision == VAE_PREC_BF16 && vae_gemm_failures(gmsg, sizeof gmsg) > 0) {
            vae_fail(err, "bf16 training: %s", gmsg);
            goto done;
        }

        TrainEpoch e = {0};
        e.epoch = ep;
        e.epochs = cfg->epochs;
        e.step = step;
        double si = sum_images > 0 ? (double)sum_images : 1.0;
        e.train_loss = sum_loss / si;
        e.train_recon = sum_recon / si;
        e.train_kl = sum_kl / si;
        e.seconds = secs;
        e.lr = adam.lr;
        e.kl_weight = kl_w;
        e.images_per_sec = secs > 0 ? (double)images_this_call / secs : 0;
        openblas_set_num_threads(threads);   /* the steps ran OpenBLAS on one thread per worker */
        vae_evaluate(&m, &a, &test.images, test.images.count, cfg->seed, &e.test);
        /* finite training steps can still leave a model whose test loss
           overflows; saving it would replace the last good checkpoint */
        if (!isfinite(e.test.loss) || !isfinite(e.test.loss_mu)) {
            char advice[4400];
            divergence_advice(cfg, res->checkpoint, advice, sizeof advice);
            vae_fail(err, "epoch %d, step %ld: the test-set %s term is not finite; training stopped (%s)", ep,
                     epoch_step, !isfinite(e.test.recon) || !isfinite(e.test.recon_mu) ? "reconstruction" : "KL",
                     advice);
            goto done;
        }
        if (V > 0) {
            vae_evaluate(&m, &a, &val, V, cfg->seed, &e.val);
            e.has_val = 1;
            if (!isfinite(e.val.loss) || !isfinite(e.val.loss_mu)) {
                vae_fail(err, "epoch %d: the validation loss is not finite; training stopped (the last checkpoint "
                         "is kept; try a lower --lr)", ep);
                goto done;
            }
            /* early stopping watches the sampled-z loss: the objective, with eps fixed by the seed */
            if (best_epoch == 0 || e.val.loss < best_val) {
                best_val = e.val.loss;
                best_epoch = ep;
                bad_epochs = 0;
                e.best = 1;
            } else {
                bad_epochs++;
            }
        }

        epoch = ep;
        epoch_step = 0;
        if (write_metrics_row(cfg, &adam, &e, err) != VAE_OK) goto done;
        if (cfg->artifacts && train_write_curves(cfg->out_dir, err) != VAE_OK) goto done;
        if (cfg->artifacts && write_grids(&m, &grid, &test.images, cfg->seed, cfg->out_dir, ep, err) != VAE_OK)
            goto done;
        fill_state(&st, cfg, &adam, epoch, step, 0, &rng, NULL, 0, 0, 0, 0, 0);
        st.best_val_loss = best_val;
        st.best_epoch = best_epoch;
        st.bad_epochs = bad_epochs;
        if (checkpoint_save(res->checkpoint, &m, &st, err) != VAE_OK) goto done;
        if (e.best) {
            /* the best model so far, beside the last one; a complete checkpoint, so it resumes too */
            char bpath[4200];
            train_output_path(bpath, sizeof bpath, cfg->out_dir, "best.safetensors");
            if (checkpoint_save(bpath, &m, &st, err) != VAE_OK) goto done;
        }
        res->last = e;
        res->epochs_run++;
        if (cfg->on_epoch) cfg->on_epoch(&e, cfg->ctx);
        if (cfg->stop && *cfg->stop) break;   /* a stop during evaluation: the epoch is saved */
        if (cfg->early_stop > 0 && bad_epochs >= cfg->early_stop) {
            res->early_stopped = 1;
            break;
        }
    }
    res->best_epoch = best_epoch;
    res->best_val_loss = best_val;
    if (res->epochs_run == 0 && (epoch >= cfg->epochs || res->early_stopped)) {
        /* nothing left to train: still report where the model stands */
        res->last.epoch = epoch;
        res->last.epochs = cfg->epochs;
        res->last.step = step;
        vae_evaluate(&m, &a, &test.images, test.images.count, cfg->seed, &res->last.test);
    }
    res->outcome = epoch < cfg->epochs && !res->early_stopped ? TRAIN_STOPPED : TRAIN_DONE;
    res->epoch = epoch;
    res->step = step;
    rc = VAE_OK;

done:
    /* fill_state lends `order` to st; only a checkpoint's own order is st's to free */
    if (st.order == order) st.order = NULL;
    train_state_free(&st);
    free(order);
    free(pool);
    free(batch_idx);
    free((void *)val.labels);   /* split_validation's own copy */
    val.labels = NULL;
    idx_images_free(&val);
    vae_workers_free(&workers);
    free(kl_scale);
    free(kl_dims);
    free(bin_pixels);
    free(bin_index);
    free(bin_labels);
    vae_acts_free(&grid);
    vae_acts_free(&a);
    vae_free(&m);
    idx_split_free(&test);
    idx_split_free(&train);
    if (lock_fd >= 0) close(lock_fd);
    return rc;
}
