/* idx_gather turns uint8 pixels into floats k/255, consecutive from `first`
 * or by an index list, in (n, rows*cols) layout. */
#include "test_idx_util.h"
#include "vae/idx.h"

int main(void) {
    /* 256 images of 2x3; image i has pixels (i + j) % 256, so every value 0..255 occurs */
    enum { N = 256, D = 6 };
    IdxImages im = {0};
    im.count = N;
    im.rows = 2;
    im.cols = 3;
    im.pixels = malloc(N * D);
    float *out = malloc(sizeof(float) * N * D), *ref = malloc(sizeof(float) * N * D);
    CHECK(im.pixels && out && ref);
    if (!im.pixels || !out || !ref) return check_done("test_idx_gather");
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) im.pixels[i * D + j] = (uint8_t)((i + j) % 256);

    /* all 256 images consecutively: each value is the float nearest k/255 */
    idx_gather(&im, NULL, 0, N, out);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) ref[i * D + j] = (float)(((i + j) % 256) / 255.0);
    check_close("gather all", out, ref, N * D, 0, 1e-7);
    CHECK(out[0] == 0.0f);          /* pixel 0 */
    CHECK(out[255 * D] == 1.0f);    /* image 255, pixel 0 = 255 */

    /* consecutive from first = 10, n = 3 */
    idx_gather(&im, NULL, 10, 3, out);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < D; j++) ref[i * D + j] = (float)(((10 + i + j) % 256) / 255.0);
    check_close("gather from 10", out, ref, 3 * D, 0, 1e-7);

    /* by index, with repeats and out of order */
    uint32_t index[5] = {200, 3, 3, 255, 0};
    idx_gather(&im, index, 999 /* ignored */, 5, out);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < D; j++) ref[i * D + j] = (float)(((index[i] + j) % 256) / 255.0);
    check_close("gather by index", out, ref, 5 * D, 0, 1e-7);

    /* n = 0 writes nothing */
    out[0] = -1.0f;
    idx_gather(&im, NULL, 0, 0, out);
    CHECK(out[0] == -1.0f);

    free(im.pixels);
    free(out);
    free(ref);
    return check_done("test_idx_gather");
}
