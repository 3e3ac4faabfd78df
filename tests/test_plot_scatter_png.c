/* The scatter plot written as a PNG and read back with stb_image: each point's
 * disc has its class colour at the pixel the documented mapping gives, the
 * legend holds every class colour and text, and the rest of the box is
 * background. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/plot.h"

#include "read_png.h"

static const unsigned char *pixel(const unsigned char *img, int w, int x, int y) {
    return img + ((size_t)y * (size_t)w + (size_t)x) * 3;
}

static int same(const unsigned char *p, const uint8_t *col) { return p[0] == col[0] && p[1] == col[1] && p[2] == col[2]; }

int main(void) {
    /* ten points spread over [-3, 7] x [10, 30], one per class, none closer
       than a few disc radii to another */
    double xy[20];
    int labels[10];
    for (int k = 0; k < 10; k++) {
        xy[2 * k] = -3.0 + (double)k;            /* x: -3 .. 6 */
        xy[2 * k + 1] = 10.0 + (double)((k * 7) % 10) * 2.0; /* y: 10 .. 28 scattered */
        labels[k] = k;
    }
    xy[2 * 9] = 7.0;
    PlotStyle s;
    plot_default_style(&s);
    s.title = "test plot";
    const char *path = check_path("scatter.png");
    PlotLayout L;
    VaeError err = {{0}};
    int rc = plot_scatter_png(path, &s, xy, labels, 10, &L, &err);
    CHECK_MSG(rc == VAE_OK, "plot_scatter_png: %s", err.msg);

    int w = 0, h = 0, ch = 0;
    unsigned char *img = stbi_load(path, &w, &h, &ch, 3);
    CHECK_MSG(img != NULL, "stb_image could not read %s", path);
    if (!img) return check_done("test_plot_scatter_png");
    CHECK(w == 800 && h == 640);

    /* the data range: the bounding box [-3, 7] x [10, 28] widened by 5% */
    double want[4] = {-3.0 - 0.5, 7.0 + 0.5, 10.0 - 0.9, 28.0 + 0.9};
    double got[4] = {L.xmin, L.xmax, L.ymin, L.ymax};
    check_close_d("data range", got, want, 4, 1e-12, 1e-12);
    CHECK(L.box_x0 < L.box_x1 && L.box_y0 < L.box_y1 && L.box_x1 < L.legend_x0 && L.legend_x1 < w);

    for (int k = 0; k < 10; k++) {
        double fx = (xy[2 * k] - want[0]) / (want[1] - want[0]);
        double fy = (xy[2 * k + 1] - want[2]) / (want[3] - want[2]);
        int px = L.box_x0 + (int)(fx * (L.box_x1 - L.box_x0) + 0.5);
        int py = L.box_y1 - (int)(fy * (L.box_y1 - L.box_y0) + 0.5);
        /* the centre and its four neighbours at distance 1 (inside radius 2) */
        int ok = 1;
        const int off[5][2] = {{0, 0}, {1, 0}, {-1, 0}, {0, 1}, {0, -1}};
        for (int o = 0; o < 5; o++) ok &= same(pixel(img, w, px + off[o][0], py + off[o][1]), PLOT_PALETTE[k]);
        const unsigned char *p = pixel(img, w, px, py);
        CHECK_MSG(ok, "point %d at (%d, %d): colour %d,%d,%d, expected %d,%d,%d", k, px, py, p[0], p[1], p[2],
                  PLOT_PALETTE[k][0], PLOT_PALETTE[k][1], PLOT_PALETTE[k][2]);
        /* 4 pixels away (outside the disc) is background */
        CHECK_MSG(same(pixel(img, w, px + 4, py), PLOT_BACKGROUND) || px + 4 >= L.box_x1,
                  "point %d: the disc is larger than its radius", k);
    }

    /* the middle of the box, away from every point, is background */
    int empty = 0, inside = 0;
    for (int y = L.box_y0 + 1; y < L.box_y1; y++)
        for (int x = L.box_x0 + 1; x < L.box_x1; x++) {
            inside++;
            empty += same(pixel(img, w, x, y), PLOT_BACKGROUND);
        }
    CHECK_MSG(inside - empty <= 10 * 25, "%d non-background pixels inside the box for 10 discs", inside - empty);
    /* frame: the box corner is not background */
    CHECK(!same(pixel(img, w, L.box_x0, L.box_y0), PLOT_BACKGROUND));

    /* legend: every class colour appears inside it, plus dark text pixels */
    int seen[10] = {0}, dark = 0;
    for (int y = L.legend_y0 + 1; y < L.legend_y1; y++)
        for (int x = L.legend_x0 + 1; x < L.legend_x1; x++) {
            const unsigned char *p = pixel(img, w, x, y);
            for (int k = 0; k < 10; k++) seen[k] |= same(p, PLOT_PALETTE[k]);
            dark += p[0] < 80 && p[1] < 80 && p[2] < 80;
        }
    for (int k = 0; k < 10; k++) CHECK_MSG(seen[k], "legend lacks the colour of class %d", k);
    CHECK_MSG(dark > 10 * 8, "legend has only %d text pixels", dark);
    /* the title row above the box has text */
    int title = 0;
    for (int y = 0; y < L.box_y0; y++)
        for (int x = 0; x < w; x++) title += !same(pixel(img, w, x, y), PLOT_BACKGROUND);
    CHECK_MSG(title > 20, "title area has %d drawn pixels", title);
    stbi_image_free(img);

    /* refusals */
    s.width = 100;
    CHECK(plot_scatter_png(path, &s, xy, labels, 10, NULL, &err) == VAE_ERR);
    check_contains("tiny", err.msg, "100x640 pixels");
    plot_default_style(&s);
    xy[3] = INFINITY;
    CHECK(plot_scatter_png(path, &s, xy, labels, 10, NULL, &err) == VAE_ERR);
    check_contains("inf", err.msg, "coordinate 1 of point 1 is not finite");
    return check_done("test_plot_scatter_png");
}
