/* SVG and PDF figures read back structurally: an SVG holds one filled path
 * per scatter point (plus one per legend entry) in the class colour, each
 * starting where the documented mapping puts the disc, and its text as
 * glyphs; a PDF is one page of the figure's size whose content stream fills
 * the same number of discs per colour and shows the title as text. The
 * format follows the file name's extension. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "vae/fileio.h"
#include "vae/plot.h"

#define NPTS 55   /* class k has k + 1 points */

static double xy[2 * NPTS];
static int labels[NPTS];

static void make_points(void) {
    int i = 0;
    for (int k = 0; k < 10; k++)
        for (int j = 0; j <= k; j++, i++) {
            xy[2 * i] = k + 0.07 * j;
            xy[2 * i + 1] = 3.0 * sin(1.3 * i) + 0.1 * j;
            labels[i] = k;
        }
}

/* palette index of an RGB colour given in 0..1 (or 0..100 with pct), -1 if none */
static int colour_index(double r, double g, double b, double scale) {
    for (int k = 0; k < PLOT_PALETTE_SIZE; k++)
        if (fabs(r * scale - PLOT_PALETTE[k][0]) < 0.6 && fabs(g * scale - PLOT_PALETTE[k][1]) < 0.6 &&
            fabs(b * scale - PLOT_PALETTE[k][2]) < 0.6)
            return k;
    return -1;
}

static char *render(const PlotFigure *f, PlotFormat fmt, size_t *len, PlotLayout *L) {
    uint8_t *buf = NULL;
    VaeError err = {{0}};
    int rc = plot_render(f, fmt, &buf, len, L, &err);
    CHECK_MSG(rc == VAE_OK, "plot_render: %s", err.msg);
    if (rc != VAE_OK) return NULL;
    char *s = malloc(*len + 1);   /* NUL-terminated copy for strstr */
    if (s) {
        memcpy(s, buf, *len);
        s[*len] = '\0';
    }
    free(buf);
    return s;
}

/* strstr over bytes that may hold NULs (PDF streams) */
static const char *find(const char *s, size_t len, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; m <= len && i <= len - m; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, m) == 0) return s + i;
    return NULL;
}

static int count_of(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void scatter_figure(PlotFigure *f, PlotPanel *p, PlotKey *keys, const char *title) {
    memset(p, 0, sizeof *p);
    p->xlabel = "x axis";
    p->ylabel = "y axis";
    p->xy = xy;
    p->labels = labels;
    p->n_points = NPTS;
    static const char *names[10] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
    for (int k = 0; k < 10; k++) keys[k] = (PlotKey){names[k], k, PLOT_KEY_DISC};
    memset(f, 0, sizeof *f);
    f->width = 640;
    f->height = 480;
    f->title = title;
    f->panels = p;
    f->n_panels = 1;
    f->keys = keys;
    f->n_keys = 10;
    f->radius = 3;
}

static void test_svg(void) {
    PlotFigure f;
    PlotPanel p;
    PlotKey keys[10];
    PlotLayout L;
    size_t len = 0;
    scatter_figure(&f, &p, keys, "svg test");
    char *s = render(&f, PLOT_FMT_SVG, &len, &L);
    if (!s) return;
    CHECK(strncmp(s, "<?xml", 5) == 0);
    check_contains("size", s, "width=\"640pt\" height=\"480pt\" viewBox=\"0 0 640 480\"");
    CHECK(count_of(s, "<svg") == 1 && count_of(s, "</svg>") == 1);
    /* filled paths by colour, and where each starts: cairo begins a circle
       at angle 0, (cx + r, cy) */
    int per_class[10] = {0}, matched[NPTS] = {0};
    const PlotPanelLayout *P = &L.panel[0];
    for (const char *q = strstr(s, "fill:rgb("); q; q = strstr(q + 1, "fill:rgb(")) {
        char *end;
        double c[3];
        const char *r = q + 9;
        int ok = 1;
        for (int j = 0; j < 3 && ok; j++) {
            c[j] = strtod(r, &end);
            ok = end != r && *end == '%';
            r = end + 2;   /* past "%," */
        }
        int k = ok ? colour_index(c[0], c[1], c[2], 2.55) : -1;
        if (k < 0) continue;
        per_class[k]++;
        const char *d = strstr(q, "d=\"M ");
        const char *close = strstr(q, "/>");
        if (!d || (close && d > close)) continue;
        double mx = strtod(d + 5, &end), my = strtod(end, NULL);
        for (int i = 0; i < NPTS; i++) {
            double cx = P->x0 + (xy[2 * i] - P->xmin) / (P->xmax - P->xmin) * (P->x1 - P->x0);
            double cy = P->y1 - (xy[2 * i + 1] - P->ymin) / (P->ymax - P->ymin) * (P->y1 - P->y0);
            if (labels[i] == k && fabs(mx - (cx + 3)) < 0.01 && fabs(my - cy) < 0.01) matched[i] = 1;
        }
    }
    for (int k = 0; k < 10; k++)
        CHECK_MSG(per_class[k] == k + 2, "class %d: %d filled paths, expected %d points + 1 legend disc", k,
                  per_class[k], k + 1);
    int all = 1;
    for (int i = 0; i < NPTS; i++) all &= matched[i];
    CHECK_MSG(all, "a point has no disc at its mapped position");
    /* text is drawn as glyphs: a title longer by "abc d" adds 5 (the space is one too) */
    int glyphs = count_of(s, "<use xlink:href=\"#glyph");
    CHECK_MSG(glyphs > 60, "%d glyphs for the title, names, ticks and legend", glyphs);
    free(s);
    scatter_figure(&f, &p, keys, "svg testabc d");
    s = render(&f, PLOT_FMT_SVG, &len, &L);
    if (!s) return;
    int more = count_of(s, "<use xlink:href=\"#glyph");
    CHECK_MSG(more - glyphs == 5, "a title 5 characters longer drew %d more glyphs", more - glyphs);
    free(s);
}

/* inflates every FlateDecode stream of a PDF and returns the page content
   (the stream that paints the background), or NULL */
static char *pdf_content(const char *pdf, size_t len, int w, int h) {
    char bg[64];
    snprintf(bg, sizeof bg, "0 0 %d %d re f", w, h);
    for (const char *p = pdf; (p = find(p, len - (size_t)(p - pdf), "stream")) != NULL; p += 6) {
        const char *data = p + 6;
        if (*data == '\r') data++;
        if (*data != '\n') continue;
        data++;
        size_t cap = 1 << 22;
        char *out = malloc(cap + 1);
        if (!out) return NULL;
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit(&z) != Z_OK) {
            free(out);
            return NULL;
        }
        z.next_in = (Bytef *)data;
        z.avail_in = (uInt)(len - (size_t)(data - pdf));
        z.next_out = (Bytef *)out;
        z.avail_out = (uInt)cap;
        int rc = inflate(&z, Z_FINISH);
        size_t n = cap - z.avail_out;
        inflateEnd(&z);
        out[n] = '\0';
        if ((rc == Z_STREAM_END || rc == Z_OK || rc == Z_BUF_ERROR) && n > 0 && strstr(out, bg)) return out;
        free(out);
    }
    return NULL;
}

static void test_pdf(void) {
    PlotFigure f;
    PlotPanel p;
    PlotKey keys[10];
    PlotLayout L;
    size_t len = 0;
    scatter_figure(&f, &p, keys, "pdf test");
    char *s = render(&f, PLOT_FMT_PDF, &len, &L);
    if (!s) return;
    CHECK(strncmp(s, "%PDF-1.", 7) == 0);
    CHECK_MSG(len > 6 && find(s + len - 7, 7, "%%EOF") != NULL, "no %%%%EOF at the end");
    int pages = 0;
    for (const char *q = find(s, len, "/Type /Page"); q; q = find(q + 1, len - (size_t)(q + 1 - s), "/Type /Page"))
        pages += q[11] != 's';
    CHECK_MSG(pages == 1, "%d pages", pages);
    CHECK_MSG(find(s, len, "/MediaBox [ 0 0 640 480 ]") != NULL, "no 640 x 480 page");
    char *c = pdf_content(s, len, 640, 480);
    CHECK_MSG(c != NULL, "no page content stream found");
    if (c) {
        /* fills per colour: "r g b rg" sets the colour, "f" fills */
        int per_class[10] = {0}, cur = -1;
        double num[3] = {0};
        int nn = 0;
        for (char *t = strtok(c, " \n"); t; t = strtok(NULL, " \n")) {
            char *end;
            double v = strtod(t, &end);
            if (end != t && *end == '\0') {
                num[0] = num[1], num[1] = num[2], num[2] = v, nn++;
                continue;
            }
            if (strcmp(t, "rg") == 0 && nn >= 3) cur = colour_index(num[0], num[1], num[2], 255.0);
            if (strcmp(t, "f") == 0 && cur >= 0) per_class[cur]++;
            nn = 0;
        }
        for (int k = 0; k < 10; k++)
            CHECK_MSG(per_class[k] == k + 2, "class %d: %d fills, expected %d points + 1 legend disc", k, per_class[k], k + 1);
        free(c);
    }
    free(s);
    /* the title is text in the content (before strtok cut it, so render again) */
    s = render(&f, PLOT_FMT_PDF, &len, &L);
    c = s ? pdf_content(s, len, 640, 480) : NULL;
    if (c) check_contains("title text", c, "(pdf test)Tj");
    free(c);
    free(s);
}

static void test_files(void) {
    /* the extension picks the format; the file holds what plot_render makes */
    PlotStyle st;
    plot_default_style(&st);
    st.title = "files";
    VaeError err = {{0}};
    const char *names[3] = {"a.svg", "b.PDF", "c.png"};
    const char *magic[3] = {"<?xml", "%PDF-", "\x89PNG"};
    for (int i = 0; i < 3; i++) {
        const char *path = check_path(names[i]);
        CHECK_MSG(plot_scatter_write(path, &st, xy, labels, NPTS, NULL, &err) == VAE_OK, "%s: %s", names[i], err.msg);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (vae_read_file(path, &buf, &len, 1 << 24, &err) == VAE_OK) {
            CHECK_MSG(len > 100 && memcmp(buf, magic[i], strlen(magic[i])) == 0, "%s does not start with its magic",
                      names[i]);
            free(buf);
        } else {
            CHECK_MSG(0, "%s", err.msg);
        }
    }
    CHECK(plot_scatter_write(check_path("d.eps"), &st, xy, labels, NPTS, NULL, &err) == VAE_ERR);
    CHECK(check_count_entries(check_tmpdir()) == 3);
}

int main(void) {
    make_points();
    test_svg();
    test_pdf();
    test_files();
    plot_shutdown();
    return check_done("test_plot_vector");
}
