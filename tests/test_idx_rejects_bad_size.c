/* The payload must be exactly as long as the header says: a short file and a
 * long one are refused with the byte counts, raw, gzip and from memory. */
#include "test_idx_util.h"
#include "vae/idx.h"

static void expect(const uint8_t *b, size_t len, int images, const char *needle) {
    const char *raw = check_path("sized"), *gz = check_path("sized.gz");
    CHECK(check_write(raw, b, len) == 0);
    CHECK(tidx_write_gz(gz, b, len) == 0);
    for (int k = 0; k < 3; k++) {
        VaeError err = {{0}};
        int rc;
        if (images) {
            IdxImages im;
            rc = k == 0 ? idx_load_images(&im, raw, &err)
                 : k == 1 ? idx_load_images(&im, gz, &err) : idx_parse_images(&im, b, len, "mem", &err);
            CHECK(im.pixels == NULL);
        } else {
            IdxLabels lb;
            rc = k == 0 ? idx_load_labels(&lb, raw, &err)
                 : k == 1 ? idx_load_labels(&lb, gz, &err) : idx_parse_labels(&lb, b, len, "mem", &err);
            CHECK(lb.labels == NULL);
        }
        CHECK_MSG(rc == VAE_ERR, "form %d accepted, wanted \"%s\"", k, needle);
        check_contains("size message", err.msg, needle);
    }
}

int main(void) {
    size_t ilen, llen;
    uint8_t *img = tidx_make(10, 6, 5, &ilen);   /* 300 bytes of data */
    uint8_t *lab = tidx_make(10, 0, 0, &llen);   /* 10 */

    expect(img, ilen - 1, 1, "truncated: header says 300 bytes of data, found 299");
    expect(img, 16, 1, "truncated: header says 300 bytes of data, found 0");
    expect(lab, llen - 4, 0, "truncated: header says 10 bytes of data, found 6");

    uint8_t *longer = malloc(ilen + 5000);
    CHECK(longer != NULL);
    if (longer) {
        memcpy(longer, img, ilen);
        memset(longer + ilen, 0, 5000);
        expect(longer, ilen + 1, 1, ": 1 trailing bytes after the data");
        expect(longer, ilen + 5000, 1, ": 5000 trailing bytes after the data");
        memcpy(longer, lab, llen);
        memset(longer + llen, 7, 3);
        expect(longer, llen + 3, 0, ": 3 trailing bytes after the data");
        /* an image file with its count one too large is one image short */
        memcpy(longer, img, ilen);
        tidx_put_u32(longer + 4, 11);
        expect(longer, ilen, 1, "truncated: header says 330 bytes of data, found 300");
    }
    free(longer);
    free(img);
    free(lab);
    return check_done("test_idx_rejects_bad_size");
}
