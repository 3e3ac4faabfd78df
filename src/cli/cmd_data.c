/* vae data: what the loader sees in a data folder — counts, image size,
 * label histogram and mean pixel of both splits — as text or one JSON object. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "vae/idx.h"

static const char *data_dir = "data/mnist";
static int as_json;

static Opt data_opts[] = {
    {"data", 0, OPT_STRING, &data_dir, 0, 0, 0, "DIR", "data/mnist", "data folder with the four IDX files (raw or .gz)", NULL, 0},
    {"json", 0, OPT_FLAG, &as_json, 0, 0, 0, NULL, "off", "print one JSON object on stdout", NULL, 0},
    OPT_END,
};

static const CommandSpec data_cmd = {
    "data", "", "vae data [--data DIR] [--json]",
    "Loads the training and test splits of DIR (train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or gzip) with full validation and\n"
    "reports image count, image size, label histogram and mean pixel value of each.",
    "vae data --data data/fashion-mnist --json", data_opts};

typedef struct {
    long hist[256];
    double mean_pixel;
    int max_label;
} SplitStats;

static void stats(const IdxSplit *s, SplitStats *st) {
    memset(st, 0, sizeof *st);
    for (uint32_t i = 0; i < s->labels.count; i++) {
        st->hist[s->labels.labels[i]]++;
        if (s->labels.labels[i] > st->max_label) st->max_label = s->labels.labels[i];
    }
    size_t n = (size_t)s->images.count * s->images.rows * s->images.cols;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += s->images.pixels[i];
    st->mean_pixel = n ? (double)sum / (double)n / 255.0 : 0.0;
}

static cJSON *split_json(const IdxSplit *s, const SplitStats *st) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "images_path", s->images_path);
    cJSON_AddStringToObject(o, "labels_path", s->labels_path);
    cJSON_AddNumberToObject(o, "count", s->images.count);
    cJSON_AddNumberToObject(o, "rows", s->images.rows);
    cJSON_AddNumberToObject(o, "cols", s->images.cols);
    cJSON_AddNumberToObject(o, "mean_pixel", st->mean_pixel);
    cJSON *h = cJSON_AddArrayToObject(o, "label_counts");
    for (int l = 0; l <= st->max_label; l++) cJSON_AddItemToArray(h, cJSON_CreateNumber((double)st->hist[l]));
    return o;
}

static void split_text(const char *name, const IdxSplit *s, const SplitStats *st) {
    printf("%s: %u images of %ux%u (%s), mean pixel %.4f\n", name, s->images.count, s->images.rows, s->images.cols,
           s->images_path, st->mean_pixel);
    printf("  labels (%s):", s->labels_path);
    for (int l = 0; l <= st->max_label; l++) printf(" %d:%ld", l, st->hist[l]);
    printf("\n");
}

int cmd_data(int argc, char **argv) {
    int rc = opt_parse(&data_cmd, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    IdxSplit train = {0}, test = {0};
    VaeError err;
    double t0 = vae_now_seconds();
    if (idx_load_split(&train, data_dir, IDX_TRAIN, &err) != VAE_OK) return runtime_error("%s", err.msg);
    if (idx_load_split(&test, data_dir, IDX_TEST, &err) != VAE_OK) {
        idx_split_free(&train);
        return runtime_error("%s", err.msg);
    }
    double secs = vae_now_seconds() - t0;
    SplitStats a, b;
    stats(&train, &a);
    stats(&test, &b);
    if (as_json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "data", data_dir);
        cJSON_AddItemToObject(o, "train", split_json(&train, &a));
        cJSON_AddItemToObject(o, "test", split_json(&test, &b));
        cJSON_AddNumberToObject(o, "load_seconds", secs);
        char *txt = cJSON_PrintUnformatted(o);
        if (txt) printf("%s\n", txt);
        free(txt);
        cJSON_Delete(o);
    } else {
        split_text("train", &train, &a);
        split_text("test", &test, &b);
        printf("loaded in %.3f s\n", secs);
    }
    /* the summary is still shown, but a folder no model can use is an error */
    rc = 0;
    if (train.images.rows != test.images.rows || train.images.cols != test.images.cols)
        rc = runtime_error("%s: training images are %ux%u but test images are %ux%u", data_dir, train.images.rows,
                           train.images.cols, test.images.rows, test.images.cols);
    idx_split_free(&train);
    idx_split_free(&test);
    return rc;
}
