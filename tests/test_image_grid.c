/* Image grids: the size formula of torchvision's make_grid (padding 2, pad
 * value 0), and a written PNG read back with stb_image: every tile's pixels
 * are round(clamp(v, 0, 1) * 255) with NaN -> 0, and the border is black. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "read_png.h"

#include "check.h"
#include "vae/fileio.h"
#include "vae/image.h"

/* the expected byte, written independently of image.c: nearest of 0..255,
 * ties upwards (torchvision adds 0.5 and truncates) */
static int want_byte(float v) {
    if (isnan(v) || v <= 0) return 0;
    if (v >= 1) return 255;
    int best = 0;
    for (int k = 1; k < 256; k++)
        if (fabs(k / 255.0 - v) <= fabs(best / 255.0 - v)) best = k;
    return best;
}

int main(void) {
    VaeError err;
    /* near-square column counts */
    int ncols_for[][2] = {{1, 1}, {2, 2}, {4, 2}, {5, 3}, {9, 3}, {10, 4}, {16, 4}, {17, 5}, {64, 8}, {100, 10}};
    for (size_t i = 0; i < sizeof ncols_for / sizeof ncols_for[0]; i++)
        CHECK_MSG(image_grid_cols(ncols_for[i][0]) == ncols_for[i][1], "image_grid_cols(%d) = %d, want %d",
                  ncols_for[i][0], image_grid_cols(ncols_for[i][0]), ncols_for[i][1]);

    /* sizes: W = ncols*(cols+pad)+pad, H = ceil(n/ncols)*(rows+pad)+pad */
    int cases[][7] = {/* n, ncols, rows, cols, pad, W, H */
                      {64, 8, 28, 28, 2, 242, 242},
                      {10, 4, 28, 28, 2, 122, 92},
                      {1, 1, 28, 28, 2, 32, 32},
                      {7, 3, 5, 9, 2, 35, 23},
                      {6, 6, 3, 4, 0, 24, 3},
                      {3, 8, 2, 2, 1, 10, 4}}; /* never more columns than images, as make_grid */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int w = -1, h = -1, *c = cases[i];
        CHECK(image_grid_size(c[0], c[1], c[2], c[3], c[4], &w, &h, &err) == VAE_OK);
        CHECK_MSG(w == c[5] && h == c[6], "grid n=%d ncols=%d %dx%d pad %d: got %dx%d, want %dx%d", c[0], c[1], c[2],
                  c[3], c[4], w, h, c[5], c[6]);
    }
    int w, h;
    CHECK(image_grid_size(0, 1, 28, 28, 2, &w, &h, &err) == VAE_ERR);
    CHECK(image_grid_size(4, 0, 28, 28, 2, &w, &h, &err) == VAE_ERR);
    CHECK(image_grid_size(4, 2, 28, 28, -1, &w, &h, &err) == VAE_ERR);
    CHECK(image_grid_size(1000000, 1000, 28, 28, 2, &w, &h, &err) == VAE_ERR);
    check_contains("huge grid", err.msg, "too large");

    /* 7 tiles of 3x4 in 3 columns: values cover clamping, NaN and rounding */
    int n = 7, rows = 3, cols = 4, ncols = 3, pad = 2;
    float imgs[7 * 12];
    for (int i = 0; i < n * rows * cols; i++) imgs[i] = (float)((i * 37) % 101) / 97.0f - 0.02f;
    imgs[0] = NAN;
    imgs[1] = -5.0f;
    imgs[2] = 7.0f;
    imgs[3] = 0.5f;
    imgs[4] = 1.0f / 510.0f + 1e-6f; /* just above half a step: rounds up to 1 */
    const char *p = check_path("grid.png");
    CHECK(image_write_grid_png(p, imgs, n, rows, cols, ncols, pad, &err) == VAE_OK);

    uint8_t *file;
    size_t len;
    CHECK(vae_read_file(p, &file, &len, 1 << 20, &err) == VAE_OK);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(len > 8 && memcmp(file, sig, 8) == 0);
    int W, H, ch;
    uint8_t *px = stbi_load_from_memory(file, (int)len, &W, &H, &ch, 0);
    free(file);
    CHECK(px != NULL);
    if (!px) return check_done("test_image_grid");
    CHECK(W == 3 * (4 + 2) + 2 && H == 3 * (3 + 2) + 2 && ch == 1);
    /* every pixel: inside a tile -> its value, else the black border */
    uint8_t *inside = calloc((size_t)W * H, 1);
    int bad = 0;
    for (int k = 0; k < n; k++) {
        int y0 = (k / ncols) * (rows + pad) + pad, x0 = (k % ncols) * (cols + pad) + pad;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int got = px[(y0 + r) * W + x0 + c], want = want_byte(imgs[k * rows * cols + r * cols + c]);
                inside[(y0 + r) * W + x0 + c] = 1;
                if (got != want && bad++ < 5)
                    CHECK_MSG(0, "tile %d pixel (%d,%d): got %d, want %d", k, r, c, got, want);
            }
    }
    CHECK(bad == 0);
    CHECK(px[pad * W + pad] == 0 && px[pad * W + pad + 1] == 0 && px[pad * W + pad + 2] == 255);
    CHECK(px[pad * W + pad + 3] == 128 && px[(pad + 1) * W + pad] == 1);
    int border = 0;
    for (int i = 0; i < W * H; i++)
        if (!inside[i] && px[i] != 0) border++;
    CHECK_MSG(border == 0, "%d border pixels are not 0", border);
    free(inside);
    stbi_image_free(px);

    /* a missing folder is reported with the path */
    const char *pm = check_path("nope/grid.png");
    CHECK(image_write_grid_png(pm, imgs, n, rows, cols, ncols, pad, &err) == VAE_ERR);
    check_contains("missing folder", err.msg, pm);
    check_contains("missing folder", err.msg, "No such file or directory");
    return check_done("test_image_grid");
}
