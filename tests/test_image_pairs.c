/* image_write_pairs_png: every top image sits directly above its bottom
 * partner, a short last row is padded with black, and the picture has the
 * size of 2 * ceil(n / ncols) full tile rows. Read back with stb_image. */
#include <stdlib.h>
#include <string.h>

#include "read_png.h"

#include "check.h"
#include "vae/image.h"

enum { R = 3, C = 2, N = 5, COLS = 3, PAD = 2 };

int main(void) {
    float top[N * R * C], bottom[N * R * C];
    /* top image k is flat (k+1)/10, bottom image k is flat (k+1)/10 + 0.5 */
    for (int k = 0; k < N; k++)
        for (int i = 0; i < R * C; i++) {
            top[k * R * C + i] = (float)(k + 1) / 10.0f;
            bottom[k * R * C + i] = (float)(k + 1) / 10.0f + 0.5f;
        }
    const char *path = check_path("pairs.png");
    VaeError err;
    CHECK(image_write_pairs_png(path, top, bottom, N, R, C, COLS, PAD, &err) == VAE_OK);
    int w = 0, h = 0, ch = 0;
    unsigned char *px = stbi_load(path, &w, &h, &ch, 1);
    CHECK(px != NULL);
    if (!px) return check_done("test_image_pairs");
    /* 3 columns; 2 rows of pairs -> 4 tile rows */
    CHECK(w == COLS * (C + PAD) + PAD);
    CHECK(h == 4 * (R + PAD) + PAD);
    for (int k = 0; k < N; k++) {
        int tx = k % COLS, ty = 2 * (k / COLS);
        int x = tx * (C + PAD) + PAD, y = ty * (R + PAD) + PAD;
        int want_top = (int)((float)(k + 1) / 10.0f * 255.0f + 0.5f);
        int want_bottom = (int)(((float)(k + 1) / 10.0f + 0.5f) * 255.0f + 0.5f);
        CHECK_MSG(px[y * w + x] == want_top, "top %d at (%d,%d): %d, want %d", k, x, y, px[y * w + x], want_top);
        int yb = y + R + PAD;
        CHECK_MSG(px[yb * w + x] == want_bottom, "bottom %d at (%d,%d): %d, want %d", k, x, yb, px[yb * w + x],
                  want_bottom);
    }
    /* the padding slot after the last pair stays black, in both rows */
    int x = 2 * (C + PAD) + PAD, y = 2 * (R + PAD) + PAD;
    CHECK(px[y * w + x] == 0 && px[(y + R + PAD) * w + x] == 0);
    stbi_image_free(px);
    CHECK(image_write_pairs_png(check_path("none.png"), top, bottom, 0, R, C, COLS, PAD, &err) == VAE_ERR);
    return check_done("test_image_pairs");
}
