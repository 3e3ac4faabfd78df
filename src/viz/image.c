/* PNG output: tiles images into a grid like torchvision's make_grid, encodes
 * with stb_image_write into a growable memory buffer, and writes the file
 * atomically. This is the one file that holds stb_image_write's code. */
#include "vae/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vae/fileio.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wconversion"
#endif
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* Grids larger than this are refused: no sane sample sheet needs them, and
 * width * height * channels stays far from int overflow inside stb. */
#define GRID_MAX_SIDE 32768
#define GRID_MAX_PIXELS ((long long)1 << 28)

int image_grid_cols(int n) {
    if (n <= 1) return 1;
    int c = (int)ceil(sqrt((double)n));
    while ((long long)c * c < n) c++;
    while (c > 1 && (long long)(c - 1) * (c - 1) >= n) c--;
    return c;
}

int image_grid_fill_cols(int n, int rows_per_item) {
    if (n <= 1) return 1;
    if (rows_per_item < 1) rows_per_item = 1;
    long long cells = (long long)n * rows_per_item;
    int square = image_grid_cols(cells > (1 << 30) ? (1 << 30) : (int)cells);
    /* the narrowest divisor of n that is at least as wide as the grid is tall
       (c columns, rows_per_item * n / c rows): no ragged last row */
    for (int c = 1; c <= n && c <= 2 * square; c++)
        if (n % c == 0 && (long long)c * c >= cells) return c;
    return square;   /* no divisor near the square: a near-square grid, last row short */
}

int image_grid_size(int n, int ncols, int rows, int cols, int pad, int *width, int *height, VaeError *err) {
    if (n < 1 || ncols < 1 || rows < 1 || cols < 1 || pad < 0)
        return vae_fail(err, "image grid: invalid layout (%d images, %d columns, %dx%d tiles, padding %d)", n, ncols,
                        rows, cols, pad);
    /* like make_grid: never more columns than images */
    long long xmaps = ncols < n ? ncols : n;
    long long ymaps = (n + xmaps - 1) / xmaps;
    long long w = xmaps * ((long long)cols + pad) + pad;
    long long h = ymaps * ((long long)rows + pad) + pad;
    if (w > GRID_MAX_SIDE || h > GRID_MAX_SIDE || w * h > GRID_MAX_PIXELS)
        return vae_fail(err, "image grid: %lldx%lld pixels is too large (the limit is %d pixels a side and %lld in all)",
                        w, h, GRID_MAX_SIDE, GRID_MAX_PIXELS);
    *width = (int)w;
    *height = (int)h;
    return VAE_OK;
}

/* [0,1] -> 0..255 as torchvision's save_image: floor(v * 255 + 0.5), clamped */
static uint8_t to_byte(float v) {
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 1.0f) return 255;
    int x = (int)(v * 255.0f + 0.5f);
    return (uint8_t)(x > 255 ? 255 : x);
}

/* Draws one rows x cols tile at tile position (tx, ty) of a grid image W wide. */
static void put_tile(uint8_t *px, int W, const float *img, int tx, int ty, int rows, int cols, int pad) {
    size_t y0 = (size_t)ty * (size_t)(rows + pad) + (size_t)pad;
    size_t x0 = (size_t)tx * (size_t)(cols + pad) + (size_t)pad;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            px[(y0 + (size_t)r) * (size_t)W + x0 + (size_t)c] = to_byte(img[(size_t)r * cols + c]);
}

int image_write_grid_png(const char *path, const float *imgs, int n, int rows, int cols, int ncols, int pad,
                         VaeError *err) {
    int W, H;
    VaeError gerr;
    if (image_grid_size(n, ncols, rows, cols, pad, &W, &H, &gerr) != VAE_OK)
        return vae_fail(err, "%s: %s", path, gerr.msg);
    int xmaps = ncols < n ? ncols : n;
    uint8_t *px = calloc((size_t)W * (size_t)H, 1); /* pad value 0 */
    if (!px) return vae_fail(err, "%s: out of memory for a %dx%d image", path, W, H);
    size_t D = (size_t)rows * (size_t)cols;
    for (int k = 0; k < n; k++) put_tile(px, W, imgs + (size_t)k * D, k % xmaps, k / xmaps, rows, cols, pad);
    int rc = image_write_png(path, px, W, H, 1, err);
    free(px);
    return rc;
}

int image_write_pairs_png(const char *path, const float *top, const float *bottom, int n, int rows, int cols,
                          int ncols, int pad, VaeError *err) {
    int W, H;
    VaeError gerr;
    int xmaps = ncols < n ? ncols : n;
    if (n < 1 || ncols < 1) return vae_fail(err, "%s: a grid needs at least one image and one column", path);
    /* the size of a grid of 2 * (tile rows) full rows */
    int tile_rows = (n + xmaps - 1) / xmaps;
    if (image_grid_size(2 * tile_rows * xmaps, xmaps, rows, cols, pad, &W, &H, &gerr) != VAE_OK)
        return vae_fail(err, "%s: %s", path, gerr.msg);
    uint8_t *px = calloc((size_t)W * (size_t)H, 1);
    if (!px) return vae_fail(err, "%s: out of memory for a %dx%d image", path, W, H);
    size_t D = (size_t)rows * (size_t)cols;
    for (int k = 0; k < n; k++) {
        int tx = k % xmaps, ty = 2 * (k / xmaps);
        put_tile(px, W, top + (size_t)k * D, tx, ty, rows, cols, pad);
        put_tile(px, W, bottom + (size_t)k * D, tx, ty + 1, rows, cols, pad);
    }
    int rc = image_write_png(path, px, W, H, 1, err);
    free(px);
    return rc;
}

/* growable memory sink for stbi_write_png_to_func */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    int oom;
} MemBuf;

static void mem_sink(void *ctx, void *data, int size) {
    MemBuf *b = ctx;
    if (b->oom || size <= 0) return;
    size_t need;
    if (vae_add_size(b->len, (size_t)size, &need) != 0) {
        b->oom = 1;
        return;
    }
    if (need > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < need) {
            if (ncap > SIZE_MAX / 2) {
                ncap = need;
                break;
            }
            ncap *= 2;
        }
        uint8_t *p = realloc(b->data, ncap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->data = p;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, data, (size_t)size);
    b->len = need;
}

int image_write_png(const char *path, const uint8_t *pixels, int width, int height, int channels, VaeError *err) {
    if (width < 1 || height < 1 || width > GRID_MAX_SIDE || height > GRID_MAX_SIDE ||
        (long long)width * height > GRID_MAX_PIXELS)
        return vae_fail(err, "%s: image size %dx%d is out of range", path, width, height);
    if (channels != 1 && channels != 3)
        return vae_fail(err, "%s: %d channels; only 1 (gray) and 3 (RGB) are supported", path, channels);
    MemBuf b = {0};
    int ok = stbi_write_png_to_func(mem_sink, &b, width, height, channels, pixels, width * channels);
    if (!ok || b.oom) {
        free(b.data);
        return vae_fail(err, "%s: could not encode the PNG (out of memory)", path);
    }
    int rc = vae_write_file(path, b.data, b.len, err);
    free(b.data);
    return rc;
}
