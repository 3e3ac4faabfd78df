/* The safetensors container: a strict validating reader over a memory buffer
 * and a writer that lays tensors out back to back after a space-padded JSON
 * header. Format: u64 LE header length | JSON header | data section. */
#include "vae/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this code copies it raw and needs a little-endian host"
#endif

static const struct {
    const char *name;
    StDtype dtype;
    size_t size;
} DTYPES[] = {
    {"BOOL", ST_BOOL, 1}, {"U8", ST_U8, 1},   {"I8", ST_I8, 1},   {"U16", ST_U16, 2}, {"I16", ST_I16, 2},
    {"F16", ST_F16, 2},   {"BF16", ST_BF16, 2}, {"U32", ST_U32, 4}, {"I32", ST_I32, 4}, {"F32", ST_F32, 4},
    {"U64", ST_U64, 8},   {"I64", ST_I64, 8}, {"F64", ST_F64, 8},
};
#define N_DTYPES (sizeof DTYPES / sizeof DTYPES[0])

int st_dtype_parse(const char *s, StDtype *out) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(s, DTYPES[i].name) == 0) {
            *out = DTYPES[i].dtype;
            return 0;
        }
    return -1;
}

const char *st_dtype_name(StDtype d) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].dtype == d) return DTYPES[i].name;
    return "?";
}

size_t st_dtype_size(StDtype d) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].dtype == d) return DTYPES[i].size;
    return 0;
}

/* ---- reader ---- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts the keys of obj and reports the first repeated one (cJSON keeps
 * duplicates as separate members; the format forbids them). */
static const char *find_duplicate_key(const cJSON *obj, int count, int *oom) {
    *oom = 0;
    if (count < 2) return NULL;
    const char **keys = malloc((size_t)count * sizeof *keys);
    if (!keys) {
        *oom = 1;
        return NULL;
    }
    int k = 0;
    for (const cJSON *c = obj->child; c; c = c->next) keys[k++] = c->string;
    qsort(keys, (size_t)k, sizeof *keys, cmp_str);
    const char *dup = NULL;
    for (int i = 1; i < k && !dup; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) dup = keys[i];
    free(keys);
    return dup;
}

/* A JSON number that is a whole number in [0, 2^53] (larger ones lose
 * precision as doubles, and no real file needs them). */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0) return -1;
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return -1;
    *out = u;
    return 0;
}

static const char *json_kind(const cJSON *v) {
    if (cJSON_IsObject(v)) return "object";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsNumber(v)) return "number";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsNull(v)) return "null";
    return "value";
}

/* One header entry -> *t; checks field types, dtype, shape and the byte
 * count, and that the offsets fall inside the data section. */
static int parse_entry(const cJSON *e, StTensor *t, size_t data_len, const char *fname, VaeError *err) {
    const char *tn = e->string;
    if (!cJSON_IsObject(e)) return vae_fail(err, "%s: tensor '%s': entry is a JSON %s, not an object", fname, tn, json_kind(e));
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = strcmp(c->string, "dtype") == 0 ? &dtype
                             : strcmp(c->string, "shape") == 0 ? &shape
                             : strcmp(c->string, "data_offsets") == 0 ? &offs
                             : NULL;
        if (!slot) return vae_fail(err, "%s: tensor '%s': unknown field '%s'", fname, tn, c->string);
        if (*slot) return vae_fail(err, "%s: tensor '%s': field '%s' appears twice", fname, tn, c->string);
        *slot = c;
    }
    if (!dtype || !shape || !offs)
        return vae_fail(err, "%s: tensor '%s': missing field '%s'", fname, tn,
                        !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    t->name = tn;
    if (!cJSON_IsString(dtype) || st_dtype_parse(dtype->valuestring, &t->dtype) != 0)
        return vae_fail(err, "%s: tensor '%s': unknown dtype %s%s%s", fname, tn,
                        cJSON_IsString(dtype) ? "'" : "(a JSON ", cJSON_IsString(dtype) ? dtype->valuestring : json_kind(dtype),
                        cJSON_IsString(dtype) ? "'" : ")");
    if (!cJSON_IsArray(shape)) return vae_fail(err, "%s: tensor '%s': shape is a JSON %s, not an array", fname, tn, json_kind(shape));
    int nd = cJSON_GetArraySize(shape);
    if (nd > ST_MAX_DIMS) return vae_fail(err, "%s: tensor '%s': %d dimensions, more than %d", fname, tn, nd, ST_MAX_DIMS);
    t->ndim = nd;
    size_t numel = 1;
    int i = 0;
    for (const cJSON *c = shape->child; c; c = c->next, i++) {
        uint64_t d;
        if (json_uint(c, &d) != 0)
            return vae_fail(err, "%s: tensor '%s': shape entry %d is not a non-negative integer", fname, tn, i);
        t->shape[i] = d;
        if (d > SIZE_MAX || vae_mul_size(numel, (size_t)d, &numel) != 0)
            return vae_fail(err, "%s: tensor '%s': shape is too large", fname, tn);
    }
    t->numel = numel;
    size_t nbytes;
    if (vae_mul_size(numel, st_dtype_size(t->dtype), &nbytes) != 0)
        return vae_fail(err, "%s: tensor '%s': shape is too large", fname, tn);
    uint64_t b, en;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || json_uint(offs->child, &b) != 0 ||
        json_uint(offs->child->next, &en) != 0)
        return vae_fail(err, "%s: tensor '%s': data_offsets must be two non-negative integers [begin, end]", fname, tn);
    if (b > en) return vae_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", fname, tn,
                                (unsigned long long)b, (unsigned long long)en);
    if (en > data_len)
        return vae_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] beyond the %zu-byte data section", fname, tn,
                        (unsigned long long)b, (unsigned long long)en, data_len);
    t->begin = (size_t)b;
    t->end = (size_t)en;
    if (t->end - t->begin != nbytes)
        return vae_fail(err, "%s: tensor '%s': data_offsets [%zu, %zu] hold %zu bytes, but %s with %zu elements needs %zu",
                        fname, tn, t->begin, t->end, t->end - t->begin, st_dtype_name(t->dtype), numel, nbytes);
    return VAE_OK;
}

static int cmp_extent(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* The tensors must tile the data section exactly: sorted by offset, each
 * starts where the previous one ended and the last ends at data_len. */
static int check_coverage(StFile *f, const char *fname, VaeError *err) {
    if (f->n == 0) {
        if (f->data_len) return vae_fail(err, "%s: %zu bytes of data but no tensors", fname, f->data_len);
        return VAE_OK;
    }
    const StTensor **ord = malloc((size_t)f->n * sizeof *ord);
    if (!ord) return vae_fail(err, "%s: out of memory", fname);
    for (int i = 0; i < f->n; i++) ord[i] = &f->tensors[i];
    qsort(ord, (size_t)f->n, sizeof *ord, cmp_extent);
    size_t pos = 0;
    int rc = VAE_OK;
    for (int i = 0; i < f->n && rc == VAE_OK; i++) {
        if (ord[i]->begin < pos)
            rc = vae_fail(err, "%s: tensors '%s' and '%s' overlap in the data section", fname, ord[i - 1]->name,
                          ord[i]->name);
        else if (ord[i]->begin > pos)
            rc = vae_fail(err, "%s: bytes [%zu, %zu) of the data section belong to no tensor", fname, pos, ord[i]->begin);
        pos = ord[i]->end;
    }
    if (rc == VAE_OK && pos != f->data_len)
        rc = vae_fail(err, "%s: bytes [%zu, %zu) of the data section belong to no tensor", fname, pos, f->data_len);
    free(ord);
    return rc;
}

static int parse_metadata(StFile *f, const cJSON *meta, const char *fname, VaeError *err) {
    if (!cJSON_IsObject(meta)) return vae_fail(err, "%s: __metadata__ is a JSON %s, not an object", fname, json_kind(meta));
    int count = 0;
    for (const cJSON *c = meta->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return vae_fail(err, "%s: __metadata__ '%s' is a JSON %s, not a string", fname, c->string, json_kind(c));
        count++;
    }
    int oom;
    const char *dup = find_duplicate_key(meta, count, &oom);
    if (oom) return vae_fail(err, "%s: out of memory", fname);
    if (dup) return vae_fail(err, "%s: __metadata__ key '%s' appears twice", fname, dup);
    f->metadata = (cJSON *)meta;
    return VAE_OK;
}

static int parse_header(StFile *f, const char *fname, VaeError *err) {
    cJSON *root = f->root;
    if (!cJSON_IsObject(root)) return vae_fail(err, "%s: header is a JSON %s, not an object", fname, json_kind(root));
    int count = 0;
    const cJSON *meta = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (meta) return vae_fail(err, "%s: header key '__metadata__' appears twice", fname);
            meta = c;
        } else {
            count++;
        }
    }
    int oom;
    const char *dup = find_duplicate_key(root, count + (meta ? 1 : 0), &oom);
    if (oom) return vae_fail(err, "%s: out of memory", fname);
    if (dup) return vae_fail(err, "%s: tensor '%s' appears twice in the header", fname, dup);
    if (meta && parse_metadata(f, meta, fname, err) != VAE_OK) return VAE_ERR;
    f->tensors = calloc(count ? (size_t)count : 1, sizeof *f->tensors);
    if (!f->tensors) return vae_fail(err, "%s: out of memory for %d tensors", fname, count);
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        StTensor *t = &f->tensors[f->n];
        if (parse_entry(c, t, f->data_len, fname, err) != VAE_OK) return VAE_ERR;
        t->data = f->data + t->begin;
        f->n++;
    }
    return check_coverage(f, fname, err);
}

int st_parse(StFile *f, const uint8_t *buf, size_t len, const char *name, VaeError *err) {
    memset(f, 0, sizeof *f);
    if (len < 8) return vae_fail(err, "%s: %zu bytes is too short for a safetensors file (no 8-byte header length)", name, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > len - 8)
        return vae_fail(err, "%s: header length %llu runs past the end of the %zu-byte file (truncated, or not safetensors)",
                        name, (unsigned long long)hlen, len);
    if (hlen > ST_MAX_HEADER)
        return vae_fail(err, "%s: header of %llu bytes is larger than the %llu-byte limit", name, (unsigned long long)hlen,
                        (unsigned long long)ST_MAX_HEADER);
    const char *h = (const char *)buf + 8;
    if (hlen < 2 || h[0] != '{') return vae_fail(err, "%s: header does not start with a JSON object (not safetensors)", name);
    /* a NUL inside the header would cut names short in C strings */
    if (memchr(h, '\0', (size_t)hlen)) return vae_fail(err, "%s: header contains a NUL byte", name);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= h && end <= h + hlen ? (size_t)(end - h) : 0;
        return vae_fail(err, "%s: header is not valid JSON (near byte %zu of the header)", name, at);
    }
    /* the format allows trailing spaces after the JSON (padding), nothing else */
    for (const char *p = end; p < h + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return vae_fail(err, "%s: unexpected bytes after the JSON header (at byte %zu of the header)", name,
                            (size_t)(p - h));
        }
    f->root = root;
    f->buf = buf;
    f->len = len;
    f->data = buf + 8 + hlen;
    f->data_len = len - 8 - (size_t)hlen;
    if (parse_header(f, name, err) != VAE_OK) {
        st_free(f);
        return VAE_ERR;
    }
    return VAE_OK;
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta_get(const StFile *f, const char *key) {
    if (!f->metadata) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void st_free(StFile *f) {
    if (!f) return;
    cJSON_Delete(f->root);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

/* ---- writer ---- */

/* "[a,b,c]" with exact integers (cJSON would print large ones as doubles) */
static void print_uint_list(char *buf, size_t cap, const uint64_t *v, int n) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, i ? ",%llu" : "%llu", (unsigned long long)v[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

static cJSON *build_header(const StTensorOut *t, int n, const size_t *nbytes, const cJSON *metadata) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (metadata) {
        cJSON *m = cJSON_Duplicate(metadata, 1);
        if (!m || !cJSON_AddItemToObject(root, "__metadata__", m)) {
            cJSON_Delete(m);
            goto fail;
        }
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        char raw[ST_MAX_DIMS * 24 + 8];
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        if (!e || !cJSON_AddStringToObject(e, "dtype", st_dtype_name(t[i].dtype))) goto fail;
        print_uint_list(raw, sizeof raw, t[i].shape, t[i].ndim);
        if (!cJSON_AddRawToObject(e, "shape", raw)) goto fail;
        uint64_t be[2] = {off, off + nbytes[i]};
        print_uint_list(raw, sizeof raw, be, 2);
        if (!cJSON_AddRawToObject(e, "data_offsets", raw)) goto fail;
        off += nbytes[i];
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}

int st_write_parts(VaeBytes *parts, uint8_t **header, size_t *len, const StTensorOut *t, int n,
                   const cJSON *metadata, VaeError *err) {
    *header = NULL;
    *len = 0;
    if (n < 0) return vae_fail(err, "safetensors: negative tensor count");
    if (metadata) {
        if (!cJSON_IsObject(metadata)) return vae_fail(err, "safetensors: metadata must be a JSON object");
        for (const cJSON *c = metadata->child; c; c = c->next)
            if (!cJSON_IsString(c)) return vae_fail(err, "safetensors: metadata '%s' is not a string", c->string);
    }
    size_t *nbytes = malloc((n ? (size_t)n : 1) * sizeof *nbytes);
    if (!nbytes) return vae_fail(err, "safetensors: out of memory");
    size_t data_len = 0;
    for (int i = 0; i < n; i++) {
        const char *bad = NULL;
        if (!t[i].name || strcmp(t[i].name, "__metadata__") == 0) bad = "is not a valid tensor name";
        else if (t[i].ndim < 0 || t[i].ndim > ST_MAX_DIMS) bad = "has an unsupported number of dimensions";
        else if (st_dtype_size(t[i].dtype) == 0) bad = "has an unknown dtype";
        for (int j = 0; j < i && !bad; j++)
            if (strcmp(t[i].name, t[j].name) == 0) bad = "appears twice";
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim && !bad; d++)
            if (t[i].shape[d] > SIZE_MAX || vae_mul_size(numel, (size_t)t[i].shape[d], &numel) != 0) bad = "is too large";
        if (!bad && (vae_mul_size(numel, st_dtype_size(t[i].dtype), &nbytes[i]) != 0 ||
                     vae_add_size(data_len, nbytes[i], &data_len) != 0))
            bad = "is too large";
        if (!bad && nbytes[i] > 0 && !t[i].data) bad = "has no data";
        if (bad) {
            free(nbytes);
            return vae_fail(err, "safetensors: tensor '%s' %s", t[i].name ? t[i].name : "(null)", bad);
        }
    }
    cJSON *root = build_header(t, n, nbytes, metadata);
    char *json = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) {
        free(nbytes);
        return vae_fail(err, "safetensors: out of memory building the header");
    }
    /* pad the header with spaces so the data section starts 8-byte aligned */
    size_t jlen = strlen(json), hlen = (jlen + 7) / 8 * 8, total;
    if (vae_add_size(8 + hlen, data_len, &total) != 0) {
        free(json);
        free(nbytes);
        return vae_fail(err, "safetensors: file too large");
    }
    uint8_t *buf = malloc(8 + hlen);
    if (!buf) {
        free(json);
        free(nbytes);
        return vae_fail(err, "safetensors: out of memory for a %zu-byte header", 8 + hlen);
    }
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, json, jlen);
    memset(buf + 8 + jlen, ' ', hlen - jlen);
    parts[0].data = buf;
    parts[0].len = 8 + hlen;
    for (int i = 0; i < n; i++) {
        parts[1 + i].data = t[i].data;
        parts[1 + i].len = nbytes[i];
    }
    free(json);
    free(nbytes);
    *header = buf;
    *len = total;
    return VAE_OK;
}

int st_write_mem(uint8_t **out, size_t *len, const StTensorOut *t, int n, const cJSON *metadata, VaeError *err) {
    *out = NULL;
    *len = 0;
    if (n < 0) return vae_fail(err, "safetensors: negative tensor count");
    VaeBytes *parts = malloc(((size_t)n + 1) * sizeof *parts);
    if (!parts) return vae_fail(err, "safetensors: out of memory");
    uint8_t *header = NULL;
    size_t total = 0;
    if (st_write_parts(parts, &header, &total, t, n, metadata, err) != VAE_OK) {
        free(parts);
        return VAE_ERR;
    }
    uint8_t *buf = malloc(total);
    if (!buf) {
        free(header);
        free(parts);
        return vae_fail(err, "safetensors: out of memory for a %zu-byte file", total);
    }
    size_t off = 0;
    for (int i = 0; i <= n; i++) {
        if (parts[i].len) memcpy(buf + off, parts[i].data, parts[i].len);
        off += parts[i].len;
    }
    free(header);
    free(parts);
    *out = buf;
    *len = total;
    return VAE_OK;
}
