/* The safetensors writer and reader agree: tensors of several dtypes and
 * shapes (including a scalar and an empty one) come back with the same names,
 * shapes and bytes; the header is space-padded to a multiple of 8 and the
 * on-disk layout matches the format when read by hand. */
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "check.h"
#include "vae/safetensors.h"

int main(void) {
    VaeError err;
    float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
    uint32_t idx[4] = {3, 1, 0, 4000000000u};
    uint8_t u8[3] = {7, 8, 9};
    int64_t i64[1] = {-5};
    StTensorOut t[5] = {
        {"layer.weight", ST_F32, 2, {2, 3}, w},
        {"order", ST_U32, 1, {4}, idx},
        {"bytes", ST_U8, 1, {3}, u8},
        {"scalar", ST_I64, 0, {0}, i64},
        {"empty", ST_F32, 2, {0, 5}, NULL},
    };
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "purpose", "test \"quoted\" ünicode");
    uint8_t *buf;
    size_t len;
    CHECK(st_write_mem(&buf, &len, t, 5, meta, &err) == VAE_OK);
    cJSON_Delete(meta);
    if (!buf) return check_done("test_safetensors_roundtrip");

    /* layout by hand: u64 LE length, multiple of 8, JSON then data */
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    CHECK(hlen % 8 == 0);
    size_t data_bytes = sizeof w + sizeof idx + sizeof u8 + sizeof i64;
    CHECK(len == 8 + hlen + data_bytes);
    CHECK(buf[8] == '{');
    /* data back to back in the order given */
    CHECK(memcmp(buf + 8 + hlen, w, sizeof w) == 0);
    CHECK(memcmp(buf + 8 + hlen + sizeof w, idx, sizeof idx) == 0);
    cJSON *h = cJSON_ParseWithLength((const char *)buf + 8, hlen);
    CHECK(h != NULL);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "order"), "data_offsets");
    CHECK(cJSON_GetArraySize(o) == 2 && cJSON_GetArrayItem(o, 0)->valuedouble == 24 &&
          cJSON_GetArrayItem(o, 1)->valuedouble == 40);
    cJSON_Delete(h);

    StFile f;
    CHECK(st_parse(&f, buf, len, "mem", &err) == VAE_OK);
    CHECK(f.n == 5);
    const StTensor *a = st_find(&f, "layer.weight");
    CHECK(a && a->dtype == ST_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 && a->numel == 6);
    CHECK(a && memcmp(a->data, w, sizeof w) == 0);
    const StTensor *b = st_find(&f, "order");
    CHECK(b && b->dtype == ST_U32 && b->numel == 4 && memcmp(b->data, idx, sizeof idx) == 0);
    const StTensor *c = st_find(&f, "bytes");
    CHECK(c && c->dtype == ST_U8 && memcmp(c->data, u8, 3) == 0);
    const StTensor *s = st_find(&f, "scalar");
    CHECK(s && s->ndim == 0 && s->numel == 1 && memcmp(s->data, i64, 8) == 0);
    const StTensor *e = st_find(&f, "empty");
    CHECK(e && e->numel == 0 && e->begin == e->end);
    CHECK(st_find(&f, "nope") == NULL);
    const char *pv = st_meta_get(&f, "purpose");
    CHECK(pv && strcmp(pv, "test \"quoted\" ünicode") == 0);
    CHECK(st_meta_get(&f, "other") == NULL);
    st_free(&f);
    free(buf);

    /* no tensors, no metadata: a valid empty file */
    CHECK(st_write_mem(&buf, &len, NULL, 0, NULL, &err) == VAE_OK);
    CHECK(st_parse(&f, buf, len, "empty", &err) == VAE_OK && f.n == 0 && f.metadata == NULL);
    st_free(&f);
    free(buf);

    /* the writer refuses duplicate names and the reserved name */
    StTensorOut dup[2] = {{"x", ST_U8, 1, {3}, u8}, {"x", ST_U8, 1, {3}, u8}};
    CHECK(st_write_mem(&buf, &len, dup, 2, NULL, &err) == VAE_ERR);
    check_contains("duplicate", err.msg, "'x' appears twice");
    StTensorOut res[1] = {{"__metadata__", ST_U8, 1, {3}, u8}};
    CHECK(st_write_mem(&buf, &len, res, 1, NULL, &err) == VAE_ERR);
    return check_done("test_safetensors_roundtrip");
}
