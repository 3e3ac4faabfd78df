/* Views of the latent space of a trained checkpoint: latent (the means of the
 * test images as CSV or JSON), scatter (a labelled 2-D plot of them, through
 * t-SNE when zdim != 2), manifold (decoded grids over the latent plane, or
 * traversals of each dimension) and interpolate (decoded straight lines). */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vae/fileio.h"
#include "vae/idx.h"
#include "vae/image.h"
#include "vae/latent.h"
#include "vae/latent_dims.h"
#include "vae/plot.h"
#include "vae/rng.h"
#include "vae/tsne.h"

#define ENC_BATCH 500
#define DECODE_CHUNK 256
#define GRID_PAD 2
/* Output sizes are checked before the large allocation, with the limit in
 * the message: latent vectors a manifold decodes at once (2^27 floats,
 * 512 MB), numbers in a latent dump (2^24: ~270 MB of CSV, ~1 GB of JSON
 * nodes while it is printed), points of a t-SNE map (its n x n float
 * affinity matrix: 16384 points is 1 GiB). */
#define MANIFOLD_MAX_LATENT ((uint64_t)1 << 27)
#define LATENT_MAX_NUMBERS ((uint64_t)1 << 24)
#define TSNE_MAX_POINTS 16384u

static const char *const FASHION_NAMES[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* ---- shared steps: model + test split, encoding, decoding ---- */

typedef struct {
    Vae m;
    int have_model;
    IdxSplit test;
    char ds[CHECKPOINT_DATASET_MAX];
    const char *dir;
    const char *path;   /* the checkpoint's, for messages */
} Loaded;

static void loaded_free(Loaded *l) {
    if (l->have_model) vae_free(&l->m);
    idx_split_free(&l->test);
}

/* Loads the checkpoint and, if want_test, the test split of --data (or the
 * checkpoint's data set), checking the image size matches the model. */
static int load_all(Loaded *l, const char *model, const char *data, int want_test) {
    memset(l, 0, sizeof *l);
    if (cli_load_model(model, &l->m, l->ds, sizeof l->ds)) return EXIT_RUNTIME;
    l->have_model = 1;
    l->path = model;
    l->dir = cli_pick_data(data, l->ds);
    if (!want_test) return 0;
    return cli_load_test_split(&l->test, l->dir, &l->m);
}

/* mu (n, Z) of the test images index[0..n) (index NULL: 0..n-1). */
static int encode_means(Loaded *l, const uint32_t *index, uint32_t n, float *mu) {
    VaeError err;
    if (latent_encode_means(&l->m, &l->test.images, index, 0, n, ENC_BATCH, mu, &err) != VAE_OK)
        return runtime_error("%s: %s", l->path, err.msg);
    return 0;
}

/* Decodes z (n, Z) into imgs (n, D). */
/* A conditional model decodes row i with labels[i] (labels NULL: unconditional). */
static int decode_all(Loaded *l, const float *z, int n, float *imgs, const uint8_t *labels) {
    VaeError err;
    if (latent_decode_labeled(&l->m, z, labels, (size_t)n, DECODE_CHUNK, imgs, &err) != VAE_OK)
        return runtime_error("%s: %s", l->path, err.msg);
    return 0;
}

/* --label K of a conditional model: n copies of K in *out (malloc'ed), or a
 * usage error; NULL (and 0) for an unconditional model without --label */
static int label_rows(const CommandSpec *cmd, const Vae *m, const char *model, int label, int n, uint8_t **out) {
    *out = NULL;
    int C = m->cfg.n_classes;
    if (label >= 0 && C == 0) return usage_error(cmd, "--label", "%s is not a conditional model", model);
    if (label >= C && C > 0) return usage_error(cmd, "--label", "%d is outside the model's classes 0..%d", label, C - 1);
    if (C == 0) return 0;
    *out = malloc((size_t)(n > 0 ? n : 1));
    if (!*out) return runtime_error("out of memory for %d labels", n);
    memset(*out, label >= 0 ? label : 0, (size_t)n);
    return 0;
}

/* ---- a growable text buffer for CSV output ---- */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} Buf;

static void buf_printf(Buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void buf_printf(Buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < b->len + (size_t)k + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
}

/* Writes text to path atomically, or to stdout for NULL or "-". */
static int emit(const char *path, const char *text, size_t len) {
    if (!path || strcmp(path, "-") == 0) {
        if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) return runtime_error("stdout: write failed");
        return 0;
    }
    VaeError err;
    if (vae_write_file(path, text, len, &err) != VAE_OK) return runtime_error("%s", err.msg);
    return 0;
}

/* ---- vae latent ---- */

int cmd_latent(int argc, char **argv) {
    const char *model = DEFAULT_MODEL, *data = NULL, *out = NULL;
    int json = 0, threads = default_threads();
    Opt opts[] = {
        OPT_MODEL(&model),
        OPT_DATA(&data, "data folder (its test split is used)"),
        {"out", 'o', OPT_STRING, &out, 0, 0, 0, "PATH", "stdout", "output file (written atomically; - for stdout)", NULL, 0},
        {"json", 0, OPT_FLAG, &json, 0, 0, 0, NULL, "off", "one JSON object with arrays instead of CSV", NULL, 0},
        OPT_THREADS(&threads),
        OPT_END,
    };
    CommandSpec cmd = {"latent", "", "vae latent [--model PATH] [--data DIR] [--json] [-o PATH]",
                       "Encodes every test image and writes its latent mean mu with its label, for your own\n"
                       "analysis. CSV: a header index,label,mu0,mu1,... and one row per test image. JSON: one\n"
                       "object {model, data, zdim, count, index: [...], label: [...], mu: [[...], ...]}.\n"
                       "Numbers are printed with enough digits to recover the float32 values exactly.",
                       "vae latent --model runs/default/model.safetensors -o latent.csv", opts};
    int rc = opt_parse(&cmd, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    set_threads(threads);
    Loaded l;
    if ((rc = load_all(&l, model, data, 1)) != 0) {
        loaded_free(&l);
        return rc;
    }
    if ((rc = cli_check_output(&cmd, "--out", out, model, l.dir)) != 0) {
        loaded_free(&l);
        return rc;
    }
    uint32_t n = l.test.images.count;
    int Z = l.m.cfg.zdim;
    if ((uint64_t)n * (uint64_t)Z > LATENT_MAX_NUMBERS) {
        loaded_free(&l);
        return runtime_error("%s: %u test images x zdim %d = %llu numbers, more than the %llu a latent dump may hold",
                             l.test.images_path, n, Z, (unsigned long long)n * (unsigned long long)Z,
                             (unsigned long long)LATENT_MAX_NUMBERS);
    }
    size_t count;
    float *mu = NULL;
    if (vae_mul_size((size_t)n, (size_t)Z * sizeof(float), &count) == 0) mu = malloc(count ? count : 1);
    if (!mu) {
        loaded_free(&l);
        return runtime_error("out of memory for %u latent means", n);
    }
    if ((rc = encode_means(&l, NULL, n, mu)) != 0) goto done;
    if (json) {
        cJSON *o = cJSON_CreateObject(), *idx = cJSON_CreateArray(), *lab = cJSON_CreateArray(),
              *mus = cJSON_CreateArray();
        int ok = o && idx && lab && mus;
        if (ok) {
            cJSON_AddStringToObject(o, "model", model);
            cJSON_AddStringToObject(o, "data", l.dir);
            cJSON_AddNumberToObject(o, "zdim", Z);
            cJSON_AddNumberToObject(o, "count", n);
            cJSON_AddItemToObject(o, "index", idx);
            cJSON_AddItemToObject(o, "label", lab);
            cJSON_AddItemToObject(o, "mu", mus);
        }
        for (uint32_t i = 0; ok && i < n; i++) {
            cJSON *row = cJSON_CreateArray();
            ok = row != NULL;
            for (int j = 0; ok && j < Z; j++) ok = cJSON_AddItemToArray(row, cJSON_CreateNumber(mu[(size_t)i * Z + j]));
            ok = ok && cJSON_AddItemToArray(mus, row) && cJSON_AddItemToArray(idx, cJSON_CreateNumber(i)) &&
                 cJSON_AddItemToArray(lab, cJSON_CreateNumber(l.test.labels.labels[i]));
        }
        char *txt = ok ? cJSON_PrintUnformatted(o) : NULL;
        if (!ok || !txt) {
            if (!ok) {
                cJSON_Delete(idx);
                cJSON_Delete(lab);
                cJSON_Delete(mus);
            }
            cJSON_Delete(o);
            rc = runtime_error("out of memory for the JSON of %u latent means", n);
            goto done;
        }
        size_t len = strlen(txt);
        /* one line, newline-terminated */
        char *line = malloc(len + 2);
        if (line) {
            memcpy(line, txt, len);
            line[len] = '\n';
            rc = emit(out, line, len + 1);
            free(line);
        } else {
            rc = runtime_error("out of memory for the JSON of %u latent means", n);
        }
        free(txt);
        cJSON_Delete(o);
    } else {
        Buf b = {0};
        buf_printf(&b, "index,label");
        for (int j = 0; j < Z; j++) buf_printf(&b, ",mu%d", j);
        buf_printf(&b, "\n");
        for (uint32_t i = 0; i < n; i++) {
            buf_printf(&b, "%u,%u", i, (unsigned)l.test.labels.labels[i]);
            for (int j = 0; j < Z; j++) buf_printf(&b, ",%.9g", (double)mu[(size_t)i * Z + j]);
            buf_printf(&b, "\n");
        }
        rc = b.oom ? runtime_error("out of memory for the CSV of %u latent means", n) : emit(out, b.s, b.len);
        free(b.s);
    }
    if (rc == 0 && out && strcmp(out, "-") != 0) cli_wrote(out, 0);
done:
    free(mu);
    loaded_free(&l);
    return rc;
}

/* ---- vae scatter ---- */

static const char *const METHODS[] = {"auto", "means", "tsne", "hist", NULL};
enum { METHOD_AUTO, METHOD_MEANS, METHOD_TSNE, METHOD_HIST };
#define HIST_BINS 40
/* in TsneMethod order */
static const char *const TSNE_METHODS[] = {"auto", "exact", "bh", NULL};

typedef struct {
    int tty;
    double t0;
    int iterations;
} TsneProgress;

/* the progress line, like train's bar: only on a terminal, redrawn in place */
static void tsne_report(int iter, double kl, void *ctx) {
    TsneProgress *p = ctx;
    if (!p->tty) return;
    double t = vae_now_seconds() - p->t0;
    fprintf(stderr, "\rt-SNE iteration %d/%d  KL %.4f  %.1f s  ETA %.0fs   ", iter, p->iterations, kl, t,
            iter > 0 ? t * (p->iterations - iter) / iter : 0.0);
    fflush(stderr);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* zdim 1: the code of each label as a histogram (frequency polygon), all in
   one panel, so overlaps between labels show directly. */
static int draw_histograms(const char *out, const char *csv, const char *title, int width, int height, int fashion,
                           const uint32_t *idx, const float *mu, const int *labels, uint32_t n) {
    double lo, hi, share[PLOT_MAX_CLASSES * HIST_BINS], x[HIST_BINS];
    VaeError err;
    if (latent_label_histograms(mu, labels, (int)n, PLOT_MAX_CLASSES, HIST_BINS, &lo, &hi, share, &err) != VAE_OK)
        return runtime_error("%s", err.msg);
    for (int k = 0; k < HIST_BINS; k++) x[k] = lo + (k + 0.5) * (hi - lo) / HIST_BINS;
    PlotLine lines[PLOT_MAX_CLASSES];
    PlotKey keys[PLOT_MAX_CLASSES];
    char names[PLOT_MAX_CLASSES][32];
    int nl = 0;
    for (int c = 0; c < PLOT_MAX_CLASSES; c++) {
        int any = 0;
        for (uint32_t i = 0; i < n; i++) any |= labels[i] == c;
        if (!any) continue;
        snprintf(names[c], sizeof names[c], "%s", fashion ? FASHION_NAMES[c] : (char[2]){(char)('0' + c), 0});
        lines[nl] = (PlotLine){names[c], x, share + (size_t)c * HIST_BINS, HIST_BINS, c, 0, 0};
        keys[nl] = (PlotKey){names[c], c, PLOT_KEY_LINE};
        nl++;
    }
    char auto_title[160];
    snprintf(auto_title, sizeof auto_title, "latent code by label, zdim 1 (%u test images, %d bins)", n, HIST_BINS);
    PlotPanel panel;
    memset(&panel, 0, sizeof panel);
    panel.xlabel = "\u03bc0 (the code)";
    panel.ylabel = "share of the label's images";
    panel.lines = lines;
    panel.n_lines = nl;
    PlotFigure f;
    memset(&f, 0, sizeof f);
    f.width = width;
    f.height = height;
    f.title = title ? title : auto_title;
    f.panels = &panel;
    f.n_panels = 1;
    f.keys = keys;
    f.n_keys = nl;
    if (csv) {
        Buf b = {0};
        buf_printf(&b, "index,label,mu0\n");
        for (uint32_t i = 0; i < n; i++) buf_printf(&b, "%u,%d,%.9g\n", idx[i], labels[i], (double)mu[i]);
        int rc = b.oom ? runtime_error("out of memory for %s", csv) : emit(csv, b.s, b.len);
        free(b.s);
        if (rc) return rc;
        if (strcmp(csv, "-") != 0) cli_wrote(csv, 0);
    }
    if (plot_write(out, &f, NULL, &err) != VAE_OK) return runtime_error("%s", err.msg);
    cli_wrote(out, csv && strcmp(csv, "-") == 0);
    return 0;
}

int cmd_scatter(int argc, char **argv) {
    const char *model = DEFAULT_MODEL, *data = NULL, *out = "scatter.png", *csv = NULL, *title = NULL;
    int n = 0, method = METHOD_AUTO, iterations = 1000, width = 800, height = 640, radius = 2;
    int threads = default_threads(), tsne_method = TSNE_AUTO, quiet = 0;
    float perplexity = 30.0f, theta = 0.5f;
    uint64_t seed = 1;
    Opt opts[] = {
        OPT_MODEL(&model),
        OPT_DATA(&data, "data folder (its test split is used)"),
        {"out", 'o', OPT_STRING, &out, 0, 0, 0, "PATH", "scatter.png", "output image: .png, .svg or .pdf", NULL, 0},
        {"count", 'n', OPT_INT, &n, 2, 1 << 20, 0, "N", "all", "test images to plot (a seeded random subsample)", NULL, 0},
        {"n", 0, OPT_INT, &n, 2, 1 << 20, 0, "N", NULL, NULL, NULL, 0},
        {"method", 0, OPT_CHOICE, &method, 0, 0, 0, "auto|means|tsne|hist", "auto", "the means (zdim 2), a t-SNE map, or per-label histograms of the code (zdim 1); auto picks by zdim", METHODS, 0},
        {"seed", 0, OPT_U64, &seed, 0, 0, 0, "S", "1", "seed of the subsample and the t-SNE start", NULL, 0},
        {"perplexity", 0, OPT_FLOAT, &perplexity, 1, 1000, 0, "P", "30", "t-SNE perplexity (needs N > 3P + 1; the default is lowered to fit fewer than 92 points)", NULL, 0},
        {"iterations", 0, OPT_INT, &iterations, 1, 100000, 0, "N", "1000", "t-SNE gradient steps (exaggeration 12 for the first 250)", NULL, 0},
        {"tsne", 0, OPT_CHOICE, &tsne_method, 0, 0, 0, "auto|exact|bh", "auto", "t-SNE algorithm: exact O(N^2), or Barnes-Hut; auto: exact up to 1000 points", TSNE_METHODS, 0},
        {"theta", 0, OPT_FLOAT, &theta, 0, 1, 0, "T", "0.5", "Barnes-Hut accuracy (0 = exact forces; larger is faster)", NULL, 0},
        {"quiet", 'q', OPT_FLAG, &quiet, 0, 0, 0, NULL, "off", "no t-SNE progress line or summary on stderr", NULL, 0},
        {"csv", 0, OPT_STRING, &csv, 0, 0, 0, "PATH", "none", "also write the plotted points: index,label,x,y", NULL, 0},
        {"title", 0, OPT_STRING, &title, 0, 0, 0, "TEXT", "a description", "title above the plot", NULL, 0},
        {"width", 0, OPT_INT, &width, 300, 8192, 0, "W", "800", "image width in pixels", NULL, 0},
        {"height", 0, OPT_INT, &height, 300, 8192, 0, "H", "640", "image height in pixels", NULL, 0},
        {"radius", 0, OPT_INT, &radius, 0, 20, 0, "R", "2", "disc radius in pixels", NULL, 0},
        {"threads", 't', OPT_INT, &threads, 1, 64, 0, "N", "cores", "CPU threads (encoder and t-SNE)", NULL, 0},
        OPT_END,
    };
    CommandSpec cmd = {
        "scatter", "", "vae scatter [-o PATH] [-n N] [--method auto|means|tsne|hist] [--tsne auto|exact|bh] [--seed S] [--csv PATH]",
        "Plots the latent means of test images (all of them unless -n picks a random subsample) as\n"
        "discs coloured by label (a colour-blind-safe palette), with axes, a legend and a title, as\n"
        "PNG, SVG or PDF (by the extension of -o). For zdim 2 the means themselves are plotted;\n"
        "otherwise a t-SNE map (perplexity 30, 1000 iterations, early exaggeration 12 for 250, momentum\n"
        "0.5 then 0.8): Barnes-Hut t-SNE (van der Maaten 2014; 3*perplexity nearest neighbours, a\n"
        "quadtree at --theta) for more than 1000 points, 27 s of CPU time for the 10,000 MNIST test\n"
        "means; exact t-SNE (O(N^2)) up to 1000 or with --tsne exact. The same --seed and --threads\n"
        "give the same subsample and map, so maps of two models compare. --csv writes the 2-D points.\n"
        "For zdim 1 there is nothing to embed: each label's codes are drawn as a histogram (40 bins,\n"
        "the share of that label's images per bin; --method hist), and --csv writes index,label,mu0.\n"
        "Fashion-MNIST class names are used when the data folder's name contains \"fashion\".",
        "vae scatter --model runs/z20/model.safetensors -o scatter.png --seed 1", opts};
    int rc = opt_parse(&cmd, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    int fmt;
    if ((rc = cli_plot_format(&cmd, out, &fmt)) != 0) return rc;
    set_threads(threads);
    Loaded l;
    if ((rc = load_all(&l, model, data, 1)) != 0) {
        loaded_free(&l);
        return rc;
    }
    int Z = l.m.cfg.zdim;
    if ((rc = cli_check_output(&cmd, "--out", out, model, l.dir)) != 0 ||
        (rc = cli_check_output(&cmd, "--csv", csv, model, l.dir)) != 0) {
        loaded_free(&l);
        return rc;
    }
    if (csv && (strcmp(csv, out) == 0 || cli_same_file(csv, out))) {
        loaded_free(&l);
        return usage_error(&cmd, "--csv", "%s is also the --out picture; one would overwrite the other", csv);
    }
    /* one dimension needs no embedding: t-SNE of 1-D points draws a meaningless snake */
    if (method == METHOD_AUTO) method = Z == 1 ? METHOD_HIST : Z == 2 ? METHOD_MEANS : METHOD_TSNE;
    if (method == METHOD_HIST && Z != 1) {
        loaded_free(&l);
        return usage_error(&cmd, "--method", "'hist' needs a model with zdim 1 (this one has %d)", Z);
    }
    if (method == METHOD_MEANS && Z != 2) {
        loaded_free(&l);
        return usage_error(&cmd, "--method", "'means' needs a model with zdim 2 (this one has %d); use tsne", Z);
    }
    uint32_t count = l.test.images.count;
    uint32_t want = opt_given(&cmd, "count") ? (uint32_t)n : count;
    if (want > count) want = count;
    if (method == METHOD_TSNE) {
        /* exact t-SNE holds an n x n matrix: refuse before allocating it */
        TsneConfig probe;
        tsne_default_config(&probe);
        probe.method = (TsneMethod)tsne_method;
        if (tsne_method_for(&probe, (int)want) != TSNE_BARNES_HUT && want > TSNE_MAX_POINTS) {
            loaded_free(&l);
            return usage_error(&cmd, "-n", "an exact t-SNE map of %u points needs %.1f GB (an n x n matrix); the limit "
                               "is %u points (or use --tsne bh)", want, (double)want * want * 4 / 1e9, TSNE_MAX_POINTS);
        }
    }
    /* the default perplexity (30) needs 92 points; for fewer, unless the
       user chose one, take the largest that fits (van der Maaten's rule of
       thumb, 3 * perplexity neighbours per point, kept) */
    if (method == METHOD_TSNE && !opt_given(&cmd, "perplexity") && want >= 4 &&
        3.0 * perplexity > (double)(want - 1)) {
        perplexity = (float)(floor((double)(want - 1) / 3.0 * 100.0) / 100.0);   /* 2 decimals, below the bound */
        if (!quiet)
            fprintf(stderr, "vae: scatter: %u points: t-SNE perplexity lowered from 30 to %g (3 * perplexity "
                    "< points - 1)\n", want, (double)perplexity);
    }
    if (method == METHOD_TSNE && (want < 2 || 3.0 * perplexity > (double)(want - 1))) {
        loaded_free(&l);
        return usage_error(&cmd, "--perplexity", "%g is too large for %u points (needs 3 * perplexity < points - 1)",
                           (double)perplexity, want);
    }
    uint32_t *idx = malloc((size_t)count * sizeof(uint32_t));
    float *mu = malloc((size_t)want * (size_t)Z * sizeof(float));
    double *xy = malloc((size_t)want * 2 * sizeof(double));
    int *labels = malloc((size_t)want * sizeof(int));
    if (!idx || !mu || !xy || !labels) {
        rc = runtime_error("out of memory for %u points", want);
        goto done;
    }
    /* a seeded subsample (partial Fisher-Yates), then in index order */
    for (uint32_t i = 0; i < count; i++) idx[i] = i;
    if (want < count) {
        Rng r;
        rng_seed(&r, seed);
        for (uint32_t i = 0; i < want; i++) {
            uint32_t j = i + rng_below(&r, count - i);
            uint32_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        qsort(idx, want, sizeof *idx, cmp_u32);
    }
    /* The subsample's means are taken from an encoding of the whole test set
       in the batches `vae latent` uses, so each point is bit for bit the mean
       `vae latent` prints: BLAS may round a row differently in a batch of
       another size. (Only a test set too large to encode at once is encoded
       as the subsample alone.) */
    if ((uint64_t)count * (uint64_t)Z <= LATENT_MAX_NUMBERS && want < count) {
        float *all = malloc((size_t)count * (size_t)Z * sizeof(float));
        if (!all) {
            rc = runtime_error("out of memory for %u latent means", count);
            goto done;
        }
        if ((rc = encode_means(&l, NULL, count, all)) != 0) {
            free(all);
            goto done;
        }
        for (uint32_t i = 0; i < want; i++)
            memcpy(mu + (size_t)i * Z, all + (size_t)idx[i] * Z, (size_t)Z * sizeof(float));
        free(all);
    } else if ((rc = encode_means(&l, want < count ? idx : NULL, want, mu)) != 0) {
        goto done;
    }
    for (uint32_t i = 0; i < want; i++) labels[i] = l.test.labels.labels[idx[i]];
    if (method == METHOD_HIST) {
        rc = draw_histograms(out, csv, title, width, height, strstr(l.dir, "fashion") != NULL, idx, mu, labels, want);
        goto done;
    }
    char auto_title[160];
    if (method == METHOD_MEANS) {
        for (size_t i = 0; i < (size_t)want * 2; i++) xy[i] = (double)mu[i];
        snprintf(auto_title, sizeof auto_title, "latent means, zdim 2 (%u test images)", want);
    } else {
        TsneConfig tc;
        tsne_default_config(&tc);
        tc.perplexity = perplexity;
        tc.iterations = iterations;
        if (tc.exaggeration_iters > iterations / 4) tc.exaggeration_iters = tc.momentum_switch = iterations / 4;
        tc.seed = seed;
        tc.threads = threads;
        tc.method = (TsneMethod)tsne_method;
        tc.theta = theta;
        TsneProgress prog = {!quiet && isatty(STDERR_FILENO), vae_now_seconds(), iterations};
        tc.report_every = 10;
        tc.on_report = tsne_report;
        tc.ctx = &prog;
        double kl = 0;
        VaeError err;
        int trc = tsne_run(&tc, mu, (int)want, Z, xy, &kl, &err);
        if (prog.tty) fprintf(stderr, "\r\033[K");
        if (trc != VAE_OK) {
            rc = runtime_error("%s", err.msg);
            goto done;
        }
        int bh = tsne_method_for(&tc, (int)want) == TSNE_BARNES_HUT;
        char how[48] = "exact";
        if (bh) snprintf(how, sizeof how, "Barnes-Hut, theta %g", (double)theta);
        if (!quiet)
            fprintf(stderr, "t-SNE (%s): %u points of zdim %d, perplexity %g, %d iterations, KL %.4f, %.1f s\n", how,
                    want, Z, (double)perplexity, iterations, kl, vae_now_seconds() - prog.t0);
        snprintf(auto_title, sizeof auto_title, "t-SNE of latent means, zdim %d (%u test images, perplexity %g)", Z,
                 want, (double)perplexity);
    }
    if (csv) {
        Buf b = {0};
        buf_printf(&b, "index,label,x,y\n");
        for (uint32_t i = 0; i < want; i++)
            buf_printf(&b, "%u,%d,%.9g,%.9g\n", idx[i], labels[i], xy[2 * i], xy[2 * i + 1]);
        rc = b.oom ? runtime_error("out of memory for %s", csv) : emit(csv, b.s, b.len);
        free(b.s);
        if (rc) goto done;
        if (strcmp(csv, "-") != 0) cli_wrote(csv, 0);
    }
    PlotStyle st;
    plot_default_style(&st);
    st.width = width;
    st.height = height;
    st.radius = radius;
    st.title = title ? title : auto_title;
    st.xlabel = method == METHOD_MEANS ? "\u03bc0" : "t-SNE 1";
    st.ylabel = method == METHOD_MEANS ? "\u03bc1" : "t-SNE 2";
    if (strstr(l.dir, "fashion")) st.class_names = FASHION_NAMES;
    VaeError err;
    if (plot_scatter_write(out, &st, xy, labels, (int)want, NULL, &err) != VAE_OK) rc = runtime_error("%s", err.msg);
    else cli_wrote(out, csv && strcmp(csv, "-") == 0);
done:
    free(idx);
    free(mu);
    free(xy);
    free(labels);
    loaded_free(&l);
    return rc;
}

/* ---- vae manifold ---- */

/* A dimension with less KL than this (nats per image, over the test set)
   decodes to the same picture all along its row: not worth a row. */
#define MANIFOLD_MIN_KL 0.01

/* "3,0,7" -> dims; usage error naming --dims otherwise */
static int parse_dims(const CommandSpec *cmd, const char *s, int zdim, int *dims, int *n) {
    *n = 0;
    const char *p = s;
    for (;;) {
        char item[16];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        long v;
        const char *why;
        if (len == 0 || len >= sizeof item || *n >= zdim)
            return usage_error(cmd, "--dims", "'%s' must be a comma list of distinct dimensions in 0..%d", s, zdim - 1);
        memcpy(item, p, len);
        item[len] = '\0';
        if (parse_long_strict(item, 0, zdim - 1, &v, &why) != 0)
            return usage_error(cmd, "--dims", "'%s': %s is not a dimension of this model (0..%d)", s, item, zdim - 1);
        for (int k = 0; k < *n; k++)
            if (dims[k] == (int)v) return usage_error(cmd, "--dims", "'%s' names %ld twice", s, v);
        dims[(*n)++] = (int)v;
        if (!comma) return 0;
        p = comma + 1;
    }
}

int cmd_manifold(int argc, char **argv) {
    const char *model = DEFAULT_MODEL, *data = NULL, *out = "manifold.png", *dims_arg = NULL;
    int steps = 20, top = 10, threads = default_threads(), label = -1;
    float range = 0;
    long index = 0;
    Opt opts[] = {
        OPT_MODEL(&model),
        OPT_DATA(&data, "data folder (zdim > 2: the test set ranks the dimensions; --index picks the image)"),
        {"out", 'o', OPT_STRING, &out, 0, 0, 0, "PATH", "manifold.png", "output PNG", NULL, 0},
        {"steps", 's', OPT_INT, &steps, 2, 200, 0, "N", "20", "values per latent dimension", NULL, 0},
        {"range", 'r', OPT_FLOAT, &range, 0, 50, 1, "R", "1.64 (5%-95% quantiles)", "the values span -R..R around the centre, spaced like normal quantiles", NULL, 0},
        {"index", 'i', OPT_LONG, &index, 0, 1L << 32, 0, "I", "0", "zdim > 2: test image whose mean is the centre", NULL, 0},
        {"top", 0, OPT_INT, &top, 1, 4096, 0, "K", "10", "zdim > 2: traverse the K dimensions with the most KL (those above 0.01 nats)", NULL, 0},
        {"dims", 0, OPT_STRING, &dims_arg, 0, 0, 0, "LIST", "ranked by KL", "zdim > 2: traverse these dimensions, e.g. 3,0,7", NULL, 0},
        {"label", 0, OPT_INT, &label, 0, VAE_MAX_CLASSES - 1, 0, "K", "0", "conditional models: the class decoded", NULL, 0},
        OPT_THREADS(&threads),
        OPT_END,
    };
    CommandSpec cmd = {
        "manifold", "", "vae manifold [-o PATH] [--steps N] [--range R] [--top K | --dims LIST] [--index I]",
        "Decodes latent points laid out on a grid of standard-normal quantiles q_k = Phi^-1(p_k),\n"
        "p_k evenly spaced over [0.05, 0.95] (the Kingma & Welling and Keras manifold figures),\n"
        "scaled so that they span -R..R when --range R is given:\n"
        "  zdim 2: an N x N grid, z0 = q_col growing to the right, z1 = q_row growing upwards;\n"
        "  zdim 1: one strip of N images;\n"
        "  zdim > 2: one row per latent dimension j, z = mu(test image I) with z_j = mu_j + q_k,\n"
        "  for the dimensions that carry information: ranked by their KL to the prior over the\n"
        "  test set (a dimension the model does not use has KL ~ 0 and would draw one picture\n"
        "  all along its row), at most --top, or those of --dims; each row is labelled with its\n"
        "  dimension and KL.",
        "vae manifold --model runs/z20/model.safetensors --top 8 --range 3 -o manifold.png", opts};
    int rc = opt_parse(&cmd, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    set_threads(threads);
    Loaded l;
    if ((rc = load_all(&l, model, data, 0)) != 0) {
        loaded_free(&l);
        return rc;
    }
    int Z = l.m.cfg.zdim, D = l.m.in_dim;
    /* --index, --top and --dims choose the traversals of a zdim > 2 model: a
       zdim 1 strip or zdim 2 grid would ignore them in silence, and --dims
       names the rows itself */
    for (const char *const *o = (const char *const[]){"index", "top", "dims", NULL}; *o && Z <= 2; o++)
        if (opt_given(&cmd, *o)) {
            char name[16];
            snprintf(name, sizeof name, "--%s", *o);
            loaded_free(&l);
            return usage_error(&cmd, name, "applies to models with zdim > 2 only; %s has zdim %d (%s)", model, Z,
                               Z == 2 ? "a grid over the latent plane" : "a strip");
        }
    if (opt_given(&cmd, "top") && opt_given(&cmd, "dims")) {
        loaded_free(&l);
        return usage_error(&cmd, "--top", "cannot be combined with --dims (which names the rows to traverse)");
    }
    /* the 0.95 quantile is the edge of the default grid */
    double scale = range > 0 ? (double)range / latent_normal_quantile(LATENT_GRID_P_HI) : 1.0;
    int rows = latent_manifold_rows(Z, steps, 0);
    if ((rc = cli_check_output(&cmd, "--out", out, model, l.dir)) != 0) {
        loaded_free(&l);
        return rc;
    }
    float *mu = NULL;
    double *kl = NULL;
    int *dims = NULL;
    char (*labels)[48] = NULL;
    float *z = NULL, *imgs = NULL;
    VaeError err;
    if (Z > 2) {
        dims = malloc((size_t)Z * sizeof(int));
        kl = malloc((size_t)Z * sizeof(double));
        mu = malloc((size_t)Z * sizeof(float));
        if (!dims || !kl || !mu) {
            rc = runtime_error("out of memory for %d latent dimensions", Z);
            goto done;
        }
        if (dims_arg && (rc = parse_dims(&cmd, dims_arg, Z, dims, &rows)) != 0) goto done;
        if ((rc = cli_load_test_split(&l.test, l.dir, &l.m)) != 0) goto done;
        if (index >= (long)l.test.images.count) {
            rc = usage_error(&cmd, "--index", "%ld is past the last test image (%s has %u, 0..%u)", index,
                             l.test.images_path, l.test.images.count, l.test.images.count - 1);
            goto done;
        }
        uint32_t one = (uint32_t)index;
        if ((rc = encode_means(&l, &one, 1, mu)) != 0) goto done;
        if (latent_dim_kl(&l.m, &l.test.images, l.test.images.count, ENC_BATCH, kl, &err) != VAE_OK) {
            rc = runtime_error("%s: %s", l.path, err.msg);
            goto done;
        }
        if (!dims_arg) rows = latent_pick_dims(kl, Z, top, MANIFOLD_MIN_KL, dims);
        int active = 0;
        for (int j = 0; j < Z; j++) active += kl[j] >= MANIFOLD_MIN_KL;
        fprintf(stderr, "%d of %d latent dimensions carry information (KL >= %g nats over %u test images); rows:",
                active, Z, MANIFOLD_MIN_KL, l.test.images.count);
        labels = malloc((size_t)rows * sizeof *labels);
        if (!labels) {
            rc = runtime_error("out of memory");
            goto done;
        }
        for (int r = 0; r < rows; r++) {
            snprintf(labels[r], sizeof labels[r], "z%d  KL %.2f", dims[r], kl[dims[r]]);
            fprintf(stderr, " z%d (%.3f)", dims[r], kl[dims[r]]);
        }
        fputc('\n', stderr);
    }
    int tiles = rows * steps, gw, gh;
    /* sizes known by now are checked before the pictures are allocated */
    if (image_grid_size(tiles, steps, l.m.cfg.rows, l.m.cfg.cols, GRID_PAD, &gw, &gh, &err) != VAE_OK) {
        rc = runtime_error("%s: %s%s", out, err.msg, Z > 2 ? "; traverse fewer dimensions (--top or --dims)" : "");
        goto done;
    }
    if ((uint64_t)tiles * (uint64_t)Z > MANIFOLD_MAX_LATENT) {
        rc = runtime_error("%s: %d tiles of zdim %d are %llu latent values, more than the limit of %llu; use fewer "
                           "--steps, --top or --dims", out, tiles, Z, (unsigned long long)tiles * (unsigned long long)Z,
                           (unsigned long long)MANIFOLD_MAX_LATENT);
        goto done;
    }
    z = malloc((size_t)tiles * (size_t)Z * sizeof(float));
    imgs = malloc((size_t)tiles * (size_t)D * sizeof(float));
    if (!z || !imgs) {
        rc = runtime_error("out of memory for %d images", tiles);
        goto done;
    }
    if ((Z > 2 ? latent_traverse_fill(Z, steps, dims, rows, scale, mu, z, &err)
               : latent_manifold_fill(Z, steps, 0, NULL, z, &err)) != VAE_OK) {
        rc = runtime_error("%s", err.msg);
        goto done;
    }
    if (Z <= 2)
        for (size_t i = 0; i < (size_t)tiles * Z; i++) z[i] = (float)(z[i] * scale);
    uint8_t *tile_labels = NULL;
    rc = label_rows(&cmd, &l.m, model, label, tiles, &tile_labels);
    if (rc == 0) rc = decode_all(&l, z, tiles, imgs, tile_labels);
    free(tile_labels);
    if (rc != 0) goto done;
    if (Z > 2) {
        const char **lp = malloc((size_t)rows * sizeof *lp);
        if (!lp) {
            rc = runtime_error("out of memory");
            goto done;
        }
        for (int r = 0; r < rows; r++) lp[r] = labels[r];
        rc = image_write_labelled_rows_png(out, imgs, rows, steps, l.m.cfg.rows, l.m.cfg.cols, GRID_PAD, lp, NULL,
                                           &err);
        free(lp);
    } else {
        rc = image_write_grid_png(out, imgs, tiles, l.m.cfg.rows, l.m.cfg.cols, steps, GRID_PAD, &err);
    }
    if (rc != VAE_OK)
        rc = runtime_error("%s", err.msg);
    else
        cli_wrote(out, 0);
done:
    free(mu);
    free(kl);
    free(dims);
    free(labels);
    free(z);
    free(imgs);
    loaded_free(&l);
    return rc;
}

/* ---- vae interpolate ---- */

int cmd_interpolate(int argc, char **argv) {
    const char *model = DEFAULT_MODEL, *data = NULL, *out = "interpolate.png";
    long from = 0, to = 1;
    int steps = 10, originals = 0, threads = default_threads(), label = -1;
    Opt opts[] = {
        OPT_MODEL(&model),
        OPT_DATA(&data, "data folder (its test split is used)"),
        {"out", 'o', OPT_STRING, &out, 0, 0, 0, "PATH", "interpolate.png", "output PNG", NULL, 0},
        {"from", 0, OPT_LONG, &from, 0, 1L << 32, 0, "I", "0", "index of the first test image", NULL, 0},
        {"to", 0, OPT_LONG, &to, 0, 1L << 32, 0, "J", "1", "index of the last test image", NULL, 0},
        {"steps", 's', OPT_INT, &steps, 2, 1000, 0, "N", "10", "decoded points on the line, ends included", NULL, 0},
        {"originals", 0, OPT_FLAG, &originals, 0, 0, 0, NULL, "off", "also show the two test images at the ends", NULL, 0},
        {"label", 0, OPT_INT, &label, 0, VAE_MAX_CLASSES - 1, 0, "K", "the ends'", "conditional models: decode every point as class K (default: each point with the label of the nearer end)", NULL, 0},
        OPT_THREADS(&threads),
        OPT_END,
    };
    CommandSpec cmd = {"interpolate", "", "vae interpolate [--from I] [--to J] [--steps N] [--originals] [-o PATH]",
                       "Decodes z = (1 - t) mu_I + t mu_J for N values of t evenly spaced over [0, 1], so the\n"
                       "ends are the reconstructions of test images I and J, into a one-row grid. With\n"
                       "--originals the two test images themselves are added at both ends.",
                       "vae interpolate --from 3 --to 2 --steps 10 --originals -o interp.png", opts};
    int rc = opt_parse(&cmd, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    set_threads(threads);
    Loaded l;
    if ((rc = load_all(&l, model, data, 1)) != 0) {
        loaded_free(&l);
        return rc;
    }
    uint32_t count = l.test.images.count;
    const char *bad = from >= (long)count ? "--from" : to >= (long)count ? "--to" : NULL;
    if (bad) {
        rc = usage_error(&cmd, bad, "%ld is past the last test image (%s has %u, 0..%u)", bad[2] == 'f' ? from : to,
                         l.test.images_path, count, count - 1);
        loaded_free(&l);
        return rc;
    }
    int Z = l.m.cfg.zdim, D = l.m.in_dim, tiles = steps + 2 * originals, gw, gh;
    VaeError gerr;
    if ((rc = cli_check_output(&cmd, "--out", out, model, l.dir)) != 0) {
        loaded_free(&l);
        return rc;
    }
    if (image_grid_size(tiles, tiles, l.m.cfg.rows, l.m.cfg.cols, GRID_PAD, &gw, &gh, &gerr) != VAE_OK) {
        loaded_free(&l);
        return runtime_error("%s: %s; use fewer --steps", out, gerr.msg);
    }
    uint32_t ends[2] = {(uint32_t)from, (uint32_t)to};
    float *mu = malloc((size_t)2 * Z * sizeof(float));
    float *z = malloc((size_t)steps * Z * sizeof(float));
    float *imgs = malloc((size_t)tiles * D * sizeof(float));
    uint8_t *labels = NULL;
    if (!mu || !z || !imgs) {
        rc = runtime_error("out of memory for %d images", tiles);
        goto done;
    }
    if ((rc = encode_means(&l, ends, 2, mu)) != 0) goto done;
    latent_interpolate(mu, mu + Z, Z, steps, z);
    if ((rc = label_rows(&cmd, &l.m, model, label, steps, &labels)) != 0) goto done;
    for (int k = 0; labels && label < 0 && k < steps; k++)
        labels[k] = l.test.labels.labels[ends[2 * k < steps - 1 ? 0 : 1]];
    if ((rc = decode_all(&l, z, steps, imgs + (size_t)originals * D, labels)) != 0) goto done;
    if (originals) {
        idx_gather(&l.test.images, ends, 0, 1, imgs);
        idx_gather(&l.test.images, ends + 1, 0, 1, imgs + (size_t)(tiles - 1) * D);
    }
    VaeError err;
    if (image_write_grid_png(out, imgs, tiles, l.m.cfg.rows, l.m.cfg.cols, tiles, GRID_PAD, &err) != VAE_OK)
        rc = runtime_error("%s", err.msg);
    else
        cli_wrote(out, 0);
done:
    free(mu);
    free(z);
    free(imgs);
    free(labels);
    loaded_free(&l);
    return rc;
}
