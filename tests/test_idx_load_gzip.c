/* Loading gzip-compressed IDX files: recognised by the 1f 8b magic bytes, not
 * by the name (a gzip file without .gz and a raw file named .gz both load),
 * from files and from memory, including a concatenated two-member gzip. */
#include "test_idx_util.h"
#include "vae/idx.h"

#include <stdio.h>

static int same_pixels(const IdxImages *im, uint32_t count, uint32_t rows, uint32_t cols) {
    if (!im->pixels || im->count != count || im->rows != rows || im->cols != cols) return 0;
    for (size_t i = 0; i < (size_t)count * rows * cols; i++)
        if (im->pixels[i] != tidx_pixel(i)) return 0;
    return 1;
}

int main(void) {
    size_t ilen, llen;
    uint8_t *ib = tidx_make(400, 28, 28, &ilen);   /* > 256 KiB decompressed */
    uint8_t *lb = tidx_make(400, 0, 0, &llen);
    IdxImages im;
    IdxLabels lab;
    VaeError err = {{0}};

    const char *gz = check_path("train-images-idx3-ubyte.gz");
    CHECK(tidx_write_gz(gz, ib, ilen) == 0);
    CHECK_MSG(idx_load_images(&im, gz, &err) == VAE_OK, "load gz: %s", err.msg);
    CHECK_MSG(same_pixels(&im, 400, 28, 28), "gz pixels differ");
    idx_images_free(&im);

    const char *gzl = check_path("labels.gz");
    CHECK(tidx_write_gz(gzl, lb, llen) == 0);
    CHECK_MSG(idx_load_labels(&lab, gzl, &err) == VAE_OK, "load gz labels: %s", err.msg);
    CHECK(lab.count == 400 && lab.labels[399] == 9);
    idx_labels_free(&lab);

    /* gzip content under a plain name */
    const char *hidden = check_path("gzip-without-suffix");
    CHECK(tidx_write_gz(hidden, ib, ilen) == 0);
    CHECK_MSG(idx_load_images(&im, hidden, &err) == VAE_OK, "gzip named plain: %s", err.msg);
    CHECK_MSG(same_pixels(&im, 400, 28, 28), "gzip named plain: pixels differ");
    idx_images_free(&im);

    /* raw content under a .gz name */
    const char *fake = check_path("raw-named.gz");
    CHECK(check_write(fake, ib, ilen) == 0);
    CHECK_MSG(idx_load_images(&im, fake, &err) == VAE_OK, "raw named .gz: %s", err.msg);
    CHECK_MSG(same_pixels(&im, 400, 28, 28), "raw named .gz: pixels differ");
    idx_images_free(&im);

    /* from memory: the compressed bytes of the file written above */
    size_t glen;
    uint8_t *gbytes = tidx_read_all(gz, &glen);
    CHECK(gbytes && glen > 2 && gbytes[0] == 0x1f && gbytes[1] == 0x8b);
    CHECK_MSG(idx_parse_images(&im, gbytes, glen, "mem.gz", &err) == VAE_OK, "parse gz: %s", err.msg);
    CHECK_MSG(same_pixels(&im, 400, 28, 28), "parse gz: pixels differ");
    idx_images_free(&im);
    free(gbytes);

    /* two gzip members back to back (what `cat a.gz b.gz` makes) are one stream */
    const char *m1 = check_path("m1.gz"), *m2 = check_path("m2.gz"), *mm = check_path("multi.gz");
    CHECK(tidx_write_gz(m1, ib, 1000) == 0);
    CHECK(tidx_write_gz(m2, ib + 1000, ilen - 1000) == 0);
    size_t l1, l2;
    uint8_t *b1 = tidx_read_all(m1, &l1), *b2 = tidx_read_all(m2, &l2);
    uint8_t *cat = malloc(l1 + l2);
    CHECK(b1 && b2 && cat);
    if (b1 && b2 && cat) {
        memcpy(cat, b1, l1);
        memcpy(cat + l1, b2, l2);
        CHECK(check_write(mm, cat, l1 + l2) == 0);
        CHECK_MSG(idx_load_images(&im, mm, &err) == VAE_OK, "multi-member gz: %s", err.msg);
        CHECK_MSG(same_pixels(&im, 400, 28, 28), "multi-member gz: pixels differ");
        idx_images_free(&im);
    }
    free(b1);
    free(b2);
    free(cat);
    free(ib);
    free(lb);
    return check_done("test_idx_load_gzip");
}
