/* Every header problem is refused with its own message, prefixed by the path,
 * whether the bytes come from a raw file, a gzip file or memory: wrong magic,
 * wrong element type, label/image mix-ups, other dim counts, overflowing or
 * oversized sizes, zero items, zero rows/cols, empty and too-short input. */
#include "test_idx_util.h"
#include "vae/idx.h"

#include <stdio.h>

/* Checks that `b` is refused as images (or labels) with `needle` in the message,
 * in all three forms, and that the output struct is left empty. */
static void expect(int images, const uint8_t *b, size_t len, const char *needle) {
    static int n;
    char name[64];
    snprintf(name, sizeof name, "case%d", n++);
    const char *raw = check_path(name);
    snprintf(name, sizeof name, "case%d.gz", n - 1);
    const char *gz = check_path(name);
    CHECK(check_write(raw, b, len) == 0);
    CHECK(tidx_write_gz(gz, b, len) == 0);
    const char *srcs[3] = {raw, gz, "memory-input"};
    for (int k = 0; k < 3; k++) {
        VaeError err = {{0}};
        int rc;
        if (images) {
            IdxImages im;
            memset(&im, 0xab, sizeof im);
            rc = k < 2 ? idx_load_images(&im, srcs[k], &err) : idx_parse_images(&im, b, len, srcs[k], &err);
            CHECK_MSG(im.pixels == NULL && im.count == 0, "%s: struct not cleared on failure", srcs[k]);
        } else {
            IdxLabels lb;
            memset(&lb, 0xab, sizeof lb);
            rc = k < 2 ? idx_load_labels(&lb, srcs[k], &err) : idx_parse_labels(&lb, b, len, srcs[k], &err);
            CHECK_MSG(lb.labels == NULL && lb.count == 0, "%s: struct not cleared on failure", srcs[k]);
        }
        CHECK_MSG(rc == VAE_ERR, "%s: accepted, wanted \"%s\"", srcs[k], needle);
        check_contains(srcs[k], err.msg, needle);
        char prefix[4200];
        snprintf(prefix, sizeof prefix, "%s: ", srcs[k]);
        CHECK_MSG(strncmp(err.msg, prefix, strlen(prefix)) == 0, "message \"%s\" does not start with the path", err.msg);
    }
}

int main(void) {
    size_t ilen, llen;
    uint8_t *img = tidx_make(2, 3, 4, &ilen);
    uint8_t *lab = tidx_make(2, 0, 0, &llen);
    uint8_t b[64];

    memcpy(b, img, ilen);
    b[0] = 0x50; /* "PK": some other file */
    expect(1, b, ilen, "not an IDX file");
    memcpy(b, img, ilen);
    b[1] = 0x01;
    expect(1, b, ilen, "not an IDX file");

    memcpy(b, img, ilen);
    b[2] = 0x0D; /* float */
    expect(1, b, ilen, "element type 0x0d is not unsigned byte");
    memcpy(b, lab, llen);
    b[2] = 0x09; /* signed byte */
    expect(0, b, llen, "element type 0x09 is not unsigned byte");

    expect(1, lab, llen, "expected 3 dims for images, found 1 — is this a label file?");
    expect(0, img, ilen, "expected 1 dim for labels, found 3 — is this an image file?");
    memcpy(b, img, ilen);
    b[3] = 2;
    expect(1, b, ilen, "expected 3 dims for images, found 2");

    /* 2^32-1 cubed overflows 64 bits */
    memcpy(b, img, 16);
    tidx_put_u32(b + 4, 0xffffffffu);
    tidx_put_u32(b + 8, 0xffffffffu);
    tidx_put_u32(b + 12, 0xffffffffu);
    expect(1, b, 16, "sizes in the header overflow");
    /* 65536 * 256 * 256 = 4 GiB + nothing: over the cap, must not be allocated */
    tidx_put_u32(b + 4, 65537);
    tidx_put_u32(b + 8, 256);
    tidx_put_u32(b + 12, 256);
    expect(1, b, 16, "over the 4 GiB limit");
    /* a header claiming 4 GiB - 1 labels with 3 bytes present: truncated, nothing huge allocated */
    memcpy(b, lab, 8);
    tidx_put_u32(b + 4, 0xffffffffu);
    expect(0, b, 11, "truncated: header says 4294967295 bytes of data, found 3");

    memcpy(b, img, ilen);
    tidx_put_u32(b + 4, 0);
    expect(1, b, 16, "header says 0 images");
    memcpy(b, lab, llen);
    tidx_put_u32(b + 4, 0);
    expect(0, b, 8, "header says 0 labels");
    memcpy(b, img, ilen);
    tidx_put_u32(b + 8, 0);
    expect(1, b, 16, "zero rows or columns");
    memcpy(b, img, ilen);
    tidx_put_u32(b + 12, 0);
    expect(1, b, 16, "zero rows or columns");

    expect(1, img, 0, "empty file");
    expect(0, lab, 0, "empty file");
    expect(1, img, 3, "too short");
    expect(1, img, 10, "truncated header: need 16 bytes, found 10");
    expect(0, lab, 6, "truncated header: need 8 bytes, found 6");

    free(img);
    free(lab);
    return check_done("test_idx_rejects_bad_header");
}
