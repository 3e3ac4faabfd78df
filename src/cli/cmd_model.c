/* The commands that use a trained checkpoint: sample (decode z ~ N(0, I)),
 * reconstruct (rows of test images alternating with rows of their
 * reconstructions, plus metrics) and eval (metrics only; in cmd_eval.c). */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vae/checkpoint.h"
#include "vae/eval.h"
#include "vae/idx.h"
#include "vae/image.h"
#include "vae/latent.h"
#include "vae/rng.h"

#define EVAL_BATCH 500
#define DECODE_CHUNK 256

/* An entropic autoencoder's regulariser is -H(z): print the entropy estimate
 * (over batches of EVAL_BATCH codes) instead of a KL. */
static void print_metrics(const char *model, const char *data, const VaeConfig *mc, const EvalMetrics *e, int json) {
    int eae = mc->model == VAE_MODEL_EAE;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddStringToObject(o, "data", data);
        cJSON_AddNumberToObject(o, "loss", e->loss);
        cJSON_AddNumberToObject(o, "recon", e->recon);
        cJSON_AddStringToObject(o, "model_kind", vae_model_name(mc->model));
        if (mc->n_classes > 0) cJSON_AddNumberToObject(o, "classes", mc->n_classes);
        if (eae) cJSON_AddNumberToObject(o, "entropy", -e->kl);
        else cJSON_AddNumberToObject(o, "kl", e->kl);
        cJSON_AddNumberToObject(o, "loss_mu", e->loss_mu);
        cJSON_AddNumberToObject(o, "recon_mu", e->recon_mu);
        cJSON_AddNumberToObject(o, "images", (double)e->images);
        char *txt = cJSON_PrintUnformatted(o);
        if (txt) printf("%s\n", txt);
        free(txt);
        cJSON_Delete(o);
    } else {
        printf("test set (%ld images of %s), per image:\n", e->images, data);
        if (eae)
            printf("  loss    %.4f  (alpha*recon - lambda*H)\n  recon   %.4f\n  entropy %.4f  (k-NN estimate of H(z) "
                   "over batches of %d codes)\n", e->loss, e->recon, -e->kl, EVAL_BATCH);
        else
            printf("  loss    %.4f  (sampled z)\n  recon   %.4f\n  kl      %.4f\n", e->loss, e->recon, e->kl);
        printf("  loss    %.4f  (z = mu)\n  recon   %.4f  (z = mu)\n", e->loss_mu, e->recon_mu);
    }
}

/* Loads the test split, checks it matches the model, evaluates. */
static int evaluate(Vae *m, const char *data, uint64_t seed, IdxSplit *test, EvalMetrics *e) {
    if (cli_load_test_split(test, data, m)) return EXIT_RUNTIME;
    VaeError err;
    if (vae_evaluate_images(m, &test->images, EVAL_BATCH, seed, e, &err) != VAE_OK) return runtime_error("%s", err.msg);
    /* finite parameters can still overflow float32 on the way (huge weights):
       a loss of nan is an error, not a report */
    if (!isfinite(e->loss) || !isfinite(e->loss_mu))
        return runtime_error("%s: the model's test-set loss is not finite (%g; with z = mu %g): its parameters "
                             "overflow float32 on these images", test->images_path, e->loss, e->loss_mu);
    return 0;
}

/* A failure of decoding or of writing the image: culprit names the model
   whose codes or images overflow float32 (the image writer's messages name
   their own path, so culprit is NULL for those). */
static int model_error(const char *culprit, const VaeError *err) {
    return culprit ? runtime_error("%s: %s", culprit, err->msg) : runtime_error("%s", err->msg);
}

int cmd_sample(int argc, char **argv) {
    const char *model = DEFAULT_MODEL, *out = "sample.png";
    int n = 64, ncols = 0, threads = default_threads();
    uint64_t seed = 1;
    int label = -1, per_label = 0;
    Opt opts[] = {
        {"model", 'm', OPT_STRING, &model, 0, 0, 0, "PATH", DEFAULT_MODEL, "checkpoint to sample from", NULL, 0},
        {"count", 'n', OPT_INT, &n, 1, 65536, 0, "N", "64", "number of images", NULL, 0},
        {"n", 0, OPT_INT, &n, 1, 65536, 0, "N", NULL, NULL, NULL, 0},
        {"cols", 'c', OPT_INT, &ncols, 1, 65536, 0, "C", "fills the grid", "images per row", NULL, 0},
        {"out", 'o', OPT_STRING, &out, 0, 0, 0, "PATH", "sample.png", "output PNG", NULL, 0},
        {"seed", 0, OPT_U64, &seed, 0, 0, 0, "S", "1", "random seed for z", NULL, 0},
        {"label", 0, OPT_INT, &label, 0, VAE_MAX_CLASSES - 1, 0, "K", "none", "conditional models: draw only class K", NULL, 0},
        {"per-label", 0, OPT_INT, &per_label, 1, 4096, 0, "N", "none", "conditional models: one row of N samples per class", NULL, 0},
        OPT_THREADS(&threads),
        OPT_END,
    };
    CommandSpec cmd = {"sample", "", "vae sample [-n N] [--cols C] [-o PATH] [--model PATH] [--seed S]",
                       "Decodes N latent vectors z ~ N(0, I) and tiles them in a grid with a 2-pixel border (like\n"
                       "torchvision's make_grid). By default the grid is filled: C is the smallest divisor of N\n"
                       "that makes the grid at least as wide as tall (10 -> 5x2, 64 -> 8x8, 128 -> 16x8), or,\n"
                       "when N has none near the square, ceil(sqrt(N)) with a short last row. A conditional model\n"
                       "(train --conditional) decodes each z with a label: --label K for class K only, --per-label N\n"
                       "for one row of N per class (the classic CVAE grid), otherwise the classes in turn.",
                       "vae sample -n 128 -o grid.png", opts};
    int rc = opt_parse(&cmd, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    /* --per-label makes one row per class: it sets the count and the columns */
    if (per_label && (opt_given(&cmd, "n") || opt_given(&cmd, "label") || opt_given(&cmd, "cols")))
        return usage_error(&cmd, "--per-label", "cannot be combined with %s",
                           opt_given(&cmd, "n") ? "-n" : opt_given(&cmd, "label") ? "--label" : "--cols");
    set_threads(threads);
    Vae m;
    if (cli_load_model(model, &m, NULL, 0)) return EXIT_RUNTIME;
    const int C = m.cfg.n_classes;
    if ((label >= 0 || per_label) && C == 0) {
        vae_free(&m);
        return usage_error(&cmd, label >= 0 ? "--label" : "--per-label", "%s is not a conditional model", model);
    }
    if (label >= C && C > 0) {
        vae_free(&m);
        return usage_error(&cmd, "--label", "%d is outside the model's classes 0..%d", label, C - 1);
    }
    if (per_label) {
        if ((long)per_label * C > 65536) {
            vae_free(&m);
            return usage_error(&cmd, "--per-label", "%d x %d classes is more than 65536 images", per_label, C);
        }
        n = per_label * C;
    }
    uint8_t *labels = C > 0 ? malloc((size_t)n) : NULL;
    if (C > 0 && !labels) {
        vae_free(&m);
        return runtime_error("out of memory for %d samples", n);
    }
    for (int i = 0; i < n && labels; i++)
        labels[i] = (uint8_t)(label >= 0 ? label : per_label ? i / per_label : i % C);
    VaeError err;
    int gw, gh;
    if ((rc = cli_check_output(&cmd, "--out", out, model, NULL)) != 0) {
        vae_free(&m);
        return rc;
    }
    /* the grid's size is known now: refuse it before allocating n images */
    if (image_grid_size(n, image_grid_cols(n), m.cfg.rows, m.cfg.cols, 2, &gw, &gh, &err) != VAE_OK) {
        vae_free(&m);
        return runtime_error("%s: %s; ask for fewer images with -n", out, err.msg);
    }
    float *imgs = malloc((size_t)n * m.in_dim * sizeof(float));
    float *z = malloc((size_t)n * m.cfg.zdim * sizeof(float));
    if (!imgs || !z) {
        free(imgs);
        free(z);
        free(labels);
        vae_free(&m);
        return runtime_error("out of memory for %d samples", n);
    }
    Rng r;
    rng_seed(&r, seed);
    rng_normal(&r, z, (size_t)n * m.cfg.zdim);
    rc = latent_decode_labeled(&m, z, labels, (size_t)n, DECODE_CHUNK, imgs, &err);
    const char *culprit = rc != VAE_OK ? model : NULL;
    if (rc == VAE_OK)
        rc = image_write_grid_png(out, imgs, n, m.cfg.rows, m.cfg.cols,
                                  per_label ? per_label : ncols ? ncols : image_grid_fill_cols(n, 1), 2, &err);
    free(imgs);
    free(z);
    free(labels);
    vae_free(&m);
    if (rc != VAE_OK) return model_error(culprit, &err);
    cli_wrote(out, 0);
    return 0;
}

int cmd_reconstruct(int argc, char **argv) {
    const char *model = DEFAULT_MODEL, *out = "recon.png", *data = NULL;
    int n = 64, ncols = 0, json = 0, threads = default_threads();
    uint64_t seed = 1;
    Opt opts[] = {
        OPT_MODEL(&model),
        OPT_DATA(&data, "data folder (its test split is used)"),
        {"count", 'n', OPT_INT, &n, 1, 10000, 0, "N", "64", "test images to show", NULL, 0},
        {"n", 0, OPT_INT, &n, 1, 10000, 0, "N", NULL, NULL, NULL, 0},
        {"cols", 'c', OPT_INT, &ncols, 1, 10000, 0, "C", "fills the grid", "images per row", NULL, 0},
        {"out", 'o', OPT_STRING, &out, 0, 0, 0, "PATH", "recon.png", "output PNG", NULL, 0},
        {"seed", 0, OPT_U64, &seed, 0, 0, 0, "S", "1", "seed of the sampled z in the metrics", NULL, 0},
        {"json", 0, OPT_FLAG, &json, 0, 0, 0, NULL, "off", "print the metrics as one JSON object", NULL, 0},
        OPT_THREADS(&threads),
        OPT_END,
    };
    CommandSpec cmd = {"reconstruct", "", "vae reconstruct [-n N] [--cols C] [-o PATH] [--model PATH] [--data DIR] [--json]",
                       "Writes the first N test images, each row followed by a row of their reconstructions\n"
                       "(decoded from z = mu), and prints the whole-test-set metrics (per image). By default C\n"
                       "is the smallest divisor of N that makes the picture at least as wide as tall, so no\n"
                       "row is ragged (32 -> 8 columns, 64 -> 16).",
                       "vae reconstruct -n 64 -o recon.png", opts};
    int rc = opt_parse(&cmd, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    set_threads(threads);
    Vae m;
    char ds[CHECKPOINT_DATASET_MAX];
    if (cli_load_model(model, &m, ds, sizeof ds)) return EXIT_RUNTIME;
    const VaeConfig mc = m.cfg;   /* for the printout after the model is freed */
    const char *dir = cli_pick_data(data, ds);
    if ((rc = cli_check_output(&cmd, "--out", out, model, dir)) != 0) {
        vae_free(&m);
        return rc;
    }
    IdxSplit test = {0};
    EvalMetrics e;
    if ((rc = evaluate(&m, dir, seed, &test, &e)) != 0) {
        idx_split_free(&test);
        vae_free(&m);
        return rc;
    }
    if ((uint32_t)n > test.images.count) n = (int)test.images.count;
    /* the grid (rows of images, each followed by their reconstructions) is
       checked before allocating */
    VaeError err;
    int cols = image_grid_cols(2 * n), xmaps = cols < n ? cols : n, gw, gh;
    if (image_grid_size(2 * ((n + xmaps - 1) / xmaps) * xmaps, xmaps, m.cfg.rows, m.cfg.cols, 2, &gw, &gh, &err) !=
        VAE_OK) {
        idx_split_free(&test);
        vae_free(&m);
        return runtime_error("%s: %s; ask for fewer images with -n", out, err.msg);
    }
    /* the images, and their reconstructions decoded from z = mu */
    float *x = malloc((size_t)n * m.in_dim * sizeof(float));
    float *xhat = malloc((size_t)n * m.in_dim * sizeof(float));
    float *mu = malloc((size_t)n * m.cfg.zdim * sizeof(float));
    if (!x || !xhat || !mu) {
        rc = runtime_error("out of memory for %d reconstructions", n);
    } else {
        idx_gather(&test.images, NULL, 0, (uint32_t)n, x);
        rc = latent_encode_means(&m, &test.images, NULL, 0, (uint32_t)n, EVAL_BATCH, mu, &err);
        /* a conditional model reconstructs with each image's true label */
        if (rc == VAE_OK)
            rc = latent_decode_labeled(&m, mu, m.cfg.n_classes > 0 ? test.labels.labels : NULL, (size_t)n, DECODE_CHUNK,
                                       xhat, &err);
        const char *culprit = rc != VAE_OK ? model : NULL;
        /* pairs of rows: about as wide as high, every row full */
        if (rc == VAE_OK)
            rc = image_write_pairs_png(out, x, xhat, n, m.cfg.rows, m.cfg.cols,
                                       ncols ? ncols : image_grid_fill_cols(n, 2), 2, &err);
        if (rc != VAE_OK) rc = model_error(culprit, &err);
    }
    free(x);
    free(xhat);
    free(mu);
    idx_split_free(&test);
    vae_free(&m);
    if (rc) return rc;
    cli_wrote(out, 1);   /* stdout carries the metrics */
    print_metrics(model, dir, &mc, &e, json);
    return 0;
}
