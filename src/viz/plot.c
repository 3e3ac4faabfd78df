/* Figures with cairo (see include/vae/plot.h): layout of the panels and the
 * legend, 1-2-5 ticks, lines, scatter discs and text, rendered to a PNG, SVG
 * or PDF stream in memory and written with vae_write_file. This is the one
 * file that talks to cairo. */
#include "vae/plot.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>
#include <ctype.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vae/fileio.h"

const uint8_t PLOT_PALETTE[PLOT_PALETTE_SIZE][3] = {
    {0, 114, 178},   /* blue */
    {230, 159, 0},   /* orange */
    {0, 158, 115},   /* bluish green */
    {213, 94, 0},    /* vermillion */
    {86, 180, 233},  /* sky blue */
    {204, 121, 167}, /* reddish purple */
    {0, 0, 0},       /* black */
    {240, 228, 66},  /* yellow */
    {153, 153, 153}, /* grey */
    {136, 34, 85},   /* Tol's wine */
};
const uint8_t PLOT_BACKGROUND[3] = {255, 255, 255};
const uint8_t PLOT_OTHER[3] = {200, 200, 200};

/* text sizes and spacing, in device units (pixels for PNG, points otherwise) */
#define FONT "sans-serif"
#define SIZE_TITLE 16.0
#define SIZE_PANEL 13.0
#define SIZE_LABEL 12.5
#define SIZE_TICK 11.0
#define SIZE_KEY 12.0
#define PAD 10.0
#define TICK_LEN 4.0
#define KEY_ROW 19.0
#define KEY_MARK 22.0
#define TICK_TARGET 6
#define TWO_PI 6.283185307179586
#define HALF_PI 1.5707963267948966

int plot_format_from_path(const char *path, PlotFormat *fmt, VaeError *err) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    char ext[8] = "";
    if (dot && (!slash || dot > slash) && strlen(dot) < sizeof ext) {
        for (size_t i = 0; dot[i]; i++) ext[i] = (char)tolower((unsigned char)dot[i]);
        ext[strlen(dot)] = '\0';
    }
    struct stat sb;
    if (strcmp(ext, ".png") == 0) *fmt = PLOT_FMT_PNG;
    else if (strcmp(ext, ".svg") == 0) *fmt = PLOT_FMT_SVG;
    else if (strcmp(ext, ".pdf") == 0) *fmt = PLOT_FMT_PDF;
    /* a device or pipe (-o /dev/stdout) has no extension to go by */
    else if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) *fmt = PLOT_FMT_PNG;
    else
        return vae_fail(err, "%s: unknown image format '%s' (the name must end in .png, .svg or .pdf)", path,
                        dot && (!slash || dot > slash) ? dot : "");
    return VAE_OK;
}

int plot_nice_ticks(double lo, double hi, int target, double *ticks, int max, double *step) {
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo) || target < 1 || max < 1) return 0;
    double rough = (hi - lo) / target;
    double mag = pow(10.0, floor(log10(rough)));
    double norm = rough / mag;
    /* round to the nearest of 1, 2, 5, 10 (on a roughly logarithmic scale) */
    double s = (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * mag;
    /* a tick within a billionth of a step of an end still counts as inside */
    double first = ceil(lo / s - 1e-9), last = floor(hi / s + 1e-9);
    int n = 0;
    for (double k = first; k <= last && n < max; k += 1.0) {
        double v = k * s;
        ticks[n++] = fabs(v) < s * 1e-9 ? 0.0 : v;
    }
    if (step) *step = s;
    return n;
}

void plot_format_tick(double v, double step, char *buf, size_t len) {
    if (v == 0.0) v = 0.0;   /* no "-0" */
    double a = fabs(v);
    if ((a >= 1e6 || (a > 0 && a < 1e-4)) || step < 1e-6) {
        snprintf(buf, len, "%g", v);
        return;
    }
    int dec = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    /* a step of 0.25 or 0.5 x 10^k needs one more digit than its magnitude */
    double scaled = step * pow(10.0, dec);
    if (fabs(scaled - round(scaled)) > 1e-6) dec++;
    if (dec > 10) dec = 10;
    snprintf(buf, len, "%.*f", dec, v);
}

/* ---- a growable byte buffer fed by cairo's stream callbacks ---- */

typedef struct {
    uint8_t *p;
    size_t len, cap;
} Stream;

static cairo_status_t stream_write(void *closure, const unsigned char *data, unsigned int length) {
    Stream *s = closure;
    if (s->len + length > s->cap) {
        size_t cap = s->cap ? s->cap : 1 << 16;
        while (cap < s->len + length) cap *= 2;
        uint8_t *p = realloc(s->p, cap);
        if (!p) return CAIRO_STATUS_WRITE_ERROR;
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, data, length);
    s->len += length;
    return CAIRO_STATUS_SUCCESS;
}

/* ---- drawing helpers ---- */

static void set_rgb(cairo_t *cr, const uint8_t c[3]) { cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0); }

static const uint8_t *palette(int k) {
    static const uint8_t dark[3] = {64, 64, 64};
    if (k < 0) return dark;
    return PLOT_PALETTE[k % PLOT_PALETTE_SIZE];
}

static void font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* text with its anchor: ax 0 = left, 0.5 = centre, 1 = right; the baseline
   sits so the text's middle (cap height / 2) is at y when vmid, else at y */
static void text_at(cairo_t *cr, const char *s, double x, double y, double ax, int vmid) {
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = text_w(cr, s);
    double base = vmid ? y + 0.35 * fe.ascent : y;
    cairo_move_to(cr, x - ax * w, base);
    cairo_show_text(cr, s);
}

/* ---- layout ---- */

typedef struct {
    double xmin, xmax, ymin, ymax;
    double xt[PLOT_MAX_TICKS], yt[PLOT_MAX_TICKS], xstep, ystep;
    int nxt, nyt;
} Axes;

static void widen(double *lo, double *hi, int any) {
    if (!any) {
        *lo = 0;
        *hi = 1;
    } else if (*hi - *lo <= 0) {
        *lo -= 0.5;
        *hi += 0.5;
    } else {
        double d = 0.05 * (*hi - *lo);
        *lo -= d;
        *hi += d;
    }
}

static int panel_axes(const PlotPanel *p, int pi, Axes *a, VaeError *err) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    int anyx = 0, anyy = 0;
    if (p->n_points < 0 || p->n_lines < 0 || (p->n_points > 0 && (!p->xy || !p->labels)) ||
        (p->n_lines > 0 && !p->lines) || (p->n_xcats > 0 && !p->xcats))
        return vae_fail(err, "plot: panel %d: missing data", pi + 1);
    for (int i = 0; i < p->n_points; i++)
        for (int j = 0; j < 2; j++) {
            double v = p->xy[2 * i + j];
            if (!isfinite(v)) return vae_fail(err, "plot: coordinate %d of point %d is not finite", j, i);
            if (j == 0) {
                x0 = fmin(x0, v), x1 = fmax(x1, v), anyx = 1;
            } else {
                y0 = fmin(y0, v), y1 = fmax(y1, v), anyy = 1;
            }
        }
    for (int l = 0; l < p->n_lines; l++) {
        const PlotLine *L = &p->lines[l];
        if (L->n < 0 || (L->n > 0 && (!L->x || !L->y))) return vae_fail(err, "plot: line %d: missing data", l + 1);
        for (int i = 0; i < L->n; i++) {
            if (!isfinite(L->x[i])) return vae_fail(err, "plot: line %d: x value %d is not finite", l + 1, i);
            x0 = fmin(x0, L->x[i]), x1 = fmax(x1, L->x[i]), anyx = 1;
            if (isfinite(L->y[i])) y0 = fmin(y0, L->y[i]), y1 = fmax(y1, L->y[i]), anyy = 1;
        }
    }
    if (p->n_xcats > 0) {
        a->xmin = -0.5;
        a->xmax = p->n_xcats - 0.5;
        a->nxt = p->n_xcats < PLOT_MAX_TICKS ? p->n_xcats : PLOT_MAX_TICKS;
        for (int i = 0; i < a->nxt; i++) a->xt[i] = i;
        a->xstep = 1;
    } else {
        widen(&x0, &x1, anyx);
        a->xmin = x0;
        a->xmax = x1;
        a->nxt = plot_nice_ticks(x0, x1, TICK_TARGET, a->xt, PLOT_MAX_TICKS, &a->xstep);
        if (p->integer_x && a->xstep < 1) {
            /* a short run: every whole number in the range */
            a->xstep = 1;
            a->nxt = 0;
            for (double v = ceil(x0); v <= x1 && a->nxt < PLOT_MAX_TICKS; v += 1) a->xt[a->nxt++] = v;
        }
    }
    widen(&y0, &y1, anyy);
    a->ymin = y0;
    a->ymax = y1;
    a->nyt = plot_nice_ticks(y0, y1, TICK_TARGET, a->yt, PLOT_MAX_TICKS, &a->ystep);
    return VAE_OK;
}

static void xtick_label(const PlotPanel *p, const Axes *a, int i, char *buf, size_t len) {
    if (p->n_xcats > 0)
        snprintf(buf, len, "%s", p->xcats[i]);
    else
        plot_format_tick(a->xt[i], a->xstep, buf, len);
}

/* crisp 1-unit lines in PNG: put edges on pixel centres */
static double snap(double v) { return floor(v) + 0.5; }

static void draw_panel(cairo_t *cr, const PlotFigure *f, const PlotPanel *p, const Axes *a, double cx0, double cy0,
                       double cx1, double cy1, PlotPanelLayout *out) {
    char buf[64];
    /* margins from the text they hold */
    font(cr, SIZE_TICK, 0);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double tick_h = fe.ascent + fe.descent;
    double ytw = 0;
    for (int i = 0; i < a->nyt; i++) {
        plot_format_tick(a->yt[i], a->ystep, buf, sizeof buf);
        ytw = fmax(ytw, text_w(cr, buf));
    }
    double left = (p->ylabel ? SIZE_LABEL * 1.6 : 0) + ytw + TICK_LEN + 6;
    double bottom = TICK_LEN + 3 + tick_h + (p->xlabel ? SIZE_LABEL * 1.6 : 0) + 2;
    double top = p->title ? SIZE_PANEL * 1.9 : 6;
    double x0 = snap(cx0 + left), x1 = snap(cx1 - 12), y0 = snap(cy0 + top), y1 = snap(cy1 - bottom);
    out->x0 = x0, out->x1 = x1, out->y0 = y0, out->y1 = y1;
    out->xmin = a->xmin, out->xmax = a->xmax, out->ymin = a->ymin, out->ymax = a->ymax;
    out->n_xticks = a->nxt;
    out->n_yticks = a->nyt;
    memcpy(out->xticks, a->xt, sizeof a->xt);
    memcpy(out->yticks, a->yt, sizeof a->yt);
#define PX(v) (x0 + ((v) - a->xmin) / (a->xmax - a->xmin) * (x1 - x0))
#define PY(v) (y1 - ((v) - a->ymin) / (a->ymax - a->ymin) * (y1 - y0))

    /* data, clipped to the plot area */
    cairo_save(cr);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    cairo_clip(cr);
    double r = f->radius > 0 ? f->radius : 0.7;   /* 0: a dot about one pixel wide */
    for (int i = 0; i < p->n_points; i++) {
        int k = p->labels[i];
        set_rgb(cr, k >= 0 && k < PLOT_MAX_CLASSES ? PLOT_PALETTE[k] : PLOT_OTHER);
        cairo_new_path(cr);
        cairo_arc(cr, PX(p->xy[2 * i]), PY(p->xy[2 * i + 1]), r, 0, TWO_PI);
        cairo_fill(cr);
    }
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    for (int l = 0; l < p->n_lines; l++) {
        const PlotLine *L = &p->lines[l];
        set_rgb(cr, palette(L->color));
        cairo_set_line_width(cr, 2.0);
        double dash[2] = {6.0, 4.0};
        cairo_set_dash(cr, dash, L->dashed ? 2 : 0, 0);
        cairo_new_path(cr);
        int pen = 0;
        for (int i = 0; i < L->n; i++) {
            if (!isfinite(L->y[i])) {
                pen = 0;
                continue;
            }
            if (pen)
                cairo_line_to(cr, PX(L->x[i]), PY(L->y[i]));
            else
                cairo_move_to(cr, PX(L->x[i]), PY(L->y[i]));
            pen = 1;
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (L->markers)
            for (int i = 0; i < L->n; i++) {
                if (!isfinite(L->y[i])) continue;
                cairo_new_path(cr);
                cairo_arc(cr, PX(L->x[i]), PY(L->y[i]), 3.5, 0, TWO_PI);
                cairo_fill(cr);
            }
    }
    cairo_restore(cr);

    /* frame, ticks and their labels */
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    cairo_stroke(cr);
    font(cr, SIZE_TICK, 0);
    for (int i = 0; i < a->nxt; i++) {
        double x = snap(PX(a->xt[i]));
        cairo_move_to(cr, x, y1);
        cairo_line_to(cr, x, y1 + TICK_LEN);
        cairo_stroke(cr);
        xtick_label(p, a, i, buf, sizeof buf);
        text_at(cr, buf, x, y1 + TICK_LEN + 3 + fe.ascent, 0.5, 0);
    }
    for (int i = 0; i < a->nyt; i++) {
        double y = snap(PY(a->yt[i]));
        cairo_move_to(cr, x0, y);
        cairo_line_to(cr, x0 - TICK_LEN, y);
        cairo_stroke(cr);
        plot_format_tick(a->yt[i], a->ystep, buf, sizeof buf);
        text_at(cr, buf, x0 - TICK_LEN - 3, y, 1.0, 1);
    }
    /* axis names and the panel title */
    font(cr, SIZE_LABEL, 0);
    if (p->xlabel) text_at(cr, p->xlabel, 0.5 * (x0 + x1), cy1 - 4 - 0.25 * SIZE_LABEL, 0.5, 0);
    if (p->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, cx0 + SIZE_LABEL * 1.05, 0.5 * (y0 + y1));
        cairo_rotate(cr, -HALF_PI);
        text_at(cr, p->ylabel, 0, 0, 0.5, 0);
        cairo_restore(cr);
    }
    if (p->title) {
        font(cr, SIZE_PANEL, 1);
        text_at(cr, p->title, 0.5 * (x0 + x1), y0 - 0.6 * SIZE_PANEL, 0.5, 0);
    }
#undef PX
#undef PY
}

static void draw_key_mark(cairo_t *cr, const PlotKey *k, double x, double y) {
    set_rgb(cr, palette(k->color));
    if (k->kind == PLOT_KEY_DISC) {
        cairo_new_path(cr);
        cairo_arc(cr, x + KEY_MARK / 2, y, 4.5, 0, TWO_PI);
        cairo_fill(cr);
        return;
    }
    double dash[2] = {5.0, 3.0};
    cairo_set_line_width(cr, 2.0);
    cairo_set_dash(cr, dash, k->kind == PLOT_KEY_DASHED ? 2 : 0, 0);
    cairo_move_to(cr, x, y);
    cairo_line_to(cr, x + KEY_MARK, y);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

static int draw_figure(cairo_t *cr, const PlotFigure *f, const Axes *axes, PlotLayout *L, VaeError *err) {
    double W = f->width, H = f->height;
    cairo_set_source_rgb(cr, PLOT_BACKGROUND[0] / 255.0, PLOT_BACKGROUND[1] / 255.0, PLOT_BACKGROUND[2] / 255.0);
    cairo_paint(cr);
    double top = PAD;
    if (f->title) {
        font(cr, SIZE_TITLE, 1);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text_at(cr, f->title, W / 2, PAD + SIZE_TITLE, 0.5, 0);
        top = PAD + SIZE_TITLE * 2.0;
        L->title_y1 = top;
    }
    double right = W - PAD;
    if (f->n_keys > 0) {
        font(cr, SIZE_KEY, 0);
        double tw = 0;
        for (int i = 0; i < f->n_keys; i++) tw = fmax(tw, text_w(cr, f->keys[i].name ? f->keys[i].name : ""));
        double lw = ceil(8 + KEY_MARK + 8 + tw + 8);
        L->legend_x1 = floor(W - PAD) + 0.5;
        L->legend_x0 = floor(L->legend_x1 - lw) + 0.5;
        L->legend_y0 = floor(top + 8) + 0.5;
        L->legend_y1 = floor(L->legend_y0 + 6 + KEY_ROW * f->n_keys + 2) + 0.5;
        right = L->legend_x0 - PAD;
    }
    int cols = f->cols > 0 && f->cols < f->n_panels ? f->cols : f->n_panels;
    int rows = (f->n_panels + cols - 1) / cols;
    double cw = (right - PAD) / cols, ch = (H - PAD - top) / rows;
    if (cw < 90 || ch < 80)
        return vae_fail(err, "plot: %dx%d is too small for %d panel(s) in %d row(s)", f->width, f->height,
                        f->n_panels, rows);
    for (int i = 0; i < f->n_panels; i++) {
        int r = i / cols, c = i % cols;
        draw_panel(cr, f, &f->panels[i], &axes[i], PAD + c * cw, top + r * ch, PAD + (c + 1) * cw,
                   top + (r + 1) * ch, &L->panel[i]);
        const PlotPanelLayout *P = &L->panel[i];
        if (P->x1 - P->x0 < 20 || P->y1 - P->y0 < 20)
            return vae_fail(err, "plot: %dx%d leaves no room for the plot area of panel %d", f->width, f->height, i + 1);
    }
    L->n_panels = f->n_panels;
    if (f->n_keys > 0) {
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_rectangle(cr, L->legend_x0, L->legend_y0, L->legend_x1 - L->legend_x0, L->legend_y1 - L->legend_y0);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 0.75, 0.75, 0.75);
        cairo_set_line_width(cr, 1.0);
        cairo_stroke(cr);
        font(cr, SIZE_KEY, 0);
        for (int i = 0; i < f->n_keys; i++) {
            double y = L->legend_y0 + 4 + KEY_ROW * (i + 0.5);
            draw_key_mark(cr, &f->keys[i], L->legend_x0 + 8, y);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            text_at(cr, f->keys[i].name ? f->keys[i].name : "", L->legend_x0 + 8 + KEY_MARK + 8, y, 0, 1);
        }
    }
    return VAE_OK;
}

static int cairo_used;

void plot_shutdown(void) {
    if (!cairo_used) return;
    cairo_debug_reset_static_data();
    FcFini();
    cairo_used = 0;
}

int plot_render(const PlotFigure *f, PlotFormat fmt, uint8_t **out, size_t *out_len, PlotLayout *layout,
                VaeError *err) {
    *out = NULL;
    *out_len = 0;
    if (f->width < PLOT_MIN_SIDE || f->height < PLOT_MIN_SIDE || f->width > PLOT_MAX_SIDE || f->height > PLOT_MAX_SIDE)
        return vae_fail(err, "plot: %dx%d is not a figure size (each side %d..%d)", f->width, f->height, PLOT_MIN_SIDE,
                        PLOT_MAX_SIDE);
    if (f->n_panels < 1 || f->n_panels > PLOT_MAX_PANELS || !f->panels)
        return vae_fail(err, "plot: %d panels (1..%d)", f->n_panels, PLOT_MAX_PANELS);
    if (f->n_keys < 0 || (f->n_keys > 0 && !f->keys)) return vae_fail(err, "plot: bad legend");
    if (!(f->radius >= 0 && f->radius <= 100)) return vae_fail(err, "plot: disc radius %g (0..100)", f->radius);
    Axes axes[PLOT_MAX_PANELS];
    for (int i = 0; i < f->n_panels; i++)
        if (panel_axes(&f->panels[i], i, &axes[i], err) != VAE_OK) return VAE_ERR;

    Stream s = {0};
    cairo_surface_t *surf = NULL;
    cairo_used = 1;
    switch (fmt) {
    case PLOT_FMT_PNG: surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, f->width, f->height); break;
    case PLOT_FMT_SVG: surf = cairo_svg_surface_create_for_stream(stream_write, &s, f->width, f->height); break;
    case PLOT_FMT_PDF: surf = cairo_pdf_surface_create_for_stream(stream_write, &s, f->width, f->height); break;
    }
    if (!surf || cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        const char *why = surf ? cairo_status_to_string(cairo_surface_status(surf)) : "no surface";
        if (surf) cairo_surface_destroy(surf);
        free(s.p);
        return vae_fail(err, "plot: cairo: %s", why);
    }
    PlotLayout L;
    memset(&L, 0, sizeof L);
    cairo_t *cr = cairo_create(surf);
    int rc = draw_figure(cr, f, axes, &L, err);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (rc == VAE_OK && fmt == PLOT_FMT_PNG && st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_write_to_png_stream(surf, stream_write, &s);
    cairo_surface_finish(surf);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(surf);
    cairo_surface_destroy(surf);
    if (rc == VAE_OK && st != CAIRO_STATUS_SUCCESS) rc = vae_fail(err, "plot: cairo: %s", cairo_status_to_string(st));
    if (rc != VAE_OK) {
        free(s.p);
        return VAE_ERR;
    }
    *out = s.p;
    *out_len = s.len;
    if (layout) *layout = L;
    return VAE_OK;
}

int plot_write(const char *path, const PlotFigure *f, PlotLayout *layout, VaeError *err) {
    PlotFormat fmt;
    if (plot_format_from_path(path, &fmt, err) != VAE_OK) return VAE_ERR;
    uint8_t *buf;
    size_t len;
    if (plot_render(f, fmt, &buf, &len, layout, err) != VAE_OK) return VAE_ERR;
    int rc = vae_write_file(path, buf, len, err);
    free(buf);
    return rc;
}

/* ---- the labelled scatter ---- */

void plot_default_style(PlotStyle *s) {
    s->width = 800;
    s->height = 640;
    s->radius = 2.0;
    s->title = NULL;
    s->xlabel = NULL;
    s->ylabel = NULL;
    s->n_classes = PLOT_MAX_CLASSES;
    s->class_names = NULL;
}

int plot_scatter_write(const char *path, const PlotStyle *s, const double *xy, const int *labels, int n,
                       PlotLayout *layout, VaeError *err) {
    if (n < 1) return vae_fail(err, "plot: no points to plot");
    if (s->n_classes < 1 || s->n_classes > PLOT_MAX_CLASSES)
        return vae_fail(err, "plot: %d classes (1..%d)", s->n_classes, PLOT_MAX_CLASSES);
    char digits[PLOT_MAX_CLASSES][16];   /* room for any int, so -Wformat-truncation has nothing to say */
    PlotKey keys[PLOT_MAX_CLASSES];
    for (int k = 0; k < s->n_classes; k++) {
        snprintf(digits[k], sizeof digits[k], "%d", k);
        keys[k].name = s->class_names ? s->class_names[k] : digits[k];
        keys[k].color = k;
        keys[k].kind = PLOT_KEY_DISC;
    }
    PlotPanel p = {0};
    p.xlabel = s->xlabel;
    p.ylabel = s->ylabel;
    p.xy = xy;
    p.labels = labels;
    p.n_points = n;
    PlotFigure f = {0};
    f.width = s->width;
    f.height = s->height;
    f.title = s->title;
    f.panels = &p;
    f.n_panels = 1;
    f.keys = keys;
    f.n_keys = s->n_classes;
    f.radius = s->radius;
    return plot_write(path, &f, layout, err);
}
