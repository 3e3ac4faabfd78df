/* Helpers shared by the tests/test_idx_*.c files: build small IDX files in
 * memory (big-endian header + payload) and write them raw or gzip-compressed
 * (with zlib's gzopen/gzwrite) into the test's temp folder. */
#ifndef VAE_TEST_IDX_UTIL_H
#define VAE_TEST_IDX_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"

static inline void tidx_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An image file (count, rows, cols) whose pixel i is (i * 7 + 3) % 256, or a
 * label file (count) when rows == 0 with label i = i % 10. *len receives the
 * size; the caller frees. Exits on out-of-memory (tests only). */
static inline uint8_t tidx_pixel(size_t i) { return (uint8_t)((i * 7 + 3) % 256); }

static inline uint8_t *tidx_make(uint32_t count, uint32_t rows, uint32_t cols, size_t *len) {
    int images = rows != 0;
    size_t head = images ? 16 : 8;
    size_t data = images ? (size_t)count * rows * cols : count;
    uint8_t *b = malloc(head + data + 1);
    if (!b) exit(1);
    b[0] = 0;
    b[1] = 0;
    b[2] = 0x08;
    b[3] = images ? 3 : 1;
    tidx_put_u32(b + 4, count);
    if (images) {
        tidx_put_u32(b + 8, rows);
        tidx_put_u32(b + 12, cols);
    }
    for (size_t i = 0; i < data; i++) b[head + i] = images ? tidx_pixel(i) : (uint8_t)(i % 10);
    *len = head + data;
    return b;
}

/* writes len bytes gzip-compressed to path; 0 on success */
static inline int tidx_write_gz(const char *path, const void *data, size_t len) {
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    int w = len ? gzwrite(g, data, (unsigned)len) : 0;
    int rc = gzclose(g);
    return (w == (int)len && rc == Z_OK) ? 0 : -1;
}

/* reads a whole (small) file; caller frees; NULL on failure */
static inline uint8_t *tidx_read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *b = malloc(1 << 20);
    size_t n = b ? fread(b, 1, 1 << 20, f) : 0;
    fclose(f);
    *len = n;
    return b;
}

#endif
