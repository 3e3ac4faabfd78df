/* Damaged or foreign checkpoints are refused with a message naming the file
 * and the problem, and leave nothing allocated. Each case starts from a valid
 * saved checkpoint and changes one thing: bytes, the JSON header, or one
 * metadata value. Cases marked "with a matching CRC" recompute the whole-file
 * CRC, so the range or value check itself is what refuses them; without it,
 * any edit of a header value is caught by the CRC. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <zlib.h>

#include "check.h"
#include "vae/checkpoint.h"
#include "vae/fileio.h"

static uint8_t *orig;
static int fix_crc; /* recompute the CRC of the rebuilt file (see fix_file_crc) */
static size_t orig_len;
static uint64_t orig_hlen;

/* header text (any bytes) + data -> a file image */
static uint8_t *assemble(const char *header, size_t hl, const uint8_t *data, size_t dl, size_t *len) {
    *len = 8 + hl + dl;
    uint8_t *b = malloc(*len + 1);
    if (!b) return NULL;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    if (dl) memcpy(b + 8 + hl, data, dl);
    return b;
}

/* The whole-file CRC a vae writes: CRC-32 of every byte, the 8 hex digits of
 * the crc32 value itself read as '0'. */
static void fix_file_crc(uint8_t *b, size_t len) {
    char *at = NULL;
    for (size_t i = 8; i + 9 < len && !at; i++)
        if (memcmp(b + i, "\"crc32\":\"", 9) == 0) at = (char *)b + i + 9;
    if (!at) return;
    memcpy(at, "00000000", 8);
    char crc[16];
    snprintf(crc, sizeof crc, "%08lx", crc32(0L, b, (uInt)len));
    memcpy(at, crc, 8);
}

/* Parses buf and expects a failure whose message holds needle; also checks
 * that a failed load leaves the model and state empty. */
static void expect_fail(const char *what, const uint8_t *buf, size_t len, const char *needle) {
    Vae m;
    TrainState st;
    VaeError err;
    err.msg[0] = '\0';
    int rc = checkpoint_parse(buf, len, "t.ckpt", &m, &st, &err);
    CHECK_MSG(rc == VAE_ERR, "%s: accepted", what);
    if (rc != VAE_ERR) {
        vae_free(&m);
        train_state_free(&st);
        return;
    }
    check_contains(what, err.msg, "t.ckpt: ");
    check_contains(what, err.msg, needle);
    CHECK_MSG(m.params == NULL && st.order == NULL, "%s: left memory behind", what);
}

static cJSON *header(void) { return cJSON_ParseWithLength((const char *)orig + 8, orig_hlen); }
static const uint8_t *orig_data(void) { return orig + 8 + orig_hlen; }
static size_t orig_data_len(void) { return orig_len - 8 - orig_hlen; }

/* rebuild with a changed header (consumed) and given data */
static void expect_fail_json(const char *what, cJSON *h, const uint8_t *data, size_t dl, const char *needle) {
    char *txt = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t len;
    uint8_t *b = txt ? assemble(txt, strlen(txt), data, dl, &len) : NULL;
    CHECK(b != NULL);
    if (b && fix_crc) fix_file_crc(b, len);
    if (b) expect_fail(what, b, len, needle);
    free(b);
    free(txt);
}

static void set_meta(cJSON *h, const char *key, const char *value) {
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(h, "__metadata__");
    if (value) {
        if (cJSON_HasObjectItem(meta, key)) cJSON_ReplaceItemInObjectCaseSensitive(meta, key, cJSON_CreateString(value));
        else cJSON_AddStringToObject(meta, key, value);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, key);
    }
}

static void expect_bad_meta(const char *key, const char *value, const char *needle) {
    char what[128];
    snprintf(what, sizeof what, "metadata %s=\"%s\"", key, value ? value : "(removed)");
    cJSON *h = header();
    set_meta(h, key, value);
    expect_fail_json(what, h, orig_data(), orig_data_len(), needle);
}

static void set_offsets(cJSON *h, const char *tensor, double b, double e) {
    cJSON *t = cJSON_GetObjectItemCaseSensitive(h, tensor);
    cJSON *o = cJSON_CreateArray();
    cJSON_AddItemToArray(o, cJSON_CreateNumber(b));
    cJSON_AddItemToArray(o, cJSON_CreateNumber(e));
    cJSON_ReplaceItemInObjectCaseSensitive(t, "data_offsets", o);
}

static double offset_of(cJSON *h, const char *tensor, int which) {
    cJSON *t = cJSON_GetObjectItemCaseSensitive(h, tensor);
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "data_offsets"), which)->valuedouble;
}

int main(void) {
    VaeError err;
    /* a small model (3x4 images, hidden {5}, zdim 2) saved inside an epoch */
    VaeConfig c = {.rows = 3, .cols = 4, .zdim = 2, .n_hidden = 1, .hidden = {5},
                   .loss = VAE_LOSS_BCE, .alpha = 1.0f, .beta = 1.0f};
    Vae m;
    Rng r;
    CHECK(vae_init(&m, &c, &err) == VAE_OK);
    rng_seed(&r, 3);
    vae_init_params(&m, &r);
    m.adam_t = 4;
    uint32_t order[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    TrainState st = {.epoch = 0, .step = 4, .epoch_step = 4, .order = order, .n_order = 10, .sum_images = 8, .lr = 1e-3f,
                     .batch = 2, .seed = 3, .limit = 10, .epochs = 1};
    rng_seed(&st.rng, 3);
    strcpy(st.dataset, "d");
    const char *p = check_path("ok.safetensors");
    CHECK(checkpoint_save(p, &m, &st, &err) == VAE_OK);
    CHECK(vae_read_file(p, &orig, &orig_len, 1 << 20, &err) == VAE_OK);
    for (int i = 7; i >= 0; i--) orig_hlen = (orig_hlen << 8) | orig[i];

    /* the unmodified file and an unmodified rebuild both load */
    Vae l;
    TrainState ls;
    CHECK(checkpoint_parse(orig, orig_len, "t.ckpt", &l, &ls, &err) == VAE_OK);
    vae_free(&l);
    train_state_free(&ls);
    {
        cJSON *h0 = header();
        char *txt = cJSON_PrintUnformatted(h0);
        cJSON_Delete(h0);
        size_t len;
        uint8_t *b = assemble(txt, strlen(txt), orig_data(), orig_data_len(), &len);
        /* the rebuilt header differs in its bytes (padding), so the
           whole-file CRC must be recomputed: this also checks that
           fix_file_crc computes what vae writes */
        if (len != orig_len || memcmp(b, orig, len) != 0) {
            CHECK(checkpoint_parse(b, len, "t.ckpt", &l, &ls, &err) == VAE_ERR);
            check_contains("rebuilt header, old CRC", err.msg, "CRC-32");
        }
        fix_file_crc(b, len);
        CHECK_MSG(checkpoint_parse(b, len, "t.ckpt", &l, &ls, &err) == VAE_OK, "rebuilt header: %s", err.msg);
        vae_free(&l);
        train_state_free(&ls);
        free(b);
        free(txt);
    }

    /* not safetensors at all */
    const char *text = "this is not a checkpoint, just a line of text\n";
    expect_fail("text", (const uint8_t *)text, strlen(text), "not safetensors");

    /* truncated at several points */
    size_t cuts[] = {0, 5, 8, 8 + orig_hlen / 2, 8 + orig_hlen - 1, 8 + orig_hlen, orig_len - 4, orig_len - 1};
    const char *cut_needles[] = {"too short", "too short", "runs past the end", "runs past the end",
                                 "runs past the end", "beyond the 0-byte data section", "beyond the", "beyond the"};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated at %zu", cuts[i]);
        expect_fail(what, orig, cuts[i], cut_needles[i]);
    }

    /* header length beyond the file */
    uint8_t *b = malloc(orig_len);
    memcpy(b, orig, orig_len);
    b[0] = (uint8_t)(orig_len & 0xff);
    b[1] = (uint8_t)(orig_len >> 8);
    b[2] = (uint8_t)(orig_len >> 16);
    expect_fail("length beyond file", b, orig_len, "runs past the end");

    /* one flipped data byte: only the CRC can tell */
    memcpy(b, orig, orig_len);
    b[orig_len - 50] ^= 0x01;
    expect_fail("flipped byte", b, orig_len, "CRC-32");
    free(b);

    /* malformed JSON, and a JSON array instead of an object */
    size_t len;
    const char *bad = "{\"a\": {\"dtype\": ";
    b = assemble(bad, strlen(bad), NULL, 0, &len);
    expect_fail("malformed JSON", b, len, "not valid JSON");
    free(b);
    const char *arr = "[{\"dtype\": \"F32\"}]";
    b = assemble(arr, strlen(arr), NULL, 0, &len);
    expect_fail("array header", b, len, "not start with a JSON object");
    free(b);

    /* a tensor renamed: the expected one is missing */
    cJSON *h = header();
    cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(h, "adam.v.dec.0.bias");
    cJSON_AddItemToObject(h, "adam.w.dec.0.bias", t);
    expect_fail_json("renamed tensor", h, orig_data(), orig_data_len(), "tensor 'adam.v.dec.0.bias' is missing");

    /* the last tensor in the data removed together with its bytes */
    h = header();
    double ob = offset_of(h, "train.order", 0);
    cJSON_DeleteItemFromObjectCaseSensitive(h, "train.order");
    expect_fail_json("removed tensor", h, orig_data(), (size_t)ob, "tensor 'train.order' is missing");

    /* an extra tensor at the end */
    h = header();
    cJSON *x = cJSON_AddObjectToObject(h, "extra.weight");
    cJSON_AddStringToObject(x, "dtype", "U8");
    cJSON_AddRawToObject(x, "shape", "[4]");
    cJSON_AddItemToObject(x, "data_offsets", cJSON_CreateArray());
    set_offsets(h, "extra.weight", (double)orig_data_len(), (double)orig_data_len() + 4);
    uint8_t *d = calloc(orig_data_len() + 4, 1);
    memcpy(d, orig_data(), orig_data_len());
    expect_fail_json("extra tensor", h, d, orig_data_len() + 4, "unexpected tensor 'extra.weight'");

    /* four stray bytes after the last tensor: a hole */
    expect_fail_json("hole", header(), d, orig_data_len() + 4, "belong to no tensor");
    free(d);

    /* overlapping offsets: the bias moved into the weight's bytes */
    h = header();
    double wb = offset_of(h, "enc.0.weight", 0);
    set_offsets(h, "enc.0.bias", wb + 4, wb + 4 + 5 * 4);
    expect_fail_json("overlap", h, orig_data(), orig_data_len(), "overlap");

    /* out of bounds: the last tensor shifted past the end */
    h = header();
    double oe = offset_of(h, "train.order", 1);
    set_offsets(h, "train.order", ob + 8, oe + 8);
    expect_fail_json("out of bounds", h, orig_data(), orig_data_len(), "beyond the");

    /* same-size dtype change, and a transposed shape */
    h = header();
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "enc.0.weight"), "dtype",
                                           cJSON_CreateString("I32"));
    expect_fail_json("dtype", h, orig_data(), orig_data_len(), "'enc.0.weight' has dtype I32, expected F32");
    h = header();
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "adam.m.enc.0.weight"), "shape",
                                           cJSON_CreateRaw("[12,5]"));
    expect_fail_json("shape", h, orig_data(), orig_data_len(),
                     "'adam.m.enc.0.weight' has shape [12, 5], but the declared architecture needs [5, 12]");
    /* the declared architecture disagrees with the tensors */
    expect_bad_meta("zdim", "1", "has shape");
    expect_bad_meta("hidden", "4", "has shape");
    expect_bad_meta("hidden", "500", "more than the");
    expect_bad_meta("rows", "4", "more than the");

    /* format and version */
    expect_bad_meta("format", "pytorch", "not a vae checkpoint");
    expect_bad_meta("format", NULL, "not a vae checkpoint");
    expect_bad_meta("format_version", "4", "format version 4 is newer than this vae supports (3); upgrade vae");
    /* "vae-mlp" is version 1 only, "vae" version 2 on */
    expect_bad_meta("format_version", "1", "not a combination vae writes");
    expect_bad_meta("format", "vae-mlp", "not a combination vae writes");

    /* the architecture (version 2) */
    expect_bad_meta("arch", "transformer", "'arch' is \"transformer\"");
    expect_bad_meta("arch", NULL, "has no 'arch'");
    expect_bad_meta("arch", "conv", "'channels'");
    expect_bad_meta("channels", "8", "'channels' is \"8\"");
    expect_bad_meta("channels", NULL, "has no 'channels'");
    expect_bad_meta("layers", "{}", "'layers' does not match the declared architecture");
    expect_bad_meta("layers", NULL, "has no 'layers'");
    expect_bad_meta("format_version", "0", "'format_version'");

    /* strict numbers */
    expect_bad_meta("zdim", "abc", "'zdim' is \"abc\"");
    expect_bad_meta("zdim", "-3", "'zdim' is \"-3\"");
    expect_bad_meta("zdim", "", "'zdim'");
    expect_bad_meta("zdim", " 2", "'zdim'");
    expect_bad_meta("zdim", "2x", "'zdim'");
    expect_bad_meta("zdim", NULL, "has no 'zdim'");
    expect_bad_meta("rows", "99999999999999999999", "'rows'");
    expect_bad_meta("hidden", "5,,3", "'hidden'");
    expect_bad_meta("hidden", "0", "'hidden'");
    expect_bad_meta("hidden", "1,2,3,4,5,6,7,8,9", "'hidden'");
    expect_bad_meta("loss", "l1", "'loss'");
    expect_bad_meta("alpha", "nan", "'alpha'");
    expect_bad_meta("alpha", "1e99", "'alpha'");
    expect_bad_meta("beta", "-1", "'beta'");
    expect_bad_meta("adam_t", "-1", "'adam_t'");
    expect_bad_meta("crc32", "xyz", "'crc32'");
    expect_bad_meta("crc32", "0000000g", "'crc32'");
    expect_bad_meta("seed", "-1", "'seed'");
    expect_bad_meta("seed", "18446744073709551616", "'seed'");
    expect_bad_meta("rng", "12", "'rng'");
    expect_bad_meta("rng", "0000000000000000000000000000000000000000000000000000000000000000", "all zero");
    expect_bad_meta("batch", "0", "'batch'");
    expect_bad_meta("lr", "inf", "'lr'");
    expect_bad_meta("sum_loss", "1e400", "'sum_loss'");
    expect_bad_meta("rng", NULL, "has no 'rng'");
    expect_bad_meta("step", "5", "disagrees");
    char longname[5000];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    expect_bad_meta("dataset", longname, "'dataset' is longer");
    /* a non-string metadata value is refused by the container itself */
    h = header();
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "__metadata__"), "rows",
                                           cJSON_CreateNumber(3));
    expect_fail_json("numeric metadata", h, orig_data(), orig_data_len(), "not a string");

    /* a wrong order with a matching CRC: only the permutation check sees it */
    h = header();
    d = malloc(orig_data_len());
    memcpy(d, orig_data(), orig_data_len());
    uint32_t dupv = 3;
    memcpy(d + (size_t)ob, &dupv, 4);
    fix_crc = 1;
    expect_fail_json("order", h, d, orig_data_len(), "not a permutation");
    fix_crc = 0;
    free(d);

    /* ---- loading is total: every header value is covered and range-checked ---- */
    /* an in-range edit of a header value: only the whole-file CRC sees it */
    expect_bad_meta("seed", "4", "CRC-32");
    expect_bad_meta("lr", "0.0005", "CRC-32");
    expect_bad_meta("dataset", "elsewhere", "CRC-32");
    /* two same-shape tensors swapped in the header: the data bytes are intact */
    h = header();
    double w0 = offset_of(h, "enc.0.weight", 0), w1 = offset_of(h, "enc.0.weight", 1);
    double m0 = offset_of(h, "adam.m.enc.0.weight", 0), m1 = offset_of(h, "adam.m.enc.0.weight", 1);
    set_offsets(h, "enc.0.weight", m0, m1);
    set_offsets(h, "adam.m.enc.0.weight", w0, w1);
    expect_fail_json("swapped tensors", h, orig_data(), orig_data_len(), "CRC-32");
    /* out of range, with a matching CRC */
    fix_crc = 1;
    expect_bad_meta("lr", "-0.001", "'lr' is \"-0.001\", expected a number in (0, 10]");
    expect_bad_meta("lr", "0", "'lr'");
    expect_bad_meta("lr", "11", "'lr'");
    expect_bad_meta("alpha", "2e6", "'alpha'");
    expect_bad_meta("batch", "70000", "'batch'");
    expect_bad_meta("limit", "4294967297", "'limit'");
    expect_bad_meta("epochs", "0", "'epochs'");
    expect_bad_meta("epoch", "2", "past 'epochs'");
    expect_bad_meta("epoch_step", "5", "more than 'step'");
    expect_bad_meta("sum_images", "6", "'sum_images' (6) disagrees");
    expect_bad_meta("sum_images", "-1", "'sum_images'");
    /* the data path is stored whole up to the system's limit, refused beyond */
    expect_bad_meta("dataset", longname, "'dataset' is longer than 4095 bytes");
    /* non-finite parameters and moments, and a negative second moment, by name */
    {
        struct { const char *tensor; float value; const char *needle; } bad_values[] = {
            {"enc.0.weight", NAN, "tensor 'enc.0.weight' holds nan at element 3"},
            {"dec.0.bias", INFINITY, "tensor 'dec.0.bias' holds inf"},
            {"adam.m.head.weight", -INFINITY, "tensor 'adam.m.head.weight' holds -inf"},
            {"adam.v.head.bias", -1e-3f, "tensor 'adam.v.head.bias' holds -0.001 at element 3; second moments"},
        };
        for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
            h = header();
            size_t at = (size_t)offset_of(h, bad_values[i].tensor, 0) + 3 * sizeof(float);
            d = malloc(orig_data_len());
            memcpy(d, orig_data(), orig_data_len());
            memcpy(d + at, &bad_values[i].value, sizeof(float));
            expect_fail_json(bad_values[i].tensor, h, d, orig_data_len(), bad_values[i].needle);
            free(d);
        }
    }
    /* a tensor removed with its bytes (the data section shrinks): named as
     * missing, not reported as an architecture larger than the data */
    h = header();
    double vb = offset_of(h, "adam.v.dec.1.bias", 0), ve = offset_of(h, "adam.v.dec.1.bias", 1);
    cJSON_DeleteItemFromObjectCaseSensitive(h, "adam.v.dec.1.bias");
    set_offsets(h, "train.order", ob - (ve - vb), offset_of(h, "train.order", 1) - (ve - vb));
    d = malloc(orig_data_len());
    memcpy(d, orig_data(), (size_t)vb);
    memcpy(d + (size_t)vb, orig_data() + (size_t)ve, orig_data_len() - (size_t)ve);
    expect_fail_json("removed with bytes", h, d, orig_data_len() - (size_t)(ve - vb),
                     "tensor 'adam.v.dec.1.bias' is missing");
    free(d);
    fix_crc = 0;

    /* the size a checkpoint would have is known before allocating the model:
     * the 784-11000-11000 model (3.1 GB) is refused, the default one is not */
    VaeConfig big = {.rows = 28, .cols = 28, .zdim = 20, .n_hidden = 2, .hidden = {11000, 11000},
                     .loss = VAE_LOSS_BCE, .alpha = 1.0f, .beta = 1.0f};
    CHECK(checkpoint_check_size(&big, 60000, "data/mnist", &err) == VAE_ERR);
    check_contains("size", err.msg, "more than the 2147483648-byte limit");
    VaeConfig def = {.rows = 28, .cols = 28, .zdim = 20, .n_hidden = 1, .hidden = {400},
                     .loss = VAE_LOSS_BCE, .alpha = 1.0f, .beta = 1.0f};
    CHECK(checkpoint_check_size(&def, 60000, "data/mnist", &err) == VAE_OK);

    /* a data path longer than the old 255-byte field is stored and read whole */
    {
        char longpath[1200];
        memset(longpath, 'p', sizeof longpath - 1);
        longpath[0] = '/';
        longpath[sizeof longpath - 1] = '\0';
        TrainState s2 = st;
        snprintf(s2.dataset, sizeof s2.dataset, "%s", longpath);
        const char *p2 = check_path("long.safetensors");
        CHECK(checkpoint_save(p2, &m, &s2, &err) == VAE_OK);
        Vae l2;
        TrainState t2;
        CHECK(checkpoint_load(p2, &l2, &t2, &err) == VAE_OK);
        CHECK_MSG(strcmp(t2.dataset, longpath) == 0, "dataset came back as %zu bytes", strlen(t2.dataset));
        vae_free(&l2);
        train_state_free(&t2);
    }

    free(orig);
    vae_free(&m);
    return check_done("test_checkpoint_rejects");
}
