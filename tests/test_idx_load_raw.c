/* Loading plain (uncompressed) IDX image and label files, from a file and
 * from memory: sizes and every byte come back as written. */
#include "test_idx_util.h"
#include "vae/idx.h"

int main(void) {
    size_t ilen, llen;
    uint8_t *ib = tidx_make(3, 28, 28, &ilen);
    uint8_t *lb = tidx_make(3, 0, 0, &llen);
    const char *ip = check_path("images-idx3-ubyte"), *lp = check_path("labels-idx1-ubyte");
    CHECK(check_write(ip, ib, ilen) == 0);
    CHECK(check_write(lp, lb, llen) == 0);

    IdxImages im;
    IdxLabels lab;
    VaeError err = {{0}};
    CHECK_MSG(idx_load_images(&im, ip, &err) == VAE_OK, "load images: %s", err.msg);
    CHECK(im.count == 3 && im.rows == 28 && im.cols == 28);
    int same = im.pixels != NULL;
    for (size_t i = 0; same && i < 3 * 28 * 28; i++) same = im.pixels[i] == tidx_pixel(i);
    CHECK_MSG(same, "pixels differ from what was written");
    idx_images_free(&im);
    CHECK(im.pixels == NULL && im.count == 0);

    CHECK_MSG(idx_load_labels(&lab, lp, &err) == VAE_OK, "load labels: %s", err.msg);
    CHECK(lab.count == 3 && lab.labels && lab.labels[0] == 0 && lab.labels[1] == 1 && lab.labels[2] == 2);
    idx_labels_free(&lab);

    /* the same bytes from memory */
    CHECK_MSG(idx_parse_images(&im, ib, ilen, "mem", &err) == VAE_OK, "parse images: %s", err.msg);
    CHECK(im.count == 3 && im.rows == 28 && im.cols == 28 && im.pixels && im.pixels[785] == tidx_pixel(785));
    idx_images_free(&im);
    CHECK_MSG(idx_parse_labels(&lab, lb, llen, "mem", &err) == VAE_OK, "parse labels: %s", err.msg);
    CHECK(lab.count == 3 && lab.labels[2] == 2);
    idx_labels_free(&lab);

    /* a larger file than one read chunk (256 KiB) crosses buffer boundaries */
    size_t blen;
    uint8_t *big = tidx_make(500, 28, 28, &blen);
    const char *bp = check_path("big-idx3-ubyte");
    CHECK(check_write(bp, big, blen) == 0);
    CHECK_MSG(idx_load_images(&im, bp, &err) == VAE_OK, "load big: %s", err.msg);
    CHECK(im.count == 500);
    same = im.pixels != NULL && im.count == 500;
    for (size_t i = 0; same && i < (size_t)500 * 784; i++) same = im.pixels[i] == big[16 + i];
    CHECK_MSG(same, "big file pixels differ");
    idx_images_free(&im);
    free(big);
    free(ib);
    free(lb);
    return check_done("test_idx_load_raw");
}
