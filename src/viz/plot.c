/* Scatter-plot rendering into an RGB buffer (see include/vae/plot.h): layout,
 * discs, frame, text via stb_easy_font's quads, legend. This is the one file
 * that includes stb_easy_font. */
#include "vae/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae/image.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#endif
#include <stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

const uint8_t PLOT_PALETTE[PLOT_MAX_CLASSES][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};
const uint8_t PLOT_BACKGROUND[3] = {255, 255, 255};
static const uint8_t FRAME[3] = {40, 40, 40};
static const uint8_t OTHER[3] = {170, 170, 170};

#define PLOT_MIN_W 200
#define PLOT_MIN_H 150
#define PLOT_MAX_SIDE 8192
#define TEXT_SCALE 2            /* legend and title: easy_font glyphs are ~7 px tall */
#define TICK_SCALE 1

void plot_default_style(PlotStyle *s) {
    s->width = 800;
    s->height = 640;
    s->radius = 2;
    s->title = NULL;
    s->n_classes = PLOT_MAX_CLASSES;
    s->class_names = NULL;
}

typedef struct {
    uint8_t *rgb;
    int w, h;
} Canvas;

static void put(Canvas *c, int x, int y, const uint8_t col[3]) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = col[0];
    p[1] = col[1];
    p[2] = col[2];
}

static void fill_rect(Canvas *c, int x0, int y0, int x1, int y1, const uint8_t col[3]) {
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) put(c, x, y, col);
}

/* a disc of radius r: the pixels with dx^2 + dy^2 <= r^2 + r (rounder than r^2
   for small r), clipped to the rectangle [cx0, cx1] x [cy0, cy1] */
static void fill_disc(Canvas *c, int cx, int cy, int r, const uint8_t col[3], int x0, int y0, int x1, int y1) {
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++) {
            int x = cx + dx, y = cy + dy;
            if (dx * dx + dy * dy > r * r + r || x < x0 || x > x1 || y < y0 || y > y1) continue;
            put(c, x, y, col);
        }
}

/* Width in pixels of text at a scale (easy_font units are pixels at scale 1). */
static int text_width(const char *text, int scale) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    return stb_easy_font_width(buf) * scale;
}

/* Draws text with its top-left corner at (x, y): stb_easy_font emits
   axis-aligned quads (4 vertices of x, y, z floats + 4 colour bytes), each
   filled here as a rectangle scaled by `scale`. */
static void draw_text(Canvas *c, int x, int y, const char *text, int scale, const uint8_t col[3]) {
    char vbuf[64 * 1024]; /* ~270 bytes per character */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    int quads = stb_easy_font_print(0, 0, buf, NULL, vbuf, (int)sizeof vbuf);
    for (int q = 0; q < quads; q++) {
        float v0[2], v2[2];
        memcpy(v0, vbuf + (size_t)q * 64, sizeof v0);          /* vertex 0 of quad q */
        memcpy(v2, vbuf + (size_t)q * 64 + 32, sizeof v2);     /* vertex 2, the far corner */
        int qx0 = x + (int)lroundf(v0[0] * (float)scale), qy0 = y + (int)lroundf(v0[1] * (float)scale);
        int qx1 = x + (int)lroundf(v2[0] * (float)scale) - 1, qy1 = y + (int)lroundf(v2[1] * (float)scale) - 1;
        fill_rect(c, qx0, qy0, qx1, qy1, col);
    }
}

static void frame_rect(Canvas *c, int x0, int y0, int x1, int y1, const uint8_t col[3]) {
    fill_rect(c, x0, y0, x1, y0, col);
    fill_rect(c, x0, y1, x1, y1, col);
    fill_rect(c, x0, y0, x0, y1, col);
    fill_rect(c, x1, y0, x1, y1, col);
}

static const char *class_name(const PlotStyle *s, int k, char *buf, size_t len) {
    if (s->class_names && s->class_names[k]) return s->class_names[k];
    snprintf(buf, len, "%d", k);
    return buf;
}

static void data_range(const double *v, int n, double *lo, double *hi) {
    double a = v[0], b = v[0];
    for (int i = 1; i < n; i++) {
        if (v[2 * i] < a) a = v[2 * i];
        if (v[2 * i] > b) b = v[2 * i];
    }
    double pad = b > a ? 0.05 * (b - a) : 1.0;
    *lo = a - pad;
    *hi = b + pad;
}

int plot_scatter_render(const PlotStyle *s, const double *xy, const int *labels, int n, uint8_t *rgb,
                        PlotLayout *layout, VaeError *err) {
    if (s->width < PLOT_MIN_W || s->height < PLOT_MIN_H || s->width > PLOT_MAX_SIDE || s->height > PLOT_MAX_SIDE)
        return vae_fail(err, "plot: %dx%d pixels is outside %dx%d..%dx%d", s->width, s->height, PLOT_MIN_W,
                        PLOT_MIN_H, PLOT_MAX_SIDE, PLOT_MAX_SIDE);
    if (s->radius < 0 || s->radius > 50 || s->n_classes < 1 || s->n_classes > PLOT_MAX_CLASSES)
        return vae_fail(err, "plot: invalid style (radius %d, %d classes)", s->radius, s->n_classes);
    if (n < 1) return vae_fail(err, "plot: no points to draw");
    for (long i = 0; i < 2L * n; i++)
        if (!isfinite(xy[i])) return vae_fail(err, "plot: coordinate %ld of point %ld is not finite", i % 2, i / 2);

    Canvas c = {rgb, s->width, s->height};
    for (size_t i = 0; i < (size_t)s->width * (size_t)s->height; i++) memcpy(rgb + 3 * i, PLOT_BACKGROUND, 3);

    /* legend width follows the longest class name */
    char nb[16];
    int name_w = 0;
    for (int k = 0; k < s->n_classes; k++) {
        int w = text_width(class_name(s, k, nb, sizeof nb), TEXT_SCALE);
        if (w > name_w) name_w = w;
    }
    int row_h = 9 * TEXT_SCALE, sw = 5 * TEXT_SCALE; /* legend row height, swatch radius */
    int legend_w = 10 + 2 * sw + 8 + name_w + 10;
    PlotLayout L;
    L.box_x0 = 60;
    L.box_y0 = s->title ? 40 : 20;
    L.box_x1 = s->width - legend_w - 20;
    L.box_y1 = s->height - 30;
    if (L.box_x1 - L.box_x0 < 50 || L.box_y1 - L.box_y0 < 50)
        return vae_fail(err, "plot: %dx%d pixels leaves no room for the plot beside the legend", s->width, s->height);
    L.legend_x0 = L.box_x1 + 10;
    L.legend_x1 = L.legend_x0 + legend_w - 1;
    L.legend_y0 = L.box_y0;
    L.legend_y1 = L.box_y0 + 10 + s->n_classes * row_h + 10 - 1;
    if (L.legend_x1 >= s->width || L.legend_y1 >= s->height)
        return vae_fail(err, "plot: %dx%d pixels is too small for a legend of %d classes", s->width, s->height,
                        s->n_classes);
    data_range(xy, n, &L.xmin, &L.xmax);
    data_range(xy + 1, n, &L.ymin, &L.ymax);

    /* points, clipped to the inside of the frame */
    double sx = (double)(L.box_x1 - L.box_x0) / (L.xmax - L.xmin);
    double sy = (double)(L.box_y1 - L.box_y0) / (L.ymax - L.ymin);
    for (int i = 0; i < n; i++) {
        int px = L.box_x0 + (int)lround((xy[2 * i] - L.xmin) * sx);
        int py = L.box_y1 - (int)lround((xy[2 * i + 1] - L.ymin) * sy);
        int lab = labels ? labels[i] : 0;
        const uint8_t *col = lab >= 0 && lab < s->n_classes ? PLOT_PALETTE[lab] : OTHER;
        fill_disc(&c, px, py, s->radius, col, L.box_x0 + 1, L.box_y0 + 1, L.box_x1 - 1, L.box_y1 - 1);
    }
    frame_rect(&c, L.box_x0, L.box_y0, L.box_x1, L.box_y1, FRAME);

    /* axis ranges at the corners */
    char t[64];
    snprintf(t, sizeof t, "%.3g", L.xmin);
    draw_text(&c, L.box_x0, L.box_y1 + 6, t, TICK_SCALE, FRAME);
    snprintf(t, sizeof t, "%.3g", L.xmax);
    draw_text(&c, L.box_x1 - text_width(t, TICK_SCALE), L.box_y1 + 6, t, TICK_SCALE, FRAME);
    snprintf(t, sizeof t, "%.3g", L.ymin);
    draw_text(&c, L.box_x0 - 6 - text_width(t, TICK_SCALE), L.box_y1 - 8, t, TICK_SCALE, FRAME);
    snprintf(t, sizeof t, "%.3g", L.ymax);
    draw_text(&c, L.box_x0 - 6 - text_width(t, TICK_SCALE), L.box_y0, t, TICK_SCALE, FRAME);
    if (s->title) draw_text(&c, L.box_x0, 12, s->title, TEXT_SCALE, FRAME);

    /* legend: a framed box, one row per class with a swatch disc and its name */
    frame_rect(&c, L.legend_x0, L.legend_y0, L.legend_x1, L.legend_y1, FRAME);
    for (int k = 0; k < s->n_classes; k++) {
        int cy = L.legend_y0 + 10 + k * row_h + row_h / 2;
        fill_disc(&c, L.legend_x0 + 10 + sw, cy, sw - 1, PLOT_PALETTE[k], 0, 0, s->width - 1, s->height - 1);
        draw_text(&c, L.legend_x0 + 10 + 2 * sw + 8, cy - 4 * TEXT_SCALE, class_name(s, k, nb, sizeof nb),
                  TEXT_SCALE, FRAME);
    }
    if (layout) *layout = L;
    return VAE_OK;
}

int plot_scatter_png(const char *path, const PlotStyle *s, const double *xy, const int *labels, int n,
                     PlotLayout *layout, VaeError *err) {
    size_t bytes;
    if (s->width < 1 || s->height < 1 || vae_mul_size((size_t)s->width, (size_t)s->height, &bytes) != 0 ||
        vae_mul_size(bytes, 3, &bytes) != 0)
        return vae_fail(err, "%s: invalid plot size %dx%d", path, s->width, s->height);
    uint8_t *rgb = malloc(bytes);
    if (!rgb) return vae_fail(err, "%s: out of memory for a %dx%d plot", path, s->width, s->height);
    VaeError perr;
    int rc = plot_scatter_render(s, xy, labels, n, rgb, layout, &perr);
    if (rc != VAE_OK)
        rc = vae_fail(err, "%s: %s", path, perr.msg);
    else
        rc = image_write_png(path, rgb, s->width, s->height, 3, err);
    free(rgb);
    return rc;
}
