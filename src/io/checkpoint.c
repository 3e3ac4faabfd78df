/* Checkpoints: the model's parameters, Adam moments and training state as a
 * safetensors file (see checkpoint.h for the layout). Saving is atomic;
 * loading checks the format, every metadata field and its range, every
 * tensor's name, dtype, shape and values against the declared architecture,
 * and a CRC-32 of the whole file. */
#include "vae/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <zlib.h>

#include "vae/fileio.h"
#include "vae/safetensors.h"

/* Ranges of the settings a checkpoint records: those `vae train` accepts. */
#define LR_MAX 10.0
#define LOSS_WEIGHT_MAX 1e6
#define BATCH_MAX (1 << 16)
#define EPOCHS_MAX 100000
#define LIMIT_MAX (1L << 32)

void train_state_free(TrainState *st) {
    if (!st) return;
    free(st->order);
    st->order = NULL;
    st->n_order = 0;
}

/* zlib's crc32 takes a uInt length; feed it in pieces */
static unsigned long crc_update(unsigned long crc, const uint8_t *p, size_t n) {
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

/* ---- the whole-file CRC ----
 * Version 3 and later: CRC-32 of the whole file (length prefix, header, data)
 * with the 8 hex digits of the crc32 value itself read as '0', so every
 * header value (architecture, loss weights, lr, epoch, RNG state, data path,
 * tensor offsets) is covered, not only the data. Versions 1 and 2: the data
 * section only. */

/* Offset in buf of the crc32 value's 8 hex digits: the only place where the
 * raw header holds the key "crc32" with a string value (a quote inside a
 * JSON string is escaped, and tensor entries have no such field). 0 when it
 * is missing, not 8 characters, or there twice. */
static size_t crc_digits_at(const uint8_t *buf, size_t header_end) {
    static const char key[] = "\"crc32\"";
    size_t found = 0, kl = sizeof key - 1;
    for (size_t i = 8; i + kl <= header_end; i++) {
        if (memcmp(buf + i, key, kl) != 0) continue;
        size_t j = i + kl;
        while (j < header_end && (buf[j] == ' ' || buf[j] == '\t' || buf[j] == '\n' || buf[j] == '\r')) j++;
        if (j >= header_end || buf[j] != ':') continue;
        j++;
        while (j < header_end && (buf[j] == ' ' || buf[j] == '\t' || buf[j] == '\n' || buf[j] == '\r')) j++;
        if (j + 10 > header_end || buf[j] != '"' || buf[j + 9] != '"') continue;
        if (found) return 0;
        found = j + 1;
    }
    return found;
}

/* The file's CRC with the 8 digits at byte `at` of the header (parts[0])
 * read as "00000000"; the file is the parts back to back. */
static unsigned long whole_file_crc(const VaeBytes *parts, int n, size_t at) {
    const uint8_t *h = parts[0].data;
    unsigned long crc = crc_update(crc32(0L, Z_NULL, 0), h, at);
    crc = crc_update(crc, (const uint8_t *)"00000000", 8);
    crc = crc_update(crc, h + at + 8, parts[0].len - at - 8);
    for (int i = 1; i < n; i++) crc = crc_update(crc, parts[i].data, parts[i].len);
    return crc & 0xffffffffUL;
}

/* The stored layer list describes the same model as the one laid out from
 * the metadata: the same layers, latent index and parameter count. Compared
 * as parsed JSON, not as text, so a list written with more or fewer
 * descriptive "config" keys (they are checked from the metadata itself)
 * still matches. */
static int layer_lists_match(const char *stored, const char *want) {
    cJSON *a = cJSON_Parse(stored), *b = cJSON_Parse(want);
    int same = a && b;
    const char *keys[] = {"format", "version", "n_params", "inputs", "gaussian", "layers"};
    for (size_t i = 0; same && i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, keys[i]), *y = cJSON_GetObjectItemCaseSensitive(b, keys[i]);
        same = x && y && cJSON_Compare(x, y, 1);
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return same;
}

/* ---- saving ---- */

static int meta_add(cJSON *meta, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int meta_add(cJSON *meta, const char *key, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return cJSON_AddStringToObject(meta, key, buf) ? 0 : -1;
}

static int build_metadata(cJSON *meta, const Vae *m, const TrainState *st) {
    const VaeConfig *c = &m->cfg;
    char hidden[128], channels[128];
    vae_hidden_str(c, hidden, sizeof hidden);
    vae_channels_str(c, channels, sizeof channels);
    int bad = 0;
    bad |= meta_add(meta, "format", "%s", CHECKPOINT_FORMAT);
    bad |= meta_add(meta, "format_version", "%d", CHECKPOINT_VERSION);
    bad |= meta_add(meta, "arch", "%s", vae_arch_name(c->arch));
    bad |= meta_add(meta, "activation", "%s", c->hidden_act == VAE_ACT_TANH ? "tanh" : "relu");
    bad |= meta_add(meta, "rows", "%d", c->rows);
    bad |= meta_add(meta, "cols", "%d", c->cols);
    bad |= meta_add(meta, "zdim", "%d", c->zdim);
    bad |= meta_add(meta, "hidden", "%s", hidden);
    bad |= meta_add(meta, "channels", "%s", channels);
    /* the whole layer list, so a reader can rebuild the model from the file alone */
    char *layers = vae_layout_json(c, &m->lay);
    bad |= !layers || !cJSON_AddStringToObject(meta, "layers", layers);
    free(layers);
    bad |= meta_add(meta, "loss", "%s", c->loss == VAE_LOSS_MSE ? "mse" : "bce");
    bad |= meta_add(meta, "alpha", "%.9g", (double)c->alpha);
    bad |= meta_add(meta, "beta", "%.9g", (double)c->beta);
    /* conditional / entropic models; absent means an unconditional vae */
    bad |= meta_add(meta, "model", "%s", vae_model_name(c->model));
    bad |= meta_add(meta, "n_classes", "%d", c->n_classes);
    if (c->model == VAE_MODEL_EAE) {
        bad |= meta_add(meta, "lambda", "%.9g", (double)c->lambda);
        bad |= meta_add(meta, "knn", "%d", c->knn);
        bad |= meta_add(meta, "bn_momentum", "%.9g", (double)c->bn_momentum);
    }
    bad |= meta_add(meta, "adam_t", "%ld", m->adam_t);
    if (st) {
        bad |= meta_add(meta, "epoch", "%d", st->epoch);
        bad |= meta_add(meta, "step", "%ld", st->step);
        bad |= meta_add(meta, "epoch_step", "%ld", st->epoch_step);
        bad |= meta_add(meta, "rng", "%016llx%016llx%016llx%016llx", (unsigned long long)st->rng.s[0],
                        (unsigned long long)st->rng.s[1], (unsigned long long)st->rng.s[2],
                        (unsigned long long)st->rng.s[3]);
        bad |= meta_add(meta, "sum_loss", "%.17g", st->sum_loss);
        bad |= meta_add(meta, "sum_recon", "%.17g", st->sum_recon);
        bad |= meta_add(meta, "sum_kl", "%.17g", st->sum_kl);
        bad |= meta_add(meta, "sum_images", "%ld", st->sum_images);
        bad |= meta_add(meta, "lr", "%.9g", (double)st->lr);
        bad |= meta_add(meta, "batch", "%d", st->batch);
        bad |= meta_add(meta, "seed", "%llu", (unsigned long long)st->seed);
        bad |= meta_add(meta, "limit", "%ld", st->limit);
        bad |= meta_add(meta, "epochs", "%d", st->epochs);
        /* not through meta_add's buffer: a path of any length is stored whole */
        bad |= cJSON_AddStringToObject(meta, "dataset", st->dataset) ? 0 : -1;
        /* validation split and early stopping (optional keys: older files lack them) */
        bad |= meta_add(meta, "val", "%ld", st->val);
        bad |= meta_add(meta, "early_stop", "%d", st->early_stop);
        bad |= meta_add(meta, "best_val_loss", "%.17g", st->best_val_loss);
        bad |= meta_add(meta, "best_epoch", "%d", st->best_epoch);
        bad |= meta_add(meta, "bad_epochs", "%d", st->bad_epochs);
        bad |= meta_add(meta, "binarize", "%s", binarize_name(st->binarize));
        bad |= meta_add(meta, "warmup", "%d", st->warmup);
        bad |= meta_add(meta, "free_bits", "%.9g", (double)st->free_bits);
        bad |= meta_add(meta, "lr_decay", "%d", st->lr_decay);
        /* 0 = not set: Adam's defaults, as TrainConfig reads them */
        bad |= meta_add(meta, "adam_beta1", "%.9g", st->adam_beta1 > 0 ? (double)st->adam_beta1 : 0.9f);
        bad |= meta_add(meta, "adam_beta2", "%.9g", st->adam_beta2 > 0 ? (double)st->adam_beta2 : 0.999f);
        bad |= meta_add(meta, "adam_eps", "%.9g", st->adam_eps > 0 ? (double)st->adam_eps : 1e-8f);
        bad |= meta_add(meta, "precision", "%s", vae_precision_name(st->precision));
    }
    /* a placeholder: checkpoint_save fills in the CRC of the finished file */
    bad |= meta_add(meta, "crc32", "00000000");
    return bad ? -1 : 0;
}

int checkpoint_check_size(const VaeConfig *cfg, uint32_t n_order, const char *dataset, VaeError *err) {
    VaeLayout *lay = malloc(sizeof *lay);
    if (!lay) return vae_fail(err, "out of memory");
    if (vae_layout(cfg, lay, err) != VAE_OK) {
        free(lay);
        return VAE_ERR;
    }
    /* an upper bound on the header: each tensor entry (name, dtype, shape,
       offsets) takes well under 200 bytes, the layer list is stored escaped
       (at most 6 bytes a character), the other metadata under 4 KB */
    char *layers = vae_layout_json(cfg, lay);
    uint64_t header = (3 * (uint64_t)lay->n_tensors + 1) * 200 + 4096 + 6 * (uint64_t)(layers ? strlen(layers) : 0) +
                      6 * (uint64_t)(dataset ? strlen(dataset) : 0);
    free(layers);
    uint64_t np = lay->n_params;
    free(lay);
    uint64_t bytes = np * 12 + (uint64_t)n_order * 4 + header;
    if (bytes > (uint64_t)CHECKPOINT_MAX_BYTES) {
        /* the channels too: a conv or resnet model's size is mostly theirs */
        char hidden[128], channels[128];
        vae_hidden_str(cfg, hidden, sizeof hidden);
        vae_channels_str(cfg, channels, sizeof channels);
        return vae_fail(err, "a %s model of %dx%d images, hidden %s%s%s, zdim %d has %llu parameters; its checkpoint "
                        "(parameters and both Adam moments) would be %.2f GB, more than the %zu-byte limit "
                        "a checkpoint may have to be loaded again", vae_arch_name(cfg->arch), cfg->rows, cfg->cols,
                        hidden, channels[0] ? ", channels " : "", channels, cfg->zdim, (unsigned long long)np,
                        (double)bytes / 1e9, CHECKPOINT_MAX_BYTES);
    }
    return VAE_OK;
}

int checkpoint_save(const char *path, const Vae *m, const TrainState *st, VaeError *err) {
    if (!m->params) return vae_fail(err, "%s: model is not initialised", path);
    int with_order = st && st->epoch_step > 0;
    if (with_order && (!st->order || st->n_order == 0))
        return vae_fail(err, "%s: a checkpoint inside an epoch (step %ld of the epoch) needs the epoch's data order",
                        path, st->epoch_step);
    if (st && memchr(st->dataset, '\0', sizeof st->dataset) == NULL)
        return vae_fail(err, "%s: dataset path is not terminated", path);
    if (st && !(st->lr > 0))
        return vae_fail(err, "%s: learning rate %g is not positive", path, (double)st->lr);

    /* names for the moments: "adam.m.<name>", "adam.v.<name>" */
    int nt = m->lay.n_tensors, n = 3 * nt + (with_order ? 1 : 0);
    StTensorOut outs[3 * VAE_MAX_TENSORS + 1];
    char names[2 * VAE_MAX_TENSORS][48];
    const float *blocks[3] = {m->params, m->adam_m, m->adam_v};
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < nt; i++) {
            const VaeTensor *vt = &m->lay.tensors[i];
            StTensorOut *o = &outs[b * nt + i];
            memset(o, 0, sizeof *o);
            if (b == 0) {
                o->name = vt->name;
            } else {
                char *nm = names[(b - 1) * nt + i];
                snprintf(nm, sizeof names[0], "adam.%c.%s", b == 1 ? 'm' : 'v', vt->name);
                o->name = nm;
            }
            o->dtype = ST_F32;
            o->ndim = vt->ndim;
            for (int d = 0; d < vt->ndim; d++) o->shape[d] = (uint64_t)vt->shape[d];
            o->data = blocks[b] + vt->offset;
        }
    if (with_order) {
        StTensorOut *o = &outs[3 * nt];
        memset(o, 0, sizeof *o);
        o->name = "train.order";
        o->dtype = ST_I32;
        o->ndim = 1;
        o->shape[0] = st->n_order;
        o->data = st->order;
    }

    cJSON *meta = cJSON_CreateObject();
    if (!meta || build_metadata(meta, m, st) != 0) {
        cJSON_Delete(meta);
        return vae_fail(err, "%s: out of memory building the header", path);
    }
    /* written from the model's own blocks: no copy of the whole file (the
       trainer's peak memory would be the checkpoint's size higher) */
    VaeBytes parts[3 * VAE_MAX_TENSORS + 2];
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = st_write_parts(parts, &buf, &len, outs, n, meta, err);
    cJSON_Delete(meta);
    if (rc != VAE_OK) {
        char inner[sizeof err->msg];
        snprintf(inner, sizeof inner, "%s", err ? err->msg : "");
        return vae_fail(err, "%s: %s", path, inner);
    }
    /* never write what the loader would refuse for its size */
    if (len > CHECKPOINT_MAX_BYTES) {
        free(buf);
        return vae_fail(err, "%s: the checkpoint would be %zu bytes, more than the %zu-byte limit of the loader; "
                        "nothing written", path, len, CHECKPOINT_MAX_BYTES);
    }
    size_t at = crc_digits_at(buf, parts[0].len);
    if (!at) {
        free(buf);
        return vae_fail(err, "%s: internal error: no crc32 placeholder in the header", path);
    }
    char digits[9];
    snprintf(digits, sizeof digits, "%08lx", whole_file_crc(parts, n + 1, at));
    memcpy(buf + at, digits, 8);
    rc = vae_write_file_parts(path, parts, n + 1, err);
    free(buf);
    return rc;
}

/* ---- loading: strict parsing of metadata strings ---- */

typedef struct {
    const StFile *f;
    const char *name;
    VaeError *err;
} Meta;

static const char *meta_need(Meta *mt, const char *key) {
    const char *v = st_meta_get(mt->f, key);
    if (!v) vae_fail(mt->err, "%s: __metadata__ has no '%s'", mt->name, key);
    return v;
}

static int bad_value(Meta *mt, const char *key, const char *v, const char *want) {
    return vae_fail(mt->err, "%s: __metadata__ '%s' is \"%.64s\", expected %s", mt->name, key, v, want);
}

/* decimal integer in [lo, hi]: optional '-', digits only, nothing after */
static int meta_long(Meta *mt, const char *key, long lo, long hi, long *out) {
    const char *v = meta_need(mt, key);
    if (!v) return VAE_ERR;
    char want[96];
    snprintf(want, sizeof want, "an integer in [%ld, %ld]", lo, hi);
    if (!(v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))) return bad_value(mt, key, v, want);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return bad_value(mt, key, v, want);
    *out = x;
    return VAE_OK;
}

static int meta_int(Meta *mt, const char *key, int lo, int hi, int *out) {
    long x;
    if (meta_long(mt, key, lo, hi, &x) != VAE_OK) return VAE_ERR;
    *out = (int)x;
    return VAE_OK;
}

static int meta_u64(Meta *mt, const char *key, uint64_t *out) {
    const char *v = meta_need(mt, key);
    if (!v) return VAE_ERR;
    if (!(v[0] >= '0' && v[0] <= '9')) return bad_value(mt, key, v, "an unsigned integer");
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end) return bad_value(mt, key, v, "an unsigned 64-bit integer");
    *out = (uint64_t)x;
    return VAE_OK;
}

/* finite decimal number; no leading space, nothing after */
static int meta_double(Meta *mt, const char *key, double *out) {
    const char *v = meta_need(mt, key);
    if (!v) return VAE_ERR;
    if (!(v[0] == '-' || v[0] == '+' || v[0] == '.' || (v[0] >= '0' && v[0] <= '9')))
        return bad_value(mt, key, v, "a finite number");
    /* underflow (ERANGE with a tiny result) is fine: a saved subnormal must
     * load again; overflow gives inf and is refused */
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x)) return bad_value(mt, key, v, "a finite number");
    *out = x;
    return VAE_OK;
}

/* floats are parsed with strtof so "%.9g" round-trips exactly */
static int meta_float(Meta *mt, const char *key, float *out) {
    double d;
    if (meta_double(mt, key, &d) != VAE_OK) return VAE_ERR;
    const char *v = st_meta_get(mt->f, key);
    float x = strtof(v, NULL);
    if (!isfinite(x)) return bad_value(mt, key, v, "a finite single-precision number");
    *out = x;
    return VAE_OK;
}

/* a float in [lo, hi], or (lo, hi] with lo_open */
static int meta_float_in(Meta *mt, const char *key, double lo, double hi, int lo_open, float *out) {
    if (meta_float(mt, key, out) != VAE_OK) return VAE_ERR;
    if ((lo_open ? !(*out > lo) : !(*out >= lo)) || !(*out <= hi)) {
        char want[96];
        snprintf(want, sizeof want, "a number in %c%g, %g]", lo_open ? '(' : '[', lo, hi);
        return bad_value(mt, key, st_meta_get(mt->f, key), want);
    }
    return VAE_OK;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* exactly ndigits hex digits -> words of 16 digits each */
static int meta_hex(Meta *mt, const char *key, size_t ndigits, uint64_t *words) {
    const char *v = meta_need(mt, key);
    if (!v) return VAE_ERR;
    char want[48];
    snprintf(want, sizeof want, "%zu hex digits", ndigits);
    if (strlen(v) != ndigits) return bad_value(mt, key, v, want);
    for (size_t w = 0; w * 16 < ndigits; w++) {
        uint64_t x = 0;
        for (size_t i = w * 16; i < ndigits && i < w * 16 + 16; i++) {
            int h = hexval(v[i]);
            if (h < 0) return bad_value(mt, key, v, want);
            x = (x << 4) | (uint64_t)h;
        }
        words[w] = x;
    }
    return VAE_OK;
}

/* "512,256,128" -> out[0..*n), 1..max entries ("" allowed when allow_empty) */
static int meta_list(Meta *mt, const char *key, int max, int allow_empty, int *out, int *n) {
    const char *v = meta_need(mt, key);
    if (!v) return VAE_ERR;
    char want[96];
    snprintf(want, sizeof want, "1 to %d comma-separated positive integers", max);
    *n = 0;
    if (allow_empty && *v == '\0') return VAE_OK;
    const char *p = v;
    int k = 0;
    for (;;) {
        if (k == max || !(*p >= '0' && *p <= '9')) return bad_value(mt, key, v, want);
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || x < 1 || x > (1L << 24)) return bad_value(mt, key, v, want);
        out[k++] = (int)x;
        if (*end == '\0') break;
        if (*end != ',') return bad_value(mt, key, v, want);
        p = end + 1;
    }
    *n = k;
    return VAE_OK;
}

static int parse_config(Meta *mt, long version, VaeConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    const char *loss;
    if (meta_int(mt, "rows", 1, 65536, &cfg->rows) || meta_int(mt, "cols", 1, 65536, &cfg->cols) ||
        meta_int(mt, "zdim", 1, 1 << 24, &cfg->zdim) ||
        meta_list(mt, "hidden", VAE_MAX_HIDDEN, 0, cfg->hidden, &cfg->n_hidden) || !(loss = meta_need(mt, "loss")))
        return VAE_ERR;
    cfg->arch = VAE_ARCH_MLP;   /* version 1 knew only the MLP */
    if (version >= 2) {
        const char *arch = meta_need(mt, "arch");
        if (!arch) return VAE_ERR;
        int a = vae_arch_parse(arch);
        if (a < 0) return bad_value(mt, "arch", arch, "\"mlp\", \"conv\" or \"resnet\"");
        cfg->arch = (VaeArch)a;
        if (meta_list(mt, "channels", VAE_MAX_CHANNELS, cfg->arch == VAE_ARCH_MLP, cfg->channels, &cfg->n_channels))
            return VAE_ERR;
        if (cfg->arch == VAE_ARCH_MLP && cfg->n_channels != 0)
            return bad_value(mt, "channels", st_meta_get(mt->f, "channels"), "\"\" for an mlp");
    }
    if (strcmp(loss, "bce") == 0) cfg->loss = VAE_LOSS_BCE;
    else if (strcmp(loss, "mse") == 0) cfg->loss = VAE_LOSS_MSE;
    else return bad_value(mt, "loss", loss, "\"bce\" or \"mse\"");
    if (meta_float_in(mt, "alpha", 0, LOSS_WEIGHT_MAX, 0, &cfg->alpha) ||
        meta_float_in(mt, "beta", 0, LOSS_WEIGHT_MAX, 0, &cfg->beta))
        return VAE_ERR;
    /* written since conditional and entropic models exist; older files are plain vaes */
    const char *model = st_meta_get(mt->f, "model");
    if (model) {
        int k = vae_model_parse(model);
        if (k < 0) return bad_value(mt, "model", model, "\"vae\" or \"eae\"");
        cfg->model = (VaeModelKind)k;
    }
    if (st_meta_get(mt->f, "n_classes") && meta_int(mt, "n_classes", 0, VAE_MAX_CLASSES, &cfg->n_classes))
        return VAE_ERR;
    if (cfg->model == VAE_MODEL_EAE &&
        (meta_float_in(mt, "lambda", 0, LOSS_WEIGHT_MAX, 0, &cfg->lambda) || meta_int(mt, "knn", 1, 4096, &cfg->knn) ||
         meta_float_in(mt, "bn_momentum", 0, 1, 1, &cfg->bn_momentum)))
        return VAE_ERR;
    /* hidden activation: absent in checkpoints older than --activation (ReLU) */
    const char *act = st_meta_get(mt->f, "activation");
    cfg->hidden_act = VAE_ACT_RELU;
    if (act && strcmp(act, "tanh") == 0) cfg->hidden_act = VAE_ACT_TANH;
    else if (act && strcmp(act, "relu") != 0) return bad_value(mt, "activation", act, "\"relu\" or \"tanh\"");
    return VAE_OK;
}

/* Data and schedule settings: optional (older checkpoints lack them), and
 * checked like every other field when present. */
static int parse_schedule(Meta *mt, TrainState *st) {
    st->binarize = BINARIZE_NONE;
    st->adam_beta1 = 0.9f;
    st->adam_beta2 = 0.999f;
    st->adam_eps = 1e-8f;
    const char *bz = st_meta_get(mt->f, "binarize");
    if (bz && binarize_parse(bz, &st->binarize) != 0)
        return bad_value(mt, "binarize", bz, "\"none\", \"dynamic\" or \"static\"");
    st->precision = VAE_PREC_FP32;
    const char *pr = st_meta_get(mt->f, "precision");
    if (pr) {
        int p = vae_precision_parse(pr);
        if (p < 0) return bad_value(mt, "precision", pr, "\"fp32\" or \"bf16\"");
        st->precision = (VaePrecision)p;
    }
    if (st_meta_get(mt->f, "warmup") && meta_int(mt, "warmup", 0, 1 << 30, &st->warmup)) return VAE_ERR;
    if (st_meta_get(mt->f, "lr_decay") && meta_int(mt, "lr_decay", 0, 1, &st->lr_decay)) return VAE_ERR;
    struct {
        const char *key;
        float *dest;
        double lo, hi;
        int lo_open, hi_open;
    } fl[] = {
        {"free_bits", &st->free_bits, 0, 1e6, 0, 0},
        {"adam_beta1", &st->adam_beta1, 0, 1, 0, 1},
        {"adam_beta2", &st->adam_beta2, 0, 1, 0, 1},
        {"adam_eps", &st->adam_eps, 0, 1, 1, 0},
    };
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        if (!st_meta_get(mt->f, fl[i].key)) continue;
        float v = 0.0f;
        if (meta_float(mt, fl[i].key, &v)) return VAE_ERR;
        if (v < fl[i].lo || v > fl[i].hi || (fl[i].lo_open && v <= fl[i].lo) || (fl[i].hi_open && v >= fl[i].hi)) {
            char want[96];
            snprintf(want, sizeof want, "a number in %c%g, %g%c", fl[i].lo_open ? '(' : '[', fl[i].lo, fl[i].hi,
                     fl[i].hi_open ? ')' : ']');
            return bad_value(mt, fl[i].key, st_meta_get(mt->f, fl[i].key), want);
        }
        *fl[i].dest = v;
    }
    return VAE_OK;
}

/* Every value in the ranges `vae train` can produce, and consistent with the
 * others: a state that no run could have written is refused, so a resumed run
 * never starts from one (a negative lr would be gradient ascent). */
static int parse_state(Meta *mt, TrainState *st) {
    memset(st, 0, sizeof *st);
    long v;
    if (meta_int(mt, "epoch", 0, EPOCHS_MAX, &st->epoch) || meta_long(mt, "step", 0, 1L << 62, &st->step) ||
        meta_long(mt, "epoch_step", 0, 1L << 62, &st->epoch_step) || meta_hex(mt, "rng", 64, st->rng.s) ||
        meta_double(mt, "sum_loss", &st->sum_loss) || meta_double(mt, "sum_recon", &st->sum_recon) ||
        meta_double(mt, "sum_kl", &st->sum_kl) || meta_long(mt, "sum_images", 0, 1L << 62, &st->sum_images) ||
        meta_float_in(mt, "lr", 0, LR_MAX, 1, &st->lr) || meta_int(mt, "batch", 1, BATCH_MAX, &st->batch) ||
        meta_u64(mt, "seed", &st->seed) || meta_long(mt, "limit", 0, LIMIT_MAX, &v) ||
        meta_int(mt, "epochs", 1, EPOCHS_MAX, &st->epochs))
        return VAE_ERR;
    st->limit = v;
    const char *name = mt->name;
    if (!(st->rng.s[0] | st->rng.s[1] | st->rng.s[2] | st->rng.s[3]))
        return vae_fail(mt->err, "%s: __metadata__ 'rng' is all zero, which is not a valid generator state", name);
    if (st->epoch > st->epochs)
        return vae_fail(mt->err, "%s: __metadata__ 'epoch' (%d) is past 'epochs' (%d), the total the run asked for",
                        name, st->epoch, st->epochs);
    if (st->epoch_step > st->step)
        return vae_fail(mt->err, "%s: __metadata__ 'epoch_step' (%ld) is more than 'step' (%ld), the steps taken in all",
                        name, st->epoch_step, st->step);
    if (st->epoch_step == 0 && (st->sum_images != 0 || st->sum_loss != 0 || st->sum_recon != 0 || st->sum_kl != 0))
        return vae_fail(mt->err, "%s: __metadata__ holds partial sums of an epoch ('sum_images' %ld) but 'epoch_step' "
                        "is 0", name, st->sum_images);
    const char *ds = meta_need(mt, "dataset");
    if (!ds) return VAE_ERR;
    if (strlen(ds) >= sizeof st->dataset)
        return vae_fail(mt->err, "%s: __metadata__ 'dataset' is longer than %zu bytes (the longest path this system "
                        "allows)", name, sizeof st->dataset - 1);
    snprintf(st->dataset, sizeof st->dataset, "%s", ds);
    /* written since --val / --early-stop; a checkpoint without them had neither */
    if (st_meta_get(mt->f, "val")) {
        if (meta_long(mt, "val", 0, 1L << 32, &st->val) || meta_int(mt, "early_stop", 0, 1 << 30, &st->early_stop) ||
            meta_double(mt, "best_val_loss", &st->best_val_loss) ||
            meta_int(mt, "best_epoch", 0, 1 << 30, &st->best_epoch) ||
            meta_int(mt, "bad_epochs", 0, 1 << 30, &st->bad_epochs))
            return VAE_ERR;
    }
    return parse_schedule(mt, st);
}

/* Inside an epoch: the steps done and the images summed must fit the data
 * order (the last step may be short). */
static int check_epoch_progress(const TrainState *st, const char *name, VaeError *err) {
    uint64_t n = st->n_order, steps = (n + (uint64_t)st->batch - 1) / (uint64_t)st->batch;
    if ((uint64_t)st->epoch_step > steps)
        return vae_fail(err, "%s: __metadata__ 'epoch_step' (%ld) is past the %llu steps an epoch of %u images in "
                        "batches of %d has", name, st->epoch_step, (unsigned long long)steps, st->n_order, st->batch);
    uint64_t images = (uint64_t)st->epoch_step * (uint64_t)st->batch;
    if (images > n) images = n;
    if ((uint64_t)st->sum_images != images)
        return vae_fail(err, "%s: __metadata__ 'sum_images' (%ld) disagrees with %ld steps of batch %d (%llu images)",
                        name, st->sum_images, st->epoch_step, st->batch, (unsigned long long)images);
    return VAE_OK;
}

/* Parameters and first moments finite, second moments finite and >= 0: a
 * model that would decode black images or print nan is refused, by name. */
static int check_values(const Vae *m, const char *name, VaeError *err) {
    const float *blocks[3] = {m->params, m->adam_m, m->adam_v};
    /* the entropic autoencoder's running variance is a variance too: the
       normalisation takes its square root, and a negative one turns every
       code, sample and loss into nan */
    int var_tensor = -1;
    for (int l = 0; l < m->lay.n_layers; l++)
        if (m->lay.layers[l].kind == LAYER_LATENT_BN) var_tensor = m->lay.layers[l].param[1];
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < m->lay.n_tensors; i++) {
            const VaeTensor *vt = &m->lay.tensors[i];
            const float *x = blocks[b] + vt->offset;
            const int nonneg = b == 2 || (b == 0 && i == var_tensor);
            for (size_t j = 0; j < vt->size; j++) {
                if (isfinite(x[j]) && (!nonneg || x[j] >= 0)) continue;
                char tn[48];
                if (b == 0) snprintf(tn, sizeof tn, "%s", vt->name);
                else snprintf(tn, sizeof tn, "adam.%c.%s", b == 1 ? 'm' : 'v', vt->name);
                return vae_fail(err, "%s: tensor '%s' holds %g at element %zu; %s", name, tn, (double)x[j], j,
                                b == 2 ? "second moments must be finite and >= 0"
                                : nonneg ? "a running variance must be finite and >= 0"
                                         : "every value must be finite");
            }
        }
    return VAE_OK;
}

/* train.order must be a permutation of 0..n-1 */
static int check_order(const StTensor *t, uint32_t *out, const char *name, VaeError *err) {
    uint32_t n = (uint32_t)t->shape[0];
    uint8_t *seen = calloc((size_t)n / 8 + 1, 1);
    if (!seen) return vae_fail(err, "%s: out of memory for a data order of %u entries", name, n);
    memcpy(out, t->data, (size_t)n * sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++) {
        uint32_t x = out[i];
        if (x >= n || (seen[x / 8] >> (x % 8)) & 1) {
            free(seen);
            return vae_fail(err, "%s: tensor 'train.order' is not a permutation of 0..%u (entry %u is %u)", name,
                            n - 1, i, x);
        }
        seen[x / 8] |= (uint8_t)(1u << (x % 8));
    }
    free(seen);
    return VAE_OK;
}

static int check_tensor(const StTensor *t, const char *tname, StDtype dtype, int ndim, const uint64_t *shape,
                        const char *name, VaeError *err) {
    if (t->dtype != dtype)
        return vae_fail(err, "%s: tensor '%s' has dtype %s, expected %s", name, tname, st_dtype_name(t->dtype),
                        st_dtype_name(dtype));
    int same = t->ndim == ndim;
    for (int d = 0; d < ndim && same; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char got[ST_MAX_DIMS * 24 + 8] = "[", want[ST_MAX_DIMS * 24 + 8] = "[";
        for (int d = 0; d < t->ndim; d++) {
            size_t u = strlen(got);
            snprintf(got + u, sizeof got - u, d ? ", %llu" : "%llu", (unsigned long long)t->shape[d]);
        }
        strcat(got, "]");
        for (int d = 0; d < ndim; d++) {
            size_t u = strlen(want);
            snprintf(want + u, sizeof want - u, d ? ", %llu" : "%llu", (unsigned long long)shape[d]);
        }
        strcat(want, "]");
        return vae_fail(err, "%s: tensor '%s' has shape %s, but the declared architecture needs %s", name, tname, got, want);
    }
    return VAE_OK;
}

/* Everything after st_parse: metadata, architecture, tensors, CRC. Fills m
 * (and state, order) or fails; the caller frees on failure. */
static int load_from(const StFile *f, const char *name, Vae *m, TrainState *state, int *has_state, VaeError *err) {
    Meta mt = {f, name, err};
    const char *fmt = st_meta_get(f, "format");
    int v1 = fmt && strcmp(fmt, CHECKPOINT_FORMAT_V1) == 0;
    if (!fmt || (!v1 && strcmp(fmt, CHECKPOINT_FORMAT) != 0))
        return vae_fail(err, "%s: not a vae checkpoint (__metadata__ 'format' is %s%s%s, expected \"%s\")", name,
                        fmt ? "\"" : "", fmt ? fmt : "missing", fmt ? "\"" : "", CHECKPOINT_FORMAT);
    long version;
    if (meta_long(&mt, "format_version", 1, 1L << 30, &version) != VAE_OK) return VAE_ERR;
    /* versions 1 and 2 differ from 3 in what the CRC covers (the data only) */
    if (version > CHECKPOINT_VERSION)
        return vae_fail(err, "%s: format version %ld is newer than this vae supports (%d); upgrade vae", name, version,
                        CHECKPOINT_VERSION);
    /* "vae-mlp" is version 1 and only version 1; "vae" starts at 2 */
    if (v1 != (version == 1))
        return vae_fail(err, "%s: format \"%s\" with format_version %ld is not a combination vae writes", name, fmt,
                        version);

    VaeConfig cfg;
    if (parse_config(&mt, version, &cfg) != VAE_OK) return VAE_ERR;
    long adam_t;
    if (meta_long(&mt, "adam_t", 0, 1L << 62, &adam_t) != VAE_OK) return VAE_ERR;
    uint64_t crc_word;
    if (meta_hex(&mt, "crc32", 8, &crc_word) != VAE_OK) return VAE_ERR;

    /* training state: all of it or none of it */
    *has_state = st_meta_get(f, "epoch") != NULL;
    if (*has_state) {
        if (parse_state(&mt, state) != VAE_OK) return VAE_ERR;
        if (state->step != adam_t)
            return vae_fail(err, "%s: __metadata__ 'step' (%ld) disagrees with 'adam_t' (%ld)", name, state->step, adam_t);
    }
    int want_order = *has_state && state->epoch_step > 0;

    /* The layout alone (no allocation) gives the tensor names and the
     * parameter count: a missing or extra tensor is named, and a huge
     * declared model refused, before vae_init allocates anything. */
    VaeError ierr;
    VaeLayout *lay = malloc(sizeof *lay);
    if (!lay) return vae_fail(err, "%s: out of memory", name);
    if (vae_layout(&cfg, lay, &ierr) != VAE_OK) {
        free(lay);
        return vae_fail(err, "%s: the declared architecture is invalid: %s", name, ierr.msg);
    }
    const char *missing = NULL, *extra = NULL;
    char tn[48];
    for (int b = 0; b < 3 && !missing; b++)
        for (int i = 0; i < lay->n_tensors && !missing; i++) {
            if (b == 0) snprintf(tn, sizeof tn, "%s", lay->tensors[i].name);
            else snprintf(tn, sizeof tn, "adam.%c.%s", b == 1 ? 'm' : 'v', lay->tensors[i].name);
            if (!st_find(f, tn)) missing = tn;
        }
    for (int i = 0; i < f->n && !missing && !extra; i++) {
        const char *nm = f->tensors[i].name;
        const char *param = strncmp(nm, "adam.m.", 7) == 0 || strncmp(nm, "adam.v.", 7) == 0 ? nm + 7 : nm;
        int known = strcmp(nm, "train.order") == 0 ? want_order : 0;
        for (int k = 0; k < lay->n_tensors && !known; k++) known = strcmp(lay->tensors[k].name, param) == 0;
        if (!known) extra = nm;
    }
    uint64_t np = lay->n_params;
    free(lay);
    if (missing) return vae_fail(err, "%s: tensor '%s' is missing", name, missing);
    if (extra) return vae_fail(err, "%s: unexpected tensor '%s'", name, extra);
    const StTensor *ot = st_find(f, "train.order");
    if (want_order && !ot)
        return vae_fail(err, "%s: tensor 'train.order' is missing (the checkpoint is inside an epoch)", name);
    if (np > f->data_len / 12)
        return vae_fail(err, "%s: the declared architecture (%s, %dx%d, hidden %s, zdim %d) needs %llu parameters, "
                        "more than the %zu-byte data section holds", name, vae_arch_name(cfg.arch), cfg.rows, cfg.cols,
                        st_meta_get(f, "hidden"), cfg.zdim, (unsigned long long)np, f->data_len);
    if (vae_init(m, &cfg, &ierr) != VAE_OK) return vae_fail(err, "%s: %s", name, ierr.msg);
    m->adam_t = adam_t;

    /* every expected tensor, with exact dtype and shape */
    float *blocks[3] = {m->params, m->adam_m, m->adam_v};
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < m->lay.n_tensors; i++) {
            const VaeTensor *vt = &m->lay.tensors[i];
            if (b == 0) snprintf(tn, sizeof tn, "%s", vt->name);
            else snprintf(tn, sizeof tn, "adam.%c.%s", b == 1 ? 'm' : 'v', vt->name);
            uint64_t shape[VAE_MAX_NDIM];
            for (int d = 0; d < VAE_MAX_NDIM; d++) shape[d] = (uint64_t)vt->shape[d];
            if (check_tensor(st_find(f, tn), tn, ST_F32, vt->ndim, shape, name, err) != VAE_OK) return VAE_ERR;
        }
    if (want_order) {
        uint64_t shape[1] = {ot->ndim == 1 ? ot->shape[0] : 0};
        if (check_tensor(ot, "train.order", ST_I32, 1, shape, name, err) != VAE_OK) return VAE_ERR;
        if (shape[0] < 1 || shape[0] > UINT32_MAX)
            return vae_fail(err, "%s: tensor 'train.order' has %llu entries", name, (unsigned long long)shape[0]);
    }

    if (version >= 2) {
        /* the stored layer list must be the one this configuration lays out
         * (checked after the tensors, whose messages are more specific) */
        const char *stored = meta_need(&mt, "layers");
        if (!stored) return VAE_ERR;
        char *want = vae_layout_json(&m->cfg, &m->lay);
        if (!want) return vae_fail(err, "%s: out of memory", name);
        int same = layer_lists_match(stored, want);
        free(want);
        if (!same)
            return vae_fail(err, "%s: __metadata__ 'layers' does not match the declared architecture (%s, %dx%d, "
                            "hidden %s, channels %s, zdim %d)", name, vae_arch_name(cfg.arch), cfg.rows, cfg.cols,
                            st_meta_get(f, "hidden"), st_meta_get(f, "channels"), cfg.zdim);
    }

    unsigned long crc;
    if (version >= 3) {
        size_t at = crc_digits_at(f->buf, (size_t)(f->data - f->buf));
        if (!at)
            return vae_fail(err, "%s: the header's crc32 value is not a plain 8-character string in one place", name);
        VaeBytes whole = {f->buf, f->len};
        crc = whole_file_crc(&whole, 1, at);
    } else {
        crc = crc_update(crc32(0L, Z_NULL, 0), f->data, f->data_len) & 0xffffffffUL;
    }
    if (crc != (unsigned long)crc_word)
        return vae_fail(err, "%s: CRC-32 is %08lx but the header says %08lx: the file is damaged or was edited "
                        "(the CRC covers the %s)", name, crc, (unsigned long)crc_word,
                        version >= 3 ? "whole file, header values included" : "data section");

    for (int b = 0; b < 3; b++)
        for (int i = 0; i < m->lay.n_tensors; i++) {
            const VaeTensor *vt = &m->lay.tensors[i];
            if (b == 0) snprintf(tn, sizeof tn, "%s", vt->name);
            else snprintf(tn, sizeof tn, "adam.%c.%s", b == 1 ? 'm' : 'v', vt->name);
            const StTensor *t = st_find(f, tn);
            memcpy(blocks[b] + vt->offset, t->data, vt->size * sizeof(float));
        }
    if (check_values(m, name, err) != VAE_OK) return VAE_ERR;
    if (want_order) {
        uint32_t n = (uint32_t)ot->shape[0];
        state->order = malloc((size_t)n * sizeof(uint32_t));
        if (!state->order) return vae_fail(err, "%s: out of memory for a data order of %u entries", name, n);
        state->n_order = n;
        if (check_order(ot, state->order, name, err) != VAE_OK) return VAE_ERR;
        if (check_epoch_progress(state, name, err) != VAE_OK) return VAE_ERR;
    }
    return VAE_OK;
}

int checkpoint_parse(const uint8_t *buf, size_t len, const char *name, Vae *m, TrainState *st, VaeError *err) {
    memset(m, 0, sizeof *m);
    if (st) memset(st, 0, sizeof *st);
    StFile f;
    if (st_parse(&f, buf, len, name, err) != VAE_OK) return VAE_ERR;
    TrainState state;
    memset(&state, 0, sizeof state);
    int has_state = 0;
    int rc = load_from(&f, name, m, &state, &has_state, err);
    st_free(&f);
    if (rc == VAE_OK && st && !has_state)
        rc = vae_fail(err, "%s: has no training state; it cannot be resumed", name);
    if (rc != VAE_OK) {
        vae_free(m);
        train_state_free(&state);
        return VAE_ERR;
    }
    if (st) *st = state;
    else train_state_free(&state);
    return VAE_OK;
}

int checkpoint_load(const char *path, Vae *m, TrainState *st, VaeError *err) {
    memset(m, 0, sizeof *m);
    if (st) memset(st, 0, sizeof *st);
    uint8_t *buf;
    size_t len;
    if (vae_read_file(path, &buf, &len, CHECKPOINT_MAX_BYTES, err) != VAE_OK) return VAE_ERR;
    int rc = checkpoint_parse(buf, len, path, m, st, err);
    free(buf);
    return rc;
}
