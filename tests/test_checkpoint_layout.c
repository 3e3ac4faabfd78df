/* A checkpoint is a plain safetensors file any reader can load: this test
 * reads the saved bytes by hand (u64 length, JSON via cJSON, offsets, raw
 * little-endian floats, zlib CRC of the whole file) and, when
 * /usr/bin/python3 has numpy, with a ten-line independent Python reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <zlib.h>

#include "check.h"
#include "vae/checkpoint.h"
#include "vae/fileio.h"

static const char *meta_str(const cJSON *meta, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* the Python reader prints "name dtype d0 d1 first last" per tensor, sorted */
static const char *PY =
    "import json, struct, sys\n"
    "import numpy as np\n"
    "b = open(sys.argv[1], 'rb').read()\n"
    "n = struct.unpack('<Q', b[:8])[0]\n"
    "h = json.loads(b[8:8 + n])\n"
    "h.pop('__metadata__')\n"
    "for k in sorted(h):\n"
    "    e = h[k]; s, t = e['data_offsets']\n"
    "    a = np.frombuffer(b[8 + n + s:8 + n + t], dtype={'F32': '<f4', 'I32': '<i4'}[e['dtype']]).reshape(e['shape'])\n"
    "    f = a.reshape(-1)\n"
    "    print(k, e['dtype'], a.shape[0], a.shape[1] if a.ndim == 2 else 0, repr(float(f[0])), repr(float(f[-1])))\n";

int main(void) {
    VaeError err;
    VaeConfig c = {.rows = 4, .cols = 6, .zdim = 2, .n_hidden = 2, .hidden = {5, 3},
                   .loss = VAE_LOSS_BCE, .alpha = 1.0f, .beta = 0.5f};
    Vae m;
    Rng r;
    CHECK(vae_init(&m, &c, &err) == VAE_OK);
    rng_seed(&r, 5);
    vae_init_params(&m, &r);
    rng_normal(&r, m.adam_m, m.n_params);
    rng_normal(&r, m.adam_v, m.n_params);
    m.adam_t = 9;
    uint32_t order[6] = {5, 2, 0, 1, 4, 3};
    TrainState st = {.epoch = 1, .step = 9, .epoch_step = 2, .order = order, .n_order = 6, .sum_images = 6, .lr = 0.01f,
                     .batch = 3, .seed = 5, .limit = 6, .epochs = 4};
    rng_seed(&st.rng, 11);
    strcpy(st.dataset, "data");
    const char *p = check_path("m.safetensors");
    CHECK(checkpoint_save(p, &m, &st, &err) == VAE_OK);

    uint8_t *buf;
    size_t len;
    CHECK(vae_read_file(p, &buf, &len, 1 << 20, &err) == VAE_OK);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    CHECK(hlen + 8 <= len && hlen % 8 == 0);
    cJSON *h = cJSON_ParseWithLength((const char *)buf + 8, hlen);
    CHECK(cJSON_IsObject(h));
    const uint8_t *data = buf + 8 + hlen;
    size_t data_len = len - 8 - hlen;
    /* 3 copies of every parameter (params, m, v) plus the order */
    CHECK(data_len == 3 * m.n_params * sizeof(float) + sizeof order);
    CHECK(cJSON_GetArraySize(h) == 3 * m.lay.n_tensors + 1 + 1);

    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(h, "__metadata__");
    CHECK(strcmp(meta_str(meta, "format"), "vae") == 0);
    CHECK(strcmp(meta_str(meta, "format_version"), "3") == 0);
    CHECK(strcmp(meta_str(meta, "arch"), "mlp") == 0 && strcmp(meta_str(meta, "channels"), "") == 0);
    /* the layer list: JSON naming every tensor of the model at its offset */
    cJSON *layers = cJSON_Parse(meta_str(meta, "layers"));
    CHECK(cJSON_IsObject(layers));
    const cJSON *ll = cJSON_GetObjectItemCaseSensitive(layers, "layers"), *ly;
    int seen = 0;
    cJSON_ArrayForEach(ly, ll) {
        const cJSON *pp, *params = cJSON_GetObjectItemCaseSensitive(ly, "params");
        cJSON_ArrayForEach(pp, params) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(pp, "name");
            const VaeTensor *t = cJSON_IsString(nm) ? vae_find_tensor(&m, nm->valuestring) : NULL;
            CHECK(t != NULL && (double)t->offset == cJSON_GetObjectItemCaseSensitive(pp, "offset")->valuedouble);
            seen++;
        }
    }
    CHECK(seen == m.lay.n_tensors);
    cJSON_Delete(layers);
    CHECK(strcmp(meta_str(meta, "hidden"), "5,3") == 0);
    CHECK(strcmp(meta_str(meta, "rows"), "4") == 0 && strcmp(meta_str(meta, "cols"), "6") == 0);
    CHECK(strcmp(meta_str(meta, "zdim"), "2") == 0 && strcmp(meta_str(meta, "loss"), "bce") == 0);
    CHECK(strcmp(meta_str(meta, "beta"), "0.5") == 0 && strcmp(meta_str(meta, "adam_t"), "9") == 0);
    CHECK(strcmp(meta_str(meta, "epoch_step"), "2") == 0 && strcmp(meta_str(meta, "dataset"), "data") == 0);
    CHECK(strlen(meta_str(meta, "rng")) == 64);
    /* the CRC covers the whole file, read with its own 8 hex digits as '0' */
    char crc[16];
    uint8_t *zeroed = malloc(len);
    CHECK(zeroed != NULL);
    memcpy(zeroed, buf, len);
    char *at = strstr((char *)zeroed + 8, "\"crc32\":\"");
    CHECK(at != NULL && at < (char *)zeroed + 8 + hlen);
    if (at) memcpy(at + 9, "00000000", 8);
    snprintf(crc, sizeof crc, "%08lx", crc32(0L, zeroed, (uInt)len));
    free(zeroed);
    CHECK(strcmp(meta_str(meta, "crc32"), crc) == 0);

    /* each parameter: F32, nn.Linear shape, bytes equal to the model's */
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < m.lay.n_tensors; i++) {
            const VaeTensor *t = &m.lay.tensors[i];
            char name[64];
            snprintf(name, sizeof name, b == 0 ? "%s" : b == 1 ? "adam.m.%s" : "adam.v.%s", t->name);
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(h, name);
            CHECK_MSG(cJSON_IsObject(e), "tensor %s not in the header", name);
            if (!e) continue;
            CHECK(strcmp(meta_str(e, "dtype"), "F32") == 0);
            const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
            CHECK(cJSON_GetArraySize(shape) == t->ndim);
            CHECK(cJSON_GetArrayItem(shape, 0)->valueint == t->shape[0]);
            if (t->ndim == 2) CHECK(cJSON_GetArrayItem(shape, 1)->valueint == t->shape[1]);
            const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
            size_t s = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble, en = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
            CHECK(en - s == t->size * sizeof(float) && en <= data_len);
            const float *src = (b == 0 ? m.params : b == 1 ? m.adam_m : m.adam_v) + t->offset;
            if (en <= data_len) CHECK(memcmp(data + s, src, t->size * sizeof(float)) == 0);
        }
    /* enc.0 is (H0, D) like nn.Linear, dec.2 (the output) is (D, H0) */
    const cJSON *e0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "enc.0.weight"), "shape");
    CHECK(cJSON_GetArrayItem(e0, 0)->valueint == 5 && cJSON_GetArrayItem(e0, 1)->valueint == 24);
    const cJSON *ord = cJSON_GetObjectItemCaseSensitive(h, "train.order");
    CHECK(strcmp(meta_str(ord, "dtype"), "I32") == 0);
    const cJSON *oo = cJSON_GetObjectItemCaseSensitive(ord, "data_offsets");
    size_t os = (size_t)cJSON_GetArrayItem(oo, 0)->valuedouble;
    CHECK(os + sizeof order <= data_len && memcmp(data + os, order, sizeof order) == 0);

    /* an independent reader, when one is at hand */
    if (access("/usr/bin/python3", X_OK) == 0 && system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") == 0) {
        const char *script = check_path("read.py");
        CHECK(check_write(script, PY, strlen(PY)) == 0);
        char cmd[8400];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script, p);
        FILE *f = popen(cmd, "r");
        CHECK(f != NULL);
        int lines = 0;
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            char name[64], dtype[8];
            int d0, d1;
            double first, last;
            if (sscanf(line, "%63s %7s %d %d %lf %lf", name, dtype, &d0, &d1, &first, &last) != 6) {
                CHECK_MSG(0, "python output: %s", line);
                continue;
            }
            lines++;
            if (strcmp(name, "train.order") == 0) {
                double ref[2] = {order[0], order[5]}, got[2] = {first, last};
                CHECK(d0 == 6 && strcmp(dtype, "I32") == 0);
                check_close_d("train.order via python", got, ref, 2, 0, 0);
                continue;
            }
            const char *base = strncmp(name, "adam.", 5) == 0 ? name + 7 : name;
            const float *blk = strncmp(name, "adam.m.", 7) == 0 ? m.adam_m : strncmp(name, "adam.v.", 7) == 0 ? m.adam_v : m.params;
            const VaeTensor *t = vae_find_tensor(&m, base);
            CHECK_MSG(t != NULL, "python saw unknown tensor %s", name);
            if (!t) continue;
            CHECK(d0 == t->shape[0] && (t->ndim == 1 ? d1 == 0 : d1 == t->shape[1]));
            double ref[2] = {blk[t->offset], blk[t->offset + t->size - 1]}, got[2] = {first, last};
            check_close_d(name, got, ref, 2, 0, 0);
        }
        int rc = f ? pclose(f) : -1;
        CHECK(rc == 0);
        CHECK(lines == 3 * m.lay.n_tensors + 1);
    } else {
        check_skip_part("python3 with numpy not found: the independent Python reader did not run");
    }
    cJSON_Delete(h);
    free(buf);
    vae_free(&m);
    return check_done("test_checkpoint_layout");
}
