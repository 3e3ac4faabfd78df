/* Images need not be 28x28: a 5-row, 7-column file loads with its own shape,
 * row-major, raw and gzip. */
#include "test_idx_util.h"
#include "vae/idx.h"

int main(void) {
    size_t len;
    uint8_t *b = tidx_make(4, 5, 7, &len);
    const char *raw = check_path("r"), *gz = check_path("g");
    CHECK(check_write(raw, b, len) == 0);
    CHECK(tidx_write_gz(gz, b, len) == 0);
    const char *paths[2] = {raw, gz};
    for (int k = 0; k < 2; k++) {
        IdxImages im;
        VaeError err = {{0}};
        CHECK_MSG(idx_load_images(&im, paths[k], &err) == VAE_OK, "%s: %s", paths[k], err.msg);
        CHECK(im.count == 4 && im.rows == 5 && im.cols == 7);
        /* image 2, row 3, column 6 sits at 2*35 + 3*7 + 6 */
        CHECK(im.pixels && im.pixels[2 * 35 + 3 * 7 + 6] == tidx_pixel(2 * 35 + 3 * 7 + 6));
        CHECK(im.pixels && im.pixels[4 * 35 - 1] == tidx_pixel(4 * 35 - 1));
        idx_images_free(&im);
    }
    /* 1 x N and N x 1 */
    uint8_t *w = tidx_make(2, 1, 9, &len);
    IdxImages im;
    VaeError err = {{0}};
    CHECK_MSG(idx_parse_images(&im, w, len, "wide", &err) == VAE_OK, "wide: %s", err.msg);
    CHECK(im.rows == 1 && im.cols == 9 && im.count == 2);
    idx_images_free(&im);
    free(w);
    free(b);
    return check_done("test_idx_non_square");
}
