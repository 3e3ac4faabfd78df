/* vae eval: test-set metrics of a checkpoint (loss terms with a sampled z and
 * with z = mu), and with --iw K the importance-weighted log-likelihood
 * (vae/iwae.h), optionally on the binarized test set. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vae/binarize.h"
#include "vae/checkpoint.h"
#include "vae/eval.h"
#include "vae/fileio.h"
#include "vae/idx.h"
#include "vae/iwae.h"
#include "vae/safetensors.h"

#define EVAL_BATCH 500
/* --iw-dump writes every eps; refuse sizes that would not be a debugging aid */
#define IW_DUMP_MAX_FLOATS ((size_t)200 * 1000 * 1000)

static const char *const BINARIZE_CHOICES[] = {"none", "dynamic", "static", NULL};

typedef struct {
    int tty;
    double t0, last;
    long last_decile;
} IwProgress;

/* A redrawn line on a terminal; otherwise one line per tenth of the images. */
static void iw_progress(long done, long total, void *ctx) {
    IwProgress *p = ctx;
    double now = vae_now_seconds(), t = now - p->t0;
    double rate = t > 0 ? (double)done / t : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    if (p->tty) {
        if (now - p->last < 0.2 && done != total) return;
        p->last = now;
        fprintf(stderr, "\riw: %ld/%ld images  %.1f img/s  ETA %.0f s   ", done, total, rate, eta);
        if (done == total) fprintf(stderr, "\r\033[K");
    } else {
        long decile = done * 10 / total;
        if (decile == p->last_decile) return;
        p->last_decile = decile;
        fprintf(stderr, "iw: %ld/%ld images  %.1f img/s  ETA %.0f s\n", done, total, rate, eta);
    }
    fflush(stderr);
}

/* x, eps (n, K, Z) and the per-image results, for scripts/reference/iw_check.py */
static int write_dump(const char *path, const char *model, const float *x, long n, int D, const float *eps, int K,
                      int Z, const double *logp, const double *elbo, uint64_t seed) {
    StTensorOut t[4];
    memset(t, 0, sizeof t);
    t[0] = (StTensorOut){"x", ST_F32, 2, {(uint64_t)n, (uint64_t)D}, x};
    t[1] = (StTensorOut){"eps", ST_F32, 3, {(uint64_t)n, (uint64_t)K, (uint64_t)Z}, eps};
    t[2] = (StTensorOut){"logp", ST_F64, 1, {(uint64_t)n}, logp};
    t[3] = (StTensorOut){"elbo", ST_F64, 1, {(uint64_t)n}, elbo};
    cJSON *meta = cJSON_CreateObject();
    char buf[32];
    snprintf(buf, sizeof buf, "%d", K);
    cJSON_AddStringToObject(meta, "K", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
    cJSON_AddStringToObject(meta, "seed", buf);
    cJSON_AddStringToObject(meta, "model", model);
    uint8_t *out = NULL;
    size_t len = 0;
    VaeError err;
    int rc = st_write_mem(&out, &len, t, 4, meta, &err);
    cJSON_Delete(meta);
    if (rc == VAE_OK) rc = vae_write_file(path, out, len, &err);
    free(out);
    if (rc != VAE_OK) return runtime_error("%s: %s", path, err.msg);
    return 0;
}

/* values per latent dimension, ten to a line */
static void print_dims(const char *what, const double *v, int Z) {
    for (int j = 0; j < Z; j++) {
        if (j % 10 == 0) printf("%s  %-8s %3d:", j ? "\n" : "", j ? "" : what, j);
        printf(" %7.3f", v[j]);
    }
    printf("\n");
}

int cmd_eval(int argc, char **argv) {
    const char *model = DEFAULT_MODEL, *data = NULL, *dump = NULL;
    int json = 0, threads = default_threads(), iw = 0, iw_rows = IW_DEFAULT_ROWS, binarize = BINARIZE_NONE;
    long limit = 0;
    uint64_t seed = 1;
    Opt opts[] = {
        OPT_MODEL(&model),
        OPT_DATA(&data, "data folder (its test split is used)"),
        {"seed", 0, OPT_U64, &seed, 0, 0, 0, "S", "1", "seed of the sampled z (and of the importance samples)", NULL, 0},
        {"iw", 0, OPT_INT, &iw, 1, 1 << 20, 0, "K", "off",
         "importance-weighted log p(x) with K samples per image (Burda et al. 2015)", NULL, 0},
        {"iw-rows", 0, OPT_INT, &iw_rows, 1, 1 << 20, 0, "R", "1024", "decoder rows per GEMM for --iw (memory bound)", NULL, 0},
        {"binarize", 0, OPT_CHOICE, &binarize, 0, 0, 0, "dynamic|static|none", "the checkpoint's",
         "dynamic or static: the test set binarized once with a fixed seed (default: as the model was trained)",
         BINARIZE_CHOICES, 0},
        {"limit", 0, OPT_LONG, &limit, 1, 1L << 32, 0, "N", "all", "evaluate the first N test images", NULL, 0},
        {"iw-dump", 0, OPT_STRING, &dump, 0, 0, 0, "PATH", "none",
         "debugging aid: write x, eps and per-image results of --iw to a safetensors file", NULL, 0},
        {"json", 0, OPT_FLAG, &json, 0, 0, 0, NULL, "off", "print one JSON object", NULL, 0},
        OPT_THREADS(&threads),
        OPT_END,
    };
    CommandSpec cmd = {"eval", "", "vae eval [--model PATH] [--data DIR] [--iw K] [--binarize MODE] [--json]",
                       "Test-set metrics of a checkpoint, per image: loss = alpha*recon + beta*KL with one\n"
                       "sampled z per image (seeded), its terms, and the loss and recon with z = mu.\n"
                       "--iw K adds the importance-weighted estimate of log p(x) (K samples z ~ q(z|x) per image,\n"
                       "log-mean-exp of log p(x|z) + log p(z) - log q(z|x), Bernoulli p(x|z)); it reports\n"
                       "NLL = -mean in nats with its standard error over images. K = 1 is the ELBO (one-sample KL).\n"
                       "For the published protocol use a model trained with --binarize and K = 5000.",
                       "vae eval --model runs/iwae/model.safetensors --iw 5000 --binarize static --json", opts};
    int rc = opt_parse(&cmd, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    if (dump && !iw) return usage_error(&cmd, "--iw-dump", "needs --iw K");
    if (opt_given(&cmd, "iw-rows") && !iw) return usage_error(&cmd, "--iw-rows", "needs --iw K");
    set_threads(threads);
    Vae m;
    char ds[CHECKPOINT_DATASET_MAX];
    TrainState st;
    VaeError err;
    if (checkpoint_load(model, &m, &st, &err) == VAE_OK) {
        /* a binarized run evaluates on the binarized test set unless told otherwise */
        snprintf(ds, sizeof ds, "%s", st.dataset);
        if (!opt_given(&cmd, "binarize")) binarize = (int)st.binarize;
        train_state_free(&st);
    } else if (cli_load_model(model, &m, ds, sizeof ds)) {
        return EXIT_RUNTIME;
    }
    const int plain_vae = m.cfg.model == VAE_MODEL_VAE && m.cfg.n_classes == 0;
    if (iw && !plain_vae) {
        int conditional = m.cfg.n_classes > 0;
        const char *kind = vae_model_name(m.cfg.model);
        vae_free(&m);
        return usage_error(&cmd, "--iw", "%s is a%s %s: --iw needs an unconditional VAE (a Gaussian q(z|x))", model,
                           conditional ? " conditional" : "n", kind);
    }
    if (iw && m.cfg.loss != VAE_LOSS_BCE) {
        vae_free(&m);
        return usage_error(&cmd, "--iw", "%s is an SSE (--loss mse) model: --iw needs the Bernoulli likelihood of a "
                           "--loss bce model (SSE defines no normalised likelihood here)", model);
    }
    const char *dir = cli_pick_data(data, ds);
    IdxSplit test = {0};
    float *x = NULL, *eps = NULL;
    double *logp = NULL, *elbo = NULL, *stats = NULL;
    cJSON *o = NULL;
    rc = EXIT_RUNTIME;
    /* sizes (and a conditional model's labels) checked against the model */
    if (cli_load_test_split(&test, dir, &m)) goto done;
    if (binarize != BINARIZE_NONE) binarize_images(&test.images, binarize_key(BINARIZE_TEST_SEED, 0));
    uint32_t n = test.images.count;
    if (limit > 0 && (uint64_t)limit < n) n = (uint32_t)limit;
    test.images.count = n;   /* --limit: a view of the first n images (the block is freed whole) */

    EvalMetrics e;
    if (vae_evaluate_images(&m, &test.images, EVAL_BATCH, seed, &e, &err) != VAE_OK) {
        runtime_error("%s", err.msg);
        goto done;
    }
    /* finite parameters can still overflow float32 on the way (huge
       weights): a loss of inf or nan is an error, as in reconstruct, not a
       report that exits 0 (its --json would print null) */
    if (!isfinite(e.loss) || !isfinite(e.loss_mu)) {
        runtime_error("%s: the model's test-set loss is not finite (%g; with z = mu %g): its parameters overflow "
                      "float32 on these images", test.images_path, e.loss, e.loss_mu);
        goto done;
    }

    /* active units and KL per dimension over the same images */
    int D = m.in_dim, Z = m.cfg.zdim, active = 0;
    x = malloc((size_t)n * D * sizeof *x);
    stats = malloc((size_t)Z * 2 * sizeof *stats);
    if (!x || !stats) {
        runtime_error("out of memory for %u test images", n);
        goto done;
    }
    idx_gather(&test.images, NULL, 0, n, x);
    double *var_mu = stats, *kl_dim = stats + Z;
    if (plain_vae && vae_posterior_stats(&m, x, n, EVAL_BATCH, var_mu, kl_dim, &active, &err) != VAE_OK) {
        runtime_error("%s", err.msg);
        goto done;
    }

    IwResult r = {0};
    if (iw) {
        if (binarize == BINARIZE_NONE) {
            size_t grey = 0, total = (size_t)n * D;
            for (size_t i = 0; i < total; i++) grey += test.images.pixels[i] != 0 && test.images.pixels[i] != 255;
            if (grey)
                fprintf(stderr, "vae: note: %zu of the test pixels are grey levels; -BCE is a likelihood only of "
                                "binary images (see --binarize)\n", grey);
        }
        logp = malloc((size_t)n * 2 * sizeof *logp);
        if (!logp) {
            runtime_error("out of memory for %u test images", n);
            goto done;
        }
        elbo = logp + n;
        IwConfig ic = {0};
        ic.K = iw;
        ic.seed = seed;
        ic.threads = threads;
        ic.rows = iw_rows;
        IwProgress pr = {isatty(STDERR_FILENO), vae_now_seconds(), 0, 0};
        ic.on_progress = iw_progress;
        ic.ctx = &pr;
        if (dump) {
            size_t nf = (size_t)n * iw * Z;
            if (nf > IW_DUMP_MAX_FLOATS) {
                runtime_error("--iw-dump: %u images x %d samples x %d latents is too large a dump; use --limit",
                              n, iw, Z);
                goto done;
            }
            eps = malloc(nf * sizeof *eps);
            if (!eps) {
                runtime_error("out of memory for the --iw-dump noise");
                goto done;
            }
            for (uint32_t i = 0; i < n; i++) iw_image_eps(seed, i, iw, Z, eps + (size_t)i * iw * Z);
            ic.eps = eps;
        }
        if (vae_iw_estimate(&m, x, n, &ic, logp, elbo, &r, &err) != VAE_OK) {
            runtime_error("%s", err.msg);
            goto done;
        }
        if (dump && write_dump(dump, model, x, n, D, eps, iw, Z, logp, elbo, seed)) goto done;
    }

    double ips = r.seconds > 0 ? (double)r.images / r.seconds : 0;
    if (json) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddStringToObject(o, "data", dir);
        cJSON_AddStringToObject(o, "binarize", binarize_name((BinarizeMode)binarize));
        cJSON_AddNumberToObject(o, "loss", e.loss);
        cJSON_AddNumberToObject(o, "recon", e.recon);
        cJSON_AddStringToObject(o, "model_kind", vae_model_name(m.cfg.model));
        if (m.cfg.n_classes > 0) cJSON_AddNumberToObject(o, "classes", m.cfg.n_classes);
        if (m.cfg.model == VAE_MODEL_EAE) cJSON_AddNumberToObject(o, "entropy", -e.kl);
        else cJSON_AddNumberToObject(o, "kl", e.kl);
        cJSON_AddNumberToObject(o, "loss_mu", e.loss_mu);
        cJSON_AddNumberToObject(o, "recon_mu", e.recon_mu);
        cJSON_AddNumberToObject(o, "images", (double)e.images);
        if (plain_vae) {
            cJSON_AddNumberToObject(o, "active_units", active);
            cJSON_AddItemToObject(o, "kl_dims", cJSON_CreateDoubleArray(kl_dim, Z));
            cJSON_AddItemToObject(o, "var_mu", cJSON_CreateDoubleArray(var_mu, Z));
        }
        if (iw) {
            cJSON_AddNumberToObject(o, "iw_k", iw);
            cJSON_AddNumberToObject(o, "nll", -r.mean_logp);
            cJSON_AddNumberToObject(o, "nll_se", r.se_logp);
            cJSON_AddNumberToObject(o, "iw_elbo", r.mean_elbo);
            cJSON_AddNumberToObject(o, "iw_seconds", r.seconds);
            cJSON_AddNumberToObject(o, "iw_images_per_sec", ips);
            cJSON_AddNumberToObject(o, "threads", threads);
        }
        char *txt = cJSON_PrintUnformatted(o);
        if (txt) printf("%s\n", txt);
        free(txt);
    } else {
        printf("test set (%ld images of %s%s), per image:\n", e.images, dir,
               binarize != BINARIZE_NONE ? ", binarized" : "");
        if (m.cfg.model == VAE_MODEL_EAE)
            printf("  loss    %.4f  (alpha*recon - lambda*H)\n  recon   %.4f\n  entropy %.4f  (k-NN estimate of H(z) "
                   "over batches of %d codes)\n", e.loss, e.recon, -e.kl, EVAL_BATCH);
        else
            printf("  loss    %.4f  (sampled z)\n  recon   %.4f\n  kl      %.4f\n", e.loss, e.recon, e.kl);
        printf("  loss    %.4f  (z = mu)\n  recon   %.4f  (z = mu)\n", e.loss_mu, e.recon_mu);
        if (plain_vae) {
            printf("  active units %d of %d  (variance over images of the posterior mean > %g)\n", active, Z,
                   IW_ACTIVE_VAR);
            print_dims("KL/dim", kl_dim, Z);
            print_dims("var(mu)", var_mu, Z);
        }
        if (iw) {
            printf("importance-weighted, K = %d:\n", iw);
            printf("  NLL     %.4f +- %.4f nats  (-mean log p(x); standard error over images)\n", -r.mean_logp,
                   r.se_logp);
            printf("  ELBO    %.4f  (mean log w over the same samples)\n", r.mean_elbo);
            printf("  time    %.1f s, %.1f images/s, %d threads\n", r.seconds, ips, threads);
        }
    }
    rc = 0;
done:
    cJSON_Delete(o);
    free(eps);
    free(x);
    free(logp);
    free(stats);
    idx_split_free(&test);
    vae_free(&m);
    return rc;
}
