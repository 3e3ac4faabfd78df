/* image_write_png: an RGB and a gray image survive a PNG round trip
 * through stb_image byte for byte; bad sizes and channel counts are refused. */
#include <stdlib.h>
#include <string.h>

#include "read_png.h"

#include "check.h"
#include "vae/image.h"

static void round_trip(int w, int h, int ch) {
    VaeError err;
    size_t n = (size_t)w * h * ch;
    uint8_t *src = malloc(n);
    for (size_t i = 0; i < n; i++) src[i] = (uint8_t)((i * 131 + i / 7) & 0xff);
    const char *p = check_path(ch == 3 ? "rgb.png" : "gray.png");
    CHECK(image_write_png(p, src, w, h, ch, &err) == VAE_OK);
    int W, H, C;
    uint8_t *px = stbi_load(p, &W, &H, &C, 0);
    CHECK(px != NULL);
    if (px) {
        CHECK(W == w && H == h && C == ch);
        CHECK(memcmp(px, src, n) == 0);
        stbi_image_free(px);
    }
    free(src);
}

int main(void) {
    round_trip(17, 5, 3);
    round_trip(1, 1, 3);
    round_trip(30, 40, 1);
    VaeError err;
    uint8_t px[12] = {0};
    const char *p = check_path("bad.png");
    CHECK(image_write_png(p, px, 2, 2, 2, &err) == VAE_ERR);
    check_contains("channels", err.msg, "channels");
    CHECK(image_write_png(p, px, 0, 2, 1, &err) == VAE_ERR);
    CHECK(image_write_png(p, px, 2, -1, 1, &err) == VAE_ERR);
    check_contains("size", err.msg, p);
    return check_done("test_image_png_rgb");
}
