/* Figures written as PNG and read back with stb_image: every scatter point
 * sits in its class colour where the documented mapping puts it and is as
 * large as its radius; the legend holds every class colour and text; ticks
 * stand at the tick values; text is anti-aliased; a solid line is unbroken,
 * a dashed one broken, and a NaN leaves a gap; panels sit side by side. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vae/plot.h"

#include "read_png.h"

typedef struct {
    unsigned char *p;
    int w, h;
} Img;

static const unsigned char *px(const Img *im, int x, int y) {
    static const unsigned char outside[3] = {1, 2, 3};
    if (x < 0 || y < 0 || x >= im->w || y >= im->h) return outside;
    return im->p + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
}
static int same(const unsigned char *p, const uint8_t *c) { return p[0] == c[0] && p[1] == c[1] && p[2] == c[2]; }
static int is_bg(const unsigned char *p) { return same(p, PLOT_BACKGROUND); }
static int dark(const unsigned char *p) { return p[0] < 90 && p[1] < 90 && p[2] < 90; }

static double map_x(const PlotPanelLayout *L, double x) { return L->x0 + (x - L->xmin) / (L->xmax - L->xmin) * (L->x1 - L->x0); }
static double map_y(const PlotPanelLayout *L, double y) { return L->y1 - (y - L->ymin) / (L->ymax - L->ymin) * (L->y1 - L->y0); }

/* the 3x3 pixels around the one holding (fx, fy) all have colour c */
static int block_is(const Img *im, double fx, double fy, const uint8_t *c) {
    int cx = (int)floor(fx), cy = (int)floor(fy), ok = 1;
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) ok &= same(px(im, cx + dx, cy + dy), c);
    return ok;
}

static void test_scatter(void) {
    /* one point per class, spread over [-3, 7] x [10, 28], far apart */
    double xy[20];
    int labels[10];
    for (int k = 0; k < 10; k++) {
        xy[2 * k] = -3.0 + (double)k * 10.0 / 9.0;
        xy[2 * k + 1] = 10.0 + (double)((k * 7) % 10) * 2.0;
        labels[k] = k;
    }
    PlotStyle s;
    plot_default_style(&s);
    s.radius = 4;
    s.title = "test scatter";
    s.xlabel = "first axis";
    s.ylabel = "second axis";
    const char *path = check_path("scatter.png");
    PlotLayout L;
    VaeError err = {{0}};
    int rc = plot_scatter_write(path, &s, xy, labels, 10, &L, &err);
    CHECK_MSG(rc == VAE_OK, "plot_scatter_write: %s", err.msg);
    Img im = {0};
    int ch;
    im.p = stbi_load(path, &im.w, &im.h, &ch, 3);
    CHECK_MSG(im.p != NULL, "stb_image could not read %s", path);
    if (!im.p) return;
    CHECK(im.w == 800 && im.h == 640);
    const PlotPanelLayout *P = &L.panel[0];
    CHECK(L.n_panels == 1);

    /* the data range: the bounding box [-3, 7] x [10, 28] widened by 5% */
    double want[4] = {-3.5, 7.5, 10.0 - 0.9, 28.0 + 0.9}, got[4] = {P->xmin, P->xmax, P->ymin, P->ymax};
    check_close_d("data range", got, want, 4, 1e-12, 1e-12);
    CHECK(P->x0 > 30 && P->x1 < L.legend_x0 && L.legend_x1 < im.w && P->y0 > L.title_y1 && P->y1 < im.h - 30);

    for (int k = 0; k < 10; k++) {
        double fx = map_x(P, xy[2 * k]), fy = map_y(P, xy[2 * k + 1]);
        const unsigned char *c = px(&im, (int)fx, (int)fy);
        CHECK_MSG(block_is(&im, fx, fy, PLOT_PALETTE[k]), "point %d at (%.1f, %.1f): colour %d,%d,%d, expected %d,%d,%d",
                  k, fx, fy, c[0], c[1], c[2], PLOT_PALETTE[k][0], PLOT_PALETTE[k][1], PLOT_PALETTE[k][2]);
        /* 6 pixels away is outside the radius-4 disc */
        CHECK_MSG(is_bg(px(&im, (int)floor(fx) + 6, (int)floor(fy))) && is_bg(px(&im, (int)floor(fx), (int)floor(fy) - 6)),
                  "point %d: the disc is larger than its radius", k);
    }
    /* the discs' area: between pi*3^2 and pi*5^2 pixels each (edges are blended) */
    int drawn = 0;
    for (int y = (int)P->y0 + 2; y < (int)P->y1 - 1; y++)
        for (int x = (int)P->x0 + 2; x < (int)P->x1 - 1; x++) drawn += !is_bg(px(&im, x, y));
    CHECK_MSG(drawn > 10 * 28 && drawn < 10 * 79, "%d drawn pixels inside the box for 10 discs of radius 4", drawn);
    /* anti-aliased edges: a pixel on a disc's rim is a blend, neither colour nor background */
    int blended = 0;
    for (int k = 0; k < 10; k++) {
        double fx = map_x(P, xy[2 * k]), fy = map_y(P, xy[2 * k + 1]);
        for (int dx = 2; dx <= 5; dx++) {
            const unsigned char *c = px(&im, (int)floor(fx + dx), (int)floor(fy));
            blended += !is_bg(c) && !same(c, PLOT_PALETTE[k]);
        }
    }
    CHECK_MSG(blended >= 8, "only %d blended rim pixels: discs are not anti-aliased", blended);

    /* the frame and the ticks: dark at each tick just outside the axis, not between ticks */
    CHECK(dark(px(&im, (int)P->x0, (int)(0.5 * (P->y0 + P->y1)))));
    CHECK(P->n_xticks >= 3 && P->n_yticks >= 3);
    for (int i = 0; i < P->n_xticks; i++) {
        int x = (int)floor(map_x(P, P->xticks[i]));
        CHECK_MSG(dark(px(&im, x, (int)P->y1 + 2)), "no tick mark at x = %g", P->xticks[i]);
        if (i) CHECK_MSG(is_bg(px(&im, (int)floor(map_x(P, 0.5 * (P->xticks[i] + P->xticks[i - 1]))), (int)P->y1 + 2)),
                         "a mark between the ticks %g and %g", P->xticks[i - 1], P->xticks[i]);
    }
    for (int i = 0; i < P->n_yticks; i++)
        CHECK_MSG(dark(px(&im, (int)P->x0 - 2, (int)floor(map_y(P, P->yticks[i])))), "no tick mark at y = %g", P->yticks[i]);

    /* text: tick labels under the axis, the axis names, the title; grey
       levels between black and white show the text is anti-aliased */
    int under = 0, name_x = 0, name_y = 0, title = 0, grey = 0;
    for (int y = (int)P->y1 + 6; y < (int)P->y1 + 20; y++)
        for (int x = (int)P->x0; x < (int)P->x1; x++) under += dark(px(&im, x, y));
    for (int y = im.h - 22; y < im.h; y++)
        for (int x = (int)P->x0; x < (int)P->x1; x++) name_x += dark(px(&im, x, y));
    for (int y = (int)P->y0; y < (int)P->y1; y++)
        for (int x = 0; x < 22; x++) name_y += dark(px(&im, x, y));
    for (int y = 0; y < (int)L.title_y1; y++)
        for (int x = 0; x < im.w; x++) {
            const unsigned char *c = px(&im, x, y);
            title += dark(c);
            grey += c[0] == c[1] && c[1] == c[2] && c[0] > 60 && c[0] < 200;
        }
    CHECK_MSG(under > 30, "%d dark pixels of tick labels", under);
    CHECK_MSG(name_x > 20 && name_y > 20, "axis names: %d and %d dark pixels", name_x, name_y);
    CHECK_MSG(title > 40 && grey > 20, "title: %d dark and %d grey pixels", title, grey);

    /* legend: every class colour, exactly, and text */
    int seen[10] = {0}, text = 0;
    for (int y = (int)L.legend_y0 + 1; y < (int)L.legend_y1; y++)
        for (int x = (int)L.legend_x0 + 1; x < (int)L.legend_x1; x++) {
            const unsigned char *c = px(&im, x, y);
            for (int k = 0; k < 10; k++) seen[k] |= same(c, PLOT_PALETTE[k]);
            text += dark(c) && !same(c, PLOT_PALETTE[6]);
        }
    for (int k = 0; k < 10; k++) CHECK_MSG(seen[k], "legend lacks the colour of class %d", k);
    CHECK_MSG(text > 10 * 6, "legend has only %d text pixels", text);
    stbi_image_free(im.p);

    /* refusals: nothing written */
    const char *bad = check_path("bad.png");
    s.width = 100;
    CHECK(plot_scatter_write(bad, &s, xy, labels, 10, NULL, &err) == VAE_ERR);
    check_contains("tiny", err.msg, "100x640");
    plot_default_style(&s);
    xy[3] = INFINITY;
    CHECK(plot_scatter_write(bad, &s, xy, labels, 10, NULL, &err) == VAE_ERR);
    check_contains("inf", err.msg, "coordinate 1 of point 1 is not finite");
    xy[3] = 0;
    CHECK(plot_scatter_write(check_path("bad.gif"), &s, xy, labels, 10, NULL, &err) == VAE_ERR);
    check_contains("gif", err.msg, "unknown image format '.gif'");
    CHECK(plot_scatter_write(bad, &s, xy, labels, 0, NULL, &err) == VAE_ERR);
    FILE *f = fopen(bad, "rb");
    CHECK_MSG(f == NULL, "a refused plot left %s behind", bad);
    if (f) fclose(f);
}

static void test_lines(void) {
    enum { N = 11 };
    double x[N], flat2[N], flat8[N], diag[N];
    for (int i = 0; i < N; i++) {
        x[i] = i;
        flat2[i] = 2;
        flat8[i] = 8;
        diag[i] = i == 5 ? NAN : i;
    }
    PlotLine lines[3] = {
        {"solid", x, flat2, N, 1, 0, 0},
        {"dashed", x, flat8, N, 2, 1, 0},
        {"gap", x, diag, N, 4, 0, 0},
    };
    double mx[3] = {1, 2, 3}, my[3] = {5, 1, 4};
    PlotLine marked = {"markers", mx, my, 3, 5, 0, 1};
    PlotPanel panels[2] = {{"lines", "x", "y", lines, 3, NULL, NULL, 0, NULL, 0, 0},
                           {"markers", "x", NULL, &marked, 1, NULL, NULL, 0, NULL, 0, 1}};
    PlotKey keys[2] = {{"solid", 1, PLOT_KEY_LINE}, {"dashed", 2, PLOT_KEY_DASHED}};
    PlotFigure f = {900, 420, "two panels", 0, panels, 2, keys, 2, 0};
    uint8_t *buf = NULL;
    size_t len = 0;
    PlotLayout L;
    VaeError err = {{0}};
    CHECK_MSG(plot_render(&f, PLOT_FMT_PNG, &buf, &len, &L, &err) == VAE_OK, "plot_render: %s", err.msg);
    Img im = {0};
    int ch;
    im.p = buf ? stbi_load_from_memory(buf, (int)len, &im.w, &im.h, &ch, 3) : NULL;
    free(buf);
    CHECK_MSG(im.p != NULL, "the PNG in memory does not decode");
    if (!im.p) return;
    CHECK(im.w == 900 && im.h == 420 && L.n_panels == 2);
    const PlotPanelLayout *P = &L.panel[0], *Q = &L.panel[1];
    CHECK_MSG(P->x1 < Q->x0 && fabs(P->y0 - Q->y0) < 1e-9 && Q->x1 < L.legend_x0, "panels not side by side");

    /* in every pixel column of a solid line, a pixel of its exact colour;
       a dashed line has them in 6 of every 10 units of length */
    int solid = 0, dashed = 0, cols = 0;
    for (int X = (int)map_x(P, 0.5); X < (int)map_x(P, 9.5); X++) {
        /* the diagonal line crosses the flat ones at x = 2 and x = 8, on top */
        double dx = (X - P->x0) / (P->x1 - P->x0) * (P->xmax - P->xmin) + P->xmin;
        if (fabs(dx - 2) < 0.3 || fabs(dx - 8) < 0.3) continue;
        cols++;
        int y2 = (int)floor(map_y(P, 2)), y8 = (int)floor(map_y(P, 8)), a = 0, b = 0;
        for (int dy = -1; dy <= 1; dy++) {
            a |= same(px(&im, X, y2 + dy), PLOT_PALETTE[1]);
            b |= same(px(&im, X, y8 + dy), PLOT_PALETTE[2]);
        }
        solid += a;
        dashed += b;
    }
    CHECK_MSG(solid == cols, "solid line: %d of %d columns", solid, cols);
    CHECK_MSG(dashed > cols * 4 / 10 && dashed < cols * 8 / 10, "dashed line: %d of %d columns", dashed, cols);
    /* the NaN at x = 5 leaves [4, 6] empty around y = 5; the line is there elsewhere */
    int in_gap = 0;
    for (int X = (int)map_x(P, 4.3); X <= (int)map_x(P, 5.7); X++)
        for (int dy = -4; dy <= 4; dy++) in_gap += !is_bg(px(&im, X, (int)floor(map_y(P, (X - P->x0) / (P->x1 - P->x0) * (P->xmax - P->xmin) + P->xmin)) + dy));
    CHECK_MSG(in_gap == 0, "%d drawn pixels in the gap of a NaN", in_gap);
    int near = 0;
    for (int i = 1; i <= 8; i += 7)
        for (int dy = -2; dy <= 2; dy++) {
            const unsigned char *c = px(&im, (int)map_x(P, i + 0.5), (int)floor(map_y(P, i + 0.5)) + dy);
            near += abs(c[0] - PLOT_PALETTE[4][0]) < 40 && abs(c[1] - PLOT_PALETTE[4][1]) < 40 && abs(c[2] - PLOT_PALETTE[4][2]) < 40;
        }
    CHECK_MSG(near >= 2, "the line around its gap is missing (%d pixels)", near);
    /* markers: a dot of the line's colour at each point of the second panel */
    for (int i = 0; i < 3; i++)
        CHECK_MSG(block_is(&im, map_x(Q, mx[i]), map_y(Q, my[i]), PLOT_PALETTE[5]), "no marker at point %d", i);
    /* integer_x: whole-number ticks on a range of 2 */
    for (int i = 0; i < Q->n_xticks; i++) CHECK_MSG(Q->xticks[i] == floor(Q->xticks[i]), "tick %g is not whole", Q->xticks[i]);
    CHECK(Q->n_xticks == 3);
    /* legend: both key colours */
    int k1 = 0, k2 = 0;
    for (int y = (int)L.legend_y0; y < (int)L.legend_y1; y++)
        for (int X = (int)L.legend_x0; X < (int)L.legend_x1; X++) {
            k1 += same(px(&im, X, y), PLOT_PALETTE[1]);
            k2 += same(px(&im, X, y), PLOT_PALETTE[2]);
        }
    CHECK_MSG(k1 >= 15 && k2 >= 8 && k2 < k1, "legend keys: %d solid and %d dashed pixels", k1, k2);
    stbi_image_free(im.p);

    /* refusals */
    lines[0].x = diag;   /* a NaN x */
    CHECK(plot_render(&f, PLOT_FMT_PNG, &buf, &len, NULL, &err) == VAE_ERR);
    check_contains("nan x", err.msg, "line 1: x value 5 is not finite");
    lines[0].x = x;
    f.n_panels = 0;
    CHECK(plot_render(&f, PLOT_FMT_PNG, &buf, &len, NULL, &err) == VAE_ERR);
    f.n_panels = 2;
    f.width = 220;
    CHECK(plot_render(&f, PLOT_FMT_PNG, &buf, &len, NULL, &err) == VAE_ERR);
    check_contains("too small", err.msg, "too small");
}

int main(void) {
    test_scatter();
    test_lines();
    plot_shutdown();
    return check_done("test_plot_png");
}
