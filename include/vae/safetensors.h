/* A strict reader and a writer for the safetensors format:
 *   u64 little-endian N | N bytes of JSON header | data section
 * The header is an object: tensor name -> {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]} (offsets relative to the data section), plus
 * an optional "__metadata__" object of string -> string. The reader refuses
 * anything off: unknown dtypes, sizes that disagree with the shape, offsets
 * outside the data section, overlaps, holes, duplicate keys. */
#ifndef VAE_SAFETENSORS_H
#define VAE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "vae/common.h"
#include "vae/fileio.h"

struct cJSON; /* <cJSON.h>; only callers that touch metadata need it */

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* as the reference implementation */

typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_U16, ST_I16, ST_F16, ST_BF16,
    ST_U32, ST_I32, ST_F32, ST_U64, ST_I64, ST_F64
} StDtype;

/* "F32" -> ST_F32; returns -1 for an unknown name */
int st_dtype_parse(const char *s, StDtype *out);
const char *st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);

typedef struct {
    const char *name;               /* points into the parsed header (StFile.root) */
    StDtype dtype;
    int ndim;
    uint64_t shape[ST_MAX_DIMS];
    size_t numel;
    size_t begin, end;              /* byte offsets into the data section */
    const uint8_t *data;            /* = StFile.data + begin (maybe unaligned) */
} StTensor;

typedef struct {
    const uint8_t *buf;             /* borrowed: the whole file, must outlive the StFile */
    size_t len;
    const uint8_t *data;            /* data section */
    size_t data_len;
    int n;                          /* tensors, in header order */
    StTensor *tensors;
    struct cJSON *root;             /* the parsed header; owned */
    struct cJSON *metadata;         /* "__metadata__" inside root, or NULL */
} StFile;

/* Parses and validates buf (borrowed). `name` (a path) prefixes errors.
 * On failure *f is left empty (st_free is harmless). */
int st_parse(StFile *f, const uint8_t *buf, size_t len, const char *name, VaeError *err);
const StTensor *st_find(const StFile *f, const char *name);
/* a metadata value, or NULL when absent */
const char *st_meta_get(const StFile *f, const char *key);
void st_free(StFile *f);

/* One tensor to write; data holds numel * dtype size bytes, little-endian. */
typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    uint64_t shape[ST_MAX_DIMS];
    const void *data;
} StTensorOut;

/* Serialises n tensors back to back in the given order into a malloc'd
 * buffer (*out, caller frees). metadata (may be NULL) must be an object of
 * strings; it is copied. The header is padded with spaces to a multiple of 8
 * so the data section starts aligned. */
int st_write_mem(uint8_t **out, size_t *len, const StTensorOut *t, int n,
                 const struct cJSON *metadata, VaeError *err);

/* The same file as parts, for vae_write_file_parts without a copy of the
 * tensors: parts[0] is the header (8-byte length and JSON, malloc'd in
 * *header, caller frees), parts[1 + i] tensor i's own data; parts must hold
 * n + 1 entries; *len is the file's size. */
int st_write_parts(VaeBytes *parts, uint8_t **header, size_t *len, const StTensorOut *t, int n,
                   const struct cJSON *metadata, VaeError *err);

#endif
